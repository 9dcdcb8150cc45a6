"""End to end: two ``scrapy crawl china_com`` workers share one crawl of the local site
through the Redis on 127.0.0.1:6379, as two machines would (``docs/distributed.md``).

Started in the same second with the same command, on one data directory and one SQLite
database, together they emit exactly the stories a single crawl emits, none twice; both
fetch pages, and both stop on their own once the frontier has stayed empty. A worker that
idles picks up start URLs pushed later with ``chinanews seed``."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chinanews.distributed import Keys, live_workers, reset
from chinanews.localsite import LocalSite, serve
from tests.conftest import COMPARED_FIELDS, LOCAL_SETTINGS, REDIS_URL, ROOT, SCRAPY, outside_base

pytestmark = pytest.mark.e2e

IDLE_TIMEOUT = "4"


@pytest.fixture(scope="module")
def site(sentinel: Any) -> Iterator[tuple[LocalSite, Any]]:
    local = LocalSite(size=150, seed=11, outside_base=outside_base(sentinel))
    with serve(local) as server:
        yield local, server


@dataclass
class Worker:
    proc: subprocess.Popen[str]
    log: str = ""

    def wait(self, timeout: float = 240) -> Worker:
        self.log = self.proc.communicate(timeout=timeout)[0]
        return self


def start_worker(
    data: Path,
    prefix: str,
    *args: str,
    idle_timeout: str = IDLE_TIMEOUT,
    settings: dict[str, str] | None = None,
) -> Worker:
    settings = {
        **LOCAL_SETTINGS,
        "CHINANEWS_DISTRIBUTED": "1",
        "REDIS_URL": REDIS_URL,
        "CHINANEWS_REDIS_PREFIX": prefix,
        "CHINANEWS_IDLE_TIMEOUT": idle_timeout,
        **(settings or {}),
    }
    cmd = [*SCRAPY, "crawl", "china_com", "-a", "render=never", *args]
    for name, value in settings.items():
        cmd += ["-s", f"{name}={value}"]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "CHINANEWS_DATA_DIR": str(data)},
    )
    return Worker(proc)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@dataclass
class Output:
    """One worker's feed and crawl report, as it wrote them by default."""

    items: list[dict[str, Any]]
    stats: dict[str, Any]


def outputs(data: Path) -> list[Output]:
    feeds = sorted(
        f for f in (data / "jsonl" / "china_com").glob("china_com-*.jsonl") if len(f.suffixes) == 1
    )
    return [
        Output(
            read_jsonl(f),
            json.loads(f.with_suffix(".report.json").read_text(encoding="utf-8"))["stats"],
        )
        for f in feeds
    ]


def own_keys(client: Any) -> Iterator[Keys]:
    """A key prefix of the test's own; every key under it is deleted afterwards."""
    k = Keys(f"chinanews-test:e2e:{uuid.uuid4().hex[:12]}")
    yield k
    reset(client, k)


@pytest.fixture
def keys(redis_client: Any) -> Iterator[Keys]:
    yield from own_keys(redis_client)


@pytest.fixture(scope="module")
def shared_keys(redis_client_module: Any) -> Iterator[Keys]:
    yield from own_keys(redis_client_module)


@pytest.fixture(scope="module")
def two_workers(
    site: tuple[LocalSite, Any], shared_keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[Worker], list[Output], Path]:
    """Two workers started at once, on one data directory (and its SQLite database)."""
    _, server = site
    data = tmp_path_factory.mktemp("two") / "data"
    args = ("-a", f"start_urls={server.start_url}")
    workers = [start_worker(data, shared_keys.prefix, *args) for _ in range(2)]
    for worker in workers:
        worker.wait()
    return workers, outputs(data), data


def test_both_workers_stop_on_their_own_with_exit_code_0(
    two_workers: tuple[list[Worker], list[Output], Path],
    redis_client_module: Any,
    shared_keys: Keys,
) -> None:
    workers, outs, _ = two_workers
    for worker in workers:
        assert worker.proc.returncode == 0, worker.log[-3000:]
        assert "Traceback" not in worker.log
        assert "the frontier under" in worker.log and "has been empty for" in worker.log
    for out in outs:
        assert out.stats["finish_reason"] == "finished"
        assert out.stats["chinanews/distributed/idle_stop"] >= float(IDLE_TIMEOUT)
    # one worker began the crawl and pushed the seed; the other joined it
    assert sorted(out.stats.get("chinanews/distributed/seeded", 0) for out in outs) == [0, 1]
    assert live_workers(redis_client_module, shared_keys) == []
    assert redis_client_module.zcard(shared_keys.requests) == 0


def test_each_worker_writes_its_own_files_and_both_did_work(
    two_workers: tuple[list[Worker], list[Output], Path],
) -> None:
    _, outs, _ = two_workers
    assert len(outs) == 2  # two feeds under one data directory: the run ids differ
    for out in outs:
        assert out.stats["downloader/response_count"] >= 10
        assert out.stats["item_scraped_count"] >= 1
        assert out.stats["scheduler/dequeued/redis"] >= 10


def test_together_they_emit_every_story_once(
    site: tuple[LocalSite, Any], two_workers: tuple[list[Worker], list[Output], Path]
) -> None:
    local, server = site
    _, outs, _ = two_workers
    expected = local.expected(server, rendered=False)
    items = [item for out in outs for item in out.items]
    urls = [item["url"] for item in items]
    assert [u for u, n in Counter(urls).items() if n > 1] == []
    assert sorted(set(urls) - set(expected)) == []
    stories = Counter(expected[u]["story_id"] for u in urls)
    assert [s for s, n in stories.items() if n > 1] == []
    assert set(stories) == {a["story_id"] for a in expected.values()}
    wrong = {
        (item["url"], field)
        for item in items
        for field in COMPARED_FIELDS
        if item.get(field) != expected[item["url"]][field]
    }
    assert wrong == set()


def test_the_shared_database_holds_each_article_once(
    two_workers: tuple[list[Worker], list[Output], Path],
) -> None:
    _, outs, data = two_workers
    emitted = {item["article_id"] for out in outs for item in out.items}
    with sqlite3.connect(data / "chinanews.sqlite3") as db:
        stored = [row[0] for row in db.execute("SELECT article_id FROM articles")]
        runs = db.execute("SELECT count(*) FROM crawl_runs").fetchone()[0]
    assert sorted(stored) == sorted(emitted)
    assert runs == 2


def test_an_idle_worker_takes_start_urls_pushed_later(
    site: tuple[LocalSite, Any], keys: Keys, redis_client: Any, tmp_path: Path
) -> None:
    """The worker's own seed is a list page that does not exist (it sets the scope to the
    local host); the home page is pushed with ``chinanews seed`` once the worker has nothing
    left to do."""
    local, server = site
    data = tmp_path / "data"
    seed_404 = f"{server}/nosuch/"
    worker = start_worker(data, keys.prefix, "-a", f"start_urls={seed_404}", idle_timeout="10")
    deadline = time.monotonic() + 60
    while not (
        redis_client.scard(keys.dupefilter) >= 1 and redis_client.llen(keys.start_urls) == 0
    ):
        assert worker.proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(2)  # the 404 is fetched: the worker idles
    seed = subprocess.run(
        [*SCRAPY[:1], "-m", "chinanews.cli", "seed", server.start_url,
         "--redis-url", REDIS_URL, "--prefix", keys.prefix],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert seed.returncode == 0, seed.stderr
    assert "added to the crawl under way" in seed.stdout
    worker.wait()
    assert worker.proc.returncode == 0, worker.log[-3000:]
    (out,) = outputs(data)
    assert out.stats["chinanews/distributed/start_urls/popped"] == 2
    lost_404 = [k for k in out.stats if k.startswith("chinanews/lost/") and k.endswith("/http_404")]
    assert sum(out.stats[k] for k in lost_404) >= 1  # the 404 seed, counted as lost
    expected = local.expected(server, rendered=False)
    stories = {expected[item["url"]]["story_id"] for item in out.items}
    assert stories == {a["story_id"] for a in expected.values()}
