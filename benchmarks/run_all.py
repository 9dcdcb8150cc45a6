"""Every benchmark, one after the other, each rewriting its section of docs/benchmarks.md.

    .venv/bin/python benchmarks/run_all.py                 # all of them (about an hour)
    .venv/bin/python benchmarks/run_all.py --only crawl,dedup

Each benchmark runs in its own process (so one's memory does not weigh on the next) with
``--write``, and measures its ratios against a baseline in that same process. This script
adds the header of the page: when the suite last ran, on what machine, with which versions,
and how long each benchmark took. A benchmark that fails is reported and the others still
run; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.extraction import replace_section  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"

#: Name -> arguments, in the order of the data flow (the order of docs/benchmarks.md).
BENCHMARKS: dict[str, list[str]] = {
    "extraction": ["benchmarks/extraction.py", "--size", "400", "--unseen-size", "220"],
    "dedup": ["benchmarks/dedup.py"],
    "pipelines": ["benchmarks/pipelines.py"],
    "storage": ["benchmarks/storage.py"],
    "lake": ["benchmarks/lake.py"],
    "render": ["benchmarks/render.py"],
    "distributed": ["benchmarks/distributed.py"],
    "politeness": ["benchmarks/politeness.py"],
    "crawl": ["benchmarks/crawl.py", "--long-size", "92000"],
    "checkpoints": ["benchmarks/checkpoints.py", "--size", "3000", "--rounds", "3"],
    "incremental": ["benchmarks/incremental_crawl.py", "--size", "2000", "--before", "98ff36b"],
}

PACKAGES = ("scrapy", "scrapy-playwright", "scrapy-redis", "pyarrow", "psycopg", "numpy", "lxml")


def versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help=f"comma-separated subset of: {','.join(BENCHMARKS)}")
    args = ap.parse_args()
    names = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"error: unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    started = datetime.now(timezone.utc)
    took: dict[str, str] = {}
    failed = []
    for name in names:
        script = ROOT / BENCHMARKS[name][0]
        if not script.exists():
            took[name] = "missing"
            failed.append(name)
            continue
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(script), *BENCHMARKS[name][1:], "--write"], cwd=ROOT
        )
        took[name] = f"{time.monotonic() - t0:.0f} s" + (
            "" if proc.returncode == 0 else " (failed)"
        )
        if proc.returncode:
            failed.append(name)
    header = "\n".join(
        [
            f"Last run of `benchmarks/run_all.py`: {started:%Y-%m-%d %H:%M} UTC "
            f"({'all benchmarks' if not args.only else 'only ' + ', '.join(names)}), on "
            f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}, Python "
            f"{platform.python_version()}; {versions()}.",
            "",
            "| benchmark | took |",
            "|---|---|",
            *(f"| {name} | {took[name]} |" for name in names),
        ]
    )
    replace_section(DOC, "suite", header)
    print(header)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
