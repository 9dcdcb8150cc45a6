"""Times in the lake: the site's zone and ISO 8601 parsing (no pyarrow needed here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

SITE_TZ = "Asia/Shanghai"
"""The zone china.com prints its times in (UTC+08:00, no daylight saving)."""

SITE_ZONE = ZoneInfo(SITE_TZ)


def parse_time(value: Any) -> datetime | None:
    """An aware ``datetime`` from an ISO 8601 string (or a ``datetime``); ``None`` and ``""``
    give ``None``. A time without an offset is taken as the site's (Beijing) time."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise TypeError(f"not a time: {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=SITE_ZONE)
    return parsed
