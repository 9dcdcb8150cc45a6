"""End to end: three scheduled runs of the crawl over a site that changes between them (new
articles, edited ones). Each run emits only what is new or changed, adds lake files without
touching the earlier ones, and records itself in the database: the lake holds every story
exactly once per version."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from chinanews.localsite import LocalSite, serve
from tests.conftest import Crawl, outside_base, run_crawl

pytestmark = pytest.mark.e2e


def lake_files(lake: Path) -> dict[str, str]:
    return {
        str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(lake.glob("articles/*/*.parquet"))
    }


@pytest.fixture(scope="module")
def three_runs(sentinel: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("scheduled")
    lake = tmp / "lake"
    site = LocalSite(size=70, seed=13, outside_base=outside_base(sentinel))
    env = {"CHINANEWS_DATA_DIR": str(tmp / "data")}
    settings = {
        "CHINANEWS_LAKE": str(lake),
        "CHINANEWS_LAKE_FORMAT": "parquet",
        "CHINANEWS_LAKE_BATCH_ITEM_COUNT": "5",
    }
    runs: list[Crawl] = []
    truths: list[dict[str, dict[str, Any]]] = []
    files: list[dict[str, str]] = []
    with serve(site) as base:
        # new articles, edited ones, and the site's clock moved past the next re-check age
        # (1 h, then 6 h after the first fetch), so that the edits are due
        for number, change in enumerate([None, (4, 3, 61), (3, 2, 361)], start=1):
            if change:
                site.advance(new=change[0], edit=change[1], minutes=change[2])
            truths.append(site.expected(base, rendered=False))
            out = tmp / f"run{number}"
            out.mkdir()
            args = ("-a", f"start_urls={base.start_url}", "-a", "render=never")
            runs.append(run_crawl(out, *args, env=env, settings=settings))
            files.append(lake_files(lake))
    rows = [
        row
        for path in sorted(lake.glob("articles/*/*.parquet"))
        for row in pq.read_table(
            path, columns=["url", "version", "content_hash", "body"]
        ).to_pylist()
    ]
    with sqlite3.connect(tmp / "data" / "chinanews.sqlite3") as db:
        crawl_runs = db.execute(
            "SELECT run_id, finish_reason, ok, report FROM crawl_runs ORDER BY started_at"
        ).fetchall()
    yield {"runs": runs, "truths": truths, "files": files, "rows": rows, "crawl_runs": crawl_runs}


def test_every_run_succeeds(three_runs: dict[str, Any]) -> None:
    for crawl in three_runs["runs"]:
        assert crawl.returncode == 0, crawl.log[-3000:]
        assert "Traceback" not in crawl.log


def test_each_run_emits_only_new_and_changed_articles(three_runs: dict[str, Any]) -> None:
    truths, runs = three_runs["truths"], three_runs["runs"]
    for before, after, crawl in zip(truths, truths[1:], runs[1:], strict=False):
        new = {u for u in after if u not in before}
        changed = {u for u in after if u in before and after[u]["body"] != before[u]["body"]}
        assert new and changed
        emitted = {item["url"] for item in crawl.items}
        # a new article may be a syndicated copy of a known story: then it is a duplicate
        assert emitted <= new | changed
        assert changed <= emitted
        assert {u for u in new if not after[u]["duplicate_of"]} <= emitted


def test_old_lake_files_are_never_rewritten(three_runs: dict[str, Any]) -> None:
    files = three_runs["files"]
    for earlier, later in pairwise(files):
        assert {name: later.get(name) for name in earlier} == earlier
        assert set(later) - set(earlier)  # every run added files


def test_the_lake_holds_every_story_once_per_version(three_runs: dict[str, Any]) -> None:
    rows, truths = three_runs["rows"], three_runs["truths"]
    story_of = {url: a["story_id"] for truth in truths for url, a in truth.items()}
    # the lake is exactly what the three runs emitted
    emitted = Counter(
        (item["url"], item["version"]) for crawl in three_runs["runs"] for item in crawl.items
    )
    assert Counter((row["url"], row["version"]) for row in rows) == emitted
    versions: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        versions[story_of[row["url"]]].append(row["version"])
    assert [s for s, v in versions.items() if sorted(v) != list(range(1, len(v) + 1))] == []
    # every story of the final site is there, in its latest text
    assert set(versions) == {a["story_id"] for a in truths[-1].values()}
    latest = {}
    for row in rows:
        if row["version"] >= latest.get(row["url"], {}).get("version", 0):
            latest[row["url"]] = row
    for url, row in latest.items():
        assert row["body"] == truths[-1][url]["body"], url
        bodies = [t[url]["body"] for t in truths if url in t]
        changes = sum(1 for a, b in pairwise(bodies) if a != b)
        assert row["version"] == 1 + changes, url


def test_every_run_is_recorded(three_runs: dict[str, Any]) -> None:
    crawl_runs = three_runs["crawl_runs"]
    assert len(crawl_runs) == 3
    assert len({run_id for run_id, *_ in crawl_runs}) == 3
    for (_, reason, ok, report), crawl in zip(crawl_runs, three_runs["runs"], strict=True):
        assert reason == "finished" and ok == 1
        assert json.loads(report)["stats"]["item_scraped_count"] == len(crawl.items)
