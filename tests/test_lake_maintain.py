"""``chinanews lake maintain``: compaction, snapshot expiry and orphan removal on the Iceberg
lake (``chinanews.lake.maintain``), on a table built as the crawl builds it: one
``commit_rows`` per checkpoint, a few articles each, into a few Beijing-day partitions."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from chinanews.cli import main
from chinanews.lake.iceberg import LakeConfig, arrow_rows, commit_rows, open_catalog
from chinanews.lake.maintain import Options, maintain, parse_duration, parse_size, partitions
from tests.conftest import ROOT

CLI = [sys.executable, "-m", "chinanews.cli", "lake", "maintain"]
DAYS = ("2025-11-22", "2025-11-23", "2025-11-24")
COMMITS = 8  # checkpoints, each with articles of every day
PER_DAY = 2


def article(n: int, day: str, version: int = 1) -> dict[str, Any]:
    return {
        "url": f"https://news.china.com/domestic/945/{day.replace('-', '')}/{49000000 + n}.html",
        "article_id": str(49000000 + n),
        "channel": "domestic",
        "title": f"标题 {n} v{version}",
        "published_at": f"{day}T{n % 24:02d}:15:00+08:00",
        "source": "中华网",
        "keywords": ["新闻", str(n)],
        "body": f"正文 {n} " * 20,
        "crawled_at": "2025-11-25T01:00:00+00:00",
        "content_hash": f"h{n}-{version}",
        "version": version,
    }


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Settings of a lake of ``COMMITS`` small commits into each day of ``DAYS`` (the last
    one a new version of an article of the first), as ``-s`` would give them."""
    settings = {
        "CHINANEWS_LAKE": str(tmp_path / "lake"),
        "CHINANEWS_DATA_DIR": str(tmp_path / "data"),
    }
    config = LakeConfig.from_settings(Settings(settings))
    catalog = open_catalog(config)
    n = 0
    for commit in range(COMMITS):
        items = []
        for day in DAYS:
            for _ in range(PER_DAY):
                n += 1
                items.append(article(n, day))
        if commit == COMMITS - 1:
            items.append(article(1, DAYS[0], version=2))
        commit_rows(catalog, config, arrow_rows(items), f"run-{commit}")
    yield settings


def catalog_of(settings: dict[str, str]) -> Any:
    return open_catalog(LakeConfig.from_settings(Settings(settings)))


def table_of(settings: dict[str, str]) -> Any:
    return catalog_of(settings).load_table("chinanews.articles")


def rows(table: Any) -> Counter[tuple[Any, ...]]:
    """The table's rows as a multiset (every column)."""
    return Counter(
        tuple((k, repr(v)) for k, v in sorted(row.items()))
        for row in table.scan().to_arrow().to_pylist()
    )


def files_per_partition(table: Any) -> dict[str, int]:
    return {p.label: len(p.files) for p in partitions(table)}


def files_on_disk(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )  # fmt: skip


def settings_args(settings: dict[str, str]) -> list[str]:
    return [arg for name, value in settings.items() for arg in ("-s", f"{name}={value}")]


def plant(path: Path, age: timedelta) -> Path:
    """A file nobody references, last modified ``age`` ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAR1 not referenced PAR1")
    when = time.time() - age.total_seconds()
    os.utime(path, (when, when))
    return path


# -- compaction -----------------------------------------------------------------------------


def test_compaction_rewrites_each_partition_in_one_commit_with_the_same_rows(
    lake: dict[str, str],
) -> None:
    catalog = catalog_of(lake)
    before = catalog.load_table("chinanews.articles")
    assert files_per_partition(before) == {f"dt={day}": COMMITS for day in DAYS}
    lines: list[str] = []

    report = maintain(catalog, "chinanews.articles", Options(), echo=lines.append)

    after = catalog.load_table("chinanews.articles")
    assert files_per_partition(after) == {f"dt={day}": 1 for day in DAYS}
    assert rows(after) == rows(before)
    assert sum(rows(after).values()) == COMMITS * PER_DAY * len(DAYS) + 1
    # one catalog commit (one new metadata file) per partition; nothing expired yet
    assert len(after.metadata.metadata_log) == len(before.metadata.metadata_log) + len(DAYS)
    assert report.compacted == [(f"dt={day}", COMMITS, 1) for day in DAYS]
    assert lines[:3] == [f"dt={day}: compacted {COMMITS} files into 1" for day in DAYS]
    assert report.expired == 0 and report.orphans == 0
    # done once: a second run has nothing to compact
    assert maintain(catalog, "chinanews.articles", Options(), echo=lines.append).compacted == []


def test_only_partitions_with_two_small_files_are_compacted(lake: dict[str, str]) -> None:
    catalog = catalog_of(lake)
    sizes = [
        size for p in partitions(catalog.load_table("chinanews.articles")) for _, size in p.files
    ]
    report = maintain(
        catalog, "chinanews.articles", Options(target_file_size=min(sizes)), echo=lambda _: None
    )
    assert report.compacted == []  # no file is below the smallest one
    assert files_per_partition(catalog.load_table("chinanews.articles"))["dt=2025-11-22"] == COMMITS


def test_a_reader_never_sees_the_table_between_states(lake: dict[str, str]) -> None:
    expected = COMMITS * PER_DAY * len(DAYS) + 1
    seen: list[tuple[int, int]] = []  # (rows, data files) per read
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        reader = catalog_of(lake)  # a catalog of its own, as another process has
        try:
            while not stop.is_set():
                table = reader.load_table("chinanews.articles")
                seen.append(
                    (table.scan().to_arrow().num_rows, len(list(table.scan().plan_files())))
                )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        while not seen:
            time.sleep(0.01)
        maintain(catalog_of(lake), "chinanews.articles", Options(), echo=lambda _: None)
        count = len(seen)
        while len(seen) < count + 2:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert errors == []
    assert {n for n, _ in seen} == {expected}
    files = [f for _, f in seen]
    assert files[0] == COMMITS * len(DAYS) and files[-1] == len(DAYS)
    assert len(set(files)) >= 2, files  # it read while the partitions were rewritten


def test_a_crawl_committing_meanwhile_loses_nothing_and_doubles_nothing(
    lake: dict[str, str],
) -> None:
    before = rows(table_of(lake))
    written: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def crawl() -> None:
        """A few checkpoints into every partition, while the partitions are rewritten."""
        config = LakeConfig.from_settings(Settings(lake))
        catalog = open_catalog(config)
        try:
            for k in range(5):
                items = [article(1000 + 10 * k + i, day) for i, day in enumerate(DAYS)]
                commit_rows(catalog, config, arrow_rows(items), f"crawl-{k}")
                written.extend(items)
                time.sleep(0.1)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=crawl)
    thread.start()
    try:
        maintain(catalog_of(lake), "chinanews.articles", Options(), echo=lambda _: None)
    finally:
        thread.join(timeout=60)
    assert errors == []
    assert len(written) == 5 * len(DAYS)
    after = rows(table_of(lake))
    assert max(Counter((url, v) for (url, v) in _keys(after)).values()) == 1
    assert sum(after.values()) == sum(before.values()) + len(written)
    assert before - after == Counter()  # every row there before is there after


def _keys(multiset: Counter[tuple[Any, ...]]) -> list[tuple[str, str]]:
    """(url, version) of every row of ``rows()``, with repetitions."""
    keys = []
    for row, count in multiset.items():
        fields = dict(row)
        keys += [(fields["url"], fields["version"])] * count
    return keys


# -- expiry and orphans ---------------------------------------------------------------------


def test_old_snapshots_expire_and_old_orphans_go_while_fresh_files_stay(
    lake: dict[str, str], tmp_path: Path
) -> None:
    catalog = catalog_of(lake)
    location = tmp_path / "lake" / "chinanews" / "articles"
    before = rows(catalog.load_table("chinanews.articles"))
    old_data = plant(
        location / "data" / "dt=2025-11-22" / "00000-crashed.parquet", timedelta(days=3)
    )
    old_meta = plant(location / "metadata" / "snap-1-0-crashed.avro", timedelta(days=3))
    fresh = plant(location / "data" / "dt=2025-11-23" / "00000-in-flight.parquet", timedelta(0))
    lines: list[str] = []

    # ten days on: every snapshot is older than the retention (7d) but the current one
    later = datetime.now(timezone.utc) + timedelta(days=10)
    report = maintain(
        catalog, "chinanews.articles", Options(orphan_grace=timedelta(days=11)), now=later,
        echo=lines.append,
    )  # fmt: skip

    table = catalog.load_table("chinanews.articles")
    assert [s.snapshot_id for s in table.snapshots()] == [table.current_snapshot().snapshot_id]
    # the appends, and the two snapshots of each rewrite, but the current one
    assert report.expired == COMMITS + 2 * len(DAYS) - 1
    assert not old_data.exists() and not old_meta.exists()
    assert fresh.exists()  # younger than the grace: a commit in flight
    assert report.orphans == 2 and report.orphan_bytes == 2 * len(b"PAR1 not referenced PAR1")
    assert (
        f"snapshots: expired {report.expired} older than 7d (1 kept, the current one among them)"
        in lines
    )
    assert "orphan files: removed 2 (48 B, 48 bytes) older than 11d" in lines
    assert rows(table) == before

    # once the files of the expired snapshots are old too, they go, and the table reads the same
    for path in location.rglob("*"):
        if path.is_file() and path != fresh:
            os.utime(path, (time.time() - 2 * 86400,) * 2)
    report = maintain(catalog, "chinanews.articles", Options(), echo=lines.append)
    table = catalog.load_table("chinanews.articles")
    data = sorted(str(p) for p in (location / "data").rglob("*.parquet") if p != fresh)
    assert data == sorted(
        task.file.file_path.removeprefix("file://") for task in table.scan().plan_files()
    )
    assert report.orphans > COMMITS * len(DAYS)  # the small files, and metadata of theirs
    assert rows(table) == before
    assert rows(catalog_of(lake).load_table("chinanews.articles")) == before


# -- the command ----------------------------------------------------------------------------


def test_the_command_dry_then_for_real(lake: dict[str, str], tmp_path: Path) -> None:
    before = rows(table_of(lake))
    disk = files_on_disk(tmp_path)
    metadata = table_of(lake).metadata_location

    dry = run_cli("--dry-run", *settings_args(lake))
    assert dry.returncode == 0, dry.stderr
    assert dry.stderr == ""
    lines = dry.stdout.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        *(f"dt={day}: would compact {COMMITS} files" for day in DAYS),
        "snapshots: would expire 0 older than 7d",
        "orphan files: would remove 0",
    ]
    assert f"({COMMITS} below 64.0 MB, " in lines[0]
    assert files_on_disk(tmp_path) == disk
    assert table_of(lake).metadata_location == metadata

    real = run_cli(*settings_args(lake), "-s", "CHINANEWS_LAKE_SNAPSHOT_RETENTION=30m")
    assert real.returncode == 0, real.stderr
    assert real.stdout.splitlines()[:3] == [
        f"dt={day}: compacted {COMMITS} files into 1" for day in DAYS
    ]
    assert "older than 30m" in real.stdout
    assert files_per_partition(table_of(lake)) == {f"dt={day}": 1 for day in DAYS}
    assert rows(table_of(lake)) == before


def test_an_unreachable_catalog_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = run_cli(
        "-s", f"CHINANEWS_LAKE={tmp_path / 'lake'}",
        "-s", "CHINANEWS_LAKE_CATALOG=postgresql://u@127.0.0.1:1/x",
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: CHINANEWS_LAKE_CATALOG: cannot reach"), lines[0]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--orphan-grace", "soon"], "error: --orphan-grace: 'soon' is not a duration"),
        (["--target-file-size", "big"], "error: --target-file-size: 'big' is not a size"),
        (
            ["-s", "CHINANEWS_LAKE_SNAPSHOT_RETENTION=7"],
            "error: CHINANEWS_LAKE_SNAPSHOT_RETENTION: '7'",
        ),
        (["-s", "CHINANEWS_LAKE_FORMAT=parquet"], "error: CHINANEWS_LAKE_FORMAT: the parquet lake"),
        ([], "error: CHINANEWS_LAKE_CATALOG: no catalog at"),
    ],
)
def test_bad_settings_and_options_exit_2_with_one_line(
    args: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["lake", "maintain", "-s", f"CHINANEWS_LAKE={tmp_path / 'lake'}",
         "-s", f"CHINANEWS_DATA_DIR={tmp_path / 'data'}", *args]
    )  # fmt: skip
    assert code == 2
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(fragment), out.err
    assert out.out == ""
    assert not (tmp_path / "data").exists()  # no catalog created by looking for one


def test_durations_and_sizes() -> None:
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration(" 7d ") == timedelta(days=7)
    assert parse_size("64MB") == 64 * 2**20
    assert parse_size("512kb") == 512 * 2**10
    assert parse_size("1000") == 1000
    for bad in ("7", "0d", "-1h", "1w", ""):
        with pytest.raises(ValueError):
            parse_duration(bad)
    for bad in ("0", "1TB", "-5MB", "MB"):
        with pytest.raises(ValueError):
            parse_size(bad)


# -- S3 -------------------------------------------------------------------------------------


@pytest.fixture
def s3_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, str], Any]]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    settings = {
        "CHINANEWS_LAKE": f"s3://{bucket}/chinanews",
        "CHINANEWS_DATA_DIR": str(tmp_path / "data"),
        "AWS_ENDPOINT_URL": endpoint,
    }
    config = LakeConfig.from_settings(Settings(settings))
    catalog = open_catalog(config)
    for commit in range(4):
        items = [article(10 * commit + i, day) for i, day in enumerate(DAYS)]
        commit_rows(catalog, config, arrow_rows(items), f"run-{commit}")
    try:
        yield settings, client
    finally:
        server.stop()


def test_on_s3_compaction_expiry_and_orphans(s3_lake: tuple[dict[str, str], Any]) -> None:
    settings, client = s3_lake
    bucket = settings["CHINANEWS_LAKE"].split("/")[2]
    prefix = "chinanews/chinanews/articles/"
    catalog = catalog_of(settings)
    before = rows(catalog.load_table("chinanews.articles"))
    client.put_object(
        Bucket=bucket, Key=f"{prefix}data/dt=2025-11-22/crashed.parquet", Body=b"x" * 10
    )
    client.put_object(Bucket=bucket, Key=f"{prefix}metadata/crashed.avro", Body=b"y" * 5)

    # S3 keeps no mtime we can set: two days on, with a grace of one, every unreferenced
    # object counts as old
    later = datetime.now(timezone.utc) + timedelta(days=2)
    options = Options(retention=timedelta(days=1), orphan_grace=timedelta(days=1))
    report = maintain(catalog, "chinanews.articles", options, now=later, echo=lambda _: None)

    table = catalog.load_table("chinanews.articles")
    assert report.compacted == [(f"dt={day}", 4, 1) for day in DAYS]
    assert len(table.snapshots()) == 1
    keys = {
        obj["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
    }
    assert f"{prefix}data/dt=2025-11-22/crashed.parquet" not in keys
    assert f"{prefix}metadata/crashed.avro" not in keys
    # (pyarrow keeps a "folder/" marker object where it deleted a folder's last file)
    data = {k for k in keys if k.startswith(f"{prefix}data/") and not k.endswith("/")}
    assert data == {
        task.file.file_path.removeprefix(f"s3://{bucket}/") for task in table.scan().plan_files()
    }
    assert report.orphans >= 4 * len(DAYS) + 2  # the small files compacted away, and ours
    assert rows(table) == before
