"""The cross-run article index: SQLite (default) and Redis behave alike; bad settings fail
before the crawl starts."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from chinanews.index import (
    ArticleIndex,
    IndexSettingError,
    RedisArticleIndex,
    check_settings,
    redact,
)
from tests.conftest import ROOT, SCRAPY

URL_A = "https://news.china.com/domestic/945/20251124/49000001.html"
URL_B = "https://news.china.com/social/1007/20251124/49000002.html"


@pytest.fixture(params=["sqlite", "redis"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        idx: Any = ArticleIndex(tmp_path / "index.sqlite3")
    else:
        client = request.getfixturevalue("redis_client")
        idx = RedisArticleIndex(client, f"test:index:{uuid.uuid4().hex}")
    yield idx
    if request.param == "redis":
        idx.clear()
        assert not list(idx.redis.scan_iter(match=f"{idx.prefix}:*"))
    idx.close()


def test_records_and_reads_back(index: Any) -> None:
    assert index.get("49000001") is None
    assert not index.knows("49000001")
    index.record("49000001", URL_A, content_hash="h1", published_at="2025-11-24T10:00:00+08:00")
    seen = index.get("49000001")
    assert (seen.url, seen.content_hash, seen.version, seen.duplicate_of) == (URL_A, "h1", 1, None)
    assert index.knows("49000001")
    assert index.url_of("49000001") == URL_A


def test_a_new_version_replaces_the_old(index: Any) -> None:
    index.record("49000001", URL_A, content_hash="h1")
    index.record("49000001", URL_A, content_hash="h2", version=2)
    seen = index.get("49000001")
    assert (seen.content_hash, seen.version) == ("h2", 2)


def test_content_hash_finds_the_original_only(index: Any) -> None:
    index.record("49000001", URL_A, content_hash="same")
    index.record("49000002", URL_B, content_hash="same", duplicate_of=URL_A)
    assert index.original_with_hash("same", other_than="49000003") == URL_A
    assert index.original_with_hash("same", other_than="49000001") is None
    assert index.original_with_hash("other", other_than="49000003") is None
    assert index.get("49000002").duplicate_of == URL_A


def test_sqlite_index_persists_across_opens(tmp_path: Path) -> None:
    first = ArticleIndex(tmp_path / "i.sqlite3")
    first.record("49000001", URL_A, content_hash="h1", signature=b"sig")
    first.ready("49000001")
    assert first.commit() == 1
    first.close()
    again = ArticleIndex(tmp_path / "i.sqlite3")
    assert again.get("49000001") is not None
    assert list(again.signatures()) == [("49000001", b"sig")]
    assert len(again) == 1
    again.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"CHINANEWS_INDEX_BACKEND": "mongo"},
            "CHINANEWS_INDEX_BACKEND: unknown 'mongo'; use sqlite (default) or redis",
        ),
        (
            {"CHINANEWS_INDEX_BACKEND": "redis", "REDIS_URL": "redis://user:secret@127.0.0.1:1/0"},
            "REDIS_URL: cannot use redis://user:***@127.0.0.1:1/0 for the article index",
        ),
    ],
)
def test_bad_index_settings_fail_with_what_to_fix(settings: dict[str, str], message: str) -> None:
    with pytest.raises(IndexSettingError) as info:
        check_settings(Settings(settings))
    assert str(info.value).startswith(message)
    assert "secret" not in str(info.value)


def test_bad_index_settings_stop_scrapy_crawl_before_it_starts() -> None:
    proc = subprocess.run(
        [*SCRAPY, "crawl", "china_com", "-s", "CHINANEWS_INDEX_BACKEND=redis", "-s", "REDIS_URL=redis://127.0.0.1:1/0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: REDIS_URL: cannot use redis://127.0.0.1:1/0")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_redact_hides_passwords() -> None:
    assert redact("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert redact("postgresql://u:p@h/db") == "postgresql://u:***@h/db"
    assert redact("redis://host:6379/0") == "redis://host:6379/0"


def test_only_rows_made_ready_are_committed(index: Any, tmp_path: Path) -> None:
    """A row is written only once the outputs hold its article (``ready``) and a
    checkpoint commits it; the rest is seen by this crawl only, and lost at close."""
    index.record("49000001", URL_A, content_hash="h1")
    index.record("49000002", URL_B, content_hash="h2")
    index.ready("49000001")
    taken = index.take_ready()
    index.ready("49000002")  # made ready after the checkpoint took its rows
    assert index.commit(taken) == 1
    assert index.knows("49000002") and index.unsaved == 1  # still seen by this crawl
    assert index.original_with_hash("h2", other_than="x") == URL_B
    assert index.commit() == 1 and index.unsaved == 0


def test_a_row_never_made_ready_is_not_written(tmp_path: Path) -> None:
    first = ArticleIndex(tmp_path / "i.sqlite3")
    first.record("49000001", URL_A, content_hash="h1")
    assert first.commit() == 0
    first.close()
    again = ArticleIndex(tmp_path / "i.sqlite3")
    assert again.get("49000001") is None
    again.close()
