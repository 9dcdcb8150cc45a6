"""Partitioned feeds through Scrapy's own machinery: ``scrapy runspider`` with a spider of
fixed items and a hand-written ``FEEDS`` entry, as a user would configure it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq

from tests.conftest import ROOT, SCRAPY

SPIDER = ROOT / "tests" / "lake_spider.py"
DATES = "2025-11-24,2025-11-23,,2025-11-24,2025-11-22,2025-11-24,2025-11-23,2025-11-24"


def runspider(tmp_path: Path, feeds: dict[str, dict[str, object]], *args: str) -> str:
    cmd = [*SCRAPY, "runspider", str(SPIDER), "-a", f"dates={DATES}", *args]
    cmd += ["-s", f"FEEDS={json.dumps(feeds)}", "-s", "ITEM_PIPELINES={}"]
    cmd += ["-s", "CHINANEWS_MIN_ARTICLES=0", "-s", f"CHINANEWS_DATA_DIR={tmp_path / 'data'}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def files(root: Path) -> dict[str, list[str]]:
    return {
        str(p.relative_to(root)): [r["article_id"] for r in pq.read_table(p).to_pylist()]
        for p in sorted(root.rglob("*.parquet"))
    }


def test_one_slot_per_partition_with_its_own_batches(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    runspider(
        tmp_path,
        {
            f"{lake}/dt=%(dt)s/%(name)s-%(job)s-%(batch_id)d.parquet": {
                "format": "parquet",
                "batch_item_count": 2,
            },
            str(tmp_path / "all.jsonl"): {"format": "jsonlines"},
        },
    )
    assert files(lake) == {
        "dt=2025-11-22/lake_items-20261128T040000Z-1.parquet": ["4"],
        "dt=2025-11-23/lake_items-20261128T040000Z-1.parquet": ["1", "6"],
        "dt=2025-11-24/lake_items-20261128T040000Z-1.parquet": ["0", "3"],
        "dt=2025-11-24/lake_items-20261128T040000Z-2.parquet": ["5", "7"],
        "dt=unknown/lake_items-20261128T040000Z-1.parquet": ["2"],
    }
    # a feed without %(dt)s is Scrapy's ordinary feed: every item, one file
    assert len((tmp_path / "all.jsonl").read_text().splitlines()) == 8


def test_the_least_recently_used_partition_is_closed_past_the_limit(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    runspider(
        tmp_path,
        {
            f"{lake}/dt=%(dt)s/part-%(batch_id)d.parquet": {
                "format": "parquet",
                "max_open_partitions": 2,
            }
        },
    )
    # 24 (open), 23 (open), unknown closes 24, 24 closes 23, 22 closes unknown,
    # 24 stays open, 23 closes 22, 24 stays open
    assert files(lake) == {
        "dt=2025-11-22/part-1.parquet": ["4"],
        "dt=2025-11-23/part-1.parquet": ["1"],
        "dt=2025-11-23/part-2.parquet": ["6"],
        "dt=2025-11-24/part-1.parquet": ["0"],
        "dt=2025-11-24/part-2.parquet": ["3", "5", "7"],
        "dt=unknown/part-1.parquet": ["2"],
    }


def test_the_scrapyd_job_names_the_files(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    runspider(
        tmp_path,
        {f"{lake}/dt=%(dt)s/%(name)s-%(job)s.parquet": {"format": "parquet"}},
        "-a",
        "_job=6487ec79947edab326d6db28a2d86511e8247444",
    )
    names = {Path(name).name for name in files(lake)}
    assert names == {"lake_items-6487ec79947edab326d6db28a2d86511e8247444.parquet"}
