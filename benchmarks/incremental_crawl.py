"""Incremental benchmark: what a scheduled run costs on a site that changed little.

One local site (``--size`` articles, served in this process so that its clock can be moved
on and its server counts every request) is crawled by ``scrapy crawl china_com -a
render=never`` over and over on one data directory, as a schedule would:

(a) **The table of issue 13**, for the crawler as it is and, with ``--before REV``, for
    the code of an earlier revision on its own copy of the same site (the baseline,
    measured in the same run):

    1. a first crawl;
    2. a re-run of the unchanged site, five minutes later (no re-check due);
    3. after 40 new articles, published within four minutes;
    4. after edits to ``--edits`` articles, not yet due for a re-check;
    5. an hour later: every article due for its first re-check, the edited ones among them.

(b) **A simulated day**: 48 runs, one every 30 minutes of the site's clock, while the site
    publishes ``--per-run`` new articles and edits ``--edits-per-run`` between runs. For
    each run: requests, articles emitted, and how long each new article waited before it
    was in the outputs (its publication time to the end of the run that emitted it, on the
    site's clock), and when the edits surfaced.

Requests are counted by the site's server. Prints a Markdown section; ``--write`` replaces
the ``incremental`` section of docs/benchmarks.md.

    .venv/bin/python benchmarks/incremental_crawl.py --size 2000 --before 98ff36b --write
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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# (not "incremental.py": a script of this directory run as ``python benchmarks/X.py`` has the
# directory first on its import path, and Twisted imports a package named ``incremental``)
sys.path.insert(0, str(ROOT))

from benchmarks.crawl import COMMON, PY, settings_args  # noqa: E402
from benchmarks.extraction import replace_section  # noqa: E402
from chinanews.localsite import LocalSite, serve  # noqa: E402

DOC = ROOT / "docs" / "benchmarks.md"


@dataclass
class Run:
    name: str
    requests: int
    items: list[dict[str, Any]]
    stats: dict[str, Any]
    seconds: float
    site_clock: float  # the site's clock when the run ended

    @property
    def versions(self) -> tuple[int, int]:
        """(new articles, later versions) emitted."""
        later = sum(1 for i in self.items if (i.get("version") or 1) > 1)
        return len(self.items) - later, later


class Crawler:
    """Runs the crawl of one code tree against one served site, on one data directory."""

    def __init__(self, code: Path, site: LocalSite, base: Any, tmp: Path, label: str) -> None:
        self.code, self.site, self.base, self.label = code, site, base, label
        self.tmp = tmp / label
        self.tmp.mkdir()
        self.count = 0

    def crawl(self, name: str) -> Run:
        self.count += 1
        out = self.tmp / f"{self.count:02d}-{name}"
        out.mkdir()
        settings = {
            **COMMON,
            "LOG_LEVEL": "WARNING",
            "CHINANEWS_DATA_DIR": str(self.tmp / "data"),
            "CHINANEWS_REPORT_FILE": str(out / "report.json"),
            "CHINANEWS_CONTACT": "https://data.example.com/crawler",
        }
        cmd = [PY, "-m", "scrapy", "crawl", "china_com", "-a", f"start_urls={self.base}/",
               "-a", "render=never", *settings_args(settings), "-O", str(out / "items.jsonl")]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(self.code)}
        done = len(self.base.requests)
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=self.code, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if proc.returncode not in (0, 3):
            raise SystemExit(f"{self.label} {name}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
        items = [
            json.loads(line)
            for line in (out / "items.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        return Run(
            name,
            len(self.base.requests) - done,
            items,
            report.get("stats", {}),
            seconds,
            self.site.now(),
        )


@contextmanager
def code_of(rev: str, tmp: Path) -> Iterator[Path]:
    """A worktree of ``rev`` (removed afterwards)."""
    worktree = tmp / f"code-{rev}"
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), rev],
                   cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    try:
        yield worktree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)],
                       cwd=ROOT, check=False, capture_output=True)  # fmt: skip


def table_runs(crawler: Crawler, site: LocalSite, edits: int) -> list[Run]:
    runs = [crawler.crawl("first")]
    site.advance(minutes=5)
    runs.append(crawler.crawl("unchanged"))
    site.advance(new=40, spacing=5)  # published within four minutes
    runs.append(crawler.crawl("40 new"))
    site.advance(edit=edits, minutes=5)
    runs.append(crawler.crawl("edits, not due"))
    site.advance(minutes=61)
    runs.append(crawler.crawl("an hour later: due"))
    return runs


def day_runs(crawler: Crawler, site: LocalSite, per_run: int, edits: int) -> list[dict]:
    rows = []
    for k in range(48):
        before = {a.aid for a in site.model.arts}
        edited_before = {a.aid: a.revision for a in site.model.arts}
        site.advance(new=per_run, edit=edits, minutes=30 - per_run * 2)  # 30 min in all
        new_ids = {a.aid for a in site.model.arts} - before
        edited = {a.aid for a in site.model.arts if a.revision != edited_before.get(a.aid, 0)}
        run = crawler.crawl(f"day {k + 1}")
        published = {
            i["article_id"]: datetime.fromisoformat(i["published_at"]).timestamp()
            for i in run.items
            if i.get("published_at") and i.get("article_id") in new_ids
        }
        waits = [(run.site_clock - ts) / 60 for ts in published.values()]
        later = [i for i in run.items if (i.get("version") or 1) > 1]
        rows.append(
            {
                "run": k + 1,
                "requests": run.requests,
                "new_on_site": len(new_ids),
                "new_emitted": len(published),
                "edited_on_site": len(edited - new_ids),
                "versions_emitted": len(later),
                "waits": waits,
                "seconds": run.seconds,
                "not_modified": run.stats.get("chinanews/recheck/not_modified", 0),
            }
        )
        print(f"  day run {k + 1}: {rows[-1]['requests']} requests, {len(published)} new, "
              f"{len(later)} versions", file=sys.stderr)  # fmt: skip
    return rows


def describe(args: argparse.Namespace, table: dict[str, list[Run]], day: list[dict]) -> str:
    labels = list(table)
    ours = table[labels[0]]
    out = [
        f"Measured {date.today().isoformat()} on {platform.machine()} "
        f"({platform.python_version()}), `LocalSite(size={args.size}, seed={args.seed})` served "
        "in the benchmark's process (requests counted by its server), "
        f"`scrapy crawl china_com -a render=never`, {args.edits} edits in row 4.",
        "",
        "**The table of issue 13.** Requests per run, as a share of the first run's, and "
        "articles emitted (new / later versions):",
        "",
        "| run | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for i, run in enumerate(ours):
        cells = []
        for label in labels:
            r, first = table[label][i], table[label][0]
            new, later = r.versions
            cells.append(f"{r.requests:,} ({r.requests / first.requests:.1%}); {new} / {later}")
        out.append(f"| {run.name} | " + " | ".join(cells) + " |")
    unchanged, new40, not_due, due_run = ours[1], ours[2], ours[3], ours[4]
    first = ours[0].requests
    targets = [
        ("unchanged site: ≤ 5% of the first run's requests, 0 emitted",
         unchanged.requests <= 0.05 * first and not unchanged.items),
        ("40 new: all 40 emitted, ≤ 10% of the first run's requests",
         new40.versions[0] == 40 and new40.requests <= 0.10 * first),
        (f"edits not due: not fetched again, waiting reported "
         f"({not_due.stats.get('chinanews/recheck/waiting', 0):,} waiting)",
         not not_due.items and not_due.stats.get("chinanews/recheck/waiting", 0) > 0),
        (f"edits due: every one emitted as version + 1 ({due_run.versions[1]} of {args.edits}); "
         f"unchanged articles with a validator cost a 304 "
         f"({due_run.stats.get('chinanews/recheck/not_modified', 0):,} 304s, "
         f"{due_run.stats.get('chinanews/incremental/unchanged', 0):,} unchanged 200s)",
         due_run.versions[1] == args.edits),
    ]  # fmt: skip
    out += [
        "",
        "Targets: "
        + "; ".join(f"{t}: **{'met' if ok else 'not met'}**" for t, ok in targets)
        + ".",
    ]
    if day:
        waits = [w for row in day for w in row["waits"]]
        requests = [row["requests"] for row in day]
        out += [
            "",
            f"**A simulated day.** 48 runs, 30 minutes apart on the site's clock; between "
            f"runs the site publishes {args.per_run} articles and edits {args.edits_per_run}.",
            "",
            "| | median | max | sum |",
            "|---|---|---|---|",
            f"| requests per run | {statistics.median(requests):.0f} | {max(requests)} | "
            f"{sum(requests):,} ({sum(requests) / first:.1f}× one first crawl) |",
            f"| new articles emitted per run | "
            f"{statistics.median(r['new_emitted'] for r in day):.0f} | "
            f"{max(r['new_emitted'] for r in day)} | "
            f"{sum(r['new_emitted'] for r in day)} of {sum(r['new_on_site'] for r in day)} |",
            f"| later versions emitted per run | "
            f"{statistics.median(r['versions_emitted'] for r in day):.0f} | "
            f"{max(r['versions_emitted'] for r in day)} | "
            f"{sum(r['versions_emitted'] for r in day)} (edits made: "
            f"{sum(r['edited_on_site'] for r in day)}) |",
            f"| minutes from publication to the outputs | "
            f"{statistics.median(waits):.0f} | {max(waits):.0f} | |",
            f"| seconds per run | {statistics.median(r['seconds'] for r in day):.1f} | "
            f"{max(r['seconds'] for r in day):.1f} | |",
        ]
        out += [
            "",
            "A new article waits for the next run and the run's own time: at most about 30 "
            "minutes plus a run. An edit surfaces at its article's next re-check (1 h, 6 h, "
            "24 h and 72 h after it was first fetched), or at once when its list entry "
            "shows another title or time; edits to articles past their last re-check are "
            "not seen (the local site edits articles of every age, so the count of later "
            "versions stays below the edits made).",
        ]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--per-run", type=int, default=4)
    ap.add_argument("--edits-per-run", type=int, default=2)
    ap.add_argument("--no-day", action="store_true", help="skip the simulated day")
    ap.add_argument("--before", default="", help="a git revision to measure as the baseline")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    table: dict[str, list[Run]] = {}
    day: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="chinanews-incremental-") as tmpdir:
        tmp = Path(tmpdir)
        site = LocalSite(size=args.size, seed=args.seed)
        with serve(site) as base:
            crawler = Crawler(ROOT, site, base, tmp, "chinanews")
            table["chinanews"] = table_runs(crawler, site, args.edits)
            if not args.no_day:
                day = day_runs(crawler, site, args.per_run, args.edits_per_run)
        if args.before:
            with code_of(args.before, tmp) as code:
                site = LocalSite(size=args.size, seed=args.seed)
                with serve(site) as base:
                    label = f"before ({args.before})"
                    crawler = Crawler(code, site, base, tmp, label.replace(" ", "_"))
                    table[label] = table_runs(crawler, site, args.edits)
    text = describe(args, table, day)
    print(text)
    if args.write:
        replace_section(DOC, "incremental", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
