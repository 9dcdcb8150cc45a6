"""End to end: robots.txt holds for every request, also for those that reach the
downloader together before the host's robots.txt has arrived (several start URLs, or a
resumed queue): Scrapy 2.19's middleware let all but the first of them through."""

from __future__ import annotations

from typing import Any

import pytest

from chinanews.localsite import LocalSite, serve
from tests.conftest import outside_base, run_crawl

pytestmark = pytest.mark.e2e


def test_requests_waiting_for_robots_txt_obey_it(sentinel: Any, tmp_path: Any) -> None:
    site = LocalSite(size=60, seed=3, outside_base=outside_base(sentinel))
    private = [site.model.path_of(a.idx) for a in site.model.arts if a.feature == "private"]
    assert private
    with serve(site) as base:
        disallowed = [base.rstrip("/") + p for p in private]
        # Three allowed pages, then the disallowed ones: all in the downloader middlewares
        # while robots.txt is fetched (the first one's request), so they wait together.
        lists = [base.rstrip("/") + p for p in ("/news/domestic/", "/news/social/")]
        seeds = ",".join([base.start_url, *lists, *disallowed])
        crawl = run_crawl(
            tmp_path,
            "-a", f"start_urls={seeds}", "-a", "render=never",
            "-s", "CLOSESPIDER_PAGECOUNT=5",
            settings={"CHINANEWS_MIN_ARTICLES": "0", "CHINANEWS_MIN_COVERAGE": '{"title": 0, "body": 0, "published_at": 0}'},
        )  # fmt: skip
        fetched = list(base.requests)
    assert crawl.returncode == 0, crawl.log[-3000:]
    assert [p for p in fetched if p.startswith("/news/private/")] == []
    assert crawl.stat("robotstxt/forbidden") == len(set(private))
