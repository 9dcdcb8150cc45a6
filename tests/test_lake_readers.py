"""Readers of the Iceberg lake, as ``docs/lake.md`` shows them: DuckDB through pyiceberg,
Polars' ``scan_iceberg``, the documented SQL (the latest version of each article, the
articles of a day, the related-news graph) and the snapshot history of the runs, against a
table written by two real crawls of the local site (the second after new articles and
edits) and checked against what those crawls emitted (their JSONL)."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import polars as pl
import pytest
from pyiceberg.catalog import load_catalog

from chinanews.lake.feeds import publication_date
from chinanews.lake.times import parse_time
from chinanews.localsite import LocalSite, serve
from tests.conftest import ROOT, Crawl, canonical, outside_base, run_crawl

pytestmark = pytest.mark.e2e

#: The day of the documented "articles of a day" query, replaced by a day of the crawl.
DOC_DAY = "2025-11-24"


def doc_queries() -> dict[str, str]:
    """The SQL blocks of docs/lake.md labelled ``<!-- query: NAME -->``."""
    text = (ROOT / "docs" / "lake.md").read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- query: (\w+) -->\n```sql\n(.*?)```", text, flags=re.S))


@dataclass
class Lake:
    table: Any
    runs: list[Crawl]
    run_ids: list[str]  # the database's crawl_runs, in order

    @property
    def emitted(self) -> list[dict[str, Any]]:
        return [item for run in self.runs for item in run.items]

    @property
    def latest(self) -> dict[str, dict[str, Any]]:
        """url → the last version the crawls emitted."""
        latest: dict[str, dict[str, Any]] = {}
        for item in sorted(self.emitted, key=lambda i: i["version"]):
            latest[item["url"]] = item
        return latest


@pytest.fixture(scope="module")
def lake(sentinel: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    tmp = tmp_path_factory.mktemp("lake-readers")
    data = tmp / "data"
    site = LocalSite(size=40, seed=31, outside_base=outside_base(sentinel))
    env = {"CHINANEWS_DATA_DIR": str(data)}
    # a checkpoint every 10 articles: several commits per run
    settings = {"CHINANEWS_LAKE": str(tmp / "lake"), "CHINANEWS_CHECKPOINT_ITEMS": "10"}
    runs = []
    with serve(site) as base:
        for name in ("run1", "run2"):
            if runs:
                site.advance(new=3, edit=2, minutes=61)  # the edits due for a re-check
            (tmp / name).mkdir()
            runs.append(
                run_crawl(
                    tmp / name, "-a", f"start_urls={base.start_url}", env=env, settings=settings
                )
            )
    # as docs/lake.md opens it: the catalog's name is chinanews
    catalog = load_catalog(
        "chinanews", type="sql", uri=f"sqlite:///{data / 'lake-catalog.sqlite3'}"
    )
    with sqlite3.connect(data / "chinanews.sqlite3") as db:
        run_ids = [r for (r,) in db.execute("SELECT run_id FROM crawl_runs ORDER BY started_at")]
    yield Lake(catalog.load_table("chinanews.articles"), runs, run_ids)


@pytest.fixture
def con(lake: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    """The table in DuckDB as ``articles``, with the documented ``latest`` view."""
    con = lake.table.scan().to_duckdb(table_name="articles")
    con.execute(doc_queries()["latest"])
    yield con
    con.close()


def rows(relation: duckdb.DuckDBPyRelation) -> list[dict[str, Any]]:
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def test_the_crawls_succeed_and_an_edit_made_a_second_version(lake: Lake) -> None:
    for crawl in lake.runs:
        assert crawl.returncode == 0, crawl.log[-3000:]
    first, second = lake.runs
    assert len(first.items) > 20
    assert Counter(item["version"] for item in second.items) == {1: 3, 2: 2}
    assert len(lake.run_ids) == 2


def test_duckdb_reads_every_emitted_version_once_as_emitted(
    lake: Lake, con: duckdb.DuckDBPyConnection
) -> None:
    table = rows(con.sql("SELECT * FROM articles"))
    by_key = {(row["url"], row["version"]): row for row in table}
    assert len(by_key) == len(table)
    emitted = {(item["url"], item["version"]): item for item in lake.emitted}
    assert set(by_key) == set(emitted)
    for key, item in emitted.items():
        row = dict(by_key[key])
        assert row.pop("dt").isoformat() == publication_date(item), key
        assert canonical(row) == canonical(item), key


def test_latest_is_the_last_version_emitted(lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    latest = rows(con.sql("SELECT url, version, content_hash, body FROM latest"))
    assert len(latest) == len(lake.latest)
    for row in latest:
        item = lake.latest[row["url"]]
        assert (row["version"], row["content_hash"], row["body"]) == (
            item["version"],
            item["content_hash"],
            item["body"],
        )


def test_articles_of_a_day(lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    days = Counter(publication_date(item) for item in lake.latest.values())
    assert len(days) > 1
    for day in days:
        query = doc_queries()["day"].replace(DOC_DAY, day)
        got = [url for url, *_ in con.sql(query).fetchall()]
        expected = sorted(
            (item for item in lake.latest.values() if publication_date(item) == day),
            key=lambda i: (parse_time(i["published_at"]), i["url"]),
        )
        assert got == [item["url"] for item in expected], day


def test_the_related_news_graph(lake: Lake, con: duckdb.DuckDBPyConnection) -> None:
    edges = rows(con.sql(doc_queries()["related"]))
    expected = [
        (item["url"], related["url"])
        for item in lake.latest.values()
        for related in item["related"] or []
    ]
    assert expected
    assert Counter((e["from_url"], e["to_url"]) for e in edges) == Counter(expected)
    for edge in edges:
        assert edge["to_in_lake"] == (edge["to_url"] in lake.latest), edge


def test_a_scan_filtered_by_day_reads_only_that_partition(lake: Lake) -> None:
    day = publication_date(next(iter(lake.latest.values())))
    scan = lake.table.scan(row_filter=f"dt = '{day}'", selected_fields=("url", "version", "dt"))
    paths = [task.file.file_path for task in scan.plan_files()]
    assert paths and all(f"/dt={day}/" in path for path in paths)
    got = Counter(zip(*scan.to_arrow().to_pydict().values(), strict=True))
    expected = Counter(
        (item["url"], item["version"], date.fromisoformat(day))
        for item in lake.emitted
        if publication_date(item) == day
    )
    assert got == expected


def test_a_batch_reader_in_duckdb_counts_per_day(lake: Lake) -> None:
    reader = lake.table.scan(selected_fields=("dt",)).to_arrow_batch_reader()
    con = duckdb.connect()
    con.register("versions", reader)
    got = {
        d.isoformat(): n
        for d, n in con.sql("SELECT dt, count(*) FROM versions GROUP BY dt").fetchall()
    }
    assert got == Counter(publication_date(item) for item in lake.emitted)


def test_polars_scan_iceberg(lake: Lake) -> None:
    articles = pl.scan_iceberg(lake.table)
    latest = articles.filter(pl.col("version") == pl.col("version").max().over("url"))
    got = dict(latest.select("url", "version").collect().iter_rows())
    assert got == {url: item["version"] for url, item in lake.latest.items()}

    day = publication_date(next(iter(lake.latest.values())))
    of_day = latest.filter(pl.col("dt") == date.fromisoformat(day)).select("url").collect()
    assert set(of_day["url"]) == {
        url for url, item in lake.latest.items() if publication_date(item) == day
    }

    edges = (
        latest.select(pl.col("url").alias("from_url"), "related")
        .explode("related")
        .drop_nulls("related")
        .select("from_url", pl.col("related").struct.field("url").alias("to_url"))
        .collect()
    )
    assert Counter(edges.iter_rows()) == Counter(
        (item["url"], r["url"]) for item in lake.latest.values() for r in item["related"] or []
    )


def runs_of(table: Any) -> dict[str, list[Any]]:
    """run id → its snapshots, oldest first (as docs/lake.md lists them)."""
    runs: dict[str, list[Any]] = {}
    for snapshot in table.snapshots():
        runs.setdefault(snapshot.summary["chinanews.run-id"], []).append(snapshot)
    return runs


def test_the_snapshot_history_names_each_run(lake: Lake) -> None:
    runs = runs_of(lake.table)
    assert list(runs) == lake.run_ids
    first, second = (runs[run_id] for run_id in lake.run_ids)
    assert len(first) >= 2  # a commit per checkpoint
    for snapshots, crawl in ((first, lake.runs[0]), (second, lake.runs[1])):
        assert {s.summary.operation.value for s in snapshots} == {"append"}
        assert sum(int(s.summary["added-records"]) for s in snapshots) == len(crawl.items)


def test_time_travel_and_what_one_run_added(lake: Lake) -> None:
    runs = runs_of(lake.table)
    first, second = (runs[run_id] for run_id in lake.run_ids)
    after_first = lake.table.scan(
        snapshot_id=first[-1].snapshot_id, selected_fields=("url", "version")
    )
    got = Counter(zip(*after_first.to_arrow().to_pydict().values(), strict=True))
    assert got == Counter((item["url"], item["version"]) for item in lake.runs[0].items)
    added = pl.scan_iceberg(
        lake.table,
        from_snapshot_id_exclusive=second[0].parent_snapshot_id,
        to_snapshot_id_inclusive=second[-1].snapshot_id,
    )
    got = Counter(added.select("url", "version").collect().iter_rows())
    assert got == Counter((item["url"], item["version"]) for item in lake.runs[1].items)
