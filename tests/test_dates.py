"""Dates as the site prints them, read against a pinned clock."""

from __future__ import annotations

from datetime import datetime

import pytest

from chinanews.dates import BEIJING, find_date_text, to_iso

NOW = datetime(2025, 11, 24, 22, 30, 0, tzinfo=BEIJING)


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("2025-11-24 22:19:13", "2025-11-24T22:19:13+08:00"),
        ("2025-11-24 22:19", "2025-11-24T22:19:00+08:00"),
        ("2025年11月24日 22:19", "2025-11-24T22:19:00+08:00"),
        ("2025年1月4日", "2025-01-04T00:00:00+08:00"),
        ("2025/11/24", "2025-11-24T00:00:00+08:00"),
        ("  2025-11-24 22:19:13  环球网", "2025-11-24T22:19:13+08:00"),
        ("11-24 22:19", "2025-11-24T22:19:00+08:00"),
        ("12-31 10:00", "2024-12-31T10:00:00+08:00"),  # never in the future: last year
        ("刚刚", "2025-11-24T22:30:00+08:00"),
        ("5分钟前", "2025-11-24T22:25:00+08:00"),
        ("3小时前", "2025-11-24T19:30:00+08:00"),
        ("昨天 08:05", "2025-11-23T08:05:00+08:00"),
        ("前天", "2025-11-22T00:00:00+08:00"),
        ("2025-11-24T02:15:00Z", "2025-11-24T10:15:00+08:00"),  # UTC, as JSON-LD may give it
        ("2025-11-24T22:19:13+08:00", "2025-11-24T22:19:13+08:00"),
        ("2025-11-24 14:19:13+00:00", "2025-11-24T22:19:13+08:00"),
    ],
)
def test_to_iso(raw: str, iso: str) -> None:
    assert to_iso(raw, now=NOW) == iso


@pytest.mark.parametrize("raw", [None, "", "参与评论", "2025-13-45 10:00"])
def test_unreadable_dates_give_none(raw: str | None) -> None:
    assert to_iso(raw, now=NOW) is None


def test_find_date_text() -> None:
    assert find_date_text("2018-09-18 13:35:03 \xa0环球网 参与评论") == "2018-09-18 13:35:03"
    assert find_date_text("no date here") is None
    assert find_date_text("datePublished: 2025-11-24T22:19:13+08:00") == "2025-11-24T22:19:13"
