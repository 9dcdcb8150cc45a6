"""What a scheduled run fetches again: the re-check schedule, list entries, and conditional
requests with the validators the article index keeps.

A scheduled run fetches what it does not know. An article it knows is fetched again only
when:

- a list or feed entry for it shows another title or time than any entry seen before
  (``listing``): that is where an edit surfaces;
- it is due for a re-check by its age (``CHINANEWS_RECHECK_AFTER``, default
  ``1h,6h,24h,72h`` after it was first fetched): once after each of those ages has passed,
  never after the last (``due``);
- ``-a recheck=all`` (every known article reached is checked again); ``-a recheck=none``
  checks none; ``-a fresh=1`` ignores the index altogether.

The ages are measured on the server's clock (its ``Date`` header) at both ends, the time an
article was first fetched and the time of the page that links it, so a server whose clock
is off shifts both alike.

A re-check is a conditional request (``Revalidate``, a downloader middleware): it sends
``If-None-Match`` with the article's ``ETag`` and ``If-Modified-Since`` with its
``Last-Modified`` when the index holds them. A 304 ends the request there (counted as
``chinanews/recheck/not_modified``, no extraction); a 200 goes on to extraction and the
pipelines say whether it changed (``chinanews/incremental/changed`` or ``unchanged``).
Scrapy's ``HttpCacheMiddleware`` with ``RFC2616Policy`` was not used: it keeps whole
responses in a store of its own and hands a cached response to the callback after a 304,
which would extract the article again; the validators belong in the article index, beside
the rest of the article's state, and committed with it at checkpoints.

Every download is counted by what it was for (``chinanews/requests/<kind>``: ``discovery``
for lists and feeds, ``new`` for articles the index does not know, ``recheck``, ``other``
for an article's later pages, rendering and the like).
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

from chinanews.index import Fetch, FetchState
from chinanews.lifecycle import crawl_run
from chinanews.urls import Link, LinkKind

logger = logging.getLogger(__name__)

STAT = "chinanews"
DEFAULT_SCHEDULE = "1h,6h,24h,72h"


class RecheckMode(enum.Enum):
    """Which known articles a run fetches again (``-a recheck``, ``CHINANEWS_RECHECK``)."""

    NONE = "none"
    DUE = "due"
    ALL = "all"

    @classmethod
    def parse(cls, value: Any, name: str = "recheck") -> RecheckMode:
        text = str(value if value is not None else "due").strip().lower() or "due"
        try:
            return cls(text)
        except ValueError:
            raise ValueError(
                f"{name}: {value!r} is not none, due or all; e.g. -a recheck=due "
                "(known articles due by their age), all, or none"
            ) from None


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_schedule(value: Any) -> tuple[timedelta, ...]:
    """``"1h,6h,24h,72h"`` as increasing ages; ``""`` or ``"none"``: no re-checks by age.
    ValueError with what to fix."""
    text = str(value if value is not None else DEFAULT_SCHEDULE).strip()
    if text.lower() in ("", "none"):
        return ()
    ages = []
    for part in text.split(","):
        m = _AGE.match(part)
        if m is None:
            raise ValueError(
                f"CHINANEWS_RECHECK_AFTER: {part.strip()!r} is not an age; give ages after "
                f"an article was first fetched, e.g. {DEFAULT_SCHEDULE} (units s, m, h, d), "
                "or none"
            )
        ages.append(timedelta(seconds=float(m[1]) * _UNITS[m[2]]))
    if any(b <= a for a, b in pairwise(ages)) or ages[0] <= timedelta(0):
        raise ValueError(
            f"CHINANEWS_RECHECK_AFTER: {text!r}: the ages must be positive and increasing, "
            f"e.g. {DEFAULT_SCHEDULE}"
        )
    return tuple(ages)


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def due(state: FetchState, now: datetime, schedule: Iterable[timedelta]) -> bool:
    """Whether an article is due for a re-check at ``now``: an age of the schedule has passed
    since it was first fetched, and it was not fetched since that age was reached."""
    first, last = _instant(state.first_fetched), _instant(state.last_fetched)
    if first is None:
        return True  # never fetched as far as the index knows: fetch it
    last = last or first
    return any(last < first + age <= now for age in schedule)


def next_due(state: FetchState, now: datetime, schedule: Iterable[timedelta]) -> datetime | None:
    """When the article's next re-check falls due after ``now`` (None: its schedule is over)."""
    first = _instant(state.first_fetched)
    if first is None:
        return None
    return next((first + age for age in schedule if first + age > now), None)


def listing(title: str | None, shown_at: str | None) -> tuple[str, ...]:
    """A list entry's fingerprints: one for the title it shows, and for the time it shows
    (ISO 8601), one for its day and one for its minute. An entry changed when one of them
    was never seen for the article. The same article shown with or without its time (a
    headline slot, a list), to the second (a ranking) or to the minute, or by its day alone,
    has not changed."""
    prints = []
    text = " ".join((title or "").split())
    if text:
        prints.append(_print("t", text))
    if shown_at:
        prints.append(_print("d", shown_at[:10]))
        if len(shown_at) >= 16:
            # the minute, in the zone it was shown in (list times are Beijing's)
            prints.append(_print("m", shown_at[:16] + shown_at[19:].lstrip(".0123456789")))
    return tuple(prints)


def _print(kind: str, text: str) -> str:
    return kind + hashlib.sha1(text.encode("utf-8")).hexdigest()[:11]


def response_time(response: Response | None) -> datetime:
    """When the server answered: its ``Date`` header, else now (UTC)."""
    if response is not None:
        header = response.headers.get(b"Date")
        if header:
            answered = http_date(header.decode("latin-1"))
            if answered is not None:
                return answered
    return datetime.now(timezone.utc)


def http_date(value: str) -> datetime | None:
    """An HTTP date as an aware instant, or None when it is not one."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return moment.astimezone(timezone.utc)


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1").strip() if value else None


class Revalidate:
    """Downloader middleware: counts each download by what it is for, makes a re-check
    conditional, ends a re-check that got a 304, and tells the crawl's state what each
    article download said (``Fetch``: server time, validators, list entries), so that the
    index can keep it once the article is in the outputs (module docstring).

    Bad validators never crash a crawl and are logged once per host and kind: a
    ``Last-Modified`` that is not a date (not kept, ``chinanews/recheck/bad_last_modified``),
    a 304 to a request that had no validators (``chinanews/recheck/unexpected_304``; the
    page is then lost as any other HTTP error, with its reason counted)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._warned: set[tuple[str, str]] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Revalidate:
        return cls(crawler)

    def _inc(self, key: str, count: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(key, count)

    def warn_once(self, host: str, kind: str, message: str, *args: Any) -> None:
        if (host, kind) not in self._warned:
            self._warned.add((host, kind))
            logger.warning(message, *args)

    @staticmethod
    def _article(request: Request) -> Link | None:
        link = request.meta.get("link")
        if isinstance(link, Link) and link.kind is LinkKind.ARTICLE and link.ref is not None:
            return link
        return None

    def process_request(self, request: Request) -> None:
        link = request.meta.get("link")
        rendered = bool(request.meta.get("playwright"))
        if not isinstance(link, Link) or rendered:
            self._inc(f"{STAT}/requests/other")
            return None
        if link.kind in (LinkKind.LIST, LinkKind.FEED):
            self._inc(f"{STAT}/requests/discovery")
            return None
        key = request.meta.get("recheck")
        if not key or self._article(request) is None:
            kind = "new" if link.kind is LinkKind.ARTICLE else "other"
            self._inc(f"{STAT}/requests/{kind}")
            return None
        self._inc(f"{STAT}/requests/recheck")
        state = crawl_run(self.crawler).state.index.fetch_state(str(key))
        if state.etag:
            request.headers[b"If-None-Match"] = state.etag.encode("latin-1", "replace")
        if state.last_modified:
            modified = state.last_modified.encode("latin-1", "replace")
            request.headers[b"If-Modified-Since"] = modified
        return None

    def process_response(self, request: Request, response: Response) -> Response:
        link = self._article(request)
        if link is None or request.meta.get("playwright"):
            return response
        assert link.ref is not None
        key = link.ref.article_id
        host = urlsplit(response.url).netloc
        conditional = b"If-None-Match" in request.headers or b"If-Modified-Since" in request.headers
        if response.status == 304 and not conditional:
            self._inc(f"{STAT}/recheck/unexpected_304")
            self.warn_once(
                host,
                "unexpected_304",
                "%s answered 304 Not Modified to a request without validators (%s): the "
                "page is counted as lost (http_304); said once per host",
                host,
                response.url,
            )
            return response
        if response.status not in (200, 304):
            return response
        modified = _header(response, b"Last-Modified")
        if modified is not None and http_date(modified) is None:
            self._inc(f"{STAT}/recheck/bad_last_modified")
            self.warn_once(
                host,
                "bad_last_modified",
                "%s sends a Last-Modified that is not a date (%r, on %s): not used for "
                "conditional requests; said once per host",
                host,
                modified,
                response.url,
            )
            modified = None
        state = crawl_run(self.crawler).state
        if response.status == 304:
            known = state.index.fetch_state(key)
            fetch = Fetch(
                response_time(response).isoformat(timespec="seconds"),
                _header(response, b"ETag") or known.etag,
                modified or known.last_modified,
            )
            state.index.note_check(key, fetch, "not_modified")
            self._inc(f"{STAT}/recheck/not_modified")
            raise IgnoreRequest(f"not modified since the last fetch: {response.url}")
        fetch = Fetch(
            response_time(response).isoformat(timespec="seconds"),
            _header(response, b"ETag"),
            modified,
        )
        state.fetched(key, fetch, etag_sent=request.headers.get(b"If-None-Match"))
        return response
