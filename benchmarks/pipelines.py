"""Pipeline benchmark: the ITEM_PIPELINES chain against extraction, and dedup as the index grows.

(a) Over the local site's single-page articles (the pages of ``benchmarks/extraction.py``),
    CPU time per page of ``extract_article`` and, on the items it returns, CPU time per item of
    every pipeline of ``ITEM_PIPELINES`` (chinanews/settings.py), driven directly as Scrapy's
    item pipeline manager would: one crawler, ``from_crawler``, ``open_spider``,
    ``process_item`` per item (a ``DropItem`` ends the item's way), ``close_spider``.
(b) The dedup path (Identity, Content, NearDuplicate, Record: SQLite lookups and writes and
    the near-duplicate index) per article with 10k, 100k and 1M articles already in the
    SQLite index, each size in a fresh process: the ``seen`` table is pre-filled with
    synthetic rows (unique keys, random content hashes, random MinHash signatures in the
    ``dump_signature`` format), ``CrawlState`` loads them as at the start of a crawl, and a
    few thousand real items of the local site (ids the index does not know) go through the
    layers. Baseline: the same items through the same layers with an empty index, in the same
    process. Memory: RSS growth while ``CrawlState`` loads the index, per indexed article.

Prints a Markdown section; with ``--write`` it replaces the pipelines section of
``docs/benchmarks.md``.

    .venv/bin/python benchmarks/pipelines.py --write
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import io
import multiprocessing
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.utils.conf import build_component_list
from scrapy.utils.misc import build_from_crawler, load_object
from scrapy.utils.test import get_crawler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup import pct, rss_bytes
from extraction import BASE, DOC, replace_section

from chinanews import settings as project_settings
from chinanews.dedup import MinHashIndex
from chinanews.extract import extract_article
from chinanews.index import ArticleIndex
from chinanews.items import Article
from chinanews.lifecycle import crawl_run
from chinanews.localsite import LocalSite
from chinanews.spiders.china_com import ChinaComSpider
from chinanews.urls import canonical_url

DEDUP_LAYERS = ("IdentityPipeline", "ContentPipeline", "NearDuplicatePipeline", "RecordPipeline")


# --------------------------------------------------------------------------- the chain
class Chain:
    """The ITEM_PIPELINES of one crawl, built and driven as Scrapy's ItemPipelineManager does."""

    def __init__(self, workdir: Path, index_path: str, only: Sequence[str] | None = None) -> None:
        settings = {
            "ITEM_PIPELINES": project_settings.ITEM_PIPELINES,
            "FEEDS": {str(workdir / "out.jsonl"): {"format": "jsonlines"}},
            "CHINANEWS_INDEX_PATH": index_path,
            "LOG_LEVEL": "WARNING",
            # storage is another benchmark's (its writes run on a writer thread): off here
            "DATABASE_URL": "none",
            # no extensions but the run's lifecycle, which owns the crawl state: spider_closed
            # then reaches only its last checkpoint and CrawlState.close (and the spider)
            "EXTENSIONS_BASE": {},
            "EXTENSIONS": {"chinanews.lifecycle.CrawlRun": 700},
        }
        self.crawler: Crawler = get_crawler(ChinaComSpider, settings)
        self.crawler.spider = ChinaComSpider.from_crawler(self.crawler)
        assert self.crawler.stats is not None
        self.crawler.stats.open_spider()
        paths = build_component_list(self.crawler.settings.getwithbase("ITEM_PIPELINES"))
        classes = [load_object(p) for p in paths]
        if only is not None:
            classes = [c for c in classes if c.__name__ in only]
        self.pipes, self.names = [], []
        for c in classes:
            try:  # as Scrapy's MiddlewareManager does: a NotConfigured component is left out
                self.pipes.append(build_from_crawler(c, self.crawler))
            except NotConfigured:
                continue
            self.names.append(c.__name__.removesuffix("Pipeline"))
        for pipe in self.pipes:
            if hasattr(pipe, "open_spider"):
                pipe.open_spider()
        self.drops: Counter[str] = Counter()

    def run(self, item: Any, clock: Any = time.process_time_ns) -> list[int]:
        """Nanoseconds spent in each pipeline on ``item`` (pipelines after a drop: none)."""
        spent = []
        for pipe in self.pipes:
            t0 = clock()
            try:
                item = pipe.process_item(item)
            except DropItem as exc:
                spent.append(clock() - t0)
                self.drops[type(exc).__name__] += 1
                break
            spent.append(clock() - t0)
        return spent

    def close(self) -> None:
        for pipe in self.pipes:
            if hasattr(pipe, "close_spider"):
                pipe.close_spider()
        self.crawler.signals.send_catch_log(
            signal=signals.spider_closed, spider=self.crawler.spider, reason="finished"
        )


@contextmanager
def chain(only: Sequence[str] | None = None, index_path: str | None = None) -> Iterator[Chain]:
    with tempfile.TemporaryDirectory(prefix="chinanews-bench-") as tmp:
        c = Chain(Path(tmp), index_path or str(Path(tmp) / "index.sqlite3"), only)
        try:
            yield c
        finally:
            c.close()


def site_pages(size: int, seed: int) -> list[tuple[str, str]]:
    """The single-page articles of the local site, as in ``benchmarks/extraction.py``."""
    site = LocalSite(size=size, seed=seed)
    expected = site.expected(BASE)
    pages = []
    for url, html in site.pages(BASE):
        want = expected.get(canonical_url(url))
        if want is not None and url == want["url"] and want["pages"] == 1:
            pages.append((url, html))
    return pages


def extract(url: str, html: str) -> Article | None:
    article = extract_article(url, html).article
    if article is not None:  # what the spider's _emit adds
        article.crawled_at = "2026-01-01T00:00:00+00:00"
    return article


def fresh(items: Sequence[Article]) -> list[Article]:
    return [dataclasses.replace(a, images=list(a.images), related=list(a.related)) for a in items]


# --------------------------------------------------------------------------- (a) chain vs extraction
def chain_vs_extraction(pages: list[tuple[str, str]], repeat: int) -> dict[str, Any]:
    for url, html in pages[:5]:  # warm-up: imports, compiled selectors
        extract(url, html)
    warm = [a for a in (extract(u, h) for u, h in pages[:20]) if a is not None]
    with chain() as c:  # warm-up: the schema validator, numpy, SQLite
        for item in fresh(warm):
            c.run(item)
    ext_ns: list[int] = []
    stage_ns: dict[str, list[int]] = {}
    total_ns: list[int] = []
    drops: Counter[str] = Counter()
    items: list[Article] = []
    for _ in range(repeat):  # a fresh crawl (empty index) each time
        items = []
        for url, html in pages:
            t0 = time.process_time_ns()
            article = extract(url, html)
            ext_ns.append(time.process_time_ns() - t0)
            if article is not None:
                items.append(article)
        with chain() as c:
            for item in items:
                spent = c.run(item)
                total_ns.append(sum(spent))
                for name, ns in zip(c.names, spent, strict=False):
                    stage_ns.setdefault(name, []).append(ns)
            drops += c.drops
            names = c.names
    # one more crawl under cProfile, for the top costs
    prof = cProfile.Profile()
    with chain() as c:
        again = fresh(items)
        prof.enable()
        for item in again:
            c.run(item)
        prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
    top = top_functions(prof, 6)
    return {
        "pages": len(pages),
        "items": len(items),
        "repeat": repeat,
        "extract_us": [ns / 1000 for ns in ext_ns],
        "stages": {n: [ns / 1000 for ns in stage_ns[n]] for n in names},
        "chain_us": [ns / 1000 for ns in total_ns],
        "drops": {k: v // repeat for k, v in drops.items()},
        "profile": out.getvalue(),
        "top": top,
    }


def top_functions(prof: cProfile.Profile, n: int) -> list[tuple[str, float, float]]:
    """(function, own seconds, share of the profiled total) of the ``n`` costliest."""
    stats = pstats.Stats(prof)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (path, line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        name = f"`{func}` ({Path(path).name}:{line})" if line else f"`{func}`"
        rows.append((name, tt, tt / total))
    rows.sort(key=lambda r: -r[1])
    return rows[:n]


# --------------------------------------------------------------------------- (b) index growth
def prefill(path: str, n: int, seed: int = 7, chunk: int = 50_000) -> float:
    """``n`` synthetic originals in the ``seen`` table of a new index at ``path``; seconds."""
    t0 = time.perf_counter()
    index = ArticleIndex(path)
    rng = np.random.default_rng(seed)
    near = MinHashIndex()
    stamp = "2025-01-01T00:00:00+00:00"
    sql = """INSERT INTO seen (key, url, content_hash, version, duplicate_of, signature,
                               published_at, first_seen, last_seen)
             VALUES (?, ?, ?, 1, NULL, ?, ?, ?, ?)"""
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        sigs = rng.integers(0, 2**32 - 1, size=(m, near.num_perm), dtype=np.uint32)
        hashes = rng.bytes(16 * m)
        rows = (
            (
                f"s{start + k:09d}",
                f"https://news.china.com/domestic/945/20250101/s{start + k:09d}.html",
                hashes[16 * k : 16 * k + 16].hex(),
                near.dump_signature(sigs[k]),
                "2025-01-01T08:00:00+08:00",
                stamp,
                stamp,
            )
            for k in range(m)
        )
        index.db.executemany(sql, rows)
        index.db.commit()
    index.close()
    return time.perf_counter() - t0


class GCTimes:
    """Collections of Python's cyclic garbage collector per generation, and their µs."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.us = [0.0, 0.0, 0.0]
        self._t0 = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter_ns()
        else:
            self.count[info["generation"]] += 1
            self.us[info["generation"]] += (time.perf_counter_ns() - self._t0) / 1000

    def __enter__(self) -> GCTimes:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def dedup_pass(c: Chain, items: list[Article]) -> tuple[dict[str, list[float]], GCTimes]:
    wall, cpu = [], []
    layer: dict[str, list[float]] = {n: [] for n in c.names}
    with GCTimes() as collections:
        for item in items:
            t0, c0 = time.perf_counter_ns(), time.process_time_ns()
            spent = c.run(item, time.perf_counter_ns)
            cpu.append((time.process_time_ns() - c0) / 1000)
            wall.append((time.perf_counter_ns() - t0) / 1000)
            for name, ns in zip(c.names, spent, strict=False):
                layer[name].append(ns / 1000)
    return {"wall": wall, "cpu": cpu, **layer}, collections


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "p99": pct(values, 99),
        "mean": statistics.mean(values),
    }


def grow_one(size: int, items: list[Article]) -> dict[str, Any]:
    """In a fresh process: baseline with an empty index, then ``size`` indexed articles."""
    with tempfile.TemporaryDirectory(prefix="chinanews-bench-") as tmp:
        with chain(DEDUP_LAYERS, str(Path(tmp) / "warm.sqlite3")) as c:
            for item in fresh(items[:100]):
                c.run(item)
        with chain(DEDUP_LAYERS, str(Path(tmp) / "empty.sqlite3")) as c:
            base, base_gc = dedup_pass(c, fresh(items))
            base_drops = dict(c.drops)
        path = str(Path(tmp) / "index.sqlite3")
        fill_s = prefill(path, size)
        disk = sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))
        batch = fresh(items)
        gc.collect()
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        with chain(DEDUP_LAYERS, path) as c:
            load_s = time.perf_counter() - t0
            gc.collect()
            mem = rss_bytes() - rss0
            indexed = len(crawl_run(c.crawler).state.near)
            full, full_gc = dedup_pass(c, batch)
            full_drops = dict(c.drops)
    return {
        "size": size,
        "indexed": indexed,
        "items": len(items),
        "fill_s": fill_s,
        "load_s": load_s,
        "mem_per": mem / size,
        "disk_per": disk / size,
        "base": {k: summary(v) for k, v in base.items() if v},
        "full": {k: summary(v) for k, v in full.items() if v},
        "base_drops": base_drops,
        "base_gc": (base_gc.count, base_gc.us),
        "full_gc": (full_gc.count, full_gc.us),
        "full_drops": full_drops,
    }


def index_growth(sizes: Sequence[int], items: list[Article]) -> list[dict[str, Any]]:
    out = []
    ctx = multiprocessing.get_context("spawn")
    for size in sizes:
        t0 = time.monotonic()
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            result = pool.submit(grow_one, size, items).result()
        print(
            f"  {size:>9,}: {time.monotonic() - t0:.0f}s, fill {result['fill_s']:.0f}s, "
            f"load {result['load_s']:.0f}s, gc {result['full_gc']} (empty {result['base_gc']})\n    full {result['full']}\n    base {result['base']}",
            file=sys.stderr,
        )
        out.append(result)
    return out


# --------------------------------------------------------------------------- report
def report(a: dict[str, Any], grow: list[dict[str, Any]], args: argparse.Namespace) -> str:
    ext = a["extract_us"]
    ch = a["chain_us"]
    ratio_median = statistics.median(ch) / statistics.median(ext)
    ratio_mean = statistics.mean(ch) / statistics.mean(ext)
    L: list[str] = []
    load_after = os.getloadavg()[0]
    L.append(
        f"Measured {date.today().isoformat()} on {platform.machine()} ({platform.python_version()}), "
        f"Scrapy {scrapy.__version__}, numpy {np.__version__}, SQLite "
        f"{__import__('sqlite3').sqlite_version}, {os.cpu_count()} cores; load average "
        f"{args.load_before:.1f} at the start, {load_after:.1f} at the end"
        + (
            " (above 2, other jobs shared the cores: wall times and their tails are inflated, "
            "CPU medians much less)."
            if max(args.load_before, load_after) > 2
            else "."
        )
    )
    L.append("")
    drops = ", ".join(f"{v} {k}" for k, v in sorted(a["drops"].items())) or "none"
    L.append(
        f"**Chain against extraction.** {a['pages']} single-page articles of the local site "
        f"(size {args.size}, seed {args.seed}, the extraction benchmark's pages), {a['repeat']} "
        "passes. CPU time (`time.process_time_ns`) of `extract_article` per page, then of each "
        "pipeline of `ITEM_PIPELINES` per item, built with `from_crawler` on one crawler "
        "(FEEDS and the SQLite index in a temporary directory, a fresh index each pass) and "
        "driven with `open_spider`, `process_item`, `close_spider`; `DATABASE_URL=none`, so "
        "`DatabasePipeline` (storage, measured by its own benchmark) is left out as Scrapy "
        f"leaves out a `NotConfigured` component. Items dropped per pass: {drops} "
        "(the local site's own copies); a dropped item's later pipelines do not run."
    )
    L.append("")
    L.append("| stage | items | median µs | mean µs | p90 µs | share of chain (mean) |")
    L.append("|---|---|---|---|---|---|")
    L.append(
        f"| `extract_article` (per page) | {len(ext) // a['repeat']} | {statistics.median(ext):.0f} | "
        f"{statistics.mean(ext):.0f} | {pct(ext, 90):.0f} | |"
    )
    chain_sum = sum(ch)
    for name, values in a["stages"].items():
        L.append(
            f"| {name} | {len(values) // a['repeat']} | {statistics.median(values):.0f} | "
            f"{statistics.mean(values):.0f} | {pct(values, 90):.0f} | {sum(values) / chain_sum:.0%} |"
        )
    L.append(
        f"| **whole chain** (per item) | {len(ch) // a['repeat']} | **{statistics.median(ch):.0f}** | "
        f"{statistics.mean(ch):.0f} | {pct(ch, 90):.0f} | 100% |"
    )
    L.append("")
    met = ratio_median <= 1.0 and ratio_mean <= 1.0
    stages = sorted(a["stages"].items(), key=lambda kv: -sum(kv[1]))
    (n1, v1), (n2, v2) = stages[0], stages[1]
    L.append(
        f"The chain costs **{ratio_median:.2f}×** the extraction (median {statistics.median(ch):.0f} µs "
        f"against {statistics.median(ext):.0f} µs; mean {ratio_mean:.2f}×): the target (≤ 1.0) is "
        f"{'met' if met else '**not met**'}. {n1} ({sum(v1) / chain_sum:.0%} of the chain's time) "
        f"and {n2} ({sum(v2) / chain_sum:.0%}) dominate. Top functions by own time under cProfile "
        "(one more pass; cProfile inflates call-heavy code): "
        + "; ".join(f"{f} {share:.0%}" for f, _, share in a["top"])
        + "."
    )
    L.append("")
    if not grow:
        return "\n".join(L)
    n_items = grow[0]["items"]
    L.append(
        f"**Dedup as the index grows.** The dedup layers alone (Identity, Content, NearDuplicate, "
        f"Record) on {n_items:,} cleaned and validated items of the local site (size "
        f"{args.grow_site}, seed {args.seed}; ids the index does not know), each size in a fresh "
        "process. The SQLite `seen` table is pre-filled with `executemany` (unique keys, random "
        "content hashes, random 128 × 32-bit MinHash signatures written by `dump_signature`), "
        "then `CrawlState` opens it as at the start of a crawl, loading every signature into the "
        "in-memory `MinHashIndex`. Wall time (`perf_counter_ns`) per item through the four "
        "layers, SQLite commits (every 500 records) included; baseline: the same items through "
        "the same layers with an empty index, in the same process just before. Memory: RSS "
        "growth of the process while `CrawlState` loads the index, per indexed article (the "
        "SQLite page cache is bounded at 2 MB, so this is the near-duplicate index); disk: the "
        "SQLite file per article."
    )
    L.append("")
    L.append(
        "| indexed articles | median µs | p99 µs | mean µs | CPU median µs | empty index median µs "
        "| ratio | load at open | memory per article | disk per article |"
    )
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for g in grow:
        f, b = g["full"], g["base"]
        L.append(
            f"| {g['size']:,} | **{f['wall']['median']:.0f}** | {f['wall']['p99']:.0f} | "
            f"{f['wall']['mean']:.0f} | {f['cpu']['median']:.0f} | {b['wall']['median']:.0f} | "
            f"{f['wall']['median'] / b['wall']['median']:.2f}× | {g['load_s']:.1f} s | "
            f"{g['mem_per'] / 1024:.2f} KiB | {g['disk_per'] / 1024:.2f} KiB |"
        )
    L.append("")
    big = grow[-1]
    L.append(f"Per layer at {big['size']:,}, µs (the same with an empty index in brackets):")
    L.append("")
    L.append("| layer | median | mean | p99 |")
    L.append("|---|---|---|---|")
    for name in (*(n.removesuffix("Pipeline") for n in DEDUP_LAYERS), "cpu"):
        f, b = big["full"][name], big["base"][name]
        L.append(
            f"| {'all four, CPU time' if name == 'cpu' else name} | {f['median']:.0f} ({b['median']:.0f}) "
            f"| {f['mean']:.0f} ({b['mean']:.0f}) | {f['p99']:.0f} ({b['p99']:.0f}) |"
        )
    L.append("")
    ms = big["full"]["wall"]["median"] / 1000
    mean_ms = big["full"]["wall"]["mean"] / 1000
    (gc_n, gc_us), (bgc_n, bgc_us) = big["full_gc"], big["base_gc"]
    if big["size"] < 1_000_000:
        verdict = "not measured at 1M in this run"
    elif ms < 1 and mean_ms < 1:
        verdict = "met"
    elif ms < 1:
        verdict = "met for the median, **not for the mean**"
    else:
        verdict = "**not met**"
    L.append(
        f"At {big['size']:,} indexed articles the dedup path costs {ms:.2f} ms per article "
        f"(median; mean {mean_ms:.2f} ms, p99 {big['full']['wall']['p99'] / 1000:.2f} ms; target "
        f"< 1 ms at 1M): {verdict}. During the {big['items']:,} items Python's cyclic garbage "
        f"collector ran {sum(gc_n)} times for {sum(gc_us) / 1000:.0f} ms in all "
        f"({sum(bgc_n)} times, {sum(bgc_us) / 1000:.1f} ms with the empty index): `MinHashIndex` "
        "keeps its band keys and signatures in numpy arrays, with no Python object per entry "
        "for the collector to walk (with one dict of lists per band, a collection walked them "
        "all, about 1.5 s at 1M, and the mean was 1.10 ms against a 0.58 ms median, "
        "2026-11-28). "
        f"The index holds {big['mem_per'] / 1024:.2f} KiB of memory per article "
        f"({big['mem_per'] * big['size'] / 2**30:.2f} GiB at {big['size']:,}) and "
        f"{big['disk_per'] / 1024:.2f} KiB of disk; opening it takes {big['load_s']:.0f} s "
        "(every signature is read back and banded in one vectorised pass)."
    )
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=400, help="local site size for the chain (a)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--repeat", type=int, default=3, help="passes over the pages in (a)")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="indexed articles in (b)")
    ap.add_argument(
        "--grow-site", type=int, default=3000, help="local site size for the items of (b)"
    )
    ap.add_argument("--write", action="store_true", help=f"replace the pipelines section of {DOC}")
    args = ap.parse_args(argv)

    args.load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    a = chain_vs_extraction(site_pages(args.size, args.seed), args.repeat)
    print(a["profile"], file=sys.stderr)
    print(f"chain vs extraction done in {time.monotonic() - t0:.0f}s", file=sys.stderr)

    sizes = [int(s) for s in args.sizes.split(",") if s]
    grow: list[dict[str, Any]] = []
    if sizes:
        with chain(("CleanPipeline", "ValidatePipeline")) as c:
            items = []
            for url, html in site_pages(args.grow_site, args.seed):
                article = extract(url, html)
                dropped = sum(c.drops.values())
                if article is not None:
                    c.run(article)
                    if sum(c.drops.values()) == dropped:
                        items.append(article)
        grow = index_growth(sizes, items)
    text = report(a, grow, args)
    print(text)
    print(f"done in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    if args.write:
        replace_section(DOC, "pipelines", text)
        print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
