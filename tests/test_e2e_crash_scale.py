"""End to end, at scale: a JOBDIR crawl of about 10,000 pages (8,800 articles, their lists
and feeds) killed with ``kill -9`` at three random points, then resumed to the end: every
story once in the feed, the database and the lake, none twice (issue 7's "crash and resume";
the small version, with Ctrl-C too, is tests/test_e2e_jobdir.py).

``CHINANEWS_CRASH_ARTICLES`` sets the site's size (default 8,800)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyarrow.parquet as pq
import pytest

from chinanews.jobdir import read_state
from chinanews.localsite import LocalSite, serve
from tests.conftest import outside_base
from tests.test_e2e_jobdir import command, finish, lines, stop_half_way

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

ARTICLES = int(os.environ.get("CHINANEWS_CRASH_ARTICLES", "8800"))
KILLS = 3


@pytest.fixture(scope="module")
def killed_three_times(
    sentinel: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("crash-scale")
    site = LocalSite(size=ARTICLES, seed=17, outside_base=outside_base(sentinel))
    rng = random.Random(17)
    kills = []
    with serve(site) as base:
        expected = site.expected(base, rendered=False)
        cmd = command(base.start_url, tmp, pace={"CONCURRENT_REQUESTS_PER_DOMAIN": "16"})
        for _ in range(KILLS):
            # somewhere in the next third of what is left
            written = lines(tmp / "out.jsonl")
            at = written + rng.randint(1, max(2, (len(expected) - written) // 3))
            stop_half_way(cmd, tmp, signal.SIGKILL, after=at, wait=900)
            kills.append((at, lines(tmp / "out.jsonl")))
        last = finish(cmd, tmp, timeout=900)
    items = [json.loads(x) for x in (tmp / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    with sqlite3.connect(tmp / "db.sqlite3") as db:
        stored = [r[0] for r in db.execute("SELECT url FROM articles")]
    lake = [
        url
        for path in (tmp / "lake").glob("articles/*/*.parquet")
        for url in pq.read_table(path, columns=["url"]).column("url").to_pylist()
    ]
    yield {
        "expected": expected,
        "kills": kills,
        "last": last,
        "items": items,
        "stored": stored,
        "lake": lake,
        "state": read_state(tmp / "job"),
        "stats": json.loads((tmp / "report.json").read_text(encoding="utf-8"))["stats"],
    }


def test_three_kills_then_the_crawl_finishes(killed_three_times: dict[str, Any]) -> None:
    last = killed_three_times["last"]
    assert last.returncode == 0, last.stderr[-3000:]
    assert "Traceback" not in last.stderr
    state = killed_three_times["state"]
    assert state["attempt"] == KILLS + 1 and state["closed"] is True
    written = [after for _, after in killed_three_times["kills"]]
    assert written == sorted(written) and written[0] > 0  # each kill came later in the crawl
    assert written[-1] < len(killed_three_times["items"])


def test_every_story_once_none_twice_everywhere(killed_three_times: dict[str, Any]) -> None:
    items, expected = killed_three_times["items"], killed_three_times["expected"]
    urls = [item["url"] for item in items]
    assert [u for u, n in Counter(urls).items() if n > 1] == []
    stories = Counter(expected[u]["story_id"] for u in urls)
    assert [s for s, n in stories.items() if n > 1] == []
    assert set(stories) == {a["story_id"] for a in expected.values()}
    assert sorted(killed_three_times["stored"]) == sorted(urls)
    assert sorted(killed_three_times["lake"]) == sorted(urls)
