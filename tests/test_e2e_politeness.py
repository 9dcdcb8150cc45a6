"""End to end: three workers of one distributed crawl keep, together, to one politeness
budget for the local site's host (``chinanews/politeness.py``, ``docs/distributed.md``).

With ``DOWNLOAD_DELAY=0.05`` and ``CONCURRENT_REQUESTS_PER_DOMAIN=2`` one process sends at
most 20 requests a second, 2 at a time; three workers without the shared budget sent 44.8
a second. The site's server records when it handled each request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chinanews.distributed import Keys
from chinanews.localsite import LocalSite, serve
from tests.conftest import outside_base
from tests.test_e2e_distributed import own_keys, start_worker

pytestmark = pytest.mark.e2e

DELAY = 0.05
CONCURRENCY = 2
POLITE = {
    "DOWNLOAD_DELAY": str(DELAY),
    "CONCURRENT_REQUESTS_PER_DOMAIN": str(CONCURRENCY),
    "AUTOTHROTTLE_ENABLED": "0",
    "DATABASE_URL": "none",
}

ACQUIRED = re.compile(r"'chinanews/politeness/acquired': (\d+)")


@pytest.fixture
def keys(redis_client: Any) -> Iterator[Keys]:
    yield from own_keys(redis_client)


def test_three_workers_keep_to_one_delay_and_concurrency_per_host(
    sentinel: Any, keys: Keys, tmp_path: Path
) -> None:
    local = LocalSite(size=150, seed=11, outside_base=outside_base(sentinel))
    with serve(local) as server:
        workers = [
            start_worker(
                tmp_path / f"w{i}",
                keys.prefix,
                "-a",
                f"start_urls={server.start_url}",
                settings={**POLITE, "CHINANEWS_WORKER_ID": f"polite-{i}"},
            )
            for i in range(3)
        ]
        for worker in workers:
            worker.wait(timeout=120)
        timings = sorted(server.timings)
        peak = server.peak_in_flight()
    for worker in workers:
        assert worker.proc.returncode == 0, worker.log[-3000:]
    fetched = [int(m.group(1)) for w in workers for m in [ACQUIRED.search(w.log)] if m]
    assert len(fetched) == 3 and min(fetched) > 0, fetched  # every worker took places
    assert len(timings) >= sum(fetched) > 150
    span = timings[-1][0] - timings[0][0]
    rate = (len(timings) - 1) / span
    assert rate <= 1.25 / DELAY, f"{len(timings)} requests in {span:.1f} s: {rate:.1f}/s"
    assert peak <= CONCURRENCY


def test_the_browser_s_own_requests_take_places_in_the_same_budget(
    sentinel: Any, keys: Keys, tmp_path: Path, chromium: None
) -> None:
    """A worker rendering the local site's script-filled pages: Chromium's requests for
    their scripts and data wait for places too, so the host never sees more than the
    concurrency at once."""
    local = LocalSite(size=40, seed=12, js=0.3, outside_base=outside_base(sentinel))
    with serve(local) as server:
        worker = start_worker(
            tmp_path / "w",
            keys.prefix,
            "-a",
            f"start_urls={server.start_url}",
            "-a",
            "render=auto",
            settings={**POLITE, "CHINANEWS_MIN_COVERAGE": '{"body": 0.5}'},
        ).wait(timeout=180)
        # overlaps under 10 ms left out: with Chromium on a loaded machine (the full suite)
        # the server's threads note their answers' ends late (peak_in_flight)
        peak = server.peak_in_flight(grace=0.010)
    assert worker.proc.returncode == 0, worker.log[-3000:]
    browser = re.search(r"'chinanews/politeness/browser': (\d+)", worker.log)
    assert browser is not None and int(browser.group(1)) > 0, worker.log[-3000:]
    assert peak <= CONCURRENCY
