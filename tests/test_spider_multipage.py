"""Multi-page articles in the spider, driven with responses rendered by the local site:
``_all`` first, walking 下一页 when ``_all`` fails, one item with every page once."""

from __future__ import annotations

from typing import Any

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from chinanews.items import Article
from chinanews.localsite import LocalSite
from chinanews.spiders.china_com import ChinaComSpider
from tests.conftest import RUN_SETTINGS

BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def site() -> LocalSite:
    return LocalSite(size=60, seed=7)


@pytest.fixture
def spider() -> ChinaComSpider:
    crawler = get_crawler(ChinaComSpider, {**RUN_SETTINGS, "CHINANEWS_INDEX_PATH": ":memory:"})
    crawler.stats.open_spider()
    spider = ChinaComSpider.from_crawler(crawler, start_urls=f"{BASE}/")
    crawler.spider = spider
    return spider


def respond(site: LocalSite, url: str, request: Request | None = None) -> HtmlResponse:
    rendered = site.render(url[len(BASE) :], BASE)
    return HtmlResponse(
        url,
        body=rendered.body,
        encoding=rendered.charset or "utf-8",
        request=request or Request(url),
    )


def multipage(site: LocalSite, feature: str) -> tuple[str, dict[str, Any]]:
    model = site.model
    idx = next(a.idx for a in model.arts if a.feature == feature)
    url = BASE + model.path_of(idx)
    return url, site.expected(BASE)[url]


def requests_of(results: list[Any]) -> list[Request]:
    return [r for r in results if isinstance(r, Request) and r.meta.get("via") == "pager"]


def test_a_pager_with_all_fetches_the_all_page_once(
    site: LocalSite, spider: ChinaComSpider
) -> None:
    url, want = multipage(site, "multi")
    out = list(spider.parse_article(respond(site, url)))
    (all_request,) = requests_of(out)
    assert all_request.url.endswith("_all.html")
    items = list(
        all_request.callback(respond(site, all_request.url, all_request), **all_request.cb_kwargs)
    )
    (article,) = [i for i in items if isinstance(i, Article)]
    assert article.url == url
    assert article.pages == want["pages"] > 1
    assert article.body == want["body"]


def test_when_all_fails_the_pages_are_walked(site: LocalSite, spider: ChinaComSpider) -> None:
    url, want = multipage(site, "multi")
    (all_request,) = requests_of(list(spider.parse_article(respond(site, url))))
    failure = Failure(Exception("404"))
    failure.request = all_request  # type: ignore[attr-defined]
    pending = requests_of(list(all_request.errback(failure)))
    items: list[Article] = []
    while pending:
        request = pending.pop()
        out = list(request.callback(respond(site, request.url, request), **request.cb_kwargs))
        pending += requests_of(out)
        items += [i for i in out if isinstance(i, Article)]
    (article,) = items
    assert article.pages == want["pages"]
    assert article.body == want["body"]
    assert spider.crawler.stats.get_value("chinanews/multipage/all_page_failed") == 1


def test_a_pager_without_all_is_walked_page_by_page(
    site: LocalSite, spider: ChinaComSpider
) -> None:
    url, want = multipage(site, "multi_noall")
    pending = requests_of(list(spider.parse_article(respond(site, url))))
    visited, items = [], []
    while pending:
        request = pending.pop()
        visited.append(request.url)
        out = list(request.callback(respond(site, request.url, request), **request.cb_kwargs))
        pending += requests_of(out)
        items += [i for i in out if isinstance(i, Article)]
    assert [v.rsplit("_", 1)[1] for v in visited] == [f"{n}.html" for n in range(1, want["pages"])]
    (article,) = items
    assert article.pages == want["pages"]
    assert article.body == want["body"]
    assert article.images == want["images"]
