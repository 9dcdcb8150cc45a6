"""What a scheduled run fetches again: the due rule, the schedule and mode as settings and
arguments, list-entry fingerprints, and the index keeping each article's fetches."""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from chinanews.index import NO_FETCH, ArticleIndex, Fetch, FetchState, ListMark
from chinanews.recheck import (
    DEFAULT_SCHEDULE,
    RecheckMode,
    due,
    http_date,
    listing,
    next_due,
    parse_schedule,
)
from tests.conftest import ROOT, SCRAPY

T0 = datetime(2025, 11, 24, 12, 0, tzinfo=timezone.utc)
SCHEDULE = parse_schedule(DEFAULT_SCHEDULE)


def state(first: datetime | None, last: datetime | None) -> FetchState:
    iso = lambda t: t.isoformat() if t else None  # noqa: E731
    return FetchState(iso(first), iso(last), None, None, None, 1, frozenset())


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("last", "now", "expected"),
    [
        (0, 0.5, False),  # fetched half an hour ago: nothing due yet
        (0, 1, True),  # the 1 h re-check is due at 1 h exactly
        (0, 5.9, True),  # still due: the 1 h re-check has not been done
        (1.2, 5.9, False),  # done at 1.2 h; the next is at 6 h
        (1.2, 6, True),
        (6.5, 23, False),
        (6.5, 24, True),
        (24.1, 71, False),
        (24.1, 72, True),
        (72.5, 500, False),  # the schedule is over: never again
        (0, 500, True),  # missed every re-check (no run for weeks): one now
    ],
)
def test_the_due_rule(last: float, now: float, expected: bool) -> None:
    assert due(state(T0, at(last)), at(now), SCHEDULE) is expected


def test_next_due_is_the_first_age_ahead() -> None:
    assert next_due(state(T0, T0), at(0.5), SCHEDULE) == at(1)
    assert next_due(state(T0, at(7)), at(7), SCHEDULE) == at(24)
    assert next_due(state(T0, at(73)), at(73), SCHEDULE) is None


def test_an_article_without_a_first_fetch_is_due() -> None:
    assert due(NO_FETCH, T0, SCHEDULE)
    assert due(state(T0, None), at(1), SCHEDULE)  # a last fetch unknown: the first counts


def test_no_schedule_means_never_due() -> None:
    assert parse_schedule("none") == ()
    assert not due(state(T0, T0), at(1000), ())


@pytest.mark.parametrize(
    ("text", "ages"),
    [
        ("1h,6h,24h,72h", (1, 6, 24, 72)),
        ("30m, 2h ,1d", (0.5, 2, 24)),
        ("90s", (90 / 3600,)),
        ("", ()),
        (None, (1, 6, 24, 72)),
    ],
)
def test_parse_schedule(text: str | None, ages: tuple[float, ...]) -> None:
    assert parse_schedule(text) == tuple(timedelta(hours=a) for a in ages)


@pytest.mark.parametrize("text", ["1h,soon", "6h,1h", "1h,1h", "0h", "-1h", "1 week"])
def test_a_bad_schedule_says_what_to_fix(text: str) -> None:
    with pytest.raises(ValueError, match=r"CHINANEWS_RECHECK_AFTER: .*e\.g\. 1h,6h,24h,72h"):
        parse_schedule(text)


def test_recheck_modes() -> None:
    assert RecheckMode.parse(None) is RecheckMode.DUE
    assert RecheckMode.parse(" ALL ") is RecheckMode.ALL
    assert RecheckMode.parse("none") is RecheckMode.NONE
    with pytest.raises(ValueError, match="recheck: 'sometimes' is not none, due or all"):
        RecheckMode.parse("sometimes")


def test_listing_fingerprints_ignore_how_precisely_a_time_is_shown() -> None:
    minute = listing("标题", "2025-11-24T19:41:00+08:00")
    assert listing("标题", "2025-11-24T19:41:08+08:00") == minute  # a ranking, to the second
    assert set(listing("标题", "2025-11-24")) <= set(minute)  # the day alone
    assert set(listing("标题", None)) <= set(minute)  # a headline slot without a time
    assert not set(listing("标题", "2025-11-24T19:42:00+08:00")) <= set(minute)
    assert not set(listing("新标题", "2025-11-24T19:41:00+08:00")) <= set(minute)
    assert listing("  标题 ", None) == listing("标题", None)


def test_http_dates() -> None:
    assert http_date("Mon, 24 Nov 2025 14:30:00 GMT") == datetime(
        2025, 11, 24, 14, 30, tzinfo=timezone.utc
    )
    for bad in ("yesterday, around noon", "", "Mon, 99 Nov 2025 14:30:00 GMT", "2025-11-24"):
        assert http_date(bad) is None


def test_the_index_keeps_fetches_with_the_article(tmp_path: Path) -> None:
    index = ArticleIndex(tmp_path / "i.sqlite3")
    fetch = Fetch("2025-11-24T12:00:00+00:00", '"abc"', "Mon, 24 Nov 2025 11:00:00 GMT")
    index.record("1", "https://news.china.com/a/1.html", content_hash="h", fetch=fetch)
    index.note_listing("1", "tX")
    # not ready, not committed: the next run knows nothing of it
    assert index.commit() == 0
    index.ready("1")
    assert index.commit() == 1
    index.note_list(ListMark("https://news.china.com/a/", "2025-11-24T20:00:00+08:00", 3, "x"))
    later = Fetch("2025-11-24T13:30:00+00:00", '"abc"', "Mon, 24 Nov 2025 11:00:00 GMT")
    index.note_check("1", later, "not_modified")
    index.commit()
    index.close()
    again = ArticleIndex(tmp_path / "i.sqlite3")
    got = again.fetch_state("1")
    assert got.first_fetched == "2025-11-24T12:00:00+00:00"
    assert got.last_fetched == "2025-11-24T13:30:00+00:00"
    assert (got.etag, got.last_modified) == ('"abc"', "Mon, 24 Nov 2025 11:00:00 GMT")
    assert (got.last_check, got.checks, got.listings) == ("not_modified", 2, frozenset({"tX"}))
    mark = again.list_mark("https://news.china.com/a/")
    assert mark is not None and (mark.newest_at, mark.pages) == ("2025-11-24T20:00:00+08:00", 3)
    assert list(again.originals()) == [
        ("1", "https://news.china.com/a/1.html", got.first_fetched, got.last_fetched)
    ]
    again.close()


def test_a_listing_waits_for_the_articles_fetch(tmp_path: Path) -> None:
    """An entry seen for an article is written only once the article's fetch is committed:
    an edit that showed in its list entry is not marked seen before it is in the outputs."""
    index = ArticleIndex(tmp_path / "i.sqlite3")
    index.record("1", "https://news.china.com/a/1.html", content_hash="h")
    index.ready("1")
    index.commit()
    index.note_listing("1", "tNew")
    index.commit()
    assert "tNew" not in index.fetch_state("1").listings  # the article was not fetched
    index.note_check("1", Fetch("2025-11-24T13:00:00+00:00"), "unchanged")
    index.commit()
    assert "tNew" in index.fetch_state("1").listings
    index.close()


def test_an_index_of_the_earlier_schema_gains_the_fetch_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    script = """
    CREATE TABLE seen (key TEXT PRIMARY KEY, url TEXT NOT NULL, content_hash TEXT,
        version INTEGER NOT NULL DEFAULT 1, duplicate_of TEXT, signature BLOB,
        published_at TEXT, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL);
    CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta VALUES ('schema_version', '1');
    INSERT INTO seen VALUES ('1', 'https://news.china.com/a/1.html', 'h', 1, NULL, NULL,
        NULL, '2025-11-20T00:00:00+00:00', '2025-11-21T00:00:00+00:00');
    """
    with sqlite3.connect(path) as db:
        db.executescript(script)
    index = ArticleIndex(path)
    got = index.fetch_state("1")
    # first and last recorded stand in for the fetches the old index did not keep
    assert (got.first_fetched, got.last_fetched) == (
        "2025-11-20T00:00:00+00:00",
        "2025-11-21T00:00:00+00:00",
    )
    index.close()
    with sqlite3.connect(path) as db:
        version = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
    assert version == ("2",)


def test_a_bad_recheck_argument_fails_at_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SCRAPY, "crawl", "china_com", "-a", "recheck=sometimes"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "recheck: 'sometimes' is not none, due or all" in result.stderr
    assert "Traceback" not in result.stderr
