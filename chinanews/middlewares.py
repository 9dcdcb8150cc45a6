"""Downloader middlewares.

``ScopeMiddleware`` is the hard guard on where the crawler goes: every request, whether
it comes from a link, a feed, a redirect or a meta refresh, passes through it before it
is sent (redirects are new requests and pass again), and one outside the scope is
dropped and counted. The spider already avoids scheduling such links; this makes sure.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest

from chinanews.urls import in_scope, netloc

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

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
