"""Settings of our own (``chinanews.config``): each one that cannot work stops ``scrapy
crawl`` at start with one line naming it and what to fix, and exit code 2."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from chinanews.config import FAULT_POINTS, TABLE, Elsewhere, SettingError, check_settings
from chinanews.index import check_settings as check_index_settings
from chinanews.lake.iceberg import check_settings as check_lake_settings
from chinanews.storage import check_settings as check_storage_settings
from tests.conftest import ROOT, SCRAPY

PACKAGE = ROOT / "chinanews"
DOCS = ROOT / "docs" / "settings.md"
NAME = re.compile(r"\bCHINANEWS_[A-Z0-9_]+")


def project_settings(**given: Any) -> Settings:
    """The project's settings (no ``scrapy.utils.project``), the database off, and
    ``given`` as ``-s`` would give them."""
    settings = Settings()
    settings.setmodule("chinanews.settings", priority="project")
    settings.set("DATABASE_URL", "none", priority="project")
    settings.setdict(given, priority="cmdline")
    return settings


def check_all(settings: Settings) -> None:
    """What ``scrapy crawl`` checks at start, in its order (chinanews/commands/crawl.py)."""
    check_settings(settings)
    check_index_settings(settings)
    check_storage_settings(settings)
    check_lake_settings(settings)


#: (setting, a bad value, a fragment of the message): at least one per setting of TABLE.
BAD = [
    ("CHINANEWS_DATA_DIR", "pyproject.toml", "exists and is not a directory"),
    ("CHINANEWS_DATA_DIR", "data\n", "control character"),
    ("CHINANEWS_REPORT_FILE", "docs", "is a directory; give a file path"),
    ("CHINANEWS_MIN_ARTICLES", "-1", "'-1' is not a non-negative integer"),
    ("CHINANEWS_MIN_ARTICLES", "", "'' is not a non-negative integer"),
    ("CHINANEWS_MIN_COVERAGE", "abc", "'abc' is not a JSON object of report field names"),
    ("CHINANEWS_MIN_SAMPLE", "-1", "'-1' is not a non-negative integer"),
    ("CHINANEWS_MIN_SAMPLE", "many", "'many' is not a non-negative integer"),
    ("CHINANEWS_MIN_COVERAGE", "[0.9]", "is not a JSON object"),
    ("CHINANEWS_MIN_COVERAGE", '{"title": 1.5}', "gives title 1.5, not a share between 0 and 1"),
    ("CHINANEWS_MIN_COVERAGE", '{"title": "most"}', "not a share between 0 and 1"),
    ("CHINANEWS_MIN_COVERAGE", '{"titel": 0.9}', "names 'titel', not a field of the report"),
    ("CHINANEWS_INDEX_BACKEND", "mongo", "unknown 'mongo'; use sqlite (default) or redis"),
    ("CHINANEWS_INDEX_PATH", "docs", "is a directory"),
    ("CHINANEWS_RUN_LOCK", "yes", "is not a boolean"),
    ("REDIS_URL", "http://127.0.0.1:6379/0", "cannot use http://127.0.0.1:6379/0"),
    ("CHINANEWS_REDIS_PREFIX", "chinanews:china_com\r", "control character"),
    ("CHINANEWS_CHECKPOINT_ITEMS", "-1", "'-1' is not a non-negative integer"),
    ("CHINANEWS_CHECKPOINT_ITEMS", "1.5", "'1.5' is not a non-negative integer"),
    ("CHINANEWS_LAKE", "stdout:", "which no feed storage handles"),
    ("CHINANEWS_CHECKPOINT_SECONDS", "-1", "is not a number of seconds, 0 or more"),
    ("CHINANEWS_CHECKPOINT_SECONDS", "soon", "is not a number of seconds"),
    ("CHINANEWS_FAULT", "boom", "is not a fault point"),
    ("CHINANEWS_FAULT", f"{FAULT_POINTS[0]}:0", "not a checkpoint number"),
    ("CHINANEWS_FAULT", f"{FAULT_POINTS[0]}:x", "not a checkpoint number"),
    ("DATABASE_URL", "mysql://db/news", "unknown scheme 'mysql'"),
    ("CHINANEWS_DB_BATCH_SIZE", "0", "is not a positive whole number"),
    ("CHINANEWS_DB_FLUSH_SECONDS", "-1", "is not a number of seconds, 0 or more"),
    ("CHINANEWS_DB_RETRY_SECONDS", "inf", "is not a number of seconds, 0 or more"),
    ("CHINANEWS_LAKE", "s3://", "names no bucket; give s3://bucket[/prefix]"),
    ("CHINANEWS_LAKE", "s3:///prefix", "names no bucket"),
    ("CHINANEWS_LAKE", "gs://", "names no bucket"),
    ("CHINANEWS_LAKE", "ftp:///x", "names no host"),
    ("CHINANEWS_LAKE", "file://", "names no directory"),
    ("CHINANEWS_LAKE", "https://lake.example/x", "has scheme https:, which no feed storage"),
    ("CHINANEWS_LAKE", "s3://AKIA:hunter22@bucket/x", "holds credentials"),
    ("CHINANEWS_LAKE", "pyproject.toml", "exists and is not a directory"),
    ("CHINANEWS_LAKE_BATCH_ITEM_COUNT", "-5", "is not a non-negative integer"),
    ("CHINANEWS_BROWSER_PATH", "/usr/bin/chromium\n", "control character"),
    ("CHINANEWS_RENDER_TIMEOUT", "0", "is not a positive number of seconds"),
    ("CHINANEWS_RENDER_TIMEOUT", "ten", "is not a positive number of seconds"),
    ("CHINANEWS_RENDER_AD_HOSTS", "https://ads.example/", "not a host name"),
    ("CHINANEWS_LAKE_CATALOG", "ftp://catalog.example/", "is not a catalog URL"),
    ("CHINANEWS_LAKE_CATALOG", "postgresql://u:hunter22@127.0.0.1:1/x", "cannot reach"),
    ("CHINANEWS_LAKE_CATALOG_PROPERTIES", "credential=x", "is not a JSON object"),
    ("CHINANEWS_LAKE_CATALOG_PROPERTIES", '{"a": {"b": 1}}', "is not a JSON object"),
    ("CHINANEWS_LAKE_FORMAT", "delta", "'delta' is not one of iceberg, parquet"),
    ("CHINANEWS_LAKE_TABLE", "articles", "'articles' is not namespace.table"),
    ("CHINANEWS_LAKE_TABLE", "a.b;drop", "is not namespace.table"),
    ("CHINANEWS_LAKE_PARTITION", "hourly", "'hourly' is not one of beijing_day, utc_day"),
    ("CHINANEWS_LAKE_RETRY_SECONDS", "0", "'0' is not a positive number"),
    ("CHINANEWS_LAKE_SNAPSHOT_RETENTION", "7", "'7' is not a duration such as 30m, 12h or 7d"),
    ("CHINANEWS_LAKE_SNAPSHOT_RETENTION", "0d", "is not a duration"),
    ("CHINANEWS_LAKE_SNAPSHOT_RETENTION", "a week", "is not a duration"),
    ("CHINANEWS_RECHECK", "sometimes", "'sometimes' is not one of none, due, all"),
    ("CHINANEWS_RECHECK_AFTER", "1h,soon", "'1h,soon' is not increasing ages"),
    ("CHINANEWS_RECHECK_AFTER", "6h,1h", "'6h,1h' is not increasing ages"),
    ("CHINANEWS_CONTACT", "call me", "'call me' is not a URL (https://…) or an e-mail"),
    ("CHINANEWS_RENDER_AD_HOSTS", "a.example, b.example", "' b.example', not a host name"),
    ("CHINANEWS_DISTRIBUTED", "on", "is not a boolean"),
    ("CHINANEWS_IDLE_TIMEOUT", "x", "'x' is not a positive number of seconds"),
    ("CHINANEWS_IDLE_TIMEOUT", "0", "is not a positive number of seconds"),
    ("CHINANEWS_IDLE_TIMEOUT", "nan", "is not a positive number of seconds"),
    ("CHINANEWS_WORKER_ID", "w" * 101, "is 101 characters long"),
    ("CHINANEWS_LEASE_SECONDS", "0", "is not a positive number of seconds"),
    ("CHINANEWS_LEASE_SECONDS", "soon", "'soon' is not a positive number of seconds"),
    ("CHINANEWS_MAX_DELIVERIES", "0", "is not a positive integer"),
    ("CHINANEWS_SHARED_POLITENESS", "shared", "is not a boolean"),
    ("CHINANEWS_RUN_ID", "../elsewhere", "is not a file-name part"),
    ("CHINANEWS_ATTEMPT", "0", "is not a positive integer"),
    ("CHINANEWS_RECOVER", "maybe", "is not a boolean"),
    ("CHINANEWS_RECOVERING_SINCE", "yesterday", "is not an ISO 8601 date and time"),
    ("CHINANEWS_FRONTIER_RESTORED", "2x", "is not a boolean"),
    ("CHINANEWS_REFETCH_KNOWN", "y", "is not a boolean"),
]

#: Settings a bad value needs beside it to be used at all.
NEEDS = {"REDIS_URL": {"CHINANEWS_INDEX_BACKEND": "redis"}}


@pytest.mark.parametrize(("name", "bad", "fragment"), BAD)
def test_a_bad_value_stops_the_crawl_with_one_line_naming_the_setting(
    name: str, bad: str, fragment: str
) -> None:
    settings = project_settings(**{name: bad, **NEEDS.get(name, {})})
    with pytest.raises(ValueError) as info:
        check_all(settings)
    message = str(info.value)
    assert message.startswith(f"{name}: "), message
    assert fragment in message, message
    assert "\n" not in message and "\r" not in message
    if isinstance(TABLE[name].kind, Elsewhere):
        assert not isinstance(info.value, SettingError)  # checked once, where it is used
    else:
        assert isinstance(info.value, SettingError)
        assert message.endswith(f"; e.g. -s {name}={TABLE[name].example}")


def test_every_setting_has_a_bad_value_above() -> None:
    assert {name for name, _, _ in BAD} == set(TABLE)


def test_the_message_says_what_to_use() -> None:
    with pytest.raises(SettingError) as info:
        check_settings(project_settings(CHINANEWS_CHECKPOINT_ITEMS="-1"))
    assert str(info.value) == (
        "CHINANEWS_CHECKPOINT_ITEMS: '-1' is not a non-negative integer; "
        "e.g. -s CHINANEWS_CHECKPOINT_ITEMS=500"
    )


def test_a_password_is_never_shown() -> None:
    with pytest.raises(SettingError) as info:
        check_settings(project_settings(CHINANEWS_LAKE="s3://AKIA:hunter22@bucket/x"))
    assert "hunter22" not in str(info.value)
    assert "s3://AKIA:***@bucket/x" in str(info.value)


def test_the_project_defaults_pass() -> None:
    settings = Settings()
    settings.setmodule("chinanews.settings")
    check_settings(settings)


def test_unset_settings_keep_the_code_defaults() -> None:
    check_settings(Settings())


@pytest.mark.parametrize(
    ("name", "good"),
    [
        ("CHINANEWS_DATA_DIR", "data/nowhere-yet"),
        ("CHINANEWS_INDEX_PATH", ":memory:"),
        ("CHINANEWS_MIN_ARTICLES", "0"),
        ("CHINANEWS_MIN_SAMPLE", "0"),
        ("CHINANEWS_MIN_COVERAGE", '{"title": 0, "body": 0.8, "published_at": 1}'),
        ("CHINANEWS_MIN_COVERAGE", {"title": "0.5", "body": None}),
        ("CHINANEWS_RUN_LOCK", "false"),
        ("CHINANEWS_CHECKPOINT_ITEMS", 1),
        ("CHINANEWS_CHECKPOINT_ITEMS", 0),
        ("CHINANEWS_CHECKPOINT_SECONDS", "0"),
        ("CHINANEWS_CHECKPOINT_SECONDS", "2.5"),
        ("CHINANEWS_FAULT", ""),
        ("CHINANEWS_FAULT", FAULT_POINTS[0]),
        ("CHINANEWS_FAULT", f"{FAULT_POINTS[0]}:2"),
        ("CHINANEWS_DB_FLUSH_SECONDS", "0"),
        ("CHINANEWS_LAKE", ""),
        ("CHINANEWS_LAKE", "data/lake"),
        ("CHINANEWS_LAKE", "file:///tmp/lake"),
        ("CHINANEWS_LAKE", "s3://news-lake"),
        ("CHINANEWS_LAKE", "s3://news-lake/chinanews/"),
        ("CHINANEWS_LAKE", "gs://news-lake/chinanews"),
        ("CHINANEWS_LAKE", "ftp://127.0.0.1:1/x"),
        ("CHINANEWS_LAKE", "C:\\lake"),
        ("CHINANEWS_LAKE_BATCH_ITEM_COUNT", "0"),
        ("CHINANEWS_BROWSER_PATH", "/nowhere/chrome"),  # checked when rendering is on
        ("CHINANEWS_RENDER_AD_HOSTS", "doubleclick.net,.cnzz.com,51.la"),
        ("CHINANEWS_LAKE_SNAPSHOT_RETENTION", "12h"),
        ("CHINANEWS_LAKE_SNAPSHOT_RETENTION", "1.5d"),
        ("CHINANEWS_RECHECK", "ALL"),
        ("CHINANEWS_RECHECK_AFTER", "30m, 2h,1d"),
        ("CHINANEWS_RECHECK_AFTER", "none"),
        ("CHINANEWS_CONTACT", "mailto:ops@example.com"),
        ("CHINANEWS_CONTACT", "https://data.example.com/crawler"),
        ("CHINANEWS_DISTRIBUTED", "True"),
        ("CHINANEWS_IDLE_TIMEOUT", "0.5"),
        ("CHINANEWS_REDIS_PREFIX", "crawl:a%b"),
        ("CHINANEWS_WORKER_ID", "test worker/1"),
        ("CHINANEWS_LEASE_SECONDS", "2.5"),
        ("CHINANEWS_MAX_DELIVERIES", "1"),
        ("CHINANEWS_RUN_ID", "20251124T101500Z-a2"),
        ("CHINANEWS_RECOVERING_SINCE", "2025-11-24T10:15:00+00:00"),
    ],
)
def test_good_values_pass(name: str, good: Any) -> None:
    check_settings(project_settings(**{name: good}))


def test_a_lake_takes_the_schemes_of_the_feed_storages() -> None:
    settings = project_settings(CHINANEWS_LAKE="mem://lake", FEED_STORAGES={"mem": "tests.Storage"})
    check_settings(settings)


def _names_in(paths: list[Path]) -> set[str]:
    return {name for path in paths for name in NAME.findall(path.read_text(encoding="utf-8"))}


def test_every_setting_of_the_package_is_in_the_table() -> None:
    """A new ``CHINANEWS_*`` setting cannot be forgotten: add it to ``chinanews.config.TABLE``."""
    used = _names_in(sorted(PACKAGE.rglob("*.py")))
    assert used, "the grep found nothing"
    assert used - set(TABLE) == set()


def test_every_setting_of_the_table_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert "checked at start" in text
    assert [name for name in TABLE if f"`{name}`" not in text] == []


# -- as a user runs it ----------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("CHINANEWS_LAKE=s3://", "'s3://' names no bucket"),
        ("CHINANEWS_MIN_COVERAGE=abc", "'abc' is not a JSON object"),
        ("CHINANEWS_IDLE_TIMEOUT=x", "'x' is not a positive number of seconds"),
        ("CHINANEWS_CHECKPOINT_ITEMS=-1", "'-1' is not a non-negative integer"),
    ],
)
def test_scrapy_crawl_stops_at_start_with_one_line(
    setting: str, fragment: str, tmp_path: Path
) -> None:
    name = setting.partition("=")[0]
    proc = subprocess.run(
        # A start URL nobody answers: should the check let the value through, no site is crawled.
        [*SCRAPY, "crawl", "china_com", "-a", "render=never", "-a", "start_urls=http://127.0.0.1:9/",
         "-s", setting],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "CHINANEWS_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith(f"error: {name}: "), lines[0]
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "data").exists()
