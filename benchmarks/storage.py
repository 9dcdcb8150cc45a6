"""Storage benchmark: articles per second into each store, against JSONL in the same script.

Items are the local site's articles, extracted as the crawl extracts them (bodies, HTML,
images and related links of real size), multiplied with fresh ids up to ``--count``. Each
store is measured through the path a crawl takes: records handed to the writer thread
(``chinanews.storage.writer``) in batches of ``--batch``, timed until every one is committed;
first as new rows (insert), then the same ids again (a re-crawl: upserts that update in
place). The baseline is Scrapy's ``JsonLinesItemExporter`` writing the same items to a file.
The crawl that feeds a store is measured too: ``scrapy crawl`` of the local site with no
database, articles emitted per second of crawl.

To add a store (Parquet, …), write a function ``(items) -> seconds`` like
:func:`measure_jsonl` or :func:`measure_database` and add a row in :func:`main`.

    .venv/bin/python benchmarks/storage.py --write
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
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extraction import DOC, replace_section

from chinanews.dedup import content_hash
from chinanews.extract import extract_article
from chinanews.localsite import LocalSite, serve
from chinanews.storage import open_store, parse_database_url
from chinanews.storage.writer import StoreWriter

ROOT = Path(__file__).resolve().parent.parent


def local_items(count: int, size: int = 300) -> list[dict[str, Any]]:
    """``count`` article items from the local site, repeated with fresh ids as needed."""
    base: list[dict[str, Any]] = []
    seen: set[str] = set()
    for url, html in LocalSite(size=size, seed=7).pages("http://127.0.0.1:8000"):
        article = extract_article(url, html).article
        if article is None or not article.article_id or article.article_id in seen:
            continue  # one item per article: pages 2+ of an article share its id
        seen.add(article.article_id)
        item = dataclasses.asdict(article)
        item["content_hash"] = content_hash(item.get("body") or "")
        item["crawled_at"] = "2026-11-28T04:00:00+00:00"
        base.append(item)
    items = []
    for n in range(count):
        item = dict(base[n % len(base)])
        copy = n // len(base)
        if copy:
            item["article_id"] = f"{item['article_id']}{copy:04d}"
            item["url"] = item["url"].replace(".html", f"-{copy}.html")
        items.append(item)
    return items


def measure_jsonl(items: list[dict[str, Any]], directory: Path) -> float:
    """Seconds to write ``items`` with Scrapy's JSON Lines exporter (the feed's)."""
    from scrapy.exporters import JsonLinesItemExporter

    start = time.perf_counter()
    with (directory / "items.jsonl").open("wb") as f:
        exporter = JsonLinesItemExporter(f, encoding="utf-8", ensure_ascii=False)
        exporter.start_exporting()
        for item in items:
            exporter.export_item(item)
        exporter.finish_exporting()
    return time.perf_counter() - start


def measure_database(url: str, items: list[dict[str, Any]], batch: int, spool: Path) -> float:
    """Seconds to commit ``items`` through the writer thread, from the first record handed
    over to the last committed (back-pressure included)."""
    db = parse_database_url(url)
    assert db is not None
    store = open_store(db)
    store.connect()  # schema outside the timing
    stats: dict[str, int] = {}
    writer = StoreWriter(
        store,
        run_id=uuid.uuid4().hex,
        spool_dir=spool,
        batch_size=batch,
        inc_stat=lambda k, n: stats.__setitem__(k, stats.get(k, 0) + n),
    )
    writer.start()
    start = time.perf_counter()
    for item in items:
        record = {"kind": "article", "run_id": "bench", "item": item}
        while not writer.offer(record):
            time.sleep(0.0005)
    writer.drain()
    elapsed = time.perf_counter() - start
    writer.stop()
    if stats.get("chinanews/storage/articles") != len(items):
        raise SystemExit(f"{db.redacted}: not every article was written: {stats}")
    return elapsed


def measure_crawl(size: int) -> tuple[int, float]:
    """(articles emitted, seconds) of ``scrapy crawl`` of the local site, no database."""
    with tempfile.TemporaryDirectory() as tmp, serve(LocalSite(size=size, seed=7)) as base:
        report = Path(tmp) / "report.json"
        settings = {
            "AUTOTHROTTLE_ENABLED": "0",
            "DOWNLOAD_DELAY": "0",
            "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": "none",
            "CHINANEWS_REPORT_FILE": str(report),
        }
        cmd = [sys.executable, "-m", "scrapy", "crawl", "china_com"]
        cmd += ["-a", f"start_urls={base.start_url}", "-O", str(Path(tmp) / "out.jsonl")]
        for name, value in settings.items():
            cmd += ["-s", f"{name}={value}"]
        env = {"PATH": "/usr/bin:/bin", "CHINANEWS_DATA_DIR": str(Path(tmp) / "data")}
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, env=env, timeout=600)
        data = json.loads(report.read_text(encoding="utf-8"))
    return int(data["articles"]["emitted"]), float(data["elapsed_seconds"])


def postgres_database(admin_url: str) -> tuple[str, Any]:
    import psycopg

    admin = psycopg.connect(admin_url, autocommit=True)
    name = f"chinanews_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name, (admin, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--crawl-size", type=int, default=300)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)

    items = local_items(args.count)
    load_before = os.getloadavg()[0]
    size_kib = (
        sum(len(json.dumps(i, ensure_ascii=False).encode()) for i in items) / len(items) / 1024
    )
    rows: list[tuple[str, float, float | None]] = []  # store, insert s, re-crawl s
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        jsonl = measure_jsonl(items, tmp_path)
        rows.append(("JSONL (`JsonLinesItemExporter`, baseline)", jsonl, None))
        sqlite_url = f"sqlite:///{tmp_path}/bench.sqlite3"
        rows.append(
            (
                "SQLite (WAL, `synchronous=NORMAL`)",
                measure_database(sqlite_url, items, args.batch, tmp_path / "spool"),
                measure_database(sqlite_url, items, args.batch, tmp_path / "spool"),
            )
        )
        pg_url, (admin, name) = postgres_database(args.postgres)
        try:
            rows.append(
                (
                    "PostgreSQL 127.0.0.1 (psycopg 3, COPY + upsert)",
                    measure_database(pg_url, items, args.batch, tmp_path / "spool"),
                    measure_database(pg_url, items, args.batch, tmp_path / "spool"),
                )
            )
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    load_after = os.getloadavg()[0]
    crawled, crawl_seconds = measure_crawl(args.crawl_size)
    crawl_rate = crawled / crawl_seconds

    n = len(items)
    lines = [
        f"{n:,} articles from the local site (mean {size_kib:.1f} KiB as JSON), batches of "
        f"{args.batch}, through the writer thread; {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores; 1-minute load average "
        f"{load_before:.2f} before the stores' runs, {load_after:.2f} after.",
        "",
        "| store | new articles/s | × JSONL | re-crawl (upsert) articles/s | × crawl |",
        "|---|---:|---:|---:|---:|",
    ]
    for store, insert, update in rows:
        rate = n / insert
        again = f"{n / update:,.0f}" if update else "-"
        lines.append(
            f"| {store} | {rate:,.0f} | {jsonl / insert:.2f} | {again} | {rate / crawl_rate:,.0f} |"
        )
    lines += [
        "",
        f"The crawl that feeds them: `scrapy crawl` of the local site (size {args.crawl_size}, "
        f"no throttling, no database) emitted {crawled} articles in {crawl_seconds:.1f} s, "
        f"{crawl_rate:,.0f} articles/s; `× crawl` is how many times faster than that a store "
        "takes articles.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section(DOC, "storage", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
