"""The parquet feed format: every file has the lake's schema, whatever its items hold."""

from __future__ import annotations

import io
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from chinanews.items import Article
from chinanews.lake.exporter import ParquetItemExporter
from chinanews.lake.feeds import UNKNOWN_PARTITION, job_id, publication_date, uri_params
from chinanews.lake.schema import ARTICLE_SCHEMA

FULL = Article(
    url="https://news.china.com/international/1000/20251124/49123456.html",
    article_id="49123456",
    channel="international",
    column_id="1000",
    title="美乌首轮会谈结束",
    published_at="2025-11-24T22:19:13+08:00",
    published_at_raw="2025-11-24 22:19:13",
    source="环球网",
    source_url="https://www.huanqiu.com/",
    author="张三",
    editor="0764",
    keywords=["美国", "乌克兰"],
    summary="摘要",
    body="第一段\n第二段",
    body_html="<p>第一段</p><p>第二段</p>",
    images=[{"url": "https://img1.utuku.china.com/a.jpg", "caption": None}],
    related=[
        {"url": "https://news.china.com/a/1.html", "title": "相关", "published_at": None},
        {
            "url": "https://news.china.com/a/2.html",
            "title": None,
            "published_at": "2025-11-23T08:00:00+08:00",
        },
    ],
    pages=2,
    template="C",
    provenance={"title": "C:h1.article_title", "published_at": "generic:time-near-title"},
    crawled_at="2026-11-28T04:00:00.123456+00:00",
    language="zh",
    content_hash="abc",
    version=2,
    previous_content_hash="def",
)
SPARSE = Article(url="https://news.china.com/domestic/945/20251124/49000001.html")


def write(path: Path, items: list[Any], **kwargs: Any) -> Path:
    with path.open("wb") as f:
        exporter = ParquetItemExporter(f, **kwargs)
        exporter.start_exporting()
        for item in items:
            exporter.export_item(item)
        exporter.finish_exporting()
    return path


def test_files_of_differently_shaped_items_have_identical_schemas(tmp_path: Path) -> None:
    full = write(tmp_path / "full.parquet", [FULL])
    sparse = write(tmp_path / "sparse.parquet", [SPARSE, {"url": "https://x.china.com/1.html"}])
    assert pq.read_schema(full).equals(ARTICLE_SCHEMA, check_metadata=False)
    assert pq.read_schema(sparse).equals(ARTICLE_SCHEMA, check_metadata=False)
    assert pq.read_schema(full).equals(pq.read_schema(sparse), check_metadata=True)


def test_values_round_trip(tmp_path: Path) -> None:
    (row,) = pq.read_table(write(tmp_path / "a.parquet", [FULL])).to_pylist(
        maps_as_pydicts="strict"
    )
    expected = asdict(FULL)
    for name in ARTICLE_SCHEMA.names:
        if name in ("published_at", "crawled_at", "related"):
            continue
        assert row[name] == expected[name], name
    assert row["published_at"] == datetime.fromisoformat(FULL.published_at or "")
    assert row["published_at"].utcoffset().total_seconds() == 8 * 3600
    assert row["crawled_at"] == datetime(2026, 11, 28, 4, 0, 0, 123456, tzinfo=timezone.utc)
    assert row["related"][0] == {**FULL.related[0]}
    assert row["related"][1]["published_at"] == datetime.fromisoformat("2025-11-23T08:00:00+08:00")


def test_empty_lists_stay_lists_and_none_fields_are_typed(tmp_path: Path) -> None:
    table = pq.read_table(
        write(tmp_path / "a.parquet", [SPARSE, {**asdict(SPARSE), "keywords": None}])
    )
    for row in table.to_pylist(maps_as_pydicts="strict"):
        assert row["keywords"] == []
        assert row["provenance"] == {}
        assert row["images"] == []
        assert row["related"] == []
        assert row["title"] is None and row["published_at"] is None
        assert row["pages"] == 1 and row["version"] == 1
    assert str(table.schema.field("title").type) == "string"
    assert str(table.schema.field("keywords").type) == "list<element: string not null>"


def test_items_as_dicts_dataclasses_and_scrapy_items_alike(tmp_path: Path) -> None:
    table = pq.read_table(write(tmp_path / "a.parquet", [FULL, asdict(FULL)]))
    first, second = table.to_pylist()
    assert first == second


def test_row_groups_follow_row_group_size(tmp_path: Path) -> None:
    items = [Article(url=f"https://news.china.com/a/{i}.html") for i in range(25)]
    path = write(tmp_path / "a.parquet", items, row_group_size=10)
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [10, 10, 5]


def test_fields_to_export_project_the_schema(tmp_path: Path) -> None:
    path = write(tmp_path / "a.parquet", [FULL], fields_to_export=["url", "published_at"])
    assert pq.read_schema(path).names == ["url", "published_at"]


def test_an_unknown_option_is_an_error() -> None:
    with pytest.raises(TypeError, match="compresion"):
        ParquetItemExporter(io.BytesIO(), compresion="snappy")


def test_a_non_empty_file_is_never_appended_to(tmp_path: Path) -> None:
    path = write(tmp_path / "a.parquet", [FULL])
    with path.open("ab") as f, pytest.raises(ValueError, match="append"):
        ParquetItemExporter(f).start_exporting()
    assert pq.read_table(path).num_rows == 1


def test_the_file_stays_open_for_the_storage() -> None:
    buffer = io.BytesIO()
    exporter = ParquetItemExporter(buffer)
    exporter.start_exporting()
    exporter.export_item(FULL)
    exporter.finish_exporting()
    assert not buffer.closed
    buffer.seek(0)
    assert pq.read_table(buffer).num_rows == 1


@pytest.mark.parametrize(
    ("published_at", "partition"),
    [
        ("2025-11-24T22:19:13+08:00", "2025-11-24"),
        ("2025-11-24T00:10:00+08:00", "2025-11-24"),  # 2025-11-23 in UTC: Beijing date wins
        ("2025-11-24T17:00:00+00:00", "2025-11-25"),
        ("2025-11-24 09:00:00", "2025-11-24"),
        (None, UNKNOWN_PARTITION),
        ("", UNKNOWN_PARTITION),
        ("昨天", UNKNOWN_PARTITION),
    ],
)
def test_publication_date(published_at: str | None, partition: str) -> None:
    assert publication_date({"url": "u", "published_at": published_at}) == partition
    assert publication_date(Article(url="u", published_at=published_at)) == partition


class _Spider:
    run_id = "20261128T040000Z"


def test_job_is_the_scrapyd_job_else_the_run_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCRAPY_JOB", raising=False)
    spider: Any = _Spider()
    assert job_id(spider) == "20261128T040000Z"
    monkeypatch.setenv("SCRAPY_JOB", "env-job")
    assert job_id(spider) == "env-job"
    spider._job = "5f1c0a9e/../x"
    assert job_id(spider) == "5f1c0a9e_.._x"
    # in a feed URI, ".." goes too (chinanews.outputs.path_safe)
    assert uri_params({"name": "china_com"}, spider)["job"] == "5f1c0a9e____x"


def test_duckdb_reads_provenance_as_a_map(tmp_path: Path) -> None:
    import duckdb

    write(tmp_path / "a.parquet", [FULL, SPARSE])
    rows = duckdb.sql(
        "SELECT url, provenance, provenance['title'], typeof(provenance) "
        f"FROM read_parquet('{tmp_path}/a.parquet') ORDER BY url"
    ).fetchall()
    assert rows == [
        (SPARSE.url, {}, None, "MAP(VARCHAR, VARCHAR)"),
        (FULL.url, FULL.provenance, "C:h1.article_title", "MAP(VARCHAR, VARCHAR)"),
    ]


def test_files_from_before_provenance_read_with_the_new_ones(tmp_path: Path) -> None:
    """A lake written by schema version 1 has no ``provenance`` column; ``union_by_name``
    reads it beside version 2 files as ``NULL``."""
    import duckdb

    old = pq.read_table(write(tmp_path / "old.parquet", [FULL])).drop_columns(["provenance"])
    pq.write_table(old, tmp_path / "old.parquet")
    write(tmp_path / "new.parquet", [FULL])
    rows = duckdb.sql(
        f"SELECT filename, provenance FROM read_parquet('{tmp_path}/*.parquet', "
        "union_by_name = true, filename = true) ORDER BY filename"
    ).fetchall()
    assert [(Path(f).name, p) for f, p in rows] == [
        ("new.parquet", FULL.provenance),
        ("old.parquet", None),
    ]
