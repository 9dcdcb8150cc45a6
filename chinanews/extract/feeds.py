"""The site's JSON and JavaScript feeds, read as lists of entries.

- ``rank.china.com/rank/cms/<ch>/day/rank_all.js``: ``var day_top={…,"list":[{title,url,createTime}]}``;
  ``rank.js``: ``day_top['305']={…}`` assignments;
- ``finance.china.com/index/getNewsInfo?page=N&column_id=…``: ``{"content":[{url, delivery_time, title}]}``;
- ``<list>/p/N``: ``{"data":[{url, delivery_time}]}``;
- ``junshi.china.com/api/artical`` / ``finance.china.com/api/article``: ``mili_data`` /
  ``cjchina_data`` objects whose members are lists of ``{url, title}``.

Malformed input gives a ``ListPage`` with no entries; nothing here raises.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from chinanews.dates import BEIJING, to_iso
from chinanews.extract.html import UrlJoiner, decode
from chinanews.extract.model import ListEntry, ListPage
from chinanews.extract.text import clean_or_none

logger = logging.getLogger(__name__)

# an identifier (of at most 64 characters) is tried only where one starts, not inside a word, a
# string or brackets: a long run of word characters costs next to nothing, not a scan per
# character
_ASSIGN = re.compile(
    r"(?:var\s+)?(?<![\w$'\"\[])[A-Za-z_$][\w$]{0,63}(?![\w$])"
    r"(?:\s*\[\s*['\"]?[-\w]{1,64}['\"]?\s*\])*\s*=\s*(?=[\[{])"
)
_FLAT_OBJECT = re.compile(r"\{[^{}]*\}")
_FIELD = re.compile(
    r"""(?<!\w)["']?(\w+)["']?\s*:\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\d+))"""
)
_URL_KEYS = ("url", "newsurl", "link", "href", "arturl")
_TITLE_KEYS = ("title", "newtitle", "short_title", "pre_title", "name")
_TIME_KEYS = ("createTime", "delivery_time", "newscdate", "publish_time", "pubtime", "time", "date")
_PAGE_PATH = re.compile(r"/p/(\d+)/?$")
_DECODER = json.JSONDecoder(strict=False)
#: Assignments whose right-hand side is not JSON tried before giving up: each failure costs
#: a scan of the text before it (the error's line number), so a body of nothing but
#: ``x = {`` would be quadratic.
_MAX_FAILED = 100


def _values(text: str) -> list[Any]:
    """Every JSON value in a feed body: the body itself, or the right-hand sides of its
    ``name = {…}`` assignments, or a JSONP call's argument."""
    stripped = text.strip().lstrip("\ufeff")
    if stripped[:1] in ("{", "["):
        try:
            return [_DECODER.decode(stripped)]
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            pass
    out: list[Any] = []
    failed = 0
    for m in _ASSIGN.finditer(stripped):
        try:
            value, _ = _DECODER.raw_decode(stripped, m.end())
        except (ValueError, RecursionError):
            failed += 1
            if failed >= _MAX_FAILED:
                break
            continue
        out.append(value)
    if not out:
        start = min((i for i in (stripped.find("{"), stripped.find("[")) if i >= 0), default=-1)
        if start >= 0:
            with contextlib.suppress(ValueError, RecursionError):
                out.append(_DECODER.raw_decode(stripped, start)[0])
    return out


def _records(value: Any) -> list[dict[str, Any]]:
    """Dicts carrying a URL, depth first in document order."""
    out: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if any(isinstance(item.get(k), str) and item.get(k) for k in _URL_KEYS):
                out.append(item)
            else:
                stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return out


def _loose_records(text: str) -> list[dict[str, Any]]:
    """Flat ``{url: '…', title: '…'}`` objects of a JavaScript literal that is not JSON."""
    out = []
    for chunk in _FLAT_OBJECT.findall(text):
        record: dict[str, Any] = {}
        for m in _FIELD.finditer(chunk):
            raw = m.group(2) if m.group(2) is not None else m.group(3)
            if raw is not None:
                try:
                    raw = json.loads(f'"{raw}"')
                except ValueError:
                    raw = raw.replace("\\/", "/")
            record[m.group(1)] = raw if raw is not None else m.group(4)
        if any(record.get(k) for k in _URL_KEYS):
            out.append(record)
    return out


def _time(value: Any) -> tuple[str | None, str | None]:
    if value is None or value == "":
        return None, None
    raw = str(value).strip()
    if raw.isdigit() and len(raw) in (10, 13):
        seconds = int(raw) / (1000 if len(raw) == 13 else 1)
        try:
            return datetime.fromtimestamp(seconds, BEIJING).isoformat(), raw
        except (OverflowError, OSError, ValueError):
            return None, raw
    return to_iso(raw), raw


def _entry(record: dict[str, Any], join: UrlJoiner) -> ListEntry | None:
    href = next(
        (record[k] for k in _URL_KEYS if isinstance(record.get(k), str) and record[k]), None
    )
    url = join(href)
    if not url:
        return None
    title = next(
        (
            clean_or_none(record[k])
            for k in _TITLE_KEYS
            if isinstance(record.get(k), str) and record[k].strip()
        ),
        None,
    )
    iso, raw = _time(next((record[k] for k in _TIME_KEYS if record.get(k) not in (None, "")), None))
    return ListEntry(url=url, title=title, published_at=iso, published_at_raw=raw)


def _next_page(url: str) -> str | None:
    """``getNewsInfo?page=N`` → ``page=N+1``; ``…/p/N`` → ``…/p/N+1``."""
    parts = urlsplit(url)
    if parts.path.endswith("getNewsInfo"):
        query = parse_qsl(parts.query, keep_blank_values=True)
        current = next((v for k, v in query if k == "page"), "1")
        number = int(current) + 1 if current.isdigit() else 2
        if any(k == "page" for k, _ in query):
            query = [(k, str(number) if k == "page" else v) for k, v in query]
        else:
            query.insert(0, ("page", str(number)))
        return urlunsplit(parts._replace(query=urlencode(query), fragment=""))
    m = _PAGE_PATH.search(parts.path)
    if m:
        path = parts.path[: m.start()] + f"/p/{int(m.group(1)) + 1}"
        return urlunsplit(parts._replace(path=path, fragment=""))
    return None


def parse_feed(url: str, body: str | bytes) -> ListPage:
    """Entries of a feed; ``next_page`` for paged feeds (getNewsInfo, ``/p/N``) with entries."""
    try:
        text = decode(
            body,
            "utf-8"
            if isinstance(body, bytes) and not body[:4096].lstrip().startswith(b"<")
            else None,
        )
        values = _values(text)
        records = [r for v in values for r in _records(v)]
        if not records and not values:
            records = _loose_records(text)
        join = UrlJoiner(url)
        entries: list[ListEntry] = []
        seen: set[str] = set()
        for record in records:
            entry = _entry(record, join)
            if entry is not None and entry.url not in seen:
                seen.add(entry.url)
                entries.append(entry)
        return ListPage(entries=entries, next_page=_next_page(url) if entries else None, links=[])
    except Exception:
        logger.exception("feed parsing failed for %s", url)
        return ListPage()
