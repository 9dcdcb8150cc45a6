"""Lake benchmark: articles per second into Parquet against JSONL, and against the crawl.

(a) Exporters. The local site's single-page articles (as in ``benchmarks/extraction.py``),
    extracted once and repeated with fresh URLs and ids to ``--items`` articles, are written
    in the same process by Scrapy's ``JsonLinesItemExporter`` (the default output) and by the
    lake's ``ParquetItemExporter``: into one file, and routed by ``publication_date`` to one
    file per ``dt=`` partition and batch of ``CHINANEWS_LAKE_BATCH_ITEM_COUNT``, as the
    ``PartitionedFeedExporter`` does. Wall time including opening and closing files; best
    of ``--repeat``.
(b) The crawl that feeds it: ``scrapy crawl china_com`` of the local site (``--site`` article
    pages) with ``-s CHINANEWS_LAKE=<tmp>`` and the JSONL output, articles per second of
    the whole crawl (``item_scraped_count / elapsed_time_seconds``).

Prints a Markdown section; ``--write`` replaces the lake section of ``docs/benchmarks.md``.

    .venv/bin/python benchmarks/lake.py --write
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import scrapy
from scrapy.exporters import JsonLinesItemExporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extraction import BASE, DOC, replace_section

from chinanews.extract import extract_article
from chinanews.items import Article
from chinanews.lake.exporter import ParquetItemExporter
from chinanews.lake.feeds import publication_date
from chinanews.localsite import LocalSite, serve
from chinanews.urls import canonical_url

ROOT = Path(__file__).resolve().parent.parent


def site_items(size: int, seed: int) -> list[Article]:
    """The single-page articles of the local site, extracted, with what the pipeline adds."""
    site = LocalSite(size=size, seed=seed)
    expected = site.expected(BASE)
    items = []
    for url, html in site.pages(BASE):
        want = expected.get(canonical_url(url))
        if want is None or url != want["url"] or want["pages"] != 1:
            continue
        article = extract_article(url, html).article
        if article is not None:
            article.crawled_at = "2026-01-01T00:00:00+00:00"
            article.content_hash = "0" * 16
            items.append(article)
    return items


def repeated(items: list[Article], n: int) -> list[Article]:
    """``n`` articles cycling through ``items``, each with its own URL, id, title and body
    (so no column is made of exact repeats, which Parquet's dictionary encoding would
    store once and flatter its size and speed)."""
    out = []
    for i in range(n):
        a = items[i % len(items)]
        mark = f"（{i}）"
        out.append(
            dataclasses.replace(
                a,
                url=f"{a.url}?copy={i}",
                article_id=f"{i}",
                title=f"{a.title}{mark}",
                body=f"{mark}{a.body}",
                body_html=f"<p>{mark}</p>{a.body_html}",
                content_hash=f"{i:016x}",
            )
        )
    return out


def write_jsonl(items: list[Article], directory: Path) -> int:
    path = directory / "out.jsonl"
    with path.open("wb") as f:
        exporter = JsonLinesItemExporter(f, encoding="utf-8")
        exporter.start_exporting()
        for item in items:
            exporter.export_item(item)
        exporter.finish_exporting()
    return path.stat().st_size


def write_parquet(items: list[Article], directory: Path) -> int:
    path = directory / "out.parquet"
    with path.open("wb") as f:
        exporter = ParquetItemExporter(f)
        exporter.start_exporting()
        for item in items:
            exporter.export_item(item)
        exporter.finish_exporting()
    return path.stat().st_size


def write_partitioned(items: list[Article], directory: Path, batch: int = 10_000) -> int:
    """One file per partition and batch, as ``PartitionedFeedExporter`` routes them."""
    slots: dict[str, tuple[Any, ParquetItemExporter, int]] = {}
    batches: dict[str, int] = {}

    def close(dt: str) -> None:
        f, exporter, _ = slots.pop(dt)
        exporter.finish_exporting()
        f.close()

    for item in items:
        dt = publication_date(item)
        if dt not in slots:
            batches[dt] = batches.get(dt, 0) + 1
            path = directory / f"dt={dt}" / f"china_com-bench-{batches[dt]:05d}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            f = path.open("wb")
            exporter = ParquetItemExporter(f)
            exporter.start_exporting()
            slots[dt] = (f, exporter, 0)
        f, exporter, count = slots[dt]
        exporter.export_item(item)
        slots[dt] = (f, exporter, count + 1)
        if count + 1 >= batch:
            close(dt)
    for dt in list(slots):
        close(dt)
    return sum(p.stat().st_size for p in directory.rglob("*.parquet"))


def measure(
    write: Callable[[list[Article], Path], int], items: list[Article], repeat: int
) -> dict[str, float]:
    best, size = float("inf"), 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            size = write(items, Path(tmp))
            best = min(best, time.perf_counter() - t0)
    return {"seconds": best, "per_s": len(items) / best, "bytes": size}


def crawl_rate(size: int, seed: int) -> dict[str, Any]:
    site = LocalSite(size=size, seed=seed)
    with tempfile.TemporaryDirectory() as tmp, serve(site) as base:
        report = Path(tmp) / "report.json"
        settings = {
            "AUTOTHROTTLE_ENABLED": "0",
            "DOWNLOAD_DELAY": "0",
            "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
            "RETRY_TIMES": "1",
            "DOWNLOAD_TIMEOUT": "15",
            "LOG_LEVEL": "WARNING",
            "CHINANEWS_LAKE": str(Path(tmp) / "lake"),
            "CHINANEWS_LAKE_FORMAT": "parquet",
            "CHINANEWS_REPORT_FILE": str(report),
            "CHINANEWS_INDEX_PATH": ":memory:",
        }
        cmd = [sys.executable, "-m", "scrapy", "crawl", "china_com"]
        cmd += ["-a", f"start_urls={base.start_url}", "-O", str(Path(tmp) / "out.jsonl")]
        for name, value in settings.items():
            cmd += ["-s", f"{name}={value}"]
        env = {**os.environ, "CHINANEWS_DATA_DIR": str(Path(tmp) / "data")}
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=900)
        stats = json.loads(report.read_text(encoding="utf-8"))["stats"]
        files = list((Path(tmp) / "lake").rglob("*.parquet"))
    items = stats["item_scraped_count"]
    return {
        "items": items,
        "seconds": stats["elapsed_time_seconds"],
        "per_s": items / stats["elapsed_time_seconds"],
        "files": len(files),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=400, help="site size for the items")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--site", type=int, default=400, help="site size for the crawl")
    parser.add_argument("--write", action="store_true", help="rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)

    base_items = site_items(args.size, args.seed)
    items = repeated(base_items, args.items)
    days = len({publication_date(a) for a in items})
    measure(write_jsonl, items[:500], 1)  # warm-up
    measure(write_parquet, items[:500], 1)
    results = {
        "JSONL (Scrapy's `JsonLinesItemExporter`, one file)": measure(
            write_jsonl, items, args.repeat
        ),
        "Parquet, one file": measure(write_parquet, items, args.repeat),
        f"Parquet, partitioned by `dt` ({days} partitions)": measure(
            write_partitioned, items, args.repeat
        ),
    }
    # Sizes on the distinct articles only: repeats, even marked, compress unrealistically well.
    sizes = [
        measure(w, base_items, 1)["bytes"] for w in (write_jsonl, write_parquet, write_partitioned)
    ]
    crawl = crawl_rate(args.site, args.seed)
    jsonl = next(iter(results.values()))
    rows = [
        "| writer | articles/s | × JSONL | bytes/article | size × JSONL |",
        "|---|---|---|---|---|",
    ]
    for (name, r), size in zip(results.items(), sizes, strict=True):
        rows.append(
            f"| {name} | {r['per_s']:,.0f} | {r['per_s'] / jsonl['per_s']:.2f} "
            f"| {size / len(base_items):,.0f} | {size / sizes[0]:.2f} |"
        )
    rows.append(
        f"| the crawl that feeds them (`scrapy crawl`, local site) | {crawl['per_s']:,.0f} "
        f"| {crawl['per_s'] / jsonl['per_s']:.3f} | | |"
    )
    slowest = min(r["per_s"] for r in results.values())
    text = "\n".join(
        [
            f"Measured {date.today().isoformat()} on {platform.machine()} "
            f"({platform.python_version()}), Scrapy {scrapy.__version__}, pyarrow {pa.__version__} "
            f"(zstd, row groups of 10,000): {len(items):,} articles ({len(base_items)} "
            f"single-page articles of the local site, size {args.size}, seed {args.seed}, "
            "repeated with fresh URLs, ids, titles and bodies), wall time to a local disk including opening and "
            f"closing the files, best of {args.repeat}, all writers in the same process. Bytes per article: the "
            f"{len(base_items)} distinct articles written once.",
            "",
            *rows,
            "",
            f"Parquet (partitioned) writes **{results[list(results)[2]]['per_s'] / jsonl['per_s']:.2f}×** "
            f"as many articles per second as JSONL, in "
            f"{sizes[2] / sizes[0]:.2f}× the bytes. The crawl "
            f"of the local site (size {args.site}, no politeness delays, lake and JSONL on) "
            f"emitted {crawl['items']} articles in {crawl['seconds']:.1f} s, "
            f"{crawl['per_s']:,.0f} articles/s into {crawl['files']} Parquet files: the "
            f"slowest writer is **{slowest / crawl['per_s']:,.0f}×** faster than the crawl "
            "that feeds it, which is bound by fetching and extraction, not by the store.",
        ]
    )
    print(text)
    if args.write:
        replace_section(DOC, "lake", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
