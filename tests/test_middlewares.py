"""The scope guard drops every request outside china.com and the start URLs' hosts."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.test import get_crawler

from chinanews.middlewares import ScopeMiddleware
from chinanews.spiders.china_com import ChinaComSpider


@pytest.fixture
def middleware() -> ScopeMiddleware:
    crawler = get_crawler(ChinaComSpider)
    crawler.spider = ChinaComSpider.from_crawler(crawler, start_urls="http://127.0.0.1:8000/")
    crawler.stats.open_spider()
    return ScopeMiddleware.from_crawler(crawler)


@pytest.mark.parametrize(
    "url",
    [
        "https://news.china.com/domestic/945/20220330/41811858.html",
        "https://rank.china.com/rank/cms/news/day/rank_all.js",
        "http://127.0.0.1:8000/news/domestic/945/20251124/49000001.html",
    ],
)
def test_in_scope_requests_pass(middleware: ScopeMiddleware, url: str) -> None:
    assert middleware.process_request(Request(url)) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://www.huanqiu.com/a/1.html",  # a source site credited by an article
        "https://ad.china.com/click",  # an ad host of china.com
        "https://img1.utuku.china.com/a.jpg",  # an image CDN
        "http://localhost:8000/news/",  # same port, other host
        "http://127.0.0.1:8001/news/",  # same host, other port
    ],
)
def test_out_of_scope_requests_are_dropped_and_counted(
    middleware: ScopeMiddleware, url: str
) -> None:
    with pytest.raises(IgnoreRequest):
        middleware.process_request(Request(url))
    stats = middleware.crawler.stats
    assert stats.get_value("chinanews/scope/blocked") == 1
