"""The run's lifecycle in pieces: lake files published by rename, what a dead run left in
the lake, the run records (``chinanews.lifecycle``, ``chinanews.lake.storage``). The crash
scenarios themselves are end to end: tests/test_e2e_crash.py."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chinanews.lake.storage import (
    FileFeedStorage,
    file_pattern,
    published_rows,
    remove_temporary,
)
from chinanews.lifecycle import RunRecord, RunRegistry, cut_torn_line


def test_a_parquet_feed_file_appears_only_when_complete(tmp_path: Path) -> None:
    final = tmp_path / "lake" / "articles" / "dt=2025-11-24" / "china_com-r1-00001.parquet"
    storage = FileFeedStorage(str(final), feed_options={"format": "parquet"})
    file = storage.open(None)
    file.write(b"PAR1 half of a file")
    assert not final.exists()  # a reader's glob over *.parquet sees nothing yet
    assert [p.name for p in final.parent.iterdir()] == [".china_com-r1-00001.parquet.tmp"]
    storage.store(file)
    assert final.read_bytes() == b"PAR1 half of a file"
    assert [p.name for p in final.parent.iterdir()] == [final.name]


@pytest.mark.parametrize(
    ("options", "atomic"),
    [
        ({"format": "jsonlines"}, False),  # the run files are written in place
        ({"format": "parquet", "atomic": False}, False),
        ({"format": "jsonlines", "atomic": True}, True),
    ],
)
def test_which_feeds_are_published_by_rename(
    tmp_path: Path, options: dict[str, object], atomic: bool
) -> None:
    final = tmp_path / "out.file"
    storage = FileFeedStorage(str(final), feed_options=options)
    file = storage.open(None)
    assert final.exists() is not atomic
    storage.store(file)
    assert final.exists()


def write_lake_file(path: Path, rows: list[tuple[str, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"url": [u for u, _ in rows], "version": [v for _, v in rows]})
    pq.write_table(table, path)


def test_what_a_runs_published_lake_files_hold(tmp_path: Path) -> None:
    template = str(tmp_path / "articles/dt=%(dt)s/%(name)s-%(job)s-%(batch_id)05d.parquet")
    pattern = file_pattern(template, {"name": "china_com", "job": "20251124T101500Z"})
    assert pattern == str(tmp_path / "articles/dt=*/china_com-20251124T101500Z-*.parquet")
    write_lake_file(
        tmp_path / "articles/dt=2025-11-24/china_com-20251124T101500Z-00001.parquet",
        [("u1", 1), ("u2", 1)],
    )
    # written again by a recovery, and by a JOBDIR run's second attempt
    write_lake_file(
        tmp_path / "articles/dt=2025-11-23/china_com-20251124T101500Z-rX-00001.parquet",
        [("u3", 2)],
    )
    write_lake_file(
        tmp_path / "articles/dt=2025-11-23/china_com-20251124T101500Z-a2-00001.parquet",
        [("u4", 1)],
    )
    # another run's file, and a file the dead run never finished
    write_lake_file(
        tmp_path / "articles/dt=2025-11-24/china_com-20251125T000000Z-00001.parquet",
        [("u9", 1)],
    )
    temporary = tmp_path / "articles/dt=2025-11-24/.china_com-20251124T101500Z-00002.parquet.tmp"
    temporary.write_bytes(b"PAR1")
    assert published_rows(pattern, settings={}) == {("u1", 1), ("u2", 1), ("u3", 2), ("u4", 1)}
    assert remove_temporary(pattern) == [str(temporary)]
    assert not temporary.exists()
    assert published_rows("ftp://host/lake/*.parquet", settings={}) is None  # cannot list


def test_the_registry_keeps_each_run_and_sets_aside_a_torn_record(tmp_path: Path) -> None:
    registry = RunRegistry(tmp_path / "runs")
    first = RunRecord("20251124T101500Z", "china_com", pid=1, started_at="2025-11-24T10:15:00")
    second = RunRecord("20251124T104500Z", "china_com", pid=2, started_at="2025-11-24T10:45:00")
    registry.save(second)
    registry.save(first)
    assert [r.run_id for r in registry.running()] == [first.run_id, second.run_id]  # oldest first
    second.state = "finished"
    registry.save(second)
    assert [r.run_id for r in registry.running()] == [first.run_id]
    torn = tmp_path / "runs" / "20251124T110000Z.json"
    torn.write_text('{"run_id": "20251124T110000Z", "spi', encoding="utf-8")
    assert [r.run_id for r in registry.running()] == [first.run_id]
    assert torn.with_suffix(".json.unreadable").exists()
    assert json.loads((tmp_path / "runs" / f"{first.run_id}.json").read_text())["pid"] == 1


def test_cut_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": ')
    assert cut_torn_line(path) == len(b'{"c": ')
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert cut_torn_line(path) == 0
    path.write_bytes(b'{"only": ')
    assert cut_torn_line(path) == 9 and path.read_bytes() == b""
