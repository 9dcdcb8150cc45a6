"""What the crawl follows: one spider middleware between the spider's callbacks and the
scheduler.

The spider routes: each link it finds becomes a request whose meta carries the link's
classification (``meta["link"]``, a ``chinanews.urls.Link``: kind, article parts, channel,
host, mobile mirror) and how it was found (``meta["via"]``). ``FollowRules`` decides, from
that, whether the request goes on, in this order (a refused link is counted under
``chinanews/links/<rule>`` or the stat named):

1. scope: a china.com host or a start URL's (``out_of_scope``);
2. ``-a channels``: articles of the chosen channels; lists and feeds of those or of none
   (``other_channel``);
3. ``-a since``: articles dated before it, by their URL or the time their list entry shows
   (``meta["listed_at"]``) (``before_since``);
4. once per article id in a run (another link to an article already requested);
5. a resumed ``JOBDIR`` run: articles this run already recorded
   (``chinanews/jobdir/skipped_this_run``);
6. articles the index knows, reached through another article's links (related,
   recommended, in-body, navigation), unless the run fetches known articles again
   (``-a fresh=1``, or the recovery of a run whose queue was lost)
   (``chinanews/incremental/skipped_known``);
7. mobile-mirror articles wait until the crawl idles: the desktop page of the same id is
   usually found meanwhile, and is the one to emit;
8. lists and feeds: once per URL in a run.

Requests without ``meta["link"]`` (an article's later pages, a page rendered again) pass.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider

from chinanews.lifecycle import crawl_run
from chinanews.urls import CHANNELS, Link, LinkKind

logger = logging.getLogger(__name__)

STAT = "chinanews"
#: Links through which an already-indexed article is not fetched again. Articles on list
#: pages and feeds are (lists are where edits surface).
SKIP_KNOWN_VIA = frozenset({"related", "recommended", "body", "nav"})


class FollowRules:
    """Spider middleware: the crawl's follow rules (module docstring)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        #: A resumed JOBDIR run (``chinanews.jobdir``): articles recorded since then are done.
        self.recovering_since: str | None = settings.get("CHINANEWS_RECOVERING_SINCE") or None
        self._refetch_known = settings.getbool("CHINANEWS_REFETCH_KNOWN")
        self.scheduled_ids: set[str] = set()
        self.requested: set[str] = set()
        #: Mobile-mirror requests held back, by article id.
        self.held: dict[str, Request] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FollowRules:
        rules = cls(crawler)
        crawler.signals.connect(rules.spider_idle, signal=signals.spider_idle)
        return rules

    # -- the spider's arguments -------------------------------------------------------

    @property
    def _args(self) -> Any:
        return getattr(self.crawler.spider, "args", None)

    def _inc(self, key: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(key)

    # -- the middleware ---------------------------------------------------------------

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for output in start:
            if not isinstance(output, Request) or self.allows(output):
                yield output

    def process_spider_output(self, response: Any, result: Iterable[Any]) -> Iterator[Any]:
        for output in result:
            if not isinstance(output, Request) or self.allows(output):
                yield output

    async def process_spider_output_async(
        self, response: Any, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        async for output in result:
            if not isinstance(output, Request) or self.allows(output):
                yield output

    # -- the rules ----------------------------------------------------------------------

    def allows(self, request: Request) -> bool:
        """Whether ``request`` goes on (module docstring), counting a refusal."""
        link = request.meta.get("link")
        if not isinstance(link, Link):
            return True
        via = str(request.meta.get("via") or "")
        spider: Any = self.crawler.spider
        if not link.in_scope(getattr(spider, "scope_netlocs", frozenset())):
            self._inc(f"{STAT}/links/out_of_scope")
            return False
        if not self._channel_allowed(link):
            self._inc(f"{STAT}/links/other_channel")
            return False
        if link.kind is LinkKind.ARTICLE:
            return self._allows_article(request, link, via)
        if link.url in self.requested:
            # Every page links the home and channel lists again: one request per URL, not
            # one per link for the dupefilter to drop (it still guards resumed crawls).
            return False
        self.requested.add(link.url)
        return True

    def _channel_allowed(self, link: Link) -> bool:
        channels = getattr(self._args, "channels", None)
        if not channels:
            return True
        if link.kind is LinkKind.ARTICLE:
            return link.channel in channels
        # Lists and feeds of a chosen channel, or of none in particular (home pages, rankings).
        return link.channel in channels or link.channel not in CHANNELS

    def _allows_article(self, request: Request, link: Link, via: str) -> bool:
        ref = link.ref
        assert ref is not None
        since = getattr(self._args, "since", None)
        listed_at = str(request.meta.get("listed_at") or "")
        if since is not None and (
            ref.date < since.strftime("%Y%m%d")
            or (listed_at and listed_at[:10] < since.isoformat())
        ):
            self._inc(f"{STAT}/links/before_since")
            return False
        article_id = ref.article_id
        # The desktop page a mobile mirror names takes the id the mirror held.
        if article_id in self.scheduled_ids and via != "canonical":
            return False
        if self.recovering_since and self._seen_since(article_id, self.recovering_since):
            self._inc(f"{STAT}/jobdir/skipped_this_run")
            return False
        if via in SKIP_KNOWN_VIA and self.skips_known() and self._known(article_id):
            # Reached through another article's links: its URL alone says we have it.
            self._inc(f"{STAT}/incremental/skipped_known")
            return False
        if link.mobile and via != "mobile":
            self.held.setdefault(article_id, request)
            return False
        self.scheduled_ids.add(article_id)
        return True

    def skips_known(self) -> bool:
        """Whether links to known articles are skipped: not with ``fresh=1``, nor when the
        run must walk known articles again (a JOBDIR attempt that died before its first
        checkpoint; the recovery of a run whose queue was lost)."""
        if getattr(self._args, "fresh", False) or self._refetch_known:
            return False
        return not crawl_run(self.crawler).refetch_known

    def _known(self, article_id: str) -> bool:
        return bool(crawl_run(self.crawler).state.index.knows(article_id))

    def _seen_since(self, article_id: str, since: str) -> bool:
        last = crawl_run(self.crawler).state.index.last_seen(article_id)
        return last is not None and last >= since

    # -- mobile mirrors ---------------------------------------------------------------

    def held_links(self) -> dict[str, str]:
        """The mobile-mirror links held back, by article id (for the JOBDIR journal)."""
        return {article_id: request.url for article_id, request in self.held.items()}

    def hold(self, links: dict[str, str]) -> None:
        """Hold back these mobile-mirror links again (a resumed JOBDIR run)."""
        spider: Any = self.crawler.spider
        for article_id, url in links.items():
            request = spider.follow(url, via="mobile")
            if request is not None:
                self.held.setdefault(article_id, request)

    def spider_idle(self) -> None:
        """Fetch the mobile-mirror articles whose desktop page never turned up."""
        pending = [r for i, r in self.held.items() if i not in self.scheduled_ids]
        self.held.clear()
        scheduled = False
        for request in pending:
            request = request.replace(meta={**request.meta, "via": "mobile"})
            if self.allows(request):
                assert self.crawler.engine is not None
                self.crawler.engine.crawl(request)
                scheduled = True
        if scheduled:
            raise DontCloseSpider
