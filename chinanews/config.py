"""Every setting of our own, what it accepts, and the check that stops a crawl at start.

``TABLE`` names each setting of ours (every ``CHINANEWS_*``, plus ``DATABASE_URL`` and
``REDIS_URL``) with its kind: a positive or non-negative integer or number, a boolean, a
path, the lake's URL, the coverage dict, a list of hosts, a fault point, text. A setting
whose value cannot work is found by :func:`check_settings`, which ``scrapy crawl`` calls
before anything else (``chinanews/commands/crawl.py``): one line on stderr, exit code 2,
instead of a traceback from inside the engine, or a crawl that quietly does something else::

    error: CHINANEWS_CHECKPOINT_ITEMS: '-1' is not a non-negative integer; e.g. -s CHINANEWS_CHECKPOINT_ITEMS=500

Values are read as the code reads them, through Scrapy's getters (``getint``, ``getfloat``,
``getbool``, ``getdict``, ``getlist``): what they raise on is rephrased, and what they take
is checked against the range the code can use. A setting that is not set at all (``None``)
keeps the code's default and is not checked.

The settings marked ``Elsewhere`` are checked by the module that uses them, which ``scrapy
crawl`` calls right after this one (``chinanews.index.check_settings`` for the index
backend and Redis, ``chinanews.storage.check_settings`` for the database); they are listed
here so that the table holds every setting (``tests/test_config.py`` greps the package for
names missing from it). ``docs/settings.md`` documents every one.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from scrapy.settings import BaseSettings, default_settings

from chinanews.items import ARTICLE_FIELDS

__all__ = ["FAULT_POINTS", "TABLE", "Setting", "SettingError", "check_settings"]

#: Where ``CHINANEWS_FAULT`` can kill the crawl on purpose (tests of crash safety, in
#: ``chinanews.lifecycle``): ``<point>`` or ``<point>:<n>`` (at the n-th checkpoint).
FAULT_POINTS = ("after_outputs_before_index",)


class SettingError(ValueError):
    """A setting that cannot work: the message starts with its name and says what to fix."""


class Kind:
    """What one setting accepts. ``accepts`` says it in words; ``problem`` says why the
    setting's value in ``settings`` cannot work (the words that follow the quoted value in
    the message), or returns None when it can."""

    @property
    def accepts(self) -> str:
        raise NotImplementedError

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        raise NotImplementedError


def _finite(value: Any) -> float | None:
    """``value`` as a finite float (as ``float()`` reads it), or None; booleans are not
    numbers here."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _control(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)


@dataclass(frozen=True)
class Int(Kind):
    """An integer, as ``settings.getint`` reads it, at least ``minimum``."""

    minimum: int = 1

    @property
    def accepts(self) -> str:
        return "a positive integer" if self.minimum == 1 else "a non-negative integer"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        try:
            value = settings.getint(name)
        except (TypeError, ValueError):
            return f"is not {self.accepts}"
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            return f"is not {self.accepts}"
        return None if value >= self.minimum else f"is not {self.accepts}"


@dataclass(frozen=True)
class Float(Kind):
    """A finite number of seconds, as ``settings.getfloat`` reads it: above 0
    (``positive``) or at least 0."""

    positive: bool = True
    #: What 0 means, for the words of a non-negative one.
    zero: str = ""

    @property
    def accepts(self) -> str:
        if self.positive:
            return "a positive number of seconds"
        return f"a number of seconds, 0 or more{f' ({self.zero})' if self.zero else ''}"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        try:
            value = settings.getfloat(name)
        except (TypeError, ValueError):
            return f"is not {self.accepts}"
        if isinstance(raw, bool) or not math.isfinite(value):
            return f"is not {self.accepts}"
        if value < 0 or (self.positive and value == 0):
            return f"is not {self.accepts}"
        return None


@dataclass(frozen=True)
class Bool(Kind):
    """A boolean, as ``settings.getbool`` reads it."""

    @property
    def accepts(self) -> str:
        return "a boolean: 1/0, true/false or True/False"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        try:
            settings.getbool(name)
        except (TypeError, ValueError):
            return f"is not {self.accepts}"
        return None


@dataclass(frozen=True)
class Text(Kind):
    """Text on one line (no control characters), at most ``max_length`` characters,
    matching ``pattern`` (``what`` says it in words) when there is one; empty for the
    default."""

    max_length: int = 0
    pattern: str = ""
    what: str = "text on one line"

    @property
    def accepts(self) -> str:
        limit = f" of at most {self.max_length} characters" if self.max_length else ""
        return f"{self.what}{limit}"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        if not isinstance(raw, (str, int)) or isinstance(raw, bool):
            return f"is not {self.accepts}"
        text = str(raw)
        if not text:
            return None
        if _control(text):
            return f"has a control character (a line break, a tab, …); give {self.accepts}"
        if self.max_length and len(text) > self.max_length:
            return f"is {len(text)} characters long; give {self.accepts}"
        if self.pattern and not re.fullmatch(self.pattern, text):
            return f"is not {self.accepts}"
        return None


@dataclass(frozen=True)
class PathSetting(Kind):
    """A path on local disk (empty for the default, ``special`` values as they are):
    ``directory`` when it must be one if it exists, else a file; no control characters."""

    directory: bool = False
    special: tuple[str, ...] = ()
    #: False when another check looks at the file when it is used (the browser).
    check_existing: bool = True

    @property
    def accepts(self) -> str:
        what = "a directory" if self.directory else "a file path"
        return " or ".join([what, *self.special])

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        if not isinstance(raw, (str, os.PathLike)):
            return f"is not {self.accepts}"
        text = os.fspath(raw)
        if not isinstance(text, str):
            return f"is not {self.accepts}"
        if not text or text in self.special:
            return None
        if _control(text):
            return f"has a control character (a line break, a tab, …); give {self.accepts}"
        if not self.check_existing:
            return None
        if self.directory and os.path.exists(text) and not os.path.isdir(text):
            return "exists and is not a directory; give a directory (it is created if missing)"
        if not self.directory and os.path.isdir(text):
            return "is a directory; give a file path (its directory is created if missing)"
        return None


@dataclass(frozen=True)
class Coverage(Kind):
    """``CHINANEWS_MIN_COVERAGE``: a dict (JSON in ``-s``) from the report's field names to
    the minimum share of articles that have the field, between 0 and 1 (0: no check);
    read as ``chinanews.report.min_coverage`` reads it."""

    fields: tuple[str, ...] = ARTICLE_FIELDS

    @property
    def accepts(self) -> str:
        return "a JSON object of report field names to shares between 0 and 1"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        try:
            limits = settings.getdict(name)
        except (TypeError, ValueError):
            return f"is not {self.accepts}"
        for field, limit in limits.items():
            if field not in self.fields:
                return (
                    f"names {field!r}, not a field of the report; use some of "
                    f"{', '.join(self.fields)}"
                )
            if limit in (None, ""):
                continue  # no check, as min_coverage reads it
            share = _finite(limit)
            if share is None or not 0 <= share <= 1:
                return f"gives {field} {limit!r}, not a share between 0 and 1"
        return None


@dataclass(frozen=True)
class Hosts(Kind):
    """Host names, as ``settings.getlist`` reads them (comma-separated in ``-s``); empty
    for the default list."""

    @property
    def accepts(self) -> str:
        return "host names separated by commas (no spaces, no scheme, no path)"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        try:
            hosts = settings.getlist(name)
        except (TypeError, ValueError):
            return f"is not {self.accepts}"
        for host in hosts:
            if not isinstance(host, str) or not re.fullmatch(
                r"\.?([A-Za-z0-9_-]+\.)*[A-Za-z0-9_-]+", host
            ):
                return f"holds {host!r}, not a host name; give {self.accepts}"
        return None


@dataclass(frozen=True)
class Fault(Kind):
    """``CHINANEWS_FAULT``: empty, or one of ``points``, optionally ``:<n>`` (at the n-th
    checkpoint, n ≥ 1), as ``chinanews.lifecycle.CrawlRun`` reads it."""

    points: tuple[str, ...] = FAULT_POINTS

    @property
    def accepts(self) -> str:
        return f"empty, or one of {', '.join(self.points)}, optionally followed by :N"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        text = str(raw)
        if not text:
            return None
        point, _, at = text.partition(":")
        if point not in self.points:
            return f"is not a fault point; leave it empty (it is a test hook) or give one of {', '.join(self.points)}"
        if at and not (at.isdigit() and int(at) >= 1):
            return f"counts {at!r}, not a checkpoint number (1 or more) after the colon"
        return None


@dataclass(frozen=True)
class Timestamp(Kind):
    """An ISO 8601 date and time (``datetime.fromisoformat``), or empty."""

    @property
    def accepts(self) -> str:
        return "an ISO 8601 date and time"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        if raw in ("", None):
            return None
        try:
            datetime.fromisoformat(str(raw))
        except ValueError:
            return f"is not {self.accepts}"
        return None


#: Feed storage schemes that need a bucket or a host after ``//``.
_NEEDS_NETLOC = {"s3": "a bucket", "gs": "a bucket", "ftp": "a host", "ftps": "a host"}


def _feed_schemes(settings: BaseSettings) -> list[str]:
    """The URI schemes Scrapy has a feed storage for (``FEED_STORAGES`` and its base)."""
    if settings.get("FEED_STORAGES_BASE") is None:
        storages = {**default_settings.FEED_STORAGES_BASE, **settings.getdict("FEED_STORAGES")}
    else:
        storages = dict(settings.getwithbase("FEED_STORAGES"))
    return sorted(scheme for scheme, path in storages.items() if scheme and path)


def _redact(text: str) -> str:
    """``text`` with the password of a URL replaced (as ``chinanews.index.redact``)."""
    return re.sub(r"(//[^:/@\s]*:)[^/\s]*@", r"\1***@", text)


@dataclass(frozen=True)
class Lake(Kind):
    """``CHINANEWS_LAKE``: empty, a local directory (or ``file://``), ``s3://bucket[/prefix]``,
    or a URI of another feed storage Scrapy has (``gs://bucket/…``, ``ftp://host/…``); no
    credentials in it (``chinanews.lake.addon.lake_feed`` refuses them)."""

    @property
    def accepts(self) -> str:
        return "a directory, s3://bucket[/prefix] or another feed storage's URI"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        if not isinstance(raw, (str, os.PathLike)):
            return f"is not {self.accepts}"
        lake = str(os.fspath(raw)).strip()
        if not lake:
            return None
        if _control(lake):
            return f"has a control character (a line break, a tab, …); give {self.accepts}"
        try:
            parsed = urlparse(lake)
            credentials = parsed.username or parsed.password
        except ValueError as exc:
            return f"is not a URL ({exc}); give {self.accepts}"
        scheme = parsed.scheme.lower()
        if len(scheme) <= 1:  # a relative or absolute path, C:\… too
            return PathSetting(directory=True).problem(settings, name, lake)
        if credentials:
            return (
                "holds credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(settings or environment) instead"
            )
        schemes = [s for s in _feed_schemes(settings) if s != "stdout"]  # files, not a stream
        if scheme not in schemes:
            return (
                f"has scheme {scheme}:, which no feed storage handles; give a directory, "
                f"s3://bucket[/prefix] or a URI of {', '.join(schemes)}"
            )
        if scheme == "file":
            path = lake[len("file://") :] if lake.lower().startswith("file://") else ""
            if not path.strip("/"):
                return "names no directory; give file:///path/to/lake, or the path alone"
            return None
        needs = _NEEDS_NETLOC.get(scheme)
        if needs and not parsed.hostname:
            return f"names no {needs.split()[-1]}; give {scheme}://{needs.split()[-1]}[/prefix]"
        return None


@dataclass(frozen=True)
class Elsewhere(Kind):
    """A setting checked by the module that uses it (``where``), which ``scrapy crawl``
    calls after :func:`check_settings`: not checked here, so that it is checked once."""

    where: str = ""

    @property
    def accepts(self) -> str:
        return f"a value {self.where} accepts"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        return None


class Dict(Kind):
    """A JSON object of text values (``getdict``)."""

    @property
    def accepts(self) -> str:
        return "a JSON object of names to text values"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        try:
            values = settings.getdict(name)
        except (TypeError, ValueError):
            return f"is not {self.accepts}"
        if any(isinstance(v, (dict, list)) for v in values.values()):
            return f"is not {self.accepts}"
        return None


class Choice(Kind):
    """One of a few words."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    @property
    def accepts(self) -> str:
        return "one of " + ", ".join(self.choices)

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        text = str(raw).strip().lower()
        return None if text in self.choices else f"is not {self.accepts}"


class Ages(Kind):
    """Increasing ages (``1h,6h,24h,72h``), or ``none`` (``chinanews.recheck``)."""

    @property
    def accepts(self) -> str:
        return "increasing ages such as 1h,6h,24h,72h (units s, m, h, d), or none"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        from chinanews.recheck import parse_schedule

        try:
            parse_schedule(raw)
        except ValueError:
            return f"is not {self.accepts}"
        return None


class Duration(Kind):
    """A positive duration such as ``30m``, ``12h`` or ``7d`` (``chinanews.lake.maintain``)."""

    @property
    def accepts(self) -> str:
        return "a duration such as 30m, 12h or 7d (units s, m, h, d)"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        from chinanews.lake.maintain import parse_duration

        try:
            parse_duration(raw)
        except ValueError:
            return f"is not {self.accepts}"
        return None


class Contact(Kind):
    """A URL or an e-mail address (``chinanews.identity``)."""

    @property
    def accepts(self) -> str:
        return "a URL (https://…) or an e-mail address"

    def problem(self, settings: BaseSettings, name: str, raw: Any) -> str | None:
        from chinanews.identity import contact_problem

        if not isinstance(raw, str) or _control(raw):
            return f"is not {self.accepts}"
        return contact_problem(raw)


@dataclass(frozen=True)
class Setting:
    """One setting of ours: its kind and a value that works (for the message's example,
    ``-s NAME=<example>``). ``internal`` ones are set by our add-ons, not by users."""

    kind: Kind
    example: str
    internal: bool = False


#: One part of a file name, as ``chinanews.outputs.path_safe`` leaves it: no separator, no
#: ``..``, not hidden.
_RUN_ID = r"(?!\.)(?!.*\.\.)[^/\\]+"

#: Every setting of ours. Keep ``docs/settings.md`` in step (``tests/test_config.py``
#: checks that every name is in this table and in the document).
TABLE: Mapping[str, Setting] = {
    # Where outputs go.
    "CHINANEWS_DATA_DIR": Setting(PathSetting(directory=True), "data"),
    "CHINANEWS_REPORT_FILE": Setting(PathSetting(), "out.report.json"),
    # Quality checks at the end (chinanews.report).
    "CHINANEWS_MIN_ARTICLES": Setting(Int(minimum=0), "1"),
    "CHINANEWS_MIN_COVERAGE": Setting(Coverage(), """'{"title": 0.9}'"""),
    "CHINANEWS_MIN_SAMPLE": Setting(Int(minimum=0), "50"),
    # The article index and its lock (chinanews.index, chinanews.runlock).
    "CHINANEWS_INDEX_BACKEND": Setting(Elsewhere("chinanews.index.check_settings"), "sqlite"),
    "CHINANEWS_INDEX_PATH": Setting(PathSetting(special=(":memory:",)), "data/index.sqlite3"),
    "CHINANEWS_RUN_LOCK": Setting(Bool(), "1"),
    "REDIS_URL": Setting(Elsewhere("chinanews.index.check_settings"), "redis://127.0.0.1:6379/0"),
    "CHINANEWS_REDIS_PREFIX": Setting(Text(), "chinanews:china_com"),
    # Checkpoints (chinanews.lifecycle).
    "CHINANEWS_CHECKPOINT_ITEMS": Setting(Int(minimum=0), "500"),
    "CHINANEWS_CHECKPOINT_SECONDS": Setting(
        Float(positive=False, zero="0: no time-based checkpoints"), "30"
    ),
    "CHINANEWS_FAULT": Setting(Fault(), FAULT_POINTS[0]),
    # The database (chinanews.storage, chinanews.pipelines.store).
    "DATABASE_URL": Setting(
        Elsewhere("chinanews.storage.check_settings"), "sqlite:///data/chinanews.sqlite3"
    ),
    "CHINANEWS_DB_BATCH_SIZE": Setting(Elsewhere("chinanews.storage.check_settings"), "500"),
    "CHINANEWS_DB_FLUSH_SECONDS": Setting(Float(positive=False), "1.0"),
    "CHINANEWS_DB_RETRY_SECONDS": Setting(Float(positive=False), "30"),
    # The lake (chinanews.lake).
    "CHINANEWS_LAKE": Setting(Lake(), "s3://bucket/prefix"),
    "CHINANEWS_LAKE_BATCH_ITEM_COUNT": Setting(Int(minimum=0), "10000"),
    "CHINANEWS_LAKE_FORMAT": Setting(Choice("iceberg", "parquet"), "iceberg"),
    "CHINANEWS_LAKE_CATALOG": Setting(
        Elsewhere("chinanews.lake.iceberg.check_settings"), "sqlite:///data/lake-catalog.sqlite3"
    ),
    "CHINANEWS_LAKE_TABLE": Setting(
        Text(max_length=200, pattern=r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+", what="namespace.table"),
        "chinanews.articles",
    ),
    "CHINANEWS_LAKE_PARTITION": Setting(Choice("beijing_day", "utc_day"), "beijing_day"),
    "CHINANEWS_LAKE_CATALOG_PROPERTIES": Setting(Dict(), """'{"credential": "id:secret"}'"""),
    "CHINANEWS_LAKE_RETRY_SECONDS": Setting(Float(positive=True), "30"),
    "CHINANEWS_LAKE_SNAPSHOT_RETENTION": Setting(Duration(), "7d"),
    # What a scheduled run fetches again (chinanews.recheck), and who asks (chinanews.identity).
    "CHINANEWS_RECHECK": Setting(Choice("none", "due", "all"), "due"),
    "CHINANEWS_RECHECK_AFTER": Setting(Ages(), "1h,6h,24h,72h"),
    "CHINANEWS_CONTACT": Setting(Contact(), "https://data.example.com/crawler"),
    # Rendering (chinanews.rendering); the browser itself is checked when rendering is on.
    "CHINANEWS_BROWSER_PATH": Setting(PathSetting(check_existing=False), "/usr/bin/chromium"),
    "CHINANEWS_RENDER_TIMEOUT": Setting(Float(positive=True), "10"),
    "CHINANEWS_RENDER_AD_HOSTS": Setting(Hosts(), "doubleclick.net,cnzz.com"),
    # Distributed crawls (chinanews.distributed).
    "CHINANEWS_DISTRIBUTED": Setting(Bool(), "1"),
    "CHINANEWS_IDLE_TIMEOUT": Setting(Float(positive=True), "60"),
    "CHINANEWS_SHARED_POLITENESS": Setting(Bool(), "0"),
    "CHINANEWS_WORKER_ID": Setting(Text(max_length=100), "worker-1"),
    "CHINANEWS_LEASE_SECONDS": Setting(Float(positive=True), "30"),
    "CHINANEWS_MAX_DELIVERIES": Setting(Int(minimum=1), "3"),
    # Set by the JOBDIR add-on (chinanews.jobdir) for the attempt that follows.
    "CHINANEWS_RUN_ID": Setting(
        Text(
            max_length=100,
            pattern=_RUN_ID,
            what="a file-name part (no / or \\, no .., not starting with .)",
        ),
        "20251124T101500Z",
        internal=True,
    ),
    "CHINANEWS_ATTEMPT": Setting(Int(minimum=1), "1", internal=True),
    "CHINANEWS_RECOVER": Setting(Bool(), "0", internal=True),
    "CHINANEWS_RECOVERING_SINCE": Setting(Timestamp(), "2025-11-24T10:15:00+00:00", internal=True),
    "CHINANEWS_FRONTIER_RESTORED": Setting(Bool(), "0", internal=True),
    "CHINANEWS_REFETCH_KNOWN": Setting(Bool(), "0", internal=True),
}


def check_settings(settings: BaseSettings) -> None:
    """Raise ``SettingError`` for the first setting of ``TABLE`` whose value cannot work:
    ``NAME: 'value' <what is wrong>; e.g. -s NAME=<example>``. Unset ones are skipped."""
    for name, setting in TABLE.items():
        raw = settings.get(name)
        if raw is None:
            continue
        problem = setting.kind.problem(settings, name, raw)
        if problem is None:
            continue
        shown = _redact(raw if isinstance(raw, str) else repr(raw))
        shown = repr(shown) if isinstance(raw, str) else shown
        raise SettingError(f"{name}: {shown} {problem}; e.g. -s {name}={setting.example}")
