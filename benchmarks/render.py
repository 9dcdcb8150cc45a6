"""JavaScript rendering benchmark: browser versus plain requests, and the cost of ``auto``.

Two conditions, in one run.

**CPU-bound** (no politeness delays): one local site (``--size`` articles, ``--js`` share of
JavaScript variants, served on 127.0.0.1) is crawled three times with ``scrapy crawl
china_com`` as a user runs it, with 16 concurrent requests and no delay, so the crawl is
bounded by the machine's CPUs and every rendered page's cost shows in full:

- ``render=never``: plain requests only;
- ``render=auto``: plain requests, and the browser for the pages whose HTML needs it;
- ``render=always``: every article and list page through headless Chromium (the long run:
  at least 2,000 rendered pages on the default site), while a sampler reads the resident
  memory of the browser's processes (Playwright's driver and every Chromium process under
  the crawl) once a second.

**Polite** (the condition of a crawl of the real site, whose defaults bound the rate per
host: ``DOWNLOAD_DELAY`` 0.5 s, ``CONCURRENT_REQUESTS_PER_DOMAIN`` 4, AutoThrottle): a
smaller site (``--polite-size`` articles, same ``--js``) crawled with ``render=never`` and
``render=auto`` under ``DOWNLOAD_DELAY`` = ``--polite-delay`` (default 0.1 s, the project's
0.5 s scaled down five times; randomised 0.5-1.5x as Scrapy does by default),
``CONCURRENT_REQUESTS_PER_DOMAIN`` = 4 (the project's), AutoThrottle off (repeatable
figures), and every response held ``--latency`` seconds by the server (default 0.05 s, a
network round trip). The server records when each request arrives, which shows that the
browser's page requests (scrapy-playwright's download handler) pass the same downloader slot
and delay as the plain ones, and counts the browser's own sub-requests (scripts, styles,
JSON), which do not.

Figures: pages per second of each mode, the share of pages ``auto`` renders, ``auto``'s speed
relative to ``never`` in both conditions (target: at least 80%), and the browser's memory
over the long run (target: flat after warm-up). Prints a Markdown section; ``--write``
replaces the ``render`` section of ``docs/benchmarks.md``.

    .venv/bin/python benchmarks/render.py --write
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.extraction import replace_section  # noqa: E402
from chinanews.localsite import LocalSite, serve, serve_outside  # noqa: E402
from chinanews.localsite.site import Response  # noqa: E402

SETTINGS = {
    "AUTOTHROTTLE_ENABLED": "0",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "RETRY_TIMES": "1",
    "LOG_LEVEL": "INFO",
    "CHINANEWS_INDEX_PATH": ":memory:",
    "CHINANEWS_MIN_COVERAGE": '{"body": 0}',
}
MIB = 1024 * 1024
#: Paths only the browser asks for (the pages' scripts, styles and script data); Scrapy's own
#: requests are pages, feeds and robots.txt.
BROWSER_ASSETS = ("/static/", "/news/api/")


class TimedSite(LocalSite):
    """A ``LocalSite`` whose every response waits ``latency`` seconds more (a network round
    trip) and which records when each request arrives: ``(monotonic seconds, target)``."""

    def __init__(self, *args: Any, latency: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.latency = latency
        self.arrivals: list[tuple[float, str]] = []

    def render(self, target: str, base: str = "http://127.0.0.1") -> Response:
        self.arrivals.append((time.monotonic(), target))
        response = super().render(target, base)
        response.delay += self.latency
        return response


def through_scrapy(
    arrivals: list[tuple[float, str]], js_targets: set[str]
) -> tuple[list[tuple[float, bool]], int]:
    """Split a crawl's arrivals at the server: the requests Scrapy's downloader sent, in
    order, as ``(seconds, is the browser's navigation)`` (a navigation is the second request
    for a JavaScript page: ``auto`` renders it after its plain request), and how many
    requests the browser made on its own (scripts, styles, script data; a script again)."""
    seen: set[str] = set()
    sent: list[tuple[float, bool]] = []
    own = 0
    for t, target in arrivals:
        path = target.split("?", 1)[0]
        again = target in seen
        seen.add(target)
        if path.startswith(BROWSER_ASSETS) or (again and path.endswith(".js")):
            own += 1
        else:
            sent.append((t, again and target in js_targets))
    return sent, own


class Sampler(threading.Thread):
    """Once a second: memory of the crawl's browser processes (every descendant of the crawl
    process: Playwright's node driver and Chromium's processes; proportional set size, so
    the pages Chromium's processes share are counted once) and Scrapy's RSS."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.samples: list[tuple[float, int, int]] = []  # (seconds, browser RSS, scrapy RSS)
        self.stop = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop.wait(1.0):
            try:
                scrapy_rss = self.root.memory_info().rss
                children = self.root.children(recursive=True)
            except psutil.Error:
                break
            browser = 0
            for proc in children:
                with contextlib.suppress(psutil.Error):  # PSS: shared pages counted once
                    browser += proc.memory_full_info().pss
            self.samples.append((time.monotonic() - t0, browser, scrapy_rss))


def crawl(start_url: str, mode: str, workdir: Path, extra: dict[str, str]) -> dict[str, Any]:
    report = workdir / f"{mode}.report.json"
    cmd = [sys.executable, "-m", "scrapy", "crawl", "china_com", "-a", f"start_urls={start_url}"]
    cmd += ["-a", f"render={mode}", "-O", str(workdir / f"{mode}.jsonl")]
    for name, value in {**SETTINGS, **extra, "CHINANEWS_REPORT_FILE": str(report)}.items():
        cmd += ["-s", f"{name}={value}"]
    env = {**os.environ, "CHINANEWS_DATA_DIR": str(workdir / "data")}
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    sampler = Sampler(proc.pid)
    sampler.start()
    _, err = proc.communicate()
    elapsed = time.monotonic() - t0
    sampler.stop.set()
    sampler.join()
    if not report.exists():
        raise SystemExit(f"render={mode} crawl failed:\n{err[-3000:]}")
    stats = json.loads(report.read_text(encoding="utf-8"))["stats"]
    pages = sum(v for k, v in stats.items() if k.startswith("chinanews/pages/"))
    rendered = int(stats.get("chinanews/render/pages", 0))
    return {
        "mode": mode,
        "elapsed": elapsed,
        "pages": pages,
        "rendered": rendered,
        "requested": int(stats.get("chinanews/render/requested", 0)),
        "static": int(stats.get("chinanews/render/static", 0)),
        "items": int(stats.get("item_scraped_count", 0)),
        "responses": int(stats.get("response_received_count", 0)),
        "memusage_max": int(stats.get("memusage/max", 0)),
        "samples": sampler.samples,
        "stats": stats,
    }


def memory_profile(samples: list[tuple[float, int, int]]) -> dict[str, float]:
    """Browser RSS after warm-up (the first fifth of the run): per quarter of the rest, peak."""
    browser = [(t, b) for t, b, _ in samples if b > 0]
    if len(browser) < 8:
        return {}
    span = browser[-1][0]
    after = [(t, b) for t, b in browser if t >= span / 5]
    quarter = (span - span / 5) / 4
    out: dict[str, float] = {}
    for k in range(4):
        lo = span / 5 + k * quarter
        chunk = [b for t, b in after if lo <= t < lo + quarter] or [after[-1][1]]
        out[f"q{k + 1}"] = max(chunk) / MIB
    out["peak"] = max(b for _, b in browser) / MIB
    out["warm"] = max(b for t, b in browser if t < span / 5) / MIB
    out["growth"] = out["q4"] / out["q1"] - 1 if out["q1"] else 0.0
    return out


def quiet_load(limit: float = 2.0, patience: float = 600.0) -> float:
    """The 1-minute load average once it is below ``limit`` (waiting up to ``patience``
    seconds; after that the run goes on and the figure says how busy the machine was)."""
    deadline = time.monotonic() + patience
    while (load := os.getloadavg()[0]) >= limit and time.monotonic() < deadline:
        time.sleep(15)
    return load


def cpu_bound(size: int, js: float, seed: int) -> str:
    load = quiet_load()
    with serve_outside() as outside:
        site = LocalSite(size=size, seed=seed, js=js, outside_base=outside + "/")
        js_pages = site.js_pages("http://x")
        n_js = sum(len(v) for v in js_pages.values())
        with serve(site) as base, tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            pages = {"PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": "8"}
            never = crawl(base.start_url, "never", work, {})
            auto = crawl(base.start_url, "auto", work, pages)
            always = crawl(base.start_url, "always", work, pages)
            if outside.requests:
                raise SystemExit(f"the browser reached the outside host: {outside.requests[:5]}")
    mem = memory_profile(always["samples"])
    rate = {r["mode"]: r["pages"] / r["elapsed"] for r in (never, auto, always)}
    share = auto["requested"] / max(1, auto["static"] + auto["requested"])
    added = auto["elapsed"] - never["elapsed"]
    own = auto["requested"] * always["elapsed"] / max(1, always["rendered"])
    speed = rate["auto"] / rate["never"]
    flat = mem and mem["growth"] <= 0.15
    lines = [
        "### CPU-bound: no politeness delays",
        "",
        f"Local site of {size} articles (seed {seed}), {js:.0%} JavaScript variants "
        f"({n_js} pages: {len(js_pages['related'])} scripted related lists, "
        f"{len(js_pages['body'])} injected bodies, {len(js_pages['list'])} scripted list); "
        f"`scrapy crawl` with 16 concurrent requests, no delays, headless Chromium "
        f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}); "
        f"{date.today().isoformat()}; 1-minute load average before the run "
        f"{load:.2f}. The crawl is bound by the CPUs.",
        "",
        "| mode | pages | through the browser | articles | wall time | pages/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in (never, auto, always):
        lines.append(
            f"| `{r['mode']}` | {r['pages']:,} | {r['rendered']:,} | {r['items']:,} | "
            f"{r['elapsed']:.1f} s | {rate[r['mode']]:.1f} |"
        )
    lines += [
        "",
        f"- Browser versus plain requests: {rate['always']:.1f} pages/s rendered against "
        f"{rate['never']:.1f} pages/s plain, {rate['never'] / rate['always']:.1f}x.",
        f"- `auto` renders {auto['requested']:,} of {auto['static'] + auto['requested']:,} pages "
        f"({share:.1%}): exactly the JavaScript pages it reaches; it fetches those twice.",
        f"- `auto` runs at {speed:.0%} of `never`'s pages/s (target at least 80%: "
        f"{'met' if speed >= 0.8 else 'NOT met'}) and emits {auto['items'] - never['items']:,} "
        f"more articles, the ones only the scripts show.",
        f"- What `auto` adds to `never`: {added:.1f} s; the rendered pages' own cost "
        f"({auto['requested']:,} pages at `always`'s {always['elapsed'] / max(1, always['rendered']):.2f} s "
        f"a page): {own:.1f} s. Pages that need no browser cost nothing more.",
    ]
    if mem:
        lines += [
            f"- Browser memory over the long run (`always`, {always['rendered']:,} rendered "
            f"pages, {len(always['samples'])} one-second samples of the PSS of Playwright's "
            "driver and every Chromium process): "
            f"warm-up peak {mem['warm']:.0f} MiB; after warm-up, peak per quarter "
            f"{mem['q1']:.0f} / {mem['q2']:.0f} / {mem['q3']:.0f} / {mem['q4']:.0f} MiB; "
            f"overall peak {mem['peak']:.0f} MiB; last quarter against first "
            f"{mem['growth']:+.0%} ({'flat' if flat else 'GROWING'}). Scrapy's own process "
            f"peaked at {max(s for _, _, s in always['samples']) / MIB:.0f} MiB; "
            f"scrapy-playwright's memory extension (`memusage/max`, Scrapy plus browser) "
            f"read {always['memusage_max'] / MIB:.0f} MiB (it samples once a minute).",
        ]
    return "\n".join(lines)


def polite(size: int, js: float, seed: int, delay: float, latency: float) -> str:
    """``never`` against ``auto`` with the rate bound per host, as on the real site."""
    extra = {
        "DOWNLOAD_DELAY": str(delay),
        "CONCURRENT_REQUESTS_PER_DOMAIN": "4",
        "AUTOTHROTTLE_ENABLED": "0",
    }
    runs: dict[str, dict[str, Any]] = {}
    with serve_outside() as outside:
        site = TimedSite(size=size, seed=seed, js=js, outside_base=outside + "/", latency=latency)
        js_urls = [u for v in site.js_pages("http://x").values() for u in v]
        js_targets = {urlsplit(u).path for u in js_urls}
        with serve(site) as base:
            for mode in ("never", "auto"):
                first = len(site.arrivals)
                with tempfile.TemporaryDirectory() as tmp:
                    runs[mode] = crawl(base.start_url, mode, Path(tmp), extra)
                runs[mode]["arrivals"] = site.arrivals[first:]
            if outside.requests:
                raise SystemExit(f"the browser reached the outside host: {outside.requests[:5]}")
    never, auto = runs["never"], runs["auto"]
    rate = {m: r["pages"] / r["elapsed"] for m, r in runs.items()}
    speed = rate["auto"] / rate["never"]
    share = auto["requested"] / max(1, auto["static"] + auto["requested"])
    lines = [
        "### Polite: the rate bound per host, as on the real site",
        "",
        f"Local site of {size} articles (seed {seed}), {js:.0%} JavaScript variants "
        f"({len(js_urls)} pages); `scrapy crawl` with `DOWNLOAD_DELAY={delay:g}` (the project's 0.5 s scaled "
        f"down {0.5 / delay:g}x, randomised 0.5-1.5x as by default), "
        "`CONCURRENT_REQUESTS_PER_DOMAIN=4` (the project's), `CONCURRENT_REQUESTS=16`, "
        f"AutoThrottle off (repeatable figures), every response held {latency * 1000:.0f} ms "
        "by the server (a network round trip); the browser with the add-on's defaults "
        "(4 pages at once). The crawl is bound by the per-host delay, not the CPUs.",
        "",
        "| mode | pages | through the browser | articles | wall time | pages/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in (never, auto):
        lines.append(
            f"| `{r['mode']}` | {r['pages']:,} | {r['rendered']:,} | {r['items']:,} | "
            f"{r['elapsed']:.1f} s | {rate[r['mode']]:.1f} |"
        )
    lines += [
        "",
        f"- `auto` renders {auto['requested']:,} of {auto['static'] + auto['requested']:,} "
        f"pages ({share:.1%}) and runs at {speed:.0%} of `never`'s pages/s (target at least "
        f"80%: {'met' if speed >= 0.8 else 'NOT met'}); it emits "
        f"{auto['items'] - never['items']:,} more articles.",
    ]
    half = delay / 2

    def slot_figures(r: dict[str, Any]) -> dict[str, float]:
        sent, own = through_scrapy(r["arrivals"], js_targets)
        pairs = list(itertools.pairwise(sent))
        before_nav = [b[0] - a[0] for a, b in pairs if b[1]]
        span = sent[-1][0] - sent[0][0] if len(sent) > 1 else 0.0
        navigations = sum(nav for _, nav in sent)
        return {
            "rate": len(sent) / max(span, 1e-9),
            "gap": span / max(1, len(sent) - 1),
            "gap_if_free": span / max(1, len(sent) - 1 - navigations),
            "navigations": navigations,
            "own": own,
            "nav_short": sum(g < half for g in before_nav),
            "nav_min": min(before_nav, default=0.0),
        }

    n_slot, a_slot = slot_figures(never), slot_figures(auto)
    sent = int(auto["stats"].get("downloader/request_count", 0))
    nav_stat = int(auto["stats"].get("playwright/request_count/navigation", 0))
    lines += [
        f"- The browser's page requests pass Scrapy's downloader, slot and delay "
        f"(scrapy-playwright is a download handler): `auto`'s `downloader/request_count` "
        f"({sent:,}) counts its {nav_stat:,} browser navigations, and at the server the "
        f"requests Scrapy sent arrived {a_slot['gap'] * 1000:.0f} ms apart on average under "
        f"`auto` ({a_slot['rate']:.1f}/s, {a_slot['navigations']:.0f} of them navigations) "
        f"and {n_slot['gap'] * 1000:.0f} ms under `never` ({n_slot['rate']:.1f}/s; the "
        f"delay alone: {delay * 1000:.0f} ms, {1 / delay:.0f}/s); navigations outside the "
        f"slot would have left the plain requests {a_slot['gap_if_free'] * 1000:.0f} ms "
        f"apart. {a_slot['nav_short']:.0f} navigations reached the server less than "
        f"{half * 1000:.0f} ms (the randomised delay's least) after the request before "
        f"them (closest {a_slot['nav_min'] * 1000:.0f} ms), presumably because a navigation "
        "reaches the server only once the browser has opened its page, so a plain request "
        "the slot sent later can overtake it.",
        f"- Not through the slot: the browser's own requests to the host for the pages' "
        f"scripts, styles and script data: {a_slot['own']:.0f} "
        f"({a_slot['own'] / max(1, a_slot['navigations']):.1f} a rendered page), sent as the "
        "page loads them, without Scrapy's delay.",
    ]
    return "\n".join(lines)


def run(size: int, js: float, seed: int, polite_size: int, delay: float, latency: float) -> str:
    parts = [
        polite(polite_size, js, seed, delay, latency) if polite_size else "",
        cpu_bound(size, js, seed) if size else "",
    ]
    return "\n\n".join(p for p in parts if p)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--size", type=int, default=2200, help="articles for the CPU-bound crawls (0: skip)"
    )
    p.add_argument("--js", type=float, default=0.05, help="share of JavaScript pages")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--polite-size", type=int, default=500, help="articles for the polite crawls (0: skip)"
    )
    p.add_argument("--polite-delay", type=float, default=0.1, help="DOWNLOAD_DELAY, seconds")
    p.add_argument("--latency", type=float, default=0.05, help="server latency, seconds")
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = p.parse_args()
    text = run(args.size, args.js, args.seed, args.polite_size, args.polite_delay, args.latency)
    print(text)
    if args.write:
        replace_section(ROOT / "docs" / "benchmarks.md", "render", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
