"""Where the crawl's side outputs go, and a small JSONL writer for them.

Rejects, duplicates and the crawl report are written beside the main output: for
``-O out.jsonl`` they are ``out.rejects.jsonl``, ``out.duplicates.jsonl`` and
``out.report.json``. With no local feed file, they go under ``CHINANEWS_DATA_DIR``.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from scrapy.crawler import Crawler

#: What may not reach a file name from a spider attribute: path separators, control
#: characters (NUL included), and runs of dots (``..`` climbs out of the directory).
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]|\.\.+")


def path_safe(value: Any) -> Any:
    """``value`` fit to be one part of a file name: numbers as they are (``%(batch_id)05d``),
    anything else as text whose separators, control characters and ``..`` are ``_``.
    Spider attributes fill feed URI parameters, and ``-a NAME=VALUE`` sets any of them."""
    if isinstance(value, (int, float)):
        return value
    return _UNSAFE.sub(lambda m: "_" * len(m.group()), str(value))


class PathSafeParams(dict[str, Any]):
    """Feed URI parameters whose values are made ``path_safe`` as they are read (by
    ``uri % params``), so that the spider's many attributes are not all turned to text."""

    def __getitem__(self, key: str) -> Any:
        return path_safe(super().__getitem__(key))


class _SpiderParams(dict[str, Any]):
    """Feed URI parameters (``%(name)s``, ``%(time)s``) looked up on the spider on demand,
    each made ``path_safe`` as ``FEED_URI_PARAMS`` makes them for the feed itself."""

    def __init__(self, spider: Any) -> None:
        super().__init__()
        self.spider = spider

    def __missing__(self, key: str) -> Any:
        if key == "time":
            return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace(":", "-")
        return path_safe(getattr(self.spider, key))


def main_output(crawler: Crawler) -> Path | None:
    """The first local file among ``FEEDS``, with its URI parameters filled in."""
    params = _SpiderParams(crawler.spider)
    for uri in crawler.settings.getdict("FEEDS"):
        uri = str(uri)
        if "://" in uri and not uri.startswith("file://"):
            continue
        try:
            return Path(uri.removeprefix("file://") % params)
        except (KeyError, ValueError, TypeError, AttributeError):
            continue
    return None


def beside_output(crawler: Crawler, suffix: str) -> Path:
    """``<main output without extension><suffix>``, or ``<data dir>/<spider>-<run>`` + suffix."""
    main = main_output(crawler)
    if main is not None:
        return Path(os.path.splitext(main)[0] + suffix)
    spider = crawler.spider
    name = path_safe(getattr(spider, "name", "crawl"))
    run_id = path_safe(
        getattr(spider, "run_id", datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    )
    data_dir = crawler.settings.get("CHINANEWS_DATA_DIR") or "data"
    return Path(data_dir) / "outputs" / f"{name}-{run_id}{suffix}"


def resumed(crawler: Crawler) -> bool:
    """True for a later attempt of a ``JOBDIR`` run, which appends to its outputs."""
    return crawler.settings.getint("CHINANEWS_ATTEMPT", 1) > 1


class JsonLines:
    """Writes one JSON object per line to a file opened on first write (UTF-8, readable
    Chinese), so an empty side output leaves no empty file behind. The file is started
    afresh, or appended to with ``append=True`` (a resumed run)."""

    def __init__(self, path: Path, append: bool = False) -> None:
        self.path = path
        self.append = append
        self.count = 0
        self._file: IO[str] | None = None

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a" if self.append else "w", encoding="utf-8")
        self._file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self.count += 1

    def sync(self) -> None:
        """Flush and fsync: what was written survives a kill and a power cut."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
