"""Checkpoint benchmark: what crash consistency costs in pages per second.

The full crawler (``scrapy crawl china_com -a render=never``, the JSONL feed, the SQLite
database and a local lake) crawls one local site (``--size`` articles, served in its own
process, as in ``benchmarks/crawl.py``) in two configurations, alternated ``--rounds`` times
so that drifts of a noisy machine touch both alike:

- **baseline**: one checkpoint, at the end (``CHINANEWS_CHECKPOINT_ITEMS=0``,
  ``CHINANEWS_CHECKPOINT_SECONDS=0``);
- **default**: checkpoints as shipped (every 500 items and every 30 s: outputs fsynced,
  open lake files published, the database writer's barrier, then the index commit);
- **frequent**: every 50 items and every 2 s, to show how the cost grows.

``--before REV`` adds the code of a git revision (a worktree in a temporary directory) as
one more configuration: the crawler before the lifecycle existed.

Prints a Markdown section; ``--write`` replaces the ``checkpoints`` section of
docs/benchmarks.md.

    .venv/bin/python benchmarks/checkpoints.py --size 3000 --rounds 3 --before 6f8beab --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import scrapy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.crawl import COMMON, PY, Server, run, settings_args  # noqa: E402
from benchmarks.extraction import replace_section  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"

CONFIGS = {
    "baseline": {"CHINANEWS_CHECKPOINT_ITEMS": "0", "CHINANEWS_CHECKPOINT_SECONDS": "0"},
    "default": {},
    "frequent": {"CHINANEWS_CHECKPOINT_ITEMS": "50", "CHINANEWS_CHECKPOINT_SECONDS": "2"},
}


def crawl(server: Server, tmp: Path, name: str, settings: dict[str, str], code: Path) -> dict:
    out = tmp / name
    out.mkdir()
    all_settings = {
        **COMMON,
        "CHINANEWS_REPORT_FILE": str(out / "report.json"),
        "CHINANEWS_LAKE": str(out / "lake"),
        "CHINANEWS_LAKE_FORMAT": "parquet",
        **settings,
    }
    cmd = [PY, "-m", "scrapy", "crawl", "china_com", "-a", f"start_urls={server.start_url}",
           "-a", "render=never", *settings_args(all_settings), "-O", str(out / "out.jsonl")]  # fmt: skip
    env = {"CHINANEWS_DATA_DIR": str(out / "data"), "PYTHONPATH": str(code)}
    result = run(name, cmd, server, env, cwd=code)
    stats = json.loads((out / "report.json").read_text(encoding="utf-8"))["stats"]
    pages = int(stats.get("downloader/response_count", 0))
    return {
        "pages": pages,
        "items": int(stats.get("item_scraped_count", 0)),
        "wall": result.wall,
        "pages_per_s": pages / result.wall,
        "cpu_ms": 1000 * result.cpu / max(pages, 1),
        "checkpoints": int(stats.get("chinanews/run/checkpoints", 0)),
        "returncode": result.returncode,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", default="", help="a git revision to measure as well")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="chinanews-checkpoints-") as tmpdir:
        tmp = Path(tmpdir)
        codes = {name: ROOT for name in CONFIGS}
        configs = dict(CONFIGS)
        if args.before:
            worktree = tmp / "before"
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(worktree), args.before],
                cwd=ROOT, check=True, capture_output=True,
            )  # fmt: skip
            configs[f"before ({args.before})"] = {}
            codes[f"before ({args.before})"] = worktree
        server = Server(args.size, args.seed)
        try:
            for round_ in range(args.rounds):
                for name, settings in configs.items():
                    r = crawl(
                        server, tmp, f"{name}-{round_}".replace(" ", "_"), settings, codes[name]
                    )
                    results.setdefault(name, []).append(r)
                    print(f"{name} round {round_ + 1}: {r['pages']} pages, "
                          f"{r['pages_per_s']:.1f} pages/s, {r['checkpoints']} checkpoints",
                          flush=True)  # fmt: skip
        finally:
            server.close()
            if args.before:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(tmp / "before")],
                    cwd=ROOT, check=False, capture_output=True,
                )  # fmt: skip
    base = statistics.median(r["pages_per_s"] for r in results["baseline"])
    lines = [
        f"Measured {date.today().isoformat()} on {platform.machine()} "
        f"({platform.python_version()}), Scrapy {scrapy.__version__}, {os.cpu_count()} cores; "
        f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after. Local site of "
        f"{args.size:,} articles (seed {args.seed}); the full crawler with the JSONL feed, "
        "SQLite and a local lake, 16 concurrent requests, no delay; each configuration "
        f"{args.rounds} times, alternated; medians.",
        "",
        "| configuration | pages | items | checkpoints before the end | pages/s | CPU ms/page | vs baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rs in results.items():
        pps = statistics.median(r["pages_per_s"] for r in rs)
        cpu = statistics.median(r["cpu_ms"] for r in rs)
        lines.append(
            f"| {name} | {rs[0]['pages']:,} | {rs[0]['items']:,} | "
            f"{statistics.median(r['checkpoints'] for r in rs):.0f} | {pps:.1f} | {cpu:.2f} | "
            f"**{pps / base:.3f}×** |"
        )
    default = statistics.median(r["pages_per_s"] for r in results["default"])
    cost = 1 - default / base
    verdict = "met" if cost <= 0.05 else "**not met**"
    lines += [
        "",
        f"Default checkpoints cost **{cost:.1%}** of pages/s against one checkpoint at the end "
        f"(target ≤ 5%: {verdict}).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section(DOC, "checkpoints", text)
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
