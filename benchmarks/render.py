"""JavaScript rendering benchmark: browser versus plain requests, and the cost of ``auto``.

One local site (``--size`` articles, ``--js`` share of JavaScript variants, served on
127.0.0.1) is crawled three times with ``scrapy crawl china_com`` as a user runs it:

- ``render=never``: plain requests only;
- ``render=auto``: plain requests, and the browser for the pages whose HTML needs it;
- ``render=always``: every article and list page through headless Chromium (the long run:
  at least 2,000 rendered pages on the default site), while a sampler reads the resident
  memory of the browser's processes (Playwright's driver and every Chromium process under
  the crawl) once a second.

Figures: pages per second of each mode, the share of pages ``auto`` renders, ``auto``'s speed
relative to ``never`` (target: at least 80%), and the browser's memory over the long run
(target: flat after warm-up). Prints a Markdown section; ``--write`` replaces the
``render`` section of ``docs/benchmarks.md``.

    .venv/bin/python benchmarks/render.py --write
"""

from __future__ import annotations

import argparse
import contextlib
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

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.extraction import replace_section  # noqa: E402
from chinanews.localsite import LocalSite, serve, serve_outside  # noqa: E402

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


def run(size: int, js: float, seed: int) -> str:
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
        f"Local site of {size} articles (seed {seed}), {js:.0%} JavaScript variants "
        f"({n_js} pages: {len(js_pages['related'])} scripted related lists, "
        f"{len(js_pages['body'])} injected bodies, {len(js_pages['list'])} scripted list); "
        f"`scrapy crawl` with 16 concurrent requests, no delays, headless Chromium "
        f"({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}); "
        f"{date.today().isoformat()}. `benchmarks/render.py --write` refreshes this section.",
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=2200, help="articles on the local site")
    p.add_argument("--js", type=float, default=0.05, help="share of JavaScript pages")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = p.parse_args()
    text = run(args.size, args.js, args.seed)
    print(text)
    if args.write:
        replace_section(ROOT / "docs" / "benchmarks.md", "render", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
