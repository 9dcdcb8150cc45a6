"""End to end: ``scrapy crawl`` into the data lake, on local disk and on S3 (a moto server on
127.0.0.1), read back with DuckDB and compared with the JSONL output of the same run, after
a first crawl and after an incremental second one."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from chinanews.lake.feeds import publication_date
from chinanews.lake.schema import ARTICLE_SCHEMA
from chinanews.localsite import LocalSite, serve
from tests.conftest import Crawl, canonical, outside_base, run_crawl

pytestmark = pytest.mark.e2e

BATCH = 7
SECRET = f"secret-{uuid.uuid4().hex}"
FILE_NAME = re.compile(r"^china_com-(?P<job>\d{8}T\d{6}Z)-(?P<batch>\d{5})\.parquet$")


def read_lake(root: Path) -> list[dict[str, Any]]:
    """Every row of the lake under ``root`` with ``dt`` and the file it came from, as
    DuckDB reads it."""
    files = list(root.glob("articles/*/*.parquet"))
    if not files:
        return []
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    rel = con.sql(
        "SELECT * FROM read_parquet(?, hive_partitioning = true, hive_types = {'dt': VARCHAR},"
        " filename = true)",
        params=[f"{root}/articles/*/*.parquet"],
    )
    columns = rel.columns
    return [dict(zip(columns, row, strict=True)) for row in rel.fetchall()]


class Lake:
    """Where a crawl writes the lake, and how to get its files back as a local tree."""

    def __init__(self, kind: str, tmp: Path, endpoint: str = "") -> None:
        self.kind, self.tmp, self.endpoint = kind, tmp, endpoint
        self.bucket = f"lake-{uuid.uuid4().hex[:12]}"
        self.uri = str(tmp / "lake") if kind == "local" else f"s3://{self.bucket}/chinanews"
        self.client: Any = None
        if kind == "s3":
            import boto3

            self.client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key=SECRET,
                region_name="us-east-1",
            )
            self.client.create_bucket(Bucket=self.bucket)

    def settings(self) -> dict[str, str]:
        settings = {
            "CHINANEWS_LAKE": self.uri,
            "CHINANEWS_LAKE_FORMAT": "parquet",
            "CHINANEWS_LAKE_BATCH_ITEM_COUNT": str(BATCH),
        }
        if self.kind == "s3":
            settings.update(AWS_ENDPOINT_URL=self.endpoint, AWS_REGION_NAME="us-east-1")
        return settings

    def env(self) -> dict[str, str]:
        # Credentials from the environment, as boto reads them: never in -s (Scrapy logs those).
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET}

    def snapshot(self, name: str) -> Path:
        """The lake as a local tree (S3: every object downloaded to ``<tmp>/<name>``)."""
        if self.kind == "local":
            return Path(self.uri)
        root = self.tmp / name
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix="chinanews/"
        )
        for page in pages:
            for obj in page.get("Contents", []):
                target = root / obj["Key"].removeprefix("chinanews/")
                target.parent.mkdir(parents=True, exist_ok=True)
                self.client.download_file(self.bucket, obj["Key"], str(target))
        return root


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.glob("articles/*/*.parquet")
    }


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module", params=["local", "s3"])
def lake_runs(
    request: pytest.FixtureRequest, sentinel: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp(f"lake-{request.param}")
    endpoint = request.getfixturevalue("moto_endpoint") if request.param == "s3" else ""
    lake = Lake(request.param, tmp, endpoint)
    site = LocalSite(size=80, seed=21, outside_base=outside_base(sentinel))
    env = {"CHINANEWS_DATA_DIR": str(tmp / "data"), **lake.env()}

    def crawl(name: str) -> Crawl:
        directory = tmp / name
        directory.mkdir()
        return run_crawl(
            directory, "-a", f"start_urls={base.start_url}", env=env, settings=lake.settings()
        )

    with serve(site) as base:
        before = site.expected(base)
        first = crawl("run1")
        after_first = lake.snapshot("snap1")
        first_files = digests(after_first)
        first_rows = read_lake(after_first)
        site.advance(new=5, edit=2, minutes=61)  # the edits due for a re-check
        after = site.expected(base)
        second = crawl("run2")
        after_second = lake.snapshot("snap2")
    yield {
        "kind": request.param,
        "before": before,
        "after": after,
        "first": first,
        "second": second,
        "first_files": first_files,
        "first_rows": first_rows,
        "second_files": digests(after_second),
        "second_rows": read_lake(after_second),
    }


def job_of(row: dict[str, Any]) -> str:
    match = FILE_NAME.match(Path(row["filename"]).name)
    assert match, row["filename"]
    return match["job"]


def assert_same_as_jsonl(rows: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
    """Same articles, same fields and values, no duplicates."""
    assert items
    by_url = Counter(row["url"] for row in rows)
    assert [u for u, n in by_url.items() if n > 1] == []
    assert set(by_url) == {item["url"] for item in items}
    lake = {row["url"]: row for row in rows}
    for item in items:
        row = dict(lake[item["url"]])
        assert row.pop("dt") == publication_date(item)
        row.pop("filename")
        assert set(row) == set(item), item["url"]
        assert canonical(row) == canonical(item), item["url"]


def test_the_crawls_succeed(lake_runs: dict[str, Any]) -> None:
    for run in ("first", "second"):
        crawl: Crawl = lake_runs[run]
        assert crawl.returncode == 0, crawl.log[-3000:]
        assert "Error storing" not in crawl.log
    # the crawl report is written before the last feed slots are stored: count the log lines
    stored = re.findall(r"Stored parquet feed \(\d+ items\) in: (\S+)", lake_runs["first"].log)
    assert len(stored) == len(set(stored)) == len(lake_runs["first_files"])
    scheme = "s3://" if lake_runs["kind"] == "s3" else "/"
    assert all(uri.startswith(scheme) for uri in stored)


def test_the_first_run_lake_holds_the_jsonl_articles(lake_runs: dict[str, Any]) -> None:
    assert_same_as_jsonl(lake_runs["first_rows"], lake_runs["first"].items)


def test_partitions_are_publication_dates_and_batches_are_bounded(
    lake_runs: dict[str, Any],
) -> None:
    rows = lake_runs["second_rows"]
    per_file = Counter(row["filename"] for row in rows)
    assert max(per_file.values()) <= BATCH
    assert len({row["dt"] for row in rows}) > 1
    for row in rows:
        assert row["dt"] == row["published_at"].date().isoformat()  # read in Asia/Shanghai
        assert Path(row["filename"]).parent.name == f"dt={row['dt']}"
        job_of(row)
    for name in lake_runs["second_files"]:
        assert FILE_NAME.match(Path(name).name), name


def test_every_file_has_the_article_schema(lake_runs: dict[str, Any]) -> None:
    root = Path(lake_runs["second_rows"][0]["filename"]).parents[2]
    for path in root.glob("articles/*/*.parquet"):
        assert pq.read_schema(path).equals(ARTICLE_SCHEMA, check_metadata=False), path


def test_the_second_run_adds_files_and_never_rewrites_old_ones(
    lake_runs: dict[str, Any],
) -> None:
    first, second = lake_runs["first_files"], lake_runs["second_files"]
    assert {name: second.get(name) for name in first} == first
    new_files = set(second) - set(first)
    assert new_files
    jobs = {FILE_NAME.match(Path(n).name)["job"] for n in new_files}  # type: ignore[index]
    first_jobs = {FILE_NAME.match(Path(n).name)["job"] for n in first}  # type: ignore[index]
    assert len(jobs) == 1 and len(first_jobs) == 1 and jobs != first_jobs


def test_the_second_run_files_hold_the_second_jsonl(lake_runs: dict[str, Any]) -> None:
    first_job = job_of(lake_runs["first_rows"][0])
    rows = [row for row in lake_runs["second_rows"] if job_of(row) != first_job]
    items = lake_runs["second"].items
    assert len(items) == 7  # 5 new, 2 edited
    assert_same_as_jsonl(rows, items)


def test_after_two_runs_every_version_once_and_the_latest_is_the_site(
    lake_runs: dict[str, Any],
) -> None:
    rows = lake_runs["second_rows"]
    emitted = lake_runs["first"].items + lake_runs["second"].items
    versions = Counter((row["url"], row["version"]) for row in rows)
    assert [k for k, n in versions.items() if n > 1] == []
    assert set(versions) == {(item["url"], item["version"]) for item in emitted}
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["version"]):
        latest[row["url"]] = row
    after = lake_runs["after"]
    for url, row in latest.items():
        assert row["body"] == after[url]["body"], url


def test_credentials_are_never_logged(lake_runs: dict[str, Any]) -> None:
    for run in ("first", "second"):
        assert SECRET not in lake_runs[run].log


def test_the_documented_queries_run_on_the_lake(lake_runs: dict[str, Any]) -> None:
    root = Path(lake_runs["second_rows"][0]["filename"]).parents[2]
    doc = (Path(__file__).resolve().parent.parent / "docs" / "lake.md").read_text(encoding="utf-8")
    parquet = doc.split("\n## Plain Parquet files", 1)[1]  # the Iceberg queries: test_lake_readers
    blocks = re.findall(r"```sql\n(.*?)```", parquet, flags=re.S)
    assert len(blocks) >= 5
    con = duckdb.connect()
    results = [con.sql(block.replace("'lake/articles/", f"'{root}/articles/")) for block in blocks]
    per_day = dict(results[1].fetchall())
    latest = {row["url"] for row in lake_runs["second_rows"]}
    assert sum(per_day.values()) == len(latest)
    per_source = results[2].fetchall()
    assert sum(n for _, n in per_source) == len(latest)
    edges = results[3].fetchall()
    assert edges and all(to_url.startswith("http") for _, to_url, *_ in edges)
    changed = results[5].fetchall()
    assert {url for url, *_ in changed} == {
        item["url"] for item in lake_runs["second"].items if item["version"] > 1
    }
