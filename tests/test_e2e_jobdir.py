"""End to end: a JOBDIR crawl stopped with Ctrl-C, and one killed with ``kill -9``, each
resumed to the end: every story once in the feed and in the database, none twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest

from chinanews.jobdir import read_state
from chinanews.localsite import LocalSite, serve
from tests.conftest import LOCAL_SETTINGS, ROOT, SCRAPY, outside_base

pytestmark = pytest.mark.e2e

#: Slow enough to be stopped half-way (~20 requests/s), small enough to finish quickly.
PACE = {"DOWNLOAD_DELAY": "0.05", "CONCURRENT_REQUESTS_PER_DOMAIN": "2"}


def command(base: str, tmp: Path, pace: dict[str, str] = PACE) -> list[str]:
    settings = {
        **LOCAL_SETTINGS,
        **pace,
        "JOBDIR": str(tmp / "job"),
        "CHINANEWS_CHECKPOINT_ITEMS": "5",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "CHINANEWS_REPORT_FILE": str(tmp / "report.json"),
        "CHINANEWS_LAKE": str(tmp / "lake"),
        "CHINANEWS_LAKE_FORMAT": "parquet",
        "CHINANEWS_LAKE_BATCH_ITEM_COUNT": "4",
    }
    cmd = [*SCRAPY, "crawl", "china_com", "-a", f"start_urls={base}", "-a", "render=never"]
    for name, value in settings.items():
        cmd += ["-s", f"{name}={value}"]
    return [*cmd, "-O", str(tmp / "out.jsonl")]


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def stop_half_way(
    cmd: list[str], tmp: Path, sig: signal.Signals, after: int, wait: float = 120
) -> str:
    """Start the crawl, send ``sig`` once ``after`` articles are in the feed; its log."""
    env = {**os.environ, "CHINANEWS_DATA_DIR": str(tmp / "data")}
    log = (tmp / f"attempt-{sig.name}.log").open("w+", encoding="utf-8")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + wait
    while lines(tmp / "out.jsonl") < after:
        assert proc.poll() is None, "the crawl ended before it could be stopped"
        assert time.monotonic() < deadline, f"not {after} articles within {wait} s"
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    log.seek(0)
    return log.read()


def finish(cmd: list[str], tmp: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHINANEWS_DATA_DIR": str(tmp / "data")}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module", params=["SIGINT", "SIGKILL"])
def resumed(
    request: pytest.FixtureRequest, sentinel: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    sig = signal.Signals[request.param]
    tmp = tmp_path_factory.mktemp(f"jobdir-{sig.name}")
    site = LocalSite(size=90, seed=5, outside_base=outside_base(sentinel))
    with serve(site) as base:
        cmd = command(base.start_url, tmp)
        first_log = stop_half_way(cmd, tmp, sig, after=20)
        after_stop = lines(tmp / "out.jsonl")
        first_requests = list(base.requests)
        second = finish(cmd, tmp)
        second_requests = base.requests[len(first_requests) :]
        expected = site.expected(base, rendered=False)
    items = [json.loads(x) for x in (tmp / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    report = json.loads((tmp / "report.json").read_text(encoding="utf-8"))
    with sqlite3.connect(tmp / "db.sqlite3") as db:
        stored = [r[0] for r in db.execute("SELECT url FROM articles")]
        runs = db.execute("SELECT run_id, finish_reason FROM crawl_runs").fetchall()
    lake = {
        str(path.relative_to(tmp / "lake")): pq.read_table(path).column("url").to_pylist()
        for path in (tmp / "lake").glob("articles/*/*.parquet")
    }
    yield {
        "lake": lake,
        "lake_temporary": sorted((tmp / "lake").glob("articles/*/.*.tmp")),
        "signal": sig,
        "first_log": first_log,
        "after_stop": after_stop,
        "second": second,
        "items": items,
        "expected": expected,
        "stats": report["stats"],
        "stored": stored,
        "runs": runs,
        "requests": (first_requests, second_requests),
        "state": read_state(tmp / "job"),
        "jobdir": tmp / "job",
    }


def test_the_resumed_crawl_finishes(resumed: dict[str, Any]) -> None:
    second = resumed["second"]
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Traceback" not in second.stderr
    state = resumed["state"]
    assert state["attempt"] == 2 and state["closed"] is True
    assert state["last_reason"] == "finished"
    assert resumed["stats"].get("scheduler/unserializable", 0) == 0


def test_every_story_once_none_twice(resumed: dict[str, Any]) -> None:
    items, expected = resumed["items"], resumed["expected"]
    assert 20 <= resumed["after_stop"] < len(items)  # stopped half-way, then finished
    urls = Counter(item["url"] for item in items)
    assert [u for u, n in urls.items() if n > 1] == []
    assert set(urls) <= set(expected)
    stories = Counter(expected[u]["story_id"] for u in urls)
    assert [s for s, n in stories.items() if n > 1] == []
    assert set(stories) == {a["story_id"] for a in expected.values()}
    for item in items:
        assert item["version"] == 1


def test_the_database_holds_the_feed(resumed: dict[str, Any]) -> None:
    assert sorted(resumed["stored"]) == sorted(item["url"] for item in resumed["items"])
    # one run, whatever the attempts: its row is the last attempt's
    assert resumed["runs"] == [(resumed["state"]["run_id"], "finished")]


def test_the_lake_holds_the_feed(resumed: dict[str, Any]) -> None:
    rows = Counter(url for urls in resumed["lake"].values() for url in urls)
    assert [u for u, n in rows.items() if n > 1] == []
    assert set(rows) == {item["url"] for item in resumed["items"]}
    names = [Path(name).name for name in resumed["lake"]]
    run_id = resumed["state"]["run_id"]
    # the first attempt's files, the second's, and the second's rewrite of what the first
    # had exported but not yet published when it was killed
    assert {n.rsplit("-", 1)[0] for n in names} <= {
        f"china_com-{run_id}",
        f"china_com-{run_id}-a2",
        f"china_com-{run_id}-r{run_id}-a2",
    }


def test_how_the_second_attempt_resumed(resumed: dict[str, Any]) -> None:
    log = resumed["second"].stderr
    if resumed["signal"] is signal.SIGINT:
        # Ctrl-C: Scrapy saved its queue and seen set; the second attempt goes on from them.
        assert "shutting down gracefully" in resumed["first_log"]
        assert "Resuming crawl" in log and "did not close" not in log
        first, second = resumed["requests"]
        paths = {urlsplit(u).path for u in resumed["expected"]}
        articles = [p for p in first + second if p in paths]  # not the 500 pages, retried
        assert [p for p, n in Counter(articles).items() if n > 1] == []  # none fetched twice
        assert set(articles) == paths
    else:
        # kill -9: Scrapy saved nothing; the second attempt replays the feed into the index
        # (what was written is not written again), queues again the requests the journal
        # had pending at the last checkpoint, and fetches no article this run already has.
        stats = resumed["stats"]
        assert "attempt 1 of run" in log and "did not close (killed?)" in log
        assert (resumed["jobdir"] / "crashed-1" / "requests.seen").exists()
        assert "Recovered run" in log
        assert stats["chinanews/run/recovery/articles"] == resumed["after_stop"]
        assert stats["chinanews/jobdir/requeued"] > 0
        assert stats["chinanews/jobdir/skipped_this_run"] > 0
        first, second = resumed["requests"]
        paths = {urlsplit(u).path for u in resumed["expected"]}
        again = {p for p in second if p in paths} & set(first)
        # fetched again: only requests pending at the checkpoint (retried 500s aside)
        assert len(again) <= stats["chinanews/jobdir/requeued"]
        # the files the kill left half-written are gone (their articles written again:
        # test_the_lake_holds_the_feed), and none was ever visible under a final name
        assert resumed["lake_temporary"] == []
