"""Crawl benchmark: the full crawler against a bare Scrapy spider, and memory over a long crawl.

(a) **Throughput.** One local site (``--size`` articles, realistic pages: ~38 KB each) is
    served by ``python -m chinanews.localsite serve`` in its own process, and crawled twice
    from its home page with the same Scrapy core settings (16 concurrent requests, no delay,
    AutoThrottle off, robots.txt obeyed):

    - the baseline, ``benchmarks/bare_spider.py``: follows the same kinds of links by the same
      URL policy and does nothing else;
    - ``scrapy crawl china_com -a render=never`` as a user runs it: extraction, every
      pipeline, the JSONL feed and the SQLite database (the defaults).

    Each crawler runs in a child process; ``os.wait4`` gives its CPU time and peak resident
    memory, the server's CPU time over the same interval shows whether the server could have
    been the bottleneck (below one core: it was waiting for the crawler).
(b) **Memory over a long crawl** (``--long-size`` articles, 100,000 pages or more): the full
    crawler again, its resident memory sampled twice a second and matched with the pages
    crawled so far (Scrapy's LogStats line every 5 s).
(c) **Profile**: the full crawler at ``--size`` once more under cProfile; the top functions
    by own time.

Prints a Markdown section; ``--write`` replaces the ``crawl`` section of docs/benchmarks.md.

    .venv/bin/python benchmarks/crawl.py --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psutil
import scrapy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.extraction import replace_section  # noqa: E402
from chinanews.identity import PRODUCT  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"
PY = sys.executable

#: Scrapy core settings shared by both crawlers: CPU-bound, no politeness delays.
COMMON = {
    "ROBOTSTXT_OBEY": "True",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "RETRY_TIMES": "1",
    "DOWNLOAD_TIMEOUT": "15",
    "COOKIES_ENABLED": "False",
    "TELNETCONSOLE_ENABLED": "False",
    "LOG_LEVEL": "INFO",
    "LOGSTATS_INTERVAL": "5",
    "USER_AGENT": PRODUCT,
}
_LOGSTATS = re.compile(r"Crawled (\d+) pages")


@dataclass
class Run:
    label: str
    wall: float = 0.0
    cpu: float = 0.0
    maxrss: int = 0  # bytes
    server_cpu: float = 0.0
    pages: int = 0
    items: int = 0
    rss: list[tuple[float, int]] = field(default_factory=list)  # (t, bytes)
    progress: list[tuple[float, int]] = field(default_factory=list)  # (t, pages)
    returncode: int = 0

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.wall

    def rss_at(self, pages: int) -> int | None:
        """Resident memory when the crawl had fetched ``pages`` pages (the LogStats line at
        or after it, matched with the nearest sample)."""
        at = next((t for t, p in self.progress if p >= pages), None)
        if at is None or not self.rss:
            return None
        return min(self.rss, key=lambda s: abs(s[0] - at))[1]


class Server:
    """The local site in its own process."""

    def __init__(self, size: int, seed: int) -> None:
        self.proc = subprocess.Popen(
            [PY, "-m", "chinanews.localsite", "serve", "--size", str(size), "--seed", str(seed),
             "--port", "0"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.start_url = ""
        for line in self.proc.stdout:
            if line.startswith("start URL:"):
                self.start_url = line.split(":", 1)[1].strip()
                break
        if not self.start_url:
            raise SystemExit("the local site did not start")
        self.ps = psutil.Process(self.proc.pid)

    def cpu(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run(
    label: str,
    cmd: list[str],
    server: Server,
    env: dict[str, str],
    spy: Path | None = None,
    cwd: Path = ROOT,
) -> Run:
    """Run ``cmd`` to its end, sampling its memory and progress; with ``spy``, py-spy samples
    its stacks into that file (collapsed stacks), attached from the outside."""
    result = Run(label)
    server_cpu = server.cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env},
    )  # fmt: skip
    spying = None
    if spy is not None:
        spying = subprocess.Popen(
            [str(Path(PY).parent / "py-spy"), "record", "--pid", str(proc.pid), "--rate", "20",
             "--format", "raw", "--nonblocking", "--output", str(spy)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    done = threading.Event()

    def read_log() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            m = _LOGSTATS.search(line)
            if m:
                result.progress.append((time.perf_counter() - started, int(m.group(1))))

    def sample() -> None:
        ps = psutil.Process(proc.pid)
        while not done.wait(0.5):
            try:
                result.rss.append((time.perf_counter() - started, ps.memory_info().rss))
            except psutil.NoSuchProcess:
                return

    threads = [threading.Thread(target=f, daemon=True) for f in (read_log, sample)]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    result.wall = time.perf_counter() - started
    done.set()
    for t in threads:
        t.join(5)
    proc.returncode = os.waitstatus_to_exitcode(status)
    result.returncode = proc.returncode
    result.cpu = usage.ru_utime + usage.ru_stime
    result.maxrss = usage.ru_maxrss * 1024
    result.server_cpu = server.cpu() - server_cpu
    if spying is not None:
        spying.wait(60)
    if result.returncode not in (0, 3):
        raise SystemExit(f"{label} failed with exit code {result.returncode}")
    return result


def settings_args(settings: dict[str, str]) -> list[str]:
    return [arg for name, value in settings.items() for arg in ("-s", f"{name}={value}")]


def bare(server: Server, tmp: Path) -> Run:
    stats = tmp / "bare-stats.json"
    cmd = [PY, str(ROOT / "benchmarks" / "bare_spider.py"), "--start-url", server.start_url,
           "--stats", str(stats), *settings_args(COMMON)]  # fmt: skip
    result = run("bare Scrapy spider", cmd, server, {})
    data = json.loads(stats.read_text(encoding="utf-8"))
    result.pages = int(data.get("downloader/response_count", 0))
    return result


def full_cmd(server: Server, tmp: Path, name: str) -> tuple[list[str], dict[str, str]]:
    out = tmp / name
    out.mkdir()
    settings = {**COMMON, "CHINANEWS_REPORT_FILE": str(out / "report.json")}
    cmd = [PY, "-m", "scrapy", "crawl", "china_com", "-a", f"start_urls={server.start_url}",
           "-a", "render=never", *settings_args(settings), "-O", str(out / "out.jsonl")]  # fmt: skip
    return cmd, {"CHINANEWS_DATA_DIR": str(out / "data")}


def full(server: Server, tmp: Path, name: str, label: str, spy: Path | None = None) -> Run:
    cmd, env = full_cmd(server, tmp, name)
    result = run(label, cmd, server, env, spy)
    stats = json.loads((tmp / name / "report.json").read_text(encoding="utf-8"))["stats"]
    result.pages = int(stats.get("downloader/response_count", 0))
    result.items = int(stats.get("item_scraped_count", 0))
    return result


def profile(server: Server, tmp: Path, top: int = 12) -> list[str]:
    cmd, env = full_cmd(server, tmp, "profile")
    prof = tmp / "crawl.prof"
    cmd = [PY, "-m", "cProfile", "-o", str(prof), *cmd[1:]]
    run("profile", cmd, server, env)
    stats = pstats.Stats(str(prof))
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    lines = []
    for (path, line, func), (_, calls, own, cum, _) in rows[:top]:
        where = path.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")
        where = re.sub(r".*site-packages/", "", where)
        lines.append(f"| `{func}` | {where}:{line} | {own / total:.1%} | {cum:.1f} s | {calls:,} |")
    return lines


def spied(path: Path, top: int = 12) -> list[str]:
    """Table rows of the functions with the most samples at the top of the stack (own time),
    from py-spy's collapsed stacks (``frame;frame;... count`` per line)."""
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        name = re.sub(r":\d+\)$", ")", leaf)  # one row per function, not per line
        name = re.sub(r"\(.*site-packages/", "(", name).replace(str(ROOT) + "/", "")
        own[name] = own.get(name, 0) + int(count)
        total += int(count)
    rows = sorted(own.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return [f"| `{name}` | {n / total:.1%} |" for name, n in rows]


def mib(n: float) -> str:
    return f"{n / 2**20:.0f}"


def report(
    args: argparse.Namespace,
    runs: dict[str, Run],
    prof: list[str],
    load: float,
    spy: list[str] | None = None,
) -> str:
    b, f = runs["bare"], runs["full"]
    L = [
        f"Measured {date.today().isoformat()} on {platform.machine()} "
        f"({platform.python_version()}), Scrapy {scrapy.__version__}, {os.cpu_count()} cores; "
        f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after. Local site of "
        f"{args.size:,} articles (seed {args.seed}), served by `python -m chinanews.localsite "
        "serve` in its own process; both crawlers start from its home page with 16 concurrent "
        "requests, no delay, AutoThrottle off, robots.txt obeyed.",
        "",
        "| crawler | pages | items | wall s | pages/s | CPU ms/page | peak RSS MiB | server CPU |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in (b, f):
        L.append(
            f"| {r.label} | {r.pages:,} | {r.items:,} | {r.wall:.1f} | **{r.pages_per_s:.0f}** "
            f"| {1000 * r.cpu / r.pages:.2f} | {mib(r.maxrss)} | {r.server_cpu / r.wall:.0%} |"
        )
    ratio = f.pages_per_s / b.pages_per_s
    cpu_ratio = (f.cpu / f.pages) / (b.cpu / b.pages)
    verdict = "met" if ratio >= 0.8 else "**not met**"
    L += [
        "",
        f"The full crawler runs at **{ratio:.2f}×** the bare spider's pages per second "
        f"(target ≥ 0.8: {verdict}); it spends {cpu_ratio:.1f}× the CPU time per page. The "
        f"server used {b.server_cpu / b.wall:.0%} and {f.server_cpu / f.wall:.0%} of one core "
        "during the two runs: it was never the bottleneck. Both crawlers are bound by their "
        "own CPU (one Python process, one core each).",
    ]
    if ratio < 0.8:
        extra = 1000 * (f.cpu / f.pages - b.cpu / b.pages)
        L += [
            "",
            f"Where the gap comes from: the full crawler spends {extra:.1f} ms more CPU per "
            "page than the bare spider, which is the work the bare spider does not do: "
            "extracting the article (≈2.7 ms, `benchmarks/extraction.py`), the pipelines "
            "(≈1.3 ms per item, `benchmarks/pipelines.py`), writing JSONL and SQLite. On one "
            "core, 0.8× the bare spider would leave ≈0.25× its per-page CPU for all of that. "
            "Against a real site the bound is the politeness delay, not the CPU (the defaults "
            "allow a few pages per second per host), so the gap does not slow real crawls; the "
            "plan to close it on a local site is to move extraction and the pipelines off the "
            "reactor's core (a process pool for `extract_article`, which takes bytes and "
            "returns a picklable article) so that the two cores both work.",
        ]
    if "long" in runs:
        r = runs["long"]
        marks = [m for m in (10_000, 25_000, 50_000, 75_000, 100_000) if m <= r.pages]
        at = {m: r.rss_at(m) for m in marks}
        L += [
            "",
            f"**Memory over a long crawl**: {args.long_size:,} articles, {r.pages:,} pages, "
            f"{r.items:,} articles emitted in {r.wall / 60:.1f} min ({r.pages_per_s:.0f} "
            "pages/s); resident memory of the crawler:",
            "",
            "| pages | " + " | ".join(f"{m:,}" for m in marks) + " | peak |",
            "|---|" + "---|" * (len(marks) + 1),
            "| RSS MiB | "
            + " | ".join(mib(at[m]) if at[m] else "–" for m in marks)
            + f" | {mib(r.maxrss)} |",
        ]
        if at.get(10_000):
            end = 100_000 if at.get(100_000) else r.pages
            last = at.get(100_000) or max(rss for _, rss in r.rss)
            growth = (last - at[10_000]) / 2**20  # type: ignore[operator]
            L += [
                "",
                f"Growth from 10,000 to {end:,} pages: **{growth:.0f} MiB** (target: under "
                f"100 MB from 10,000 to 100,000 pages: {'met' if growth < 100 else '**not met**'}).",
            ]
    if spy:
        L += [
            "",
            "**Profile at the largest size**: py-spy sampled the long run's stacks 20 times a "
            "second from outside the process (no slowdown of its own); the functions most "
            "often at the top of the stack:",
            "",
            "| function | share of samples |",
            "|---|---|",
            *spy,
        ]
    if prof:
        L += [
            "",
            f"**Profile** of the full crawler (cProfile, the {args.size:,}-article site, one "
            "more run; cProfile inflates call-heavy code): the top functions by own time.",
            "",
            "| function | where | own time | cumulative | calls |",
            "|---|---|---|---|---|",
            *prof,
        ]
    return "\n".join(L)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=10_000, help="articles of the throughput site")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--long-size", type=int, default=0, help="articles of the memory run (0: none)")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--write", action="store_true", help=f"replace the crawl section of {DOC}")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    runs: dict[str, Run] = {}
    prof: list[str] = []
    with tempfile.TemporaryDirectory(prefix="chinanews-crawl-bench-") as tmpdir:
        tmp = Path(tmpdir)
        server = Server(args.size, args.seed)
        try:
            runs["bare"] = bare(server, tmp)
            print(f"bare: {runs['bare'].pages} pages in {runs['bare'].wall:.1f}s", flush=True)
            runs["full"] = full(server, tmp, "full", "full crawler (`china_com`)")
            print(f"full: {runs['full'].pages} pages in {runs['full'].wall:.1f}s", flush=True)
            if not args.no_profile:
                prof = profile(server, tmp)
        finally:
            server.close()
        spy: list[str] = []
        if args.long_size:
            server = Server(args.long_size, args.seed)
            stacks = tmp / "long.stacks"
            try:
                runs["long"] = full(server, tmp, "long", "long", stacks)
            finally:
                server.close()
            if stacks.exists():
                spy = spied(stacks)
    text = report(args, runs, prof, load, spy)
    print(text)
    if args.write:
        replace_section(DOC, "crawl", text)
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
