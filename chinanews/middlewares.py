"""Downloader middlewares.

``ScopeMiddleware`` is the hard guard on where the crawler goes: every request, whether
it comes from a link, a feed, a redirect or a meta refresh, passes through it before it
is sent (redirects are new requests and pass again), and one outside the scope is
dropped and counted. The spider already avoids scheduling such links; this makes sure.

``RobotsTxtMiddleware`` is Scrapy's, with one fix: under the asyncio reactor, Scrapy 2.19
hands every request that arrives while a host's robots.txt is still being fetched the same
``Deferred``, and converting it to a future consumes its result, so only the first waiter
gets the parser and the others get ``None``, which means "allowed". A crawl that starts or
resumes with several requests to one host would fetch disallowed pages. Here each waiter
gets its own copy of the result.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as _ScrapyRobotsTxt
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from chinanews.urls import in_scope, netloc

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.robotstxt import RobotParser

logger = logging.getLogger(__name__)


class ScopeMiddleware:
    """Drops requests to hosts outside china.com's article hosts and the start URLs' hosts.

    The spider exposes the extra hosts as ``scope_netlocs``; stats:
    ``chinanews/scope/blocked`` and ``chinanews/scope/blocked/<host>``.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._logged: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ScopeMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        extra: frozenset[str] = getattr(self.crawler.spider, "scope_netlocs", frozenset())
        if in_scope(request.url, extra):
            return
        host = netloc(request.url) or request.url.split(":", 1)[0]
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value("chinanews/scope/blocked")
        stats.inc_value(f"chinanews/scope/blocked/{host}")
        if host not in self._logged:
            self._logged.add(host)
            logger.info(
                "Out of scope, not requested (further ones from %s not logged): %s", host, request
            )
        raise IgnoreRequest(f"out of scope: {request.url}")


class RobotsTxtMiddleware(_ScrapyRobotsTxt):
    """Scrapy's robots.txt middleware, where every request waiting for a host's robots.txt
    gets the parser (see the module docstring)."""

    async def robot_parser(self, request: Request) -> RobotParser | None:
        pending = self._parsers.get(urlparse_cached(request).netloc)
        if isinstance(pending, Deferred):
            mine: Deferred[RobotParser | None] = Deferred()

            def share(result: Any) -> Any:
                mine.callback(result)
                return result  # the next waiter gets it too

            pending.addBoth(share)
            return await maybe_deferred_to_future(mine)
        return await super().robot_parser(request)
