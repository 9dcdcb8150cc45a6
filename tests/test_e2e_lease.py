"""End to end: three workers share a crawl of the local site (~200 articles) through Redis,
one PostgreSQL database and one Iceberg lake; one is killed with ``kill -9`` mid-crawl and
started again, another is stopped with SIGTERM twice (Scrapy's forced, unclean stop). The
requests they held come back to the others when their leases expire (``chinanews.lease``):
at the end every story is in the database exactly once, every article version in the lake
once, and no request stays claimed. Kills included, the workers keep together to one
politeness budget for the site's host (``chinanews.politeness``): the site's server records
when it handled each request."""

from __future__ import annotations

import itertools
import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chinanews.distributed import Keys, reset
from chinanews.lease import LeaseKeys
from chinanews.localsite import LocalSite, serve
from tests.conftest import outside_base
from tests.test_e2e_distributed import Worker, start_worker

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 3.0
#: The politeness the workers keep to together at the host: 20 requests a second, 2 at once.
DELAY = 0.05
CONCURRENCY = 2


@pytest.fixture
def site(sentinel: Any) -> Iterator[tuple[LocalSite, Any]]:
    local = LocalSite(size=200, seed=15, outside_base=outside_base(sentinel))
    with serve(local) as server:
        yield local, server


def own_lease_keys(client: Any, name: str) -> Iterator[LeaseKeys]:
    """Lease keys under a prefix of the test's own (``name``); every key under it is deleted
    afterwards."""
    k = Keys(f"chinanews-test:{name}:{uuid.uuid4().hex[:12]}")
    yield LeaseKeys(k.prefix)
    reset(client, k)


@pytest.fixture
def keys(redis_client: Any) -> Iterator[LeaseKeys]:
    yield from own_lease_keys(redis_client, "e2e-lease")


def claimed(client: Any, keys: LeaseKeys, worker: str) -> int:
    return int(client.hlen(keys.claimed(worker)))


def wait_until(what: Any, timeout: float, step: float = 0.05) -> float:
    """Seconds until ``what()`` was true; fails after ``timeout``."""
    start = time.monotonic()
    while not what():
        assert time.monotonic() - start < timeout, f"not within {timeout} s: {what}"
        time.sleep(step)
    return time.monotonic() - start


def reclaimed(*logs: str) -> set[str]:
    """The workers whose expired leases these logs' workers put back ("Leases of w2, w1
    expired: ...": one line for all the leases one heartbeat found expired, in the order
    they expired)."""
    return {
        worker
        for log in logs
        for names in re.findall(r"\[chinanews\.lease\] WARNING: Leases of (.+?) expired:", log)
        for worker in names.split(", ")
    }


def polite_host(server: Any) -> str:
    """Assert that the workers kept together to ``DELAY`` and ``CONCURRENCY`` at the site's
    host over the whole crawl, as test_e2e_politeness measures it from the times the server
    handled each request (the rate allows 25 % for the jitter); what was measured."""
    timings = sorted(server.timings)
    peak = server.peak_in_flight()
    span = timings[-1][0] - timings[0][0]
    rate = (len(timings) - 1) / span
    pause = max(b[0] - a[1] for a, b in itertools.pairwise(timings))
    seen = (
        f"host: {len(timings)} requests in {span:.1f} s, {rate:.1f}/s (at most {1 / DELAY:.0f});"
        f" peak in flight {peak} (at most {CONCURRENCY}); longest pause {pause:.1f} s"
    )
    assert rate <= 1.25 / DELAY, seen
    assert peak <= CONCURRENCY, seen
    return seen


def lease_worker(
    data: Path, prefix: str, start_url: str, postgres_url: str, name: str, **settings: str
) -> Worker:
    """A worker of the lease tests: named ``name``, storing into ``postgres_url``, with a
    short lease, a checkpoint a second, and ``DELAY`` and ``CONCURRENCY`` for the host (a
    crawl long enough to cut mid-way); ``settings`` on top."""
    return start_worker(
        data / name,
        prefix,
        "-a",
        f"start_urls={start_url}",
        settings={
            "DATABASE_URL": postgres_url,
            "CHINANEWS_WORKER_ID": name,
            "CHINANEWS_LEASE_SECONDS": str(LEASE_SECONDS),
            "CHINANEWS_CHECKPOINT_SECONDS": "1",
            "DOWNLOAD_DELAY": str(DELAY),
            "CONCURRENT_REQUESTS_PER_DOMAIN": str(CONCURRENCY),
            **settings,
        },
    )


def test_workers_killed_mid_crawl_lose_no_story(
    site: tuple[LocalSite, Any],
    keys: LeaseKeys,
    redis_client: Any,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    local, server = site

    # one Iceberg table for the three workers: a warehouse and a catalog they share
    lake = {"CHINANEWS_LAKE": str(tmp_path / "lake"), "CHINANEWS_LAKE_CATALOG": postgres_url}

    def worker(name: str) -> Worker:
        return lease_worker(tmp_path, keys.prefix, server.start_url, postgres_url, name, **lake)

    started = time.monotonic()
    w1, w2, w3 = worker("w1"), worker("w2"), worker("w3")
    # mid-crawl: the victims hold requests, and some stories are in the database
    wait_until(lambda: claimed(redis_client, keys, "w1") and claimed(redis_client, keys, "w2"), 30)
    time.sleep(3)
    assert w1.proc.poll() is None and w2.proc.poll() is None
    # kill w1 the moment it holds requests (between two checkpoints it may hold none)
    wait_until(lambda: claimed(redis_client, keys, "w1") > 0, 30, step=0.005)
    w1.proc.kill()  # kill -9
    killed = time.monotonic()
    w2.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    w2.proc.send_signal(signal.SIGTERM)  # twice: Scrapy's forced, unclean shutdown
    w1.proc.wait()
    held = claimed(redis_client, keys, "w1")  # what the dead worker left claimed
    assert held > 0
    w1b = worker("w1b")
    back = wait_until(lambda: claimed(redis_client, keys, "w1") == 0, 3 * LEASE_SECONDS + 10)
    print(f"\nw1 held {held} requests when killed; back in the queue {back:.1f} s later")
    for w in (w2, w3, w1b):
        w.wait(timeout=60)
    print(f"crawl with the kills: {time.monotonic() - started:.1f} s")
    # The host, over the whole crawl, kills included. A request w1 had sent when it was
    # killed may still be in flight at the server after w1's death (the server answers into
    # a closed socket); it counts in the peak and the rate like any other, with no
    # allowance, and needs none: a dead worker gives back no place, so its places in the
    # shared budget stay taken until they expire (DOWNLOAD_TIMEOUT + politeness.GRACE) or
    # are dropped with its expired lease (3 s): long after the server has finished with
    # them (milliseconds). w2's forced stop cuts its downloads short: a place it still gives
    # back may be free while the server answers into the closed connection; a third request
    # would have to start before the server was done, and starts are DELAY / 2 apart at
    # least (the jitter): the server would have to take that long over a page.
    print(polite_host(server))
    assert w1.proc.returncode == -signal.SIGKILL
    for w in (w3, w1b):
        assert w.proc.returncode == 0, w.log[-3000:]
        assert "Traceback" not in w.log
    # whoever was alive when the lease expired put them back: w2, still shutting down
    # under a loaded machine, w3 or the new w1b
    assert "w1" in reclaimed(w2.log, w3.log, w1b.log)
    assert back <= LEASE_SECONDS + 5
    assert time.monotonic() - killed < 60

    import psycopg

    with psycopg.connect(postgres_url) as db:
        urls = [row[0] for row in db.execute("SELECT url FROM articles")]
    expected = local.expected(server, rendered=False)
    assert sorted(set(urls) - set(expected)) == []
    stories = Counter(expected[u]["story_id"] for u in urls)
    assert [s for s, n in stories.items() if n > 1] == []
    assert set(stories) == {a["story_id"] for a in expected.values()}
    # the lake: every story, each article version once
    from tests.test_e2e_iceberg import lake_config, read_table

    rows, _ = read_table(lake_config(lake, tmp_path / "w3"))
    versions = Counter(zip(rows["url"].to_pylist(), rows["version"].to_pylist(), strict=True))
    assert [v for v, n in versions.items() if n > 1] == []
    assert {expected[u]["story_id"] for u, _ in versions if u in expected} == set(stories)
    # nothing stays claimed, nothing was dead-lettered
    assert redis_client.zcard(keys.leases) == 0
    assert list(redis_client.scan_iter(match=f"{keys.prefix}:claimed:*")) == []
    assert redis_client.llen(keys.dead) == 0
    assert redis_client.zcard(keys.requests) == 0
