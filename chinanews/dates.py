"""Dates as china.com prints them, to ISO 8601 in Beijing time (``+08:00``).

Absolute forms: ``YYYY-MM-DD HH:MM[:SS]``, ``YYYY年M月D日 HH:MM``, ``YYYY/MM/DD``,
``MM-DD HH:MM`` (year inferred, never in the future). Relative forms from list pages:
``刚刚``, ``N分钟前``, ``N小时前``, ``昨天 HH:MM``, ``前天 [HH:MM]``, read against ``now``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

_ABSOLUTE = re.compile(
    r"(?P<y>20\d{2}|19\d{2})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\s*T?\s*(?P<H>\d{1,2})\s*[:：时]\s*(?P<M>\d{1,2})(?:\s*[:：分]\s*(?P<S>\d{1,2}))?)?"
)
_NO_YEAR = re.compile(
    r"(?<!\d)(?P<m>\d{1,2})\s*[-/月]\s*(?P<d>\d{1,2})\s*日?\s+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?"
)
_ISO_WITH_OFFSET = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})$"
)
_COMPACT = re.compile(r"(?<!\d)(?P<y>20\d{2})(?P<m>\d{2})(?P<d>\d{2})(?!\d)")
_MINUTES_AGO = re.compile(r"(\d+)\s*分钟前")
_HOURS_AGO = re.compile(r"(\d+)\s*小时前")
_DAYS_AGO = re.compile(r"(\d+)\s*天前")
_DAY_WORD = re.compile(r"(今天|昨天|前天)\s*(?:(\d{1,2}):(\d{2}))?")
_DATE_IN_TEXT = re.compile(
    r"20\d{2}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?(?:\s*T?\s*\d{1,2}:\d{2}(?::\d{2})?)?"
)


def now_beijing() -> datetime:
    return datetime.now(BEIJING)


def _build(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime | None:
    try:
        return datetime(y, m, d, hh, mm, ss, tzinfo=BEIJING)
    except ValueError:
        return None


def parse_datetime(raw: str | None, now: datetime | None = None) -> datetime | None:
    """Read a date or time the way the site prints it; None when nothing is recognised."""
    if not raw:
        return None
    text = raw.strip()
    if _ISO_WITH_OFFSET.match(text):
        try:
            return datetime.fromisoformat(
                text.replace(" ", "T", 1).replace("Z", "+00:00")
            ).astimezone(BEIJING)
        except ValueError:
            pass  # not a valid ISO time after all: read it like any other form below
    m = _ABSOLUTE.search(text)
    if m:
        return _build(
            int(m["y"]),
            int(m["m"]),
            int(m["d"]),
            int(m["H"] or 0),
            int(m["M"] or 0),
            int(m["S"] or 0),
        )
    now = (now or now_beijing()).astimezone(BEIJING)
    if "刚刚" in text:
        return now.replace(microsecond=0)
    for rx, unit in ((_MINUTES_AGO, "minutes"), (_HOURS_AGO, "hours"), (_DAYS_AGO, "days")):
        r = rx.search(text)
        if r:
            return (now - timedelta(**{unit: int(r.group(1))})).replace(second=0, microsecond=0)
    r = _DAY_WORD.search(text)
    if r:
        back = {"今天": 0, "昨天": 1, "前天": 2}[r.group(1)]
        day = now - timedelta(days=back)
        hh, mm = (int(r.group(2)), int(r.group(3))) if r.group(2) else (0, 0)
        return _build(day.year, day.month, day.day, hh, mm)
    m = _NO_YEAR.search(text)
    if m:
        parts = (int(m["m"]), int(m["d"]), int(m["H"]), int(m["M"]), int(m["S"] or 0))
        found = _build(now.year, *parts)
        if found is not None and found > now + timedelta(minutes=5):
            found = _build(now.year - 1, *parts)
        return found
    m = _COMPACT.search(text)
    if m:
        return _build(int(m["y"]), int(m["m"]), int(m["d"]))
    return None


def to_iso(raw: str | None, now: datetime | None = None) -> str | None:
    """``parse_datetime`` as an ISO 8601 string with the ``+08:00`` offset."""
    found = parse_datetime(raw, now)
    return found.isoformat() if found else None


def find_date_text(text: str) -> str | None:
    """The first absolute date (with its time, if printed) inside a longer string."""
    m = _DATE_IN_TEXT.search(text)
    return m.group(0).strip() if m else None
