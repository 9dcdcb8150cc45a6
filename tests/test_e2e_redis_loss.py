"""End to end (issue 15): a worker that cannot reach Redis mid-crawl. Three workers share a
crawl of the local site (~150 articles) through Redis and one PostgreSQL database; one of
them reaches Redis through a proxy (every client it makes: the frontier, the leases, the
article index, the politeness budget, all from ``REDIS_URL``), cut while it holds claimed
requests. It stops with one clear error line and exit code 6 (``chinanews.lease``,
``EXIT_REDIS_LOST``); the others put its requests back once its lease expires and finish the
crawl: every story is in the database exactly once and no request stays claimed; together
they keep to the politeness of the site's host all along."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from chinanews.lease import EXIT_REDIS_LOST, LeaseKeys
from chinanews.localsite import LocalSite, serve
from tests.conftest import REDIS_URL, outside_base
from tests.proxies import CuttingProxy
from tests.test_e2e_distributed import start_worker
from tests.test_e2e_lease import (
    LEASE_SECONDS,
    claimed,
    lease_worker,
    own_lease_keys,
    polite_host,
    reclaimed,
    wait_until,
)

pytestmark = pytest.mark.e2e

#: The one line a worker that lost Redis logs (``Leases.lost``).
LOST = re.compile(
    r"\[chinanews\.lease\] ERROR: Worker (?P<worker>\S+) lost Redis \((?P<error>.+)\): "
    r"it stops; the (?P<held>\d+) requests it holds go back to the other workers when its "
    rf"lease expires \(CHINANEWS_LEASE_SECONDS {LEASE_SECONDS}\)$",
    re.MULTILINE,
)


def around(log: str, text: str, width: int = 2500) -> str:
    """The part of ``log`` around the first ``text`` in it (for an assertion's message)."""
    at = log.find(text)
    return log[max(0, at - width // 2) : at + width] if at >= 0 else log[-width:]


def before_the_loss(log: str) -> str:
    """The log up to the worker's one "lost Redis" line. After it, a part of the worker that
    was using Redis at that moment (an item in the pipelines, say) may still log its own
    failure with a traceback; the loss itself is said first, in one line."""
    found = LOST.search(log)
    return log[: found.start()] if found else log


def errors(log: str) -> list[str]:
    """The log's ERROR lines, but for the site's own: a few of its pages always answer 500,
    and the retry middleware gives up on them with an ERROR."""
    return [
        line
        for line in log.splitlines()
        if "] ERROR: " in line and "[scrapy.downloadermiddlewares.retry]" not in line
    ]


@pytest.fixture
def site(sentinel: Any) -> Iterator[tuple[LocalSite, Any]]:
    local = LocalSite(size=250, seed=16, outside_base=outside_base(sentinel))
    with serve(local) as server:
        yield local, server


@pytest.fixture
def keys(redis_client: Any) -> Iterator[LeaseKeys]:
    yield from own_lease_keys(redis_client, "e2e-redis-loss")


@pytest.fixture
def redis_proxy() -> Iterator[CuttingProxy]:
    """A proxy to the tests' Redis, cut by the test (``stop()``), or at the end."""
    url = urlsplit(REDIS_URL)
    proxy = CuttingProxy((url.hostname or "127.0.0.1", url.port or 6379))
    yield proxy
    proxy.stop()


def stored(postgres_url: str) -> int:
    """How many articles the database holds (0 before the first worker made the table)."""
    import psycopg

    with psycopg.connect(postgres_url) as db:
        found = db.execute("SELECT to_regclass('articles')").fetchone()
        if found is None or found[0] is None:
            return 0
        row = db.execute("SELECT count(*) FROM articles").fetchone()
        assert row is not None
        return int(row[0])


def test_a_worker_that_loses_redis_stops_and_the_others_recover_its_requests(
    site: tuple[LocalSite, Any],
    keys: LeaseKeys,
    redis_client: Any,
    redis_proxy: CuttingProxy,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    local, server = site

    def worker(name: str, **settings: str) -> Any:
        return lease_worker(tmp_path, keys.prefix, server.start_url, postgres_url, name, **settings)

    started = time.monotonic()
    cut = worker("cut", REDIS_URL=redis_proxy.url(REDIS_URL))
    # The worker to be cut is up (it has read robots.txt) before the others start: started
    # last on a loaded machine, it could find the crawl over and never hold a request.
    wait_until(lambda: server.requests.count("/robots.txt") >= 1, 60, step=0.05)
    others = [worker("w2"), worker("w3")]
    # mid-crawl: every worker has read robots.txt, some stories are stored, and the worker
    # is cut the moment it holds requests (between two checkpoints it may hold none)
    wait_until(
        lambda: server.requests.count("/robots.txt") >= 3 and stored(postgres_url) >= 20,
        60,
        step=0.2,
    )
    assert cut.proc.poll() is None, cut.wait().log[-3000:]
    wait_until(lambda: claimed(redis_client, keys, "cut") > 0, 30, step=0.005)
    redis_proxy.stop()
    cut_at = time.monotonic()
    held = claimed(redis_client, keys, "cut")  # what it can no longer acknowledge
    assert held > 0
    # its log is small (~15 KB): it cannot fill the pipe and block while nobody reads it
    stopped = wait_until(lambda: cut.proc.poll() is not None, 30)
    cut.wait()
    wait_until(lambda: claimed(redis_client, keys, "cut") == 0, LEASE_SECONDS + 5)
    back = time.monotonic() - cut_at
    for w in others:
        w.wait(timeout=60)
    # the places the cut worker held in the politeness budget stay taken until they expire
    host = polite_host(server)
    print(
        f"\nthe cut worker held {held} requests; back in the queue {back:.1f} s after the cut;"
        f" it stopped {stopped:.1f} s after the cut; crawl {time.monotonic() - started:.1f} s"
        f"\n{host}"
    )

    # the cut worker: exit code 6, the one clear line, no traceback
    assert cut.proc.returncode == EXIT_REDIS_LOST, cut.log[-3000:]
    assert len(LOST.findall(cut.log)) == 1, cut.log[-3000:]
    # ... the first error it logs: what follows from it (the last checkpoint's index commit
    # fails too) comes after
    assert LOST.search(errors(cut.log)[0]), errors(cut.log)
    assert "Traceback" not in before_the_loss(cut.log), around(cut.log, "Traceback")
    assert "'finish_reason': 'redis_lost'" in cut.log
    assert stopped < 10
    # the others: put its requests back when its lease expired, finished the crawl
    for w in others:
        assert w.proc.returncode == 0, w.log[-3000:]
        assert "Traceback" not in w.log
    assert "cut" in reclaimed(*(w.log for w in others))
    assert back <= LEASE_SECONDS + 3

    import psycopg

    with psycopg.connect(postgres_url) as db:
        urls = [row[0] for row in db.execute("SELECT url FROM articles")]
    expected = local.expected(server, rendered=False)
    assert sorted(set(urls) - set(expected)) == []
    stories = Counter(expected[u]["story_id"] for u in urls)
    assert [s for s, n in stories.items() if n > 1] == []
    assert set(stories) == {a["story_id"] for a in expected.values()}
    # nothing stays claimed, nothing was dead-lettered, the queue is empty
    assert redis_client.zcard(keys.leases) == 0
    assert list(redis_client.scan_iter(match=f"{keys.prefix}:claimed:*")) == []
    assert redis_client.llen(keys.dead) == 0
    assert redis_client.zcard(keys.requests) == 0


def test_a_worker_that_loses_redis_while_idle_stops_with_the_one_line(
    sentinel: Any, keys: LeaseKeys, redis_client: Any, redis_proxy: CuttingProxy, tmp_path: Path
) -> None:
    """The cut comes while the worker idles on an empty frontier (it waits
    ``CHINANEWS_IDLE_TIMEOUT`` for more): no request is in flight, the engine asks the
    scheduler whether any is pending. It stops as a busy worker does."""
    local = LocalSite(size=10, seed=17, outside_base=outside_base(sentinel))
    with serve(local) as server:
        worker = start_worker(
            tmp_path / "idle",
            keys.prefix,
            "-a",
            f"start_urls={server.start_url}",
            idle_timeout="30",
            settings={
                "REDIS_URL": redis_proxy.url(REDIS_URL),
                "CHINANEWS_WORKER_ID": "idle",
                "CHINANEWS_LEASE_SECONDS": str(LEASE_SECONDS),
                "CHINANEWS_CHECKPOINT_SECONDS": "1",
                "DATABASE_URL": "none",
            },
        )

        def idle() -> bool:
            """The site fetched, nothing queued, nothing claimed: the worker waits."""
            return (
                len(server.requests) >= 10  # the site has 10 articles
                and redis_client.zcard(keys.requests) == 0
                and claimed(redis_client, keys, "idle") == 0
            )

        wait_until(idle, 30, step=0.1)
        time.sleep(1)
        assert idle() and worker.proc.poll() is None
        redis_proxy.stop()
        cut_at = time.monotonic()
        worker.wait(timeout=30)
    print(f"\nthe idle worker stopped {time.monotonic() - cut_at:.1f} s after the cut")
    assert worker.proc.returncode == EXIT_REDIS_LOST, worker.log[-3000:]
    assert [m.group("worker") for m in LOST.finditer(worker.log)] == ["idle"]
    assert LOST.search(errors(worker.log)[0]), errors(worker.log)
    assert "Traceback" not in before_the_loss(worker.log), around(worker.log, "Traceback")
