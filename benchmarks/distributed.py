"""Distributed crawl benchmark: one, two and three workers sharing one crawl through Redis,
the shared politeness budget against its limit, and the cost of a worker's death.

**Scaling.** One local site (``--size`` articles) is served by ``python -m chinanews.localsite
serve`` in its own process and crawled from its home page with ``scrapy crawl china_com -a
render=never``, 16 concurrent requests and 16 per host, no delay, AutoThrottle off (the
settings of ``benchmarks/crawl.py``), the shared politeness budget off, each worker with its
own data directory (JSONL feed and SQLite database, as on its own machine):

- **plain**: the default single-process crawl (Scrapy's scheduler, SQLite index), for the
  cost of going through Redis;
- **1 worker**, **2 workers**, **3 workers**: distributed mode (``-s
  CHINANEWS_DISTRIBUTED=1``), the workers started at the same moment.

Every run of distributed mode has a key prefix of its own, deleted afterwards; workers stop
``CHINANEWS_IDLE_TIMEOUT`` (2 s) after the frontier empties. Figures per run: articles,
the **crawl span** (from the first worker's spider opening to the last worker's last busy
moment: its finish time less its idle wait, so neither the interpreter's start nor the
idle wait counts) and articles per second over it, the wall time of the processes, and CPU
seconds of each worker (``os.wait4``), of the site's server and of redis-server over the
run. Target: two workers at least 1.7x one.

**The budget on.** One, two and three workers with ``DOWNLOAD_DELAY=0.05`` and 2 per host
(``benchmarks.politeness.crawl``): the rate at the site's server against the 20 requests a
second the settings mean, the most in flight, Redis round trips per request.

**A worker's death.** Three workers with the same polite settings and a 5 s lease; worker 0
is killed with SIGKILL a third into the crawl while it downloads, and not started again:
the time until its claimed requests are back in the queue and its politeness places free,
the requests at the server against the same crawl without a death, the pages fetched twice.

Prints a Markdown section; ``--write`` replaces the ``distributed`` section of
docs/benchmarks.md.

    .venv/bin/python benchmarks/distributed.py --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.crawl import COMMON, Server, settings_args  # noqa: E402
from benchmarks.extraction import replace_section  # noqa: E402
from benchmarks.politeness import Crawl as PoliteCrawl  # noqa: E402
from benchmarks.politeness import crawl as polite_crawl  # noqa: E402
from chinanews.distributed import Keys, reset  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
PY = sys.executable
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
IDLE_TIMEOUT = "2"


@dataclass
class Worker:
    cpu: float = 0.0
    items: int = 0
    pages: int = 0
    start: float = 0.0  # epoch seconds: the spider opened
    busy_until: float = 0.0  # epoch seconds: finish time less the idle wait


@dataclass
class Run:
    label: str
    workers: list[Worker] = field(default_factory=list)
    wall: float = 0.0
    server_cpu: float = 0.0
    redis_cpu: float = 0.0
    machine_cpu: float = 0.0  # busy CPU seconds of the whole machine over the wall time

    @property
    def others_cpu(self) -> float:
        """CPU seconds of processes outside the benchmark over its wall time."""
        return max(0.0, self.machine_cpu - self.cpu - self.server_cpu - self.redis_cpu)

    @property
    def items(self) -> int:
        return sum(w.items for w in self.workers)

    @property
    def span(self) -> float:
        return max(w.busy_until for w in self.workers) - min(w.start for w in self.workers)

    @property
    def rate(self) -> float:
        return self.items / self.span

    @property
    def cpu(self) -> float:
        return sum(w.cpu for w in self.workers)


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def redis_process() -> psutil.Process:
    client = redis.Redis.from_url(REDIS_URL)
    pid = int(client.info("server")["process_id"])
    client.close()
    return psutil.Process(pid)


def machine_busy() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def cpu_of(ps: psutil.Process) -> float:
    t = ps.cpu_times()
    return t.user + t.system


def distributed_settings(prefix: str) -> dict[str, str]:
    return {
        "CHINANEWS_DISTRIBUTED": "1",
        "REDIS_URL": REDIS_URL,
        "CHINANEWS_REDIS_PREFIX": prefix,
        "CHINANEWS_IDLE_TIMEOUT": IDLE_TIMEOUT,
    }


def crawl(label: str, server: Server, tmp: Path, workers: int, distributed: bool) -> Run:
    """``workers`` processes crawl the site; distributed ones without the shared politeness
    budget (no delay to share: each worker keeps its own 16 places per host)."""
    prefix = f"chinanews-bench:{uuid.uuid4().hex[:12]}"
    settings = dict(COMMON)
    if distributed:
        settings |= distributed_settings(prefix) | {"CHINANEWS_SHARED_POLITENESS": "0"}
    redis_ps = redis_process()
    result = Run(label)
    procs = []
    server_cpu, redis_cpu, machine = server.cpu(), cpu_of(redis_ps), machine_busy()
    started = time.perf_counter()
    for i in range(workers):
        out = tmp / f"{label.replace(' ', '-')}-{i}"
        out.mkdir()
        cmd = [PY, "-m", "scrapy", "crawl", "china_com", "-a", f"start_urls={server.start_url}",
               "-a", "render=never", *settings_args(settings),
               "-s", f"CHINANEWS_REPORT_FILE={out / 'report.json'}", "-O", str(out / "out.jsonl")]  # fmt: skip
        env = {**os.environ, "CHINANEWS_DATA_DIR": str(out / "data")}
        log = (out / "log.txt").open("w")
        procs.append((subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log, env=env), out))
    for proc, out in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise SystemExit(f"{label}: a worker exited with {code}; see {out / 'log.txt'}")
        stats = json.loads((out / "report.json").read_text(encoding="utf-8"))["stats"]
        finish = _epoch(stats["finish_time"])
        result.workers.append(
            Worker(
                cpu=usage.ru_utime + usage.ru_stime,
                items=int(stats.get("item_scraped_count", 0)),
                pages=int(stats.get("downloader/response_count", 0)),
                start=_epoch(stats["start_time"]),
                busy_until=finish - float(stats.get("chinanews/distributed/idle_stop", 0)),
            )
        )
    result.wall = time.perf_counter() - started
    result.server_cpu = server.cpu() - server_cpu
    result.redis_cpu = cpu_of(redis_ps) - redis_cpu
    result.machine_cpu = machine_busy() - machine
    if distributed:
        client = redis.Redis.from_url(REDIS_URL)
        reset(client, Keys(prefix))
        client.close()
    return result


# -- the budget on: the rate at the host against the limit --------------------------------

POLITE_SIZE = 150
POLITE_DELAY = 0.05


def polite_section(crawls: list[PoliteCrawl]) -> str:
    limit = 1 / POLITE_DELAY
    L = [
        f"**The shared politeness budget on** (`DOWNLOAD_DELAY={POLITE_DELAY}`, "
        f"`CONCURRENT_REQUESTS_PER_DOMAIN=2`, AutoThrottle off: the settings mean {limit:.0f} "
        f"requests a second and 2 at once, for the whole crawl), one, two and three workers "
        f"on a site of {POLITE_SIZE} articles served in the benchmark's process, which "
        "records each request's start and end; the rate at the server from its first "
        "request to its last:",
        "",
        "| workers | requests | span s | requests/s | against the limit | most in flight "
        "| round trips per request | retries (host full) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in crawls:
        per = f"{c.round_trips / c.acquired:.2f}" if c.acquired else "–"
        L.append(
            f"| {c.label} | {c.requests:,} | {c.span:.1f} | **{c.rate:.1f}** "
            f"| {c.rate / limit:.2f}× | {c.peak} | {per} | {c.full_retries:,} |"
        )
    rates = " / ".join(f"{c.rate / limit:.2f}×" for c in crawls)
    L += [
        "",
        f"The host sees the limit however many workers share it ({rates} of it at one, two "
        "and three workers; the delay is randomised 0.5–1.5× as Scrapy does, so the rate "
        "moves around the limit), where without the budget N workers send N times it "
        '(`docs/benchmarks.md`, "Shared politeness").',
    ]
    return "\n".join(L)


# -- a worker's death -----------------------------------------------------------------------


@dataclass
class Death:
    killed: bool
    requests: int = 0  # answered by the site's server
    twice: int = 0  # pages requested more than once
    stories: int = 0  # distinct stories in the workers' feeds
    expected: int = 0
    emitted_twice: int = 0  # articles in two workers' feeds
    held: int = 0  # requests the killed worker held when killed
    places: int = 0  # ... and places in the shared budget
    back_s: float = 0.0  # from the kill until its requests were back in the queue
    places_s: float = 0.0  # ... until its places in the shared budget were free
    span: float = 0.0  # the server's first request to its last


DEATH_LEASE = 5.0


def death(size: int, seed: int, kill: bool = True) -> Death:
    """Three workers crawl a site served in this process (the shared budget on, the polite
    settings of ``polite_section``);
    with ``kill``, worker 0 is killed with SIGKILL once a third of the site is fetched, at
    a moment it holds claimed requests, and not started again."""
    from chinanews.lease import LeaseKeys
    from chinanews.localsite import LocalSite, serve

    prefix = f"chinanews-bench:death:{uuid.uuid4().hex[:12]}"
    keys = LeaseKeys(prefix)
    client = redis.Redis.from_url(REDIS_URL)
    settings = dict(COMMON) | distributed_settings(prefix)
    settings |= {
        "CHINANEWS_LEASE_SECONDS": str(DEATH_LEASE),
        "CHINANEWS_CHECKPOINT_SECONDS": "1",
        "DOWNLOAD_DELAY": str(POLITE_DELAY),
        "CONCURRENT_REQUESTS_PER_DOMAIN": "2",
    }
    site = LocalSite(size=size, seed=seed)
    result = Death(killed=kill)
    with tempfile.TemporaryDirectory(prefix="chinanews-bench-") as tmp, serve(site) as server:
        expected = site.expected(server, rendered=False)
        procs = []
        for i in range(3):
            out = Path(tmp) / f"w{i}"
            out.mkdir()
            cmd = [PY, "-m", "scrapy", "crawl", "china_com", "-a", "render=never",
                   "-a", f"start_urls={server.start_url}", *settings_args(settings),
                   "-s", f"CHINANEWS_WORKER_ID=bench-{i}", "-O", str(out / "out.jsonl")]  # fmt: skip
            env = {**os.environ, "CHINANEWS_DATA_DIR": str(out / "data")}
            log = (out / "log.txt").open("w")
            procs.append((subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log, env=env), out))
        if kill:
            victim = procs[0][0]
            claimed = keys.claimed("bench-0")

            def places_held() -> int:
                members = [
                    m
                    for k in client.scan_iter(match=f"{prefix}:polite:*:inflight")
                    for m in client.zrange(k, 0, -1)
                ]
                return sum(isinstance(m, bytes) and m.startswith(b"bench-0:") for m in members)

            # a third into the crawl, at a moment it holds requests and downloads some
            deadline = time.monotonic() + 300
            while (
                len(server.requests) < len(expected) // 3
                or not client.hlen(claimed)
                or not places_held()
            ):
                if time.monotonic() > deadline or victim.poll() is not None:
                    raise SystemExit("worker 0 never downloaded a third into the crawl")
                time.sleep(0.002)
            victim.kill()
            killed = time.monotonic()
            victim.wait()
            result.held = int(client.hlen(claimed))
            result.places = places_held()
            # Watch, while the others crawl on, for its claims back in the queue and its
            # places in the shared budget freed.
            while not (result.back_s and result.places_s):
                now = time.monotonic() - killed
                if not result.back_s and not client.exists(claimed):
                    result.back_s = now
                if not result.places_s and not places_held():
                    result.places_s = now
                if now > 120:
                    raise SystemExit("worker 0's claims or places were not back in 120 s")
                time.sleep(0.01)
        for i, (proc, out) in enumerate(procs):
            code = proc.wait(timeout=600)
            if code != 0 and not (kill and i == 0):
                raise SystemExit(f"a worker exited with {code}; see {out / 'log.txt'}")
        times = sorted(server.timings)
        result.span = times[-1][0] - times[0][0]
        result.requests = len(server.requests)
        result.twice = sum(n > 1 for n in Counter(server.requests).values())
        urls: Counter[str] = Counter()
        for _, out in procs:
            feed = out / "out.jsonl"
            lines = feed.read_text(encoding="utf-8").splitlines() if feed.exists() else []
            urls.update(json.loads(line)["url"] for line in lines if line.strip())
        result.stories = len({expected[u]["story_id"] for u in urls if u in expected})
        result.expected = len({a["story_id"] for a in expected.values()})
        result.emitted_twice = sum(n > 1 for n in urls.values())
    reset(client, Keys(prefix))
    client.close()
    return result


def death_section(args: argparse.Namespace, baseline: Death, dead: Death) -> str:
    L = [
        f"**A worker's death.** Three workers crawl a site of {args.death_size:,} articles "
        f"served in the benchmark's process (the shared budget on, `DOWNLOAD_DELAY="
        f"{POLITE_DELAY}`, 2 per host, "
        f"`CHINANEWS_LEASE_SECONDS={DEATH_LEASE:g}`, a checkpoint a second, each worker its "
        "own data directory); once a third of the pages are fetched, worker 0 is killed "
        "with SIGKILL at a moment it holds claimed requests, and not started again. The same "
        "crawl without the kill is the baseline.",
        "",
        "| run | requests at the server | pages requested twice or more | stories in the "
        "feeds | articles in two feeds | span at the server, s |",
        "|---|---|---|---|---|---|",
    ]
    for label, d in (("no death", baseline), ("worker 0 killed", dead)):
        L.append(
            f"| {label} | {d.requests:,} | {d.twice:,} | {d.stories:,} of {d.expected:,} "
            f"| {d.emitted_twice:,} | {d.span:.1f} |"
        )
    L += [
        "",
        f"Worker 0 held {dead.held} claimed requests when it died; they were back in the "
        f"queue **{dead.back_s:.1f} s** after the kill (the lease, {DEATH_LEASE:g} s, expires; "
        "the next heartbeat of a live worker, every third of it, puts them back), and "
        + (
            f"the {dead.places} places it held in the shared budget were free "
            f"{dead.places_s:.1f} s after it (the first query to find the host full once the "
            "lease was reclaimed drops them; without that they would last the download "
            "timeout plus 10 s). "
            if dead.places
            else "it held no place in the shared budget when it died (its last give-back had "
            "reached Redis). "
        )
        + "The death cost "
        f"{dead.requests - baseline.requests:+,} requests at the server against the baseline: "
        "the requests the dead worker had taken, fetched again by the others, and the "
        "articles it had fetched since its last checkpoint, whose claims it never "
        f"acknowledged. {dead.emitted_twice:,} articles are in two workers' feeds (the dead "
        "worker's feed holds what it emitted before its last checkpoint and after: the "
        "JSONL feeds promise every article at least once; the database and the lake, which "
        "upsert per version, hold each once).",
    ]
    return "\n".join(L)


def report(args: argparse.Namespace, runs: list[Run], load: float) -> str:
    plain, one, two, three = runs
    ratio = two.rate / one.rate
    cores = os.cpu_count() or 1
    L = [
        f"Measured {date.today().isoformat()} on {platform.machine()} "
        f"({platform.python_version()}), {cores} cores, Redis at 127.0.0.1; load average "
        f"{load:.1f} before, {os.getloadavg()[0]:.1f} after. Local site of {args.size:,} "
        f"articles (seed {args.seed}) served in its own process; every worker runs `scrapy "
        "crawl china_com -a render=never` with 16 concurrent requests and 16 per host, no "
        "delay, AutoThrottle off, the shared politeness budget off "
        "(`CHINANEWS_SHARED_POLITENESS=0`: with no delay there is nothing to share but the "
        "places, and shared they would hold N workers to one worker's 16), its own data "
        "directory (JSONL, SQLite), and `CHINANEWS_IDLE_TIMEOUT` 2 s. The span runs from the "
        "first spider opening to the last worker's last busy moment.",
        "",
        "| run | articles | pages | span s | articles/s | wall s | CPU s per worker "
        "| server CPU s | redis CPU s | other processes' CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        per_worker = " + ".join(f"{w.cpu:.1f}" for w in r.workers)
        L.append(
            f"| {r.label} | {r.items:,} | {sum(w.pages for w in r.workers):,} | {r.span:.1f} "
            f"| **{r.rate:.0f}** | {r.wall:.1f} | {per_worker} | {r.server_cpu:.1f} "
            f"| {r.redis_cpu:.1f} | {r.others_cpu:.1f} |"
        )
    used = {r.label: (r.cpu + r.server_cpu + r.redis_cpu) / r.span for r in runs}
    verdict = "met" if ratio >= 1.7 else "**not met**"
    split = " / ".join(f"{w.items:,}" for w in two.workers)

    def ms(seconds: float, r: Run) -> str:
        return f"{1000 * seconds / r.items:.1f}"

    L += [
        "",
        f"Two workers crawl at **{ratio:.2f}×** one (target ≥ 1.7: {verdict}); they split the "
        f"articles {split}. Distributed mode with one worker runs at "
        f"{one.rate / plain.rate:.2f}× the plain crawl (the cost of the shared queue, "
        "dupefilter and indexes in Redis: "
        f"{1000 * (one.cpu / one.items - plain.cpu / plain.items):+.1f} ms of worker CPU per "
        f"article), so two workers run at {two.rate / plain.rate:.2f}× the plain crawl. "
        f"Three workers run at {three.rate / one.rate:.2f}× one: on {cores} cores shared with "
        "the site's server and Redis, a third process has no core of its own.",
        "",
        "CPU per article (ms; a worker's figure includes its interpreter's start, ≈2 s) and "
        "the cores in use over the span, all processes together:",
        "",
        "| run | workers | server | redis | total | cores in use |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r.label} | {ms(r.cpu, r)} | {ms(r.server_cpu, r)} | {ms(r.redis_cpu, r)} "
            f"| {ms(r.cpu + r.server_cpu + r.redis_cpu, r)} | {used[r.label]:.2f} of {cores} |"
            for r in runs
        ),
    ]
    if ratio < 1.7:
        total_two = (two.cpu + two.server_cpu + two.redis_cpu) / two.items
        ceiling = cores / total_two
        L += [
            "",
            f"What bounds it: every process here shares {cores} cores, the site's server and "
            f"redis-server included. At the CPU per article the two-worker run spent "
            f"({1000 * total_two:.1f} ms, all processes), {cores} fully used cores give at "
            f"most ≈{ceiling:.0f} articles/s, {ceiling / one.rate:.2f}× one worker; two "
            f"workers reached {two.rate:.0f} with {used[two.label]:.2f} cores in use by the "
            f"benchmark's processes, and {two.others_cpu / two.wall:.2f} by other processes "
            f"of the machine (one worker's run: {one.others_cpu / one.wall:.2f}). Each of the "
            f"two workers was busy {two.workers[0].cpu / two.span:.2f} and "
            f"{two.workers[1].cpu / two.span:.2f} of the span. One "
            f"worker alone already kept {used[one.label]:.2f} cores busy (itself "
            f"{one.cpu / one.span:.2f}; a Scrapy process runs its crawl in one Python thread, "
            "so one worker can use at most one core), which left the second worker "
            f"{max(0.0, cores - used[one.label]):.2f} of a core. On machines of their "
            "own the workers would not share cores; against the real site the bound is the "
            "politeness delay per host, which the workers share (docs/distributed.md, "
            "'How politeness is shared'), so more workers do not crawl one host faster.",
        ]
    return "\n".join(L)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=3_000, help="articles of the local site")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--death-size", type=int, default=300, help="articles of the site a worker dies on"
    )
    ap.add_argument(
        "--write", action="store_true", help=f"replace the distributed section of {DOC}"
    )
    args = ap.parse_args()
    load = os.getloadavg()[0]
    server = Server(args.size, args.seed)
    try:
        with tempfile.TemporaryDirectory(prefix="chinanews-bench-") as tmp:
            runs = [
                crawl("plain", server, Path(tmp), 1, distributed=False),
                crawl("1 worker", server, Path(tmp), 1, distributed=True),
                crawl("2 workers", server, Path(tmp), 2, distributed=True),
                crawl("3 workers", server, Path(tmp), 3, distributed=True),
            ]
    finally:
        server.close()
    polite = [
        polite_crawl(
            f"{n} worker{'s' if n > 1 else ''}", POLITE_SIZE, True, POLITE_DELAY, 2, workers=n
        )
        for n in (1, 2, 3)
    ]
    deaths = [death(args.death_size, args.seed, kill=False), death(args.death_size, args.seed)]
    text = "\n\n".join(
        [report(args, runs, load), polite_section(polite), death_section(args, *deaths)]
    )
    print(text)
    if args.write:
        replace_section(DOC, "distributed", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
