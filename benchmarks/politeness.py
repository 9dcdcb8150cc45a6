"""Shared politeness benchmark: what the one budget per host in Redis costs
(``chinanews/politeness.py``, ``docs/distributed.md`` "How politeness is shared").

- **Micro**: one client takes and gives back places in a budget with room (no delay), one
  request at a time and 16 at once, as a worker's downloads would: Redis round trips per
  request and the time taking a place adds before a request can go.
- **Crawl, no delay**: three workers of one distributed crawl of the local site
  (``--size`` articles, served in this process, which records each request's start and
  end), ``DOWNLOAD_DELAY=0``, ``CONCURRENT_REQUESTS_PER_DOMAIN=16``, AutoThrottle off, with
  and without the shared budget (``CHINANEWS_SHARED_POLITENESS``): requests per second at
  the server, the most in flight at once, round trips per request.
- **Crawl, polite**: the same with ``DOWNLOAD_DELAY=0.05`` and
  ``CONCURRENT_REQUESTS_PER_DOMAIN=2`` on 150 articles (the settings mean 20 requests a
  second, 2 at once).

Prints a Markdown section; ``--write`` replaces the ``politeness`` section of
docs/benchmarks.md.

    .venv/bin/python benchmarks/politeness.py --write
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.extraction import replace_section  # noqa: E402
from chinanews.distributed import Keys, reset  # noqa: E402
from chinanews.localsite import LocalSite, serve  # noqa: E402
from chinanews.politeness import Budget, Limits  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
PY = sys.executable
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
WORKERS = 3


@dataclass
class Micro:
    label: str
    requests: int
    round_trips: int
    take_ms: list[float]
    wall: float

    @property
    def per_request(self) -> float:
        return self.round_trips / self.requests


def micro(parallel: int, requests: int) -> Micro:
    import redis.asyncio

    prefix = f"chinanews-bench:polite:{uuid.uuid4().hex[:12]}"
    limits = Limits(delay=0.0, jitter=0.5, concurrency=10_000)
    taken: list[float] = []

    async def main() -> tuple[int, float]:
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        budget = Budget(client, prefix, "bench")
        loop = asyncio.get_running_loop()

        async def one() -> None:
            began = loop.time()
            token, _ = await budget.acquire("bench.example", limits, lifetime=30)
            taken.append(1000 * (loop.time() - began))
            budget.give_back("bench.example", token)  # as SharedPoliteness gives places back

        started = loop.time()
        for _ in range(requests // parallel):
            await asyncio.gather(*(one() for _ in range(parallel)))
        await budget.close()  # the give-backs still under way
        wall = loop.time() - started
        return budget.round_trips, wall

    round_trips, wall = asyncio.run(main())
    sync = redis.Redis.from_url(REDIS_URL)
    reset(sync, Keys(prefix))
    sync.close()
    return Micro(f"{parallel} at a time", len(taken), round_trips, taken, wall)


@dataclass
class Crawl:
    label: str
    requests: int
    span: float
    peak: int
    acquired: int
    round_trips: int
    full_retries: int
    waited_ms: int

    @property
    def rate(self) -> float:
        return (self.requests - 1) / self.span


def crawl(
    label: str, size: int, shared: bool, delay: float, concurrency: int, workers: int = WORKERS
) -> Crawl:
    """``workers`` workers of one distributed crawl of a local site of ``size`` articles."""
    prefix = f"chinanews-bench:polite:{uuid.uuid4().hex[:12]}"
    settings = {
        "AUTOTHROTTLE_ENABLED": "0",
        "DOWNLOAD_DELAY": str(delay),
        "CONCURRENT_REQUESTS_PER_DOMAIN": str(concurrency),
        "CONCURRENT_REQUESTS": "16",
        "LOG_LEVEL": "INFO",
        "DATABASE_URL": "none",
        "CHINANEWS_DISTRIBUTED": "1",
        "REDIS_URL": REDIS_URL,
        "CHINANEWS_REDIS_PREFIX": prefix,
        "CHINANEWS_IDLE_TIMEOUT": "2",
        "CHINANEWS_SHARED_POLITENESS": "1" if shared else "0",
    }
    stats: list[dict[str, int]] = []
    with (
        tempfile.TemporaryDirectory(prefix="chinanews-bench-") as tmp,
        serve(LocalSite(size=size, seed=7)) as server,
    ):
        procs = []
        for i in range(workers):
            out = Path(tmp) / f"w{i}"
            cmd = [PY, "-m", "scrapy", "crawl", "china_com", "-a", "render=never",
                   "-a", f"start_urls={server.start_url}",
                   "-s", f"CHINANEWS_REPORT_FILE={out / 'report.json'}",
                   "-s", f"CHINANEWS_WORKER_ID=bench-{i}"]  # fmt: skip
            for name, value in settings.items():
                cmd += ["-s", f"{name}={value}"]
            env = {**os.environ, "CHINANEWS_DATA_DIR": str(out / "data")}
            out.mkdir()
            log = (out / "log.txt").open("w")
            procs.append((subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log, env=env), out))
        for proc, out in procs:
            if proc.wait(timeout=600) != 0:
                raise SystemExit(f"{label}: a worker exited with {proc.returncode}; see {out}")
            stats.append(json.loads((out / "report.json").read_text(encoding="utf-8"))["stats"])
        timings = sorted(server.timings)
        peak = server.peak_in_flight()
    client = redis.Redis.from_url(REDIS_URL)
    reset(client, Keys(prefix))
    client.close()

    def total(key: str) -> int:
        return sum(int(s.get(f"chinanews/politeness/{key}", 0)) for s in stats)

    return Crawl(
        label,
        requests=len(timings),
        span=timings[-1][0] - timings[0][0],
        peak=peak,
        acquired=total("acquired"),
        round_trips=total("round_trips"),
        full_retries=total("full_retries"),
        waited_ms=total("waited_ms"),
    )


def report(args: argparse.Namespace, micros: list[Micro], crawls: list[Crawl], load: float) -> str:
    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1]

    L = [
        f"Measured {date.today().isoformat()} on {platform.machine()} "
        f"({platform.python_version()}), {os.cpu_count()} cores, Redis at 127.0.0.1; load "
        f"average {load:.1f} before, {os.getloadavg()[0]:.1f} after.",
        "",
        "Taking and giving back a place (`chinanews.politeness.Budget`), a host with room, one "
        "client:",
        "",
        "| requests | round trips per request | time to take a place, ms: median | p99 "
        "| places per second |",
        "|---|---|---|---|---|",
    ]
    for m in micros:
        L.append(
            f"| {m.requests:,} {m.label} | {m.per_request:.2f} | {statistics.median(m.take_ms):.2f} "
            f"| {pct(m.take_ms, 99):.2f} | {m.requests / m.wall:,.0f} |"
        )
    L += [
        "",
        f"{WORKERS} workers of one distributed crawl of the local site (served in the "
        "benchmark's process, which records each request's start and end), AutoThrottle off; "
        "rates at the server over the crawl, from its first request to its last:",
        "",
        "| run | requests | span s | requests/s | most in flight | round trips per request "
        "| retries (host full) | queued per request ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in crawls:
        per = f"{c.round_trips / c.acquired:.2f}" if c.acquired else "–"
        wait = f"{c.waited_ms / c.acquired:.1f}" if c.acquired else "–"
        retries = f"{c.full_retries:,}" if c.acquired else "–"
        L.append(
            f"| {c.label} | {c.requests:,} | {c.span:.1f} | **{c.rate:.1f}** | {c.peak} "
            f"| {per} | {retries} | {wait} |"
        )
    same, off, sixteen, polite = crawls[0], crawls[1], crawls[2], crawls[3]
    L += [
        "",
        f"The budget's own cost per download is one round trip to Redis before it (median "
        f"{statistics.median(micros[0].take_ms):.2f} ms, one request at a time) and one after "
        "it, off the request's path, unless another request of the worker waits for a place "
        "on the host: then the give-back rides on that request's query "
        f"({micros[1].per_request:.2f} round trips per request with 16 at a time, "
        f"{same.round_trips / same.acquired:.2f} in the crawls without a delay). The crawls "
        "here are bound by the workers' CPU (three "
        f"crawling processes and the server on {os.cpu_count()} cores), and their rates vary "
        "from run to run by a quarter or so: with as many places on the host as the three "
        f"workers have without it ({16 * WORKERS}), the shared budget ran at "
        f"{same.rate / off.rate:.2f}× the per-worker crawl; with the settings as given "
        "(`CONCURRENT_REQUESTS_PER_DOMAIN=16`, which the workers then share, as one process "
        f"would have them) at {sixteen.rate / off.rate:.2f}×. With a delay, the host keeps "
        f"to it: {polite.rate:.1f} requests/s where the settings mean "
        f"{1 / 0.05:.0f}, against {crawls[4].rate:.1f} without the shared budget; each download "
        f"then cost {polite.round_trips / polite.acquired:.1f} round trips, the retries being "
        "the queries of a worker whose host was full (both places taken, by other workers) "
        "once the next allowed start had come: the place comes back only when the response "
        "does. "
        '"Queued" is the time a download waited for its place, its worker\'s queue of 16 '
        "concurrent requests included.",
    ]
    return "\n".join(L)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=1_000, help="articles of the no-delay crawl")
    ap.add_argument("--write", action="store_true", help=f"replace the section in {DOC}")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    micros = [micro(1, 2_000), micro(16, 4_000)]
    crawls = [
        crawl(f"no delay, {16 * WORKERS} per host, shared", args.size, True, 0.0, 16 * WORKERS),
        crawl("no delay, 16 per host, per worker", args.size, False, 0.0, 16),
        crawl("no delay, 16 per host, shared", args.size, True, 0.0, 16),
        crawl("delay 0.05 s, 2 per host, shared", 150, True, 0.05, 2),
        crawl("delay 0.05 s, 2 per host, per worker", 150, False, 0.05, 2),
    ]
    text = report(args, micros, crawls, load)
    print(text)
    if args.write:
        replace_section(DOC, "politeness", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
