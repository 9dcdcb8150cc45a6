"""The crawl benchmark's baseline: a bare Scrapy spider that only follows links.

It walks the same site from the same start URL by the same URL policy as ``china_com``
(``chinanews.urls``: article, list and feed links inside the scope), with the same Scrapy
core settings, and does nothing else with a page: no extraction, no items, no pipelines, no
feed. Run by ``benchmarks/crawl.py``:

    python benchmarks/bare_spider.py --start-url URL --stats stats.json [-s NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response, TextResponse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chinanews.extract import parse_feed
from chinanews.urls import LinkKind, in_scope, link_kind, netloc


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, start_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = start_url
        self.scope = frozenset({netloc(start_url)})
        #: URLs already requested: a set lookup instead of a Request and a fingerprint for
        #: every repeated link (lists and related blocks repeat most links).
        self.seen: set[str] = set()

    async def start(self) -> AsyncIterator[Any]:
        yield scrapy.Request(self.seed)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[scrapy.Request]:
        if link_kind(response.url) is LinkKind.FEED:
            page = parse_feed(response.url, response.body)
            urls = [e.url for e in page.entries] + ([page.next_page] if page.next_page else [])
        elif isinstance(response, TextResponse):
            urls = [response.urljoin(h) for h in response.xpath("//a/@href").getall()]
        else:
            return
        for url in urls:
            if url in self.seen:
                continue
            self.seen.add(url)
            kind = link_kind(url)
            if kind is not LinkKind.OTHER and in_scope(url, self.scope):
                yield scrapy.Request(url, priority=kind.value)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--start-url", required=True)
    ap.add_argument("--stats", required=True, help="where to write the crawl's stats (JSON)")
    ap.add_argument("-s", dest="settings", action="append", default=[], metavar="NAME=VALUE")
    args = ap.parse_args()
    settings = dict(s.split("=", 1) for s in args.settings)
    process = CrawlerProcess(settings=settings, install_root_handler=True)
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler, start_url=args.start_url)
    process.start()
    assert crawler.stats is not None
    Path(args.stats).write_text(json.dumps(crawler.stats.get_stats(), default=str), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
