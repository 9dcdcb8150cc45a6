"""End to end: ``scrapy crawl`` into the Iceberg lake (``chinanews.lake.iceberg``), read back
through pyiceberg (and DuckDB over its Arrow scan):

* on an SQLite catalog (the default), a PostgreSQL catalog, and an S3 warehouse (moto):
  three scheduled runs (a first, an unchanged re-run that adds no row, one after new and
  edited articles that adds them as version 1 and version + 1), each run one snapshot with
  its run id;
* the crash sequence of the crash-consistent runs (``kill -9``, ``kill -9``, SIGTERM twice,
  then a run that finishes): every story exactly once per version, no row visible from a
  killed run's uncommitted batch, the table readable after each kill;
* an object store that goes away mid-crawl: the batches wait in the spool, the next run
  commits them, nothing lost, nothing twice;
* two writers committing into one table at once both succeed;
* a table of an older schema gains the new columns without a rewrite;
* a catalog that cannot be reached stops the crawl at start (exit code 2, one line).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from chinanews.lake.iceberg import (
    LakeConfig,
    arrow_rows,
    commit_rows,
    open_catalog,
    open_table,
    table_schema,
)
from chinanews.localsite import LocalSite, serve
from tests.conftest import ROOT, SCRAPY, outside_base, run_crawl
from tests.test_e2e_crash import command, finish, interrupt
from tests.test_e2e_lake import SECRET, Lake, moto_endpoint  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET}


def lake_config(settings: dict[str, str], data: Path) -> LakeConfig:
    values = Settings({**settings, **CREDENTIALS, "CHINANEWS_DATA_DIR": str(data)})
    return LakeConfig.from_settings(values)


def read_table(config: LakeConfig) -> Any:
    """The table's rows (a pyarrow Table) and its snapshots, as a reader gets them."""
    table = open_catalog(config).load_table(config.table)
    return table.scan().to_arrow(), list(table.snapshots())


def run_ids(data: Path) -> list[str]:
    return sorted(p.stem for p in (data / "runs" / "china_com").glob("*.json"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "s3"])
def scheduled(
    request: pytest.FixtureRequest, sentinel: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp(f"iceberg-{request.param}")
    data = tmp / "data"
    settings = {"CHINANEWS_LAKE": str(tmp / "lake"), "DATABASE_URL": "none"}
    env = {"CHINANEWS_DATA_DIR": str(data)}
    if request.param == "postgresql":
        settings["CHINANEWS_LAKE_CATALOG"] = request.getfixturevalue("postgres_url_module")
    if request.param == "s3":
        lake = Lake("s3", tmp, request.getfixturevalue("moto_endpoint"))
        settings.update(
            CHINANEWS_LAKE=lake.uri, AWS_ENDPOINT_URL=lake.endpoint, AWS_REGION_NAME="us-east-1"
        )
        env.update(CREDENTIALS)
    site = LocalSite(size=60, seed=17, outside_base=outside_base(sentinel))
    crawls, tables = [], []
    config = lake_config(settings, data)
    with serve(site) as base:
        args = ("-a", f"start_urls={base.start_url}", "-a", "render=never")
        for name, change in (("first", None), ("unchanged", (0, 0, 5)), ("edited", (3, 2, 61))):
            if change:
                site.advance(new=change[0], edit=change[1], minutes=change[2])
            (tmp / name).mkdir()
            crawls.append(run_crawl(tmp / name, *args, env=env, settings=settings))
            tables.append(read_table(config))
        truth = site.expected(base, rendered=False)
    yield {"crawls": crawls, "tables": tables, "truth": truth, "runs": run_ids(data)}


def test_every_run_succeeds(scheduled: dict[str, Any]) -> None:
    for crawl in scheduled["crawls"]:
        assert crawl.returncode == 0, crawl.log[-3000:]
        assert "Traceback" not in crawl.log


def test_the_table_holds_each_emitted_version_once(scheduled: dict[str, Any]) -> None:
    rows, _ = scheduled["tables"][-1]
    keys = Counter(
        zip(rows.column("url").to_pylist(), rows.column("version").to_pylist(), strict=False)
    )
    assert [k for k, n in keys.items() if n > 1] == []
    versions = {(i["url"], i["version"]) for c in scheduled["crawls"] for i in c.items}
    assert set(keys) == versions


def test_an_unchanged_rerun_adds_no_row_and_no_snapshot(scheduled: dict[str, Any]) -> None:
    (first_rows, first_snaps), (again_rows, again_snaps), _ = scheduled["tables"]
    assert scheduled["crawls"][1].items == []
    assert again_rows.num_rows == first_rows.num_rows
    assert len(again_snaps) == len(first_snaps)


def test_edited_articles_add_a_row_with_the_next_version(scheduled: dict[str, Any]) -> None:
    rows, _ = scheduled["tables"][-1]
    edited = [i for i in scheduled["crawls"][2].items if i["version"] == 2]
    assert len(edited) == 2
    latest: dict[str, tuple[int, str]] = {}
    for url, version, body in zip(
        rows.column("url").to_pylist(),
        rows.column("version").to_pylist(),
        rows.column("body").to_pylist(),
        strict=True,
    ):
        if url not in latest or version > latest[url][0]:
            latest[url] = (version, body)
    truth = scheduled["truth"]
    assert {u: b for u, (_, b) in latest.items()} == {u: truth[u]["body"] for u in latest}


def test_each_run_is_a_snapshot_with_its_run_id(scheduled: dict[str, Any]) -> None:
    _, snapshots = scheduled["tables"][-1]
    ids = {s.summary["chinanews.run-id"] for s in snapshots}
    assert ids <= set(scheduled["runs"])
    assert len(ids) == 2  # the unchanged run committed nothing


def test_duckdb_reads_the_table(scheduled: dict[str, Any]) -> None:
    import duckdb

    rows, _ = scheduled["tables"][-1]
    with duckdb.connect() as db:
        db.register("articles", rows)
        (count,) = db.execute("SELECT count(DISTINCT url) FROM articles").fetchone() or (0,)
    assert count == len({i["url"] for c in scheduled["crawls"] for i in c.items})


# -- killed runs ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def interrupted(sentinel: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("iceberg-crash")
    site = LocalSite(size=240, seed=31, outside_base=outside_base(sentinel))
    env = {**os.environ, "CHINANEWS_DATA_DIR": str(tmp / "data")}
    settings = {
        "DATABASE_URL": "none",
        "CHINANEWS_LAKE": str(tmp / "lake"),
        "CHINANEWS_CHECKPOINT_ITEMS": "15",
        "CHINANEWS_CHECKPOINT_SECONDS": "2",
    }
    config = lake_config(settings, tmp / "data")
    counts = []
    with serve(site) as base:
        cmd = command(base.start_url, settings)
        for how, after in (("kill", 40), ("kill", 30), ("term2", 30)):
            interrupt(cmd, tmp, how, after, env)
            rows, _ = read_table(config)  # a reader right after the kill
            counts.append(rows.num_rows)
        last = finish(cmd, env)
        expected = site.expected(base, rendered=False)
    rows, _snapshots = read_table(config)
    yield {"last": last, "rows": rows, "counts": counts, "expected": expected}


def test_a_killed_sequence_leaves_every_story_once(interrupted: dict[str, Any]) -> None:
    assert interrupted["last"].returncode == 0, interrupted["last"].stderr[-3000:]
    rows = interrupted["rows"]
    urls = rows.column("url").to_pylist()
    keys = Counter(zip(urls, rows.column("version").to_pylist(), strict=False))
    assert [k for k, n in keys.items() if n > 1] == []
    expected = interrupted["expected"]
    stories = Counter(expected[u]["story_id"] for u in urls)
    assert [s for s, n in stories.items() if n > 1] == []
    assert set(stories) == {a["story_id"] for a in expected.values()}
    # readable after each kill, and growing
    assert interrupted["counts"] == sorted(interrupted["counts"])
    assert interrupted["counts"][0] > 0


# -- the object store away ---------------------------------------------------------------


def crawl_while_the_lake_goes_away(
    cmd: list[str], env: dict[str, str], config: LakeConfig, log: Path, go_away: Any
) -> str:
    """Run the crawl ``cmd``, call ``go_away()`` once the table has its first commit, wait
    for the crawl to end (it must succeed); its log."""
    import subprocess
    import time

    from pyiceberg.exceptions import NoSuchTableError

    with log.open("w+", encoding="utf-8") as out:
        crawl = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 120
        while True:
            assert crawl.poll() is None, "the crawl ended before the lake went away"
            assert time.monotonic() < deadline, "no commit within 120 s"
            try:
                if read_table(config)[1]:
                    break
            except NoSuchTableError:
                pass  # not created yet: wait for it
            time.sleep(0.2)
        go_away()
        assert crawl.wait(timeout=300) == 0
        out.seek(0)
        return out.read()


def emitted(data: Path) -> list[dict[str, Any]]:
    """Every article of the runs' JSONL files."""
    return [
        json.loads(line)
        for path in (data / "jsonl" / "china_com").glob("china_com-*.jsonl")
        if not path.name.endswith((".duplicates.jsonl", ".rejects.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def test_a_catalog_that_goes_away_mid_crawl_spools_and_the_next_run_commits(
    sentinel: Any, tmp_path: Path, postgres_url: str
) -> None:
    """The PostgreSQL catalog is reached through a proxy that is cut once the first commit
    is in: the later batches wait in the spool (the crawl does not fail), and the next run,
    with the catalog back, commits them: nothing lost, nothing twice."""
    from urllib.parse import urlsplit

    from tests.proxies import CuttingProxy

    direct = urlsplit(postgres_url)
    proxy = CuttingProxy((direct.hostname or "127.0.0.1", direct.port or 5432), 10**12)
    via_proxy = direct._replace(netloc=f"{direct.username}@127.0.0.1:{proxy.port}").geturl()
    site = LocalSite(size=120, seed=23, outside_base=outside_base(sentinel))
    data = tmp_path / "data"
    settings = {
        "CHINANEWS_LAKE": str(tmp_path / "lake"),
        "DATABASE_URL": "none",
        "CHINANEWS_LAKE_RETRY_SECONDS": "1",
        "CHINANEWS_CHECKPOINT_ITEMS": "5",
    }
    env = {**os.environ, "CHINANEWS_DATA_DIR": str(data)}
    config = lake_config({**settings, "CHINANEWS_LAKE_CATALOG": postgres_url}, data)
    with serve(site) as base:
        cmd = command(base.start_url, {**settings, "CHINANEWS_LAKE_CATALOG": via_proxy})
        away_log = crawl_while_the_lake_goes_away(
            cmd, env, config, tmp_path / "away.log", proxy.stop
        )
        site.advance(minutes=5)
        back = finish(
            command(base.start_url, {**settings, "CHINANEWS_LAKE_CATALOG": postgres_url}), env
        )
    assert "spooled to" in away_log, "\n".join(
        line for line in away_log.splitlines() if "ERROR" in line or "WARNING" in line
    )
    assert back.returncode == 0, back.stderr[-3000:]
    items = emitted(data)
    rows, _ = read_table(config)
    keys = Counter(
        zip(rows.column("url").to_pylist(), rows.column("version").to_pylist(), strict=False)
    )
    assert set(keys) == {(i["url"], i["version"]) for i in items}
    assert max(keys.values()) == 1
    assert not list((data / "spool").glob("lake-*.jsonl"))


# -- writers, schemas, catalogs ------------------------------------------------------------


def items(n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "url": f"https://news.china.com/domestic/945/20251124/{prefix}{i:05d}.html",
            "article_id": f"{prefix}{i:05d}",
            "title": f"标题 {i}",
            "published_at": f"2025-11-2{i % 3 + 2}T10:00:00+08:00",
            "body": f"正文 {prefix} {i}",
            "version": 1,
        }
        for i in range(n)
    ]


def test_two_writers_committing_at_once_both_succeed(tmp_path: Path) -> None:
    config = lake_config({"CHINANEWS_LAKE": str(tmp_path / "lake")}, tmp_path / "data")
    open_table(open_catalog(config), config)
    start = threading.Barrier(2)

    def writer(prefix: str) -> int:
        catalog = open_catalog(config)  # each writer its own catalog client, as two workers
        start.wait()
        written = 0
        for k in range(6):
            batch = items(5, f"{prefix}{k}")
            written += commit_rows(catalog, config, arrow_rows(batch), f"run-{prefix}")[0]
        return written

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(writer, ["1", "2"]))
    assert results == [30, 30]
    rows, snapshots = read_table(config)
    assert rows.num_rows == 60
    assert len(set(rows.column("url").to_pylist())) == 60
    assert len(snapshots) == 12


def test_writing_a_version_twice_adds_no_row(tmp_path: Path) -> None:
    config = lake_config({"CHINANEWS_LAKE": str(tmp_path / "lake")}, tmp_path / "data")
    catalog = open_catalog(config)
    batch = items(8, "7")
    assert commit_rows(catalog, config, arrow_rows(batch), "run-a") == (8, 0)
    again = [*batch[:3], {**batch[0], "version": 2, "body": "改过"}]
    assert commit_rows(catalog, config, arrow_rows(again), "run-b") == (1, 3)
    rows, _ = read_table(config)
    assert rows.num_rows == 9


def test_a_table_of_an_older_schema_gains_the_new_columns(tmp_path: Path) -> None:
    import pyarrow as pa

    config = lake_config({"CHINANEWS_LAKE": str(tmp_path / "lake")}, tmp_path / "data")
    catalog = open_catalog(config)
    full = table_schema()
    older = pa.schema([f for f in full if f.name not in ("provenance", "language")])
    table = open_table(catalog, config, older)
    old_rows = arrow_rows(items(4, "3")).select(older.names)
    table.append(old_rows)
    before = [f.name for f in catalog.load_table(config.table).schema().fields]
    assert "provenance" not in before
    written, _ = commit_rows(catalog, config, arrow_rows(items(4, "4")), "run-new")
    assert written == 4
    evolved = catalog.load_table(config.table)
    assert {"provenance", "language"} <= {f.name for f in evolved.schema().fields}
    rows = evolved.scan().to_arrow()
    assert rows.num_rows == 8
    languages = rows.column("language").to_pylist()
    assert languages.count(None) >= 4  # the old rows read the new column as null


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        ("postgresql://crawler:hunter22@127.0.0.1:1/lake", "CHINANEWS_LAKE_CATALOG: cannot reach"),
        ("rest+http://127.0.0.1:1/catalog", "CHINANEWS_LAKE_CATALOG: cannot reach"),
        ("thrift://metastore:9083", "is not a catalog URL"),
    ],
)
def test_a_catalog_that_cannot_be_used_stops_the_crawl_at_start(
    tmp_path: Path, catalog: str, message: str
) -> None:
    import subprocess

    result = subprocess.run(
        [*SCRAPY, "crawl", "china_com", "-s", f"CHINANEWS_LAKE={tmp_path / 'lake'}",
         "-s", f"CHINANEWS_LAKE_CATALOG={catalog}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "CHINANEWS_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "hunter22" not in result.stderr


def test_a_rest_catalog_is_reached_at_its_uri(tmp_path: Path) -> None:
    """A stand-in REST catalog (the two endpoints a client asks first): the start check
    reaches it through the configured URI."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked: list[str] = []

    class Catalog(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = (
                {"defaults": {}, "overrides": {}} if "/config" in self.path else {"namespaces": []}
            )
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads ``asked``

    server = ThreadingHTTPServer(("127.0.0.1", 0), Catalog)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        from chinanews.lake.iceberg import check_settings

        port = server.server_address[1]
        check_settings(
            Settings(
                {
                    "CHINANEWS_LAKE": str(tmp_path / "lake"),
                    "CHINANEWS_LAKE_CATALOG": f"rest+http://127.0.0.1:{port}/cat",
                }
            )
        )
    finally:
        server.shutdown()
        server.server_close()
    assert any(p.startswith("/cat/v1/config") for p in asked), asked
    assert any("/v1/namespaces" in p for p in asked), asked


def test_catalog_properties_reach_the_catalog(tmp_path: Path) -> None:
    """``CHINANEWS_LAKE_CATALOG_PROPERTIES`` (a REST catalog's credential, a warehouse name)
    reach the catalog's properties, and the secret values are among those the log hides."""
    from chinanews.logredact import secrets_of

    settings = Settings(
        {
            "CHINANEWS_LAKE": str(tmp_path / "lake"),
            "CHINANEWS_LAKE_CATALOG_PROPERTIES": '{"credential": "client:s3cr3t-value", "warehouse": "news"}',
        }
    )
    config = LakeConfig.from_settings(settings)
    assert config.catalog_properties == {"credential": "client:s3cr3t-value", "warehouse": "news"}
    catalog = open_catalog(config)
    assert catalog.properties["credential"] == "client:s3cr3t-value"
    assert catalog.properties["warehouse"] == "news"
    assert "client:s3cr3t-value" in secrets_of(settings, environ={})


def test_a_utc_day_table_is_partitioned_by_day_of_published_at(tmp_path: Path) -> None:
    settings = {"CHINANEWS_LAKE": str(tmp_path / "lake"), "CHINANEWS_LAKE_PARTITION": "utc_day"}
    config = lake_config(settings, tmp_path / "data")
    catalog = open_catalog(config)
    batch = items(6, "5")
    batch[0]["published_at"] = "2025-11-24T00:10:00+08:00"  # 2025-11-23 in UTC
    assert commit_rows(catalog, config, arrow_rows(batch), "run-utc") == (6, 0)
    table = catalog.load_table(config.table)
    assert [f.name for f in table.spec().fields] == ["published_day"]
    partitions = table.inspect.partitions().to_pylist()
    assert sum(p["record_count"] for p in partitions) == 6


def test_an_object_store_that_goes_away_mid_crawl_spools_and_the_next_run_commits(
    sentinel: Any, tmp_path: Path
) -> None:
    """The S3 warehouse (a moto server) stops once the first commit is in: the later
    batches wait in the spool, the crawl does not fail, and the next run, with the store
    back on the same endpoint, commits them: nothing lost, nothing twice."""

    from moto.server import ThreadedMotoServer

    store = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    store.start()
    host, port = store.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    lake = Lake("s3", tmp_path, endpoint)
    data = tmp_path / "data"
    settings = {
        "CHINANEWS_LAKE": lake.uri,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION_NAME": "us-east-1",
        "DATABASE_URL": "none",
        "CHINANEWS_LAKE_RETRY_SECONDS": "1",
        "CHINANEWS_CHECKPOINT_ITEMS": "5",
    }
    env = {**os.environ, "CHINANEWS_DATA_DIR": str(data), **CREDENTIALS}
    config = lake_config(settings, data)
    site = LocalSite(size=120, seed=29, outside_base=outside_base(sentinel))
    try:
        with serve(site) as base:
            away_log = crawl_while_the_lake_goes_away(
                command(base.start_url, settings), env, config, tmp_path / "away.log", store.stop
            )
            store = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            store.start()  # moto keeps its buckets in the process: the same store is back
            site.advance(minutes=5)
            back = finish(command(base.start_url, settings), env)
        assert "spooled to" in away_log, away_log[-3000:]
        assert back.returncode == 0, back.stderr[-3000:]
        items = emitted(data)
        rows, _ = read_table(config)
    finally:
        store.stop()
    keys = Counter(
        zip(rows.column("url").to_pylist(), rows.column("version").to_pylist(), strict=True)
    )
    assert set(keys) == {(i["url"], i["version"]) for i in items}
    assert max(keys.values()) == 1
    assert not list((data / "spool").glob("lake-*.jsonl"))


def test_writers_starting_at_once_on_a_new_catalog_all_open_the_table(
    postgres_url: str, tmp_path: Path
) -> None:
    """Workers of a distributed crawl start together on a new PostgreSQL catalog: each
    creates the catalog's tables, the namespace and the table, and all but one lose the race
    (an IntegrityError, a failed commit). Each must find what the winner made; one of three
    workers used to stop at start with exit code 2."""
    config = lake_config(
        {"CHINANEWS_LAKE": str(tmp_path / "lake"), "CHINANEWS_LAKE_CATALOG": postgres_url},
        tmp_path / "data",
    )
    start = threading.Barrier(6)

    def writer(_: int) -> str:
        start.wait()
        return str(open_table(open_catalog(config), config).name())

    with ThreadPoolExecutor(6) as pool:
        names = list(pool.map(writer, range(6)))
    assert len(set(names)) == 1 and len(names) == 6
    rows, snapshots = read_table(config)
    assert rows.num_rows == 0 and snapshots == []
