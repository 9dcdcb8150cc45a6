"""End to end into a database: ``scrapy crawl`` of the local site with only ``DATABASE_URL``
changed, read back with each database's own client (``sqlite3``; ``psql``) and compared with
the JSONL output, after one run and after an incremental second one. And the fault: the
connection to PostgreSQL is cut mid-crawl (through a local TCP proxy the test stops); the
missing items wait in the spool and the next run loads them."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chinanews.items import ARTICLE_FIELDS
from chinanews.localsite import LocalSite, serve
from chinanews.storage.stores import JSON_FIELDS
from tests.conftest import Crawl, outside_base, run_crawl
from tests.proxies import CuttingProxy

pytestmark = pytest.mark.e2e

JSON_COLUMNS = sorted(JSON_FIELDS)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def sqlite_articles(path: Path) -> dict[str, dict[str, Any]]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    out = {}
    for row in db.execute("SELECT * FROM articles"):
        record = {name: row[name] for name in ARTICLE_FIELDS}
        for name in JSON_COLUMNS:
            record[name] = json.loads(record[name])
        out[record["article_id"]] = record
    db.close()
    return out


def psql(url: str, query: str) -> list[Any]:
    """Rows of ``query`` as JSON, through the psql client."""
    proc = subprocess.run(
        ["psql", url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", query],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [json.loads(line) for line in proc.stdout.splitlines() if line]


def postgres_articles(url: str) -> dict[str, dict[str, Any]]:
    columns = ", ".join(ARTICLE_FIELDS)
    rows = psql(url, f"SELECT row_to_json(a) FROM (SELECT {columns} FROM articles) a")
    return {r["article_id"]: r for r in rows}


def count(read: Any, table: str) -> int:
    return int(read(f"SELECT count(*) FROM {table}")[0][0])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def two_runs(
    request: pytest.FixtureRequest, sentinel: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    local = LocalSite(size=80, seed=21, outside_base=outside_base(sentinel))
    data = tmp_path_factory.mktemp("data")
    if request.param == "sqlite":
        path = data / "news.sqlite3"
        url = f"sqlite:///{path}"

        def articles() -> dict[str, dict[str, Any]]:
            return sqlite_articles(path)

        def query(sql: str) -> list[Any]:
            db = sqlite3.connect(path)
            rows = db.execute(sql).fetchall()
            db.close()
            return rows
    else:
        url = request.getfixturevalue("postgres_url_module")

        def articles() -> dict[str, dict[str, Any]]:
            return postgres_articles(url)

        def query(sql: str) -> list[Any]:
            return [[v] for v in psql(url, f"SELECT to_json(x) FROM ({sql}) AS t(x)")]

    runs: list[dict[str, Any]] = []
    with serve(local) as base:
        for n in (1, 2):
            if n == 2:
                local.advance(new=5, edit=2, minutes=61)  # the edits due for a re-check
            directory = tmp_path_factory.mktemp(f"run{n}")
            crawl = run_crawl(
                directory,
                "-a",
                f"start_urls={base.start_url}",
                settings={"DATABASE_URL": url, "CHINANEWS_DB_BATCH_SIZE": "16"},
                env={"CHINANEWS_DATA_DIR": str(data)},
            )
            runs.append(
                {
                    "crawl": crawl,
                    "duplicates": read_jsonl(directory / "out.duplicates.jsonl"),
                    "rejects": read_jsonl(directory / "out.rejects.jsonl"),
                    "articles": articles(),
                    "counts": {
                        t: count(query, t)
                        for t in ("duplicates", "rejects", "crawl_runs", "related_links")
                    },
                }
            )
    yield {"runs": runs, "query": query, "kind": request.param}


def test_the_database_holds_exactly_the_jsonl_articles(two_runs: dict[str, Any]) -> None:
    first = two_runs["runs"][0]
    crawl: Crawl = first["crawl"]
    assert crawl.returncode == 0, crawl.log[-3000:]
    assert crawl.items
    expected = {item["article_id"]: item for item in crawl.items}
    assert len(expected) == len(crawl.items)  # no duplicates in either
    assert set(first["articles"]) == set(expected)
    for article_id, item in expected.items():
        assert first["articles"][article_id] == item, article_id
    assert crawl.stat("chinanews/storage/articles") == len(crawl.items)
    assert crawl.stat("chinanews/storage/spooled") == 0


def test_after_an_incremental_run_the_database_is_updated_in_place(
    two_runs: dict[str, Any],
) -> None:
    first, second = two_runs["runs"]
    crawl: Crawl = second["crawl"]
    assert crawl.returncode == 0, crawl.log[-3000:]
    assert crawl.stat("chinanews/incremental/new") == 5
    changed_now = crawl.stat("chinanews/incremental/changed")
    assert changed_now >= 1
    expected = {item["article_id"]: item for item in first["crawl"].items}
    expected.update({item["article_id"]: item for item in crawl.items})
    assert set(second["articles"]) == set(expected)
    for article_id, item in expected.items():
        assert second["articles"][article_id] == item, article_id
    changed = [a for a in second["articles"].values() if a["version"] == 2]
    assert len(changed) == changed_now
    for article in changed:
        before = first["articles"][article["article_id"]]
        assert article["previous_content_hash"] == before["content_hash"]


def test_duplicates_rejects_edges_and_runs_are_stored(two_runs: dict[str, Any]) -> None:
    first, second = two_runs["runs"]
    assert first["duplicates"]
    assert first["counts"]["duplicates"] == len(first["duplicates"])
    assert second["counts"]["duplicates"] == len(first["duplicates"]) + len(second["duplicates"])
    assert first["counts"]["rejects"] == len(first["rejects"])
    related = sum(len(a["related"]) for a in second["articles"].values())
    assert second["counts"]["related_links"] == related > 0
    assert second["counts"]["crawl_runs"] == 2
    query = two_runs["query"]
    runs = query("SELECT finish_reason FROM crawl_runs")
    assert [r[0] for r in runs] == ["finished", "finished"]
    [[emitted]] = query(
        "SELECT report FROM crawl_runs ORDER BY run_id DESC LIMIT 1"
        if two_runs["kind"] == "sqlite"
        else "SELECT report->'articles'->'emitted' FROM crawl_runs ORDER BY run_id DESC LIMIT 1"
    )
    if two_runs["kind"] == "sqlite":
        emitted = json.loads(emitted)["articles"]["emitted"]
    assert emitted == len(second["crawl"].items)


# -- the fault: the connection is cut mid-crawl ----------------------------------------------


def test_a_cut_connection_spools_and_the_next_run_loads_it(
    postgres_url: str, sentinel: Any, tmp_path: Path
) -> None:
    local = LocalSite(size=60, seed=34, outside_base=outside_base(sentinel))
    data = tmp_path / "data"
    # ~8 KB per article: the cut comes a few batches into the crawl
    proxy = CuttingProxy(("127.0.0.1", 5432), cut_after=120_000)
    proxied = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    settings = {
        "DATABASE_URL": proxied,
        "CHINANEWS_DB_BATCH_SIZE": "4",
        "CHINANEWS_DB_RETRY_SECONDS": "1",
    }
    (tmp_path / "run1").mkdir()
    with serve(local) as base:
        first = run_crawl(
            tmp_path / "run1",
            "-a",
            f"start_urls={base.start_url}",
            settings=settings,
            env={"CHINANEWS_DATA_DIR": str(data)},
        )
        assert proxy.cut.is_set()
        assert first.returncode == 0, first.log[-3000:]
        emitted = {item["article_id"] for item in first.items}
        stored = set(postgres_articles(postgres_url))
        assert stored < emitted  # some articles did not reach the database ...
        spools = list((data / "spool").glob("postgresql-*.jsonl"))
        assert len(spools) == 1
        spooled = [json.loads(line) for line in spools[0].read_text().splitlines()]
        in_spool = {r["item"]["article_id"] for r in spooled if r["kind"] == "article"}
        assert emitted - stored <= in_spool  # ... and every one of them waits in the spool
        # the report counts what was spooled before it; the run's end (with the report) follows
        assert first.stat("chinanews/storage/spooled") == len(spooled) - 1
        assert "ERROR" in first.log and "spooled to" in first.log
        assert any(r["kind"] == "run" and r.get("finished_at") for r in spooled)

        # The database is back (on the same address): the next run loads the spool first.
        proxy = CuttingProxy(("127.0.0.1", 5432), cut_after=10**12, port=proxy.port)
        (tmp_path / "run2").mkdir()
        second = run_crawl(
            tmp_path / "run2",
            "-a",
            f"start_urls={base.start_url}",
            settings=settings,
            env={"CHINANEWS_DATA_DIR": str(data)},
        )
        proxy.stop()
    assert second.returncode == 0, second.log[-3000:]
    assert second.stat("chinanews/storage/unspooled") == len(spooled)
    assert not list((data / "spool").glob("*.jsonl"))
    articles = postgres_articles(postgres_url)
    assert set(articles) == emitted
    for item in first.items:
        assert articles[item["article_id"]] == item
    runs = psql(postgres_url, "SELECT to_json(finish_reason) FROM crawl_runs")
    assert runs == ["finished", "finished"]
