"""End to end: ``scrapy crawl china_com`` against the local copy of the site, as a user runs it.

Every emitted article is compared field by field with what the generator says the page
holds; nothing outside the scope may be requested.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from chinanews.localsite import LocalSite, serve
from tests.conftest import COMPARED_FIELDS, ROOT, SCRAPY, Crawl, outside_base, run_crawl

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(sentinel: Any) -> Any:
    local = LocalSite(size=60, seed=7, outside_base=outside_base(sentinel))
    with serve(local) as server:
        yield local, server


@pytest.fixture(scope="module")
def full_crawl(site: Any, tmp_path_factory: pytest.TempPathFactory) -> Crawl:
    _, server = site
    return run_crawl(tmp_path_factory.mktemp("full"), "-a", f"start_urls={server.start_url}")


def by_url(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["url"]: item for item in items}


def test_crawl_succeeds_and_logs_a_summary(full_crawl: Crawl) -> None:
    assert full_crawl.returncode == 0, full_crawl.log[-3000:]
    assert "Crawl finished (finished)" in full_crawl.log
    assert "Traceback" not in full_crawl.log
    assert [k for k in full_crawl.stats if k.startswith("spider_exceptions")] == []
    # the only errors are Scrapy giving up on the page that always answers 500
    errors = [line for line in full_crawl.log.splitlines() if " ERROR: " in line]
    assert errors and all("Gave up retrying" in line for line in errors), errors


def test_every_reachable_story_is_emitted_once(site: Any, full_crawl: Crawl) -> None:
    local, server = site
    expected = local.expected(server)
    urls = [item["url"] for item in full_crawl.items]
    assert [u for u, n in Counter(urls).items() if n > 1] == []
    assert sorted(set(urls) - set(expected)) == []
    stories = Counter(expected[u]["story_id"] for u in urls)
    assert [s for s, n in stories.items() if n > 1] == []
    assert set(stories) == {a["story_id"] for a in expected.values()}


@pytest.mark.parametrize("field", COMPARED_FIELDS)
def test_every_field_matches_the_generator(site: Any, full_crawl: Crawl, field: str) -> None:
    local, server = site
    expected = local.expected(server)
    wrong = {
        url: (item.get(field), expected[url][field])
        for url, item in by_url(full_crawl.items).items()
        if url in expected and item.get(field) != expected[url][field]
    }
    assert wrong == {}


def test_items_carry_crawl_time_and_language(full_crawl: Crawl) -> None:
    assert full_crawl.items
    for item in full_crawl.items:
        assert item["crawled_at"].endswith("+00:00")
        assert item["language"] == "zh"


def test_every_template_and_multipage_article_is_covered(site: Any, full_crawl: Crawl) -> None:
    templates = Counter(item["template"] for item in full_crawl.items)
    assert set(templates) >= {"A", "B", "C", "D", "tech", "generic"}
    assert any(item["pages"] > 1 for item in full_crawl.items)


def test_nothing_outside_the_scope_is_requested(sentinel: Any, full_crawl: Crawl) -> None:
    assert sentinel.hits == []
    # the off-site redirect was seen and stopped by the scope guard
    assert full_crawl.stat("chinanews/scope/blocked") >= 1


def test_pages_that_are_not_articles_are_counted_with_their_reason(
    site: Any, full_crawl: Crawl
) -> None:
    local, server = site
    reasons = Counter(local.non_articles(server).values())
    assert full_crawl.stat("chinanews/no_article/no_body") >= reasons["no_body"]
    # pages that answer an error, retries spent, are counted by kind and status
    assert full_crawl.stat("chinanews/lost/article/http_404") >= 1
    assert full_crawl.stat("chinanews/lost/article/http_500") >= 1
    assert "Lost article page (http_404)" in full_crawl.log
    assert full_crawl.stat("retry/count") >= 1
    assert full_crawl.stat("chinanews/pages/list") >= 5
    assert full_crawl.stat("chinanews/pages/feed") >= 3


def test_robots_txt_is_obeyed(site: Any, full_crawl: Crawl) -> None:
    _, server = site
    disallowed = [p for p in server.requests if p.startswith("/news/private/")]
    assert disallowed == []
    assert full_crawl.stat("robotstxt/forbidden") >= 1


def test_output_is_readable_utf8(tmp_path: Path, site: Any, full_crawl: Crawl) -> None:
    _, server = site
    crawl = run_crawl(
        tmp_path, "-a", f"start_urls={server.start_url}", settings={"CLOSESPIDER_ITEMCOUNT": "3"}
    )
    text = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    assert "\\u" not in text
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text)
    assert crawl.stat("finish_reason", "") == "closespider_itemcount"
    # responses already downloaded when the limit is hit still yield their items
    assert 3 <= len(crawl.items) < len(full_crawl.items)


def test_default_output_goes_to_the_data_dir(tmp_path: Path, site: Any) -> None:
    _, server = site
    data_dir = tmp_path / "data"
    crawl = run_crawl(
        tmp_path,
        "-a",
        f"start_urls={server.start_url}",
        settings={"CLOSESPIDER_ITEMCOUNT": "2"},
        output=None,
        env={"CHINANEWS_DATA_DIR": str(data_dir)},
    )
    assert crawl.returncode == 0, crawl.log[-2000:]
    outputs = (data_dir / "jsonl" / "china_com").glob("china_com-*.jsonl")
    files = sorted(f for f in outputs if f.suffixes == [".jsonl"])  # not the side outputs
    assert len(files) == 1
    assert f"Articles are written to {data_dir}" in crawl.log
    lines = files[0].read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 2
    assert json.loads(lines[0])["title"]


@pytest.fixture(scope="module")
def paged_site(sentinel: Any) -> Any:
    """A site large enough for list pages to paginate over two days of news."""
    local = LocalSite(size=400, seed=5, outside_base=outside_base(sentinel))
    with serve(local) as server:
        yield local, server


def test_since_skips_older_articles_and_stops_paginating(paged_site: Any, tmp_path: Path) -> None:
    local, server = paged_site
    expected = local.expected(server)
    days = sorted({a["published_at"][:10] for a in expected.values() if a["published_at"]})
    since = days[-1]
    crawl = run_crawl(tmp_path, "-a", f"start_urls={server.start_url}", "-a", f"since={since}")
    assert crawl.returncode == 0, crawl.log[-2000:]
    assert crawl.items
    assert all(item["published_at"][:10] >= since for item in crawl.items if item["published_at"])
    newer = {
        u for u, a in expected.items() if a["published_at"] and a["published_at"][:10] >= since
    }
    emitted = {i["url"] for i in crawl.items if i["published_at"]}
    assert emitted <= newer
    assert len(emitted) >= 0.9 * len(newer)
    assert crawl.stat("chinanews/lists/stopped_at_since") >= 1
    assert crawl.stat("chinanews/links/before_since") >= 1
    older_pages = [p for p in server.requests if f"/{days[0].replace('-', '')}/" in p]
    assert len(older_pages) < 0.2 * sum(
        1 for a in expected.values() if (a["published_at"] or "")[:10] == days[0]
    )


def test_channels_limit_the_crawl(site: Any, full_crawl: Crawl, tmp_path: Path) -> None:
    local, server = site
    expected = local.expected(server)
    crawl = run_crawl(
        tmp_path, "-a", f"start_urls={server.start_url}", "-a", "channels=military,tech"
    )
    assert crawl.returncode == 0
    channels = {item["channel"] for item in crawl.items}
    assert channels == {"military", "tech"}
    wanted = {a["story_id"] for a in expected.values() if a["channel"] in channels}
    assert {expected[i["url"]]["story_id"] for i in crawl.items} == wanted


def test_depth_limit_works_as_everywhere(site: Any, full_crawl: Crawl, tmp_path: Path) -> None:
    _, server = site
    crawl = run_crawl(
        tmp_path, "-a", f"start_urls={server.start_url}", settings={"DEPTH_LIMIT": "1"}
    )
    assert crawl.returncode == 0
    assert 0 < len(crawl.items) < len(full_crawl.items)


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("since=2025-02-30", "error: since: '2025-02-30' is not a date; use YYYY-MM-DD"),
        ("channels=sports", "error: channels: unknown sports; choose from"),
        (
            "start_urls=ftp://news.china.com/",
            "error: start_urls: 'ftp://news.china.com/' is not an http(s) URL",
        ),
    ],
)
def test_bad_arguments_stop_before_the_crawl(argument: str, message: str) -> None:
    proc = subprocess.run(
        [*SCRAPY, "crawl", "china_com", "-a", argument],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(message)


def test_a_mobile_mirror_page_yields_its_desktop_article(site: Any, tmp_path: Path) -> None:
    local, server = site
    mirrors = [u for u, reason in local.non_articles(server).items() if reason == "mobile_mirror"]
    assert mirrors
    crawl = run_crawl(tmp_path, "-a", f"start_urls={mirrors[0]}", settings={"DEPTH_LIMIT": "1"})
    assert crawl.returncode == 0, crawl.log[-2000:]
    urls = {item["url"] for item in crawl.items}
    article_id = mirrors[0].rsplit("/", 1)[1].split(".")[0]
    desktop = [
        u for u in local.expected(server) if u.endswith(f"/{article_id}.html") and "/3g/" not in u
    ]
    assert desktop and desktop[0] in urls
    assert not any("/3g/" in u for u in urls)
    assert crawl.stat("chinanews/no_article/mobile_mirror") == 1


def test_full_crawl_never_emits_mobile_urls(full_crawl: Crawl) -> None:
    assert not any("/3g/" in item["url"] for item in full_crawl.items)
