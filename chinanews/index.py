"""The cross-run article index: what earlier crawls (and this one) have already seen.

One row per article key (china.com's article id, or the canonical URL when there is none):
its URL, content hash, version, the article it duplicates if it is a copy, and its
near-duplicate signature. Embedded SQLite by default (``<data dir>/index/<spider>.sqlite3``,
``CHINANEWS_INDEX_PATH``); ``CHINANEWS_INDEX_PATH=:memory:`` keeps it for one run only.

``CrawlState.of(crawler)`` opens the index once per crawl and shares it between the spider
(which skips article URLs it already knows) and the deduplication pipelines; it also holds
the duplicates output and the near-duplicate index, and closes them when the spider closes.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler

from chinanews.dedup.near import MinHashIndex
from chinanews.outputs import JsonLines, beside_output

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    key TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    content_hash TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    duplicate_of TEXT,
    signature BLOB,
    published_at TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_content_hash ON seen (content_hash);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema_version', '1');
"""


@dataclass(frozen=True)
class Seen:
    key: str
    url: str
    content_hash: str | None
    version: int
    duplicate_of: str | None


class ArticleIndex:
    """SQLite-backed memory of seen articles. Writes are grouped in transactions and
    committed every ``commit_every`` records and at close."""

    def __init__(self, path: str | Path, commit_every: int = 500) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.commit_every = commit_every
        self._pending = 0

    def __len__(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM seen").fetchone()[0])

    def get(self, key: str) -> Seen | None:
        row = self.db.execute(
            "SELECT key, url, content_hash, version, duplicate_of FROM seen WHERE key = ?", (key,)
        ).fetchone()
        return Seen(*row) if row else None

    def knows(self, key: str) -> bool:
        return self.db.execute("SELECT 1 FROM seen WHERE key = ?", (key,)).fetchone() is not None

    def original_with_hash(self, content_hash: str, other_than: str) -> str | None:
        """The URL of an original (not itself a duplicate) article with this content hash."""
        row = self.db.execute(
            "SELECT url FROM seen WHERE content_hash = ? AND key != ? AND duplicate_of IS NULL LIMIT 1",
            (content_hash, other_than),
        ).fetchone()
        return row[0] if row else None

    def url_of(self, key: str) -> str | None:
        row = self.db.execute("SELECT url FROM seen WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def record(
        self,
        key: str,
        url: str,
        *,
        content_hash: str | None,
        version: int = 1,
        duplicate_of: str | None = None,
        signature: bytes | None = None,
        published_at: str | None = None,
    ) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.db.execute(
            """INSERT INTO seen (key, url, content_hash, version, duplicate_of, signature, published_at,
                                 first_seen, last_seen)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET
                 url = excluded.url, content_hash = excluded.content_hash, version = excluded.version,
                 duplicate_of = excluded.duplicate_of, signature = excluded.signature,
                 published_at = excluded.published_at, last_seen = excluded.last_seen""",
            (key, url, content_hash, version, duplicate_of, signature, published_at, now, now),
        )
        self._pending += 1
        if self._pending >= self.commit_every:
            self.commit()

    def signatures(self) -> Iterator[tuple[str, bytes]]:
        """(key, signature) of every original article, to rebuild the near-duplicate index."""
        yield from self.db.execute(
            "SELECT key, signature FROM seen WHERE duplicate_of IS NULL AND signature IS NOT NULL"
        )

    def commit(self) -> None:
        self.db.commit()
        self._pending = 0

    def close(self) -> None:
        self.commit()
        self.db.close()


def index_path(crawler: Crawler) -> str:
    explicit = crawler.settings.get("CHINANEWS_INDEX_PATH")
    if explicit:
        return str(explicit)
    data_dir = crawler.settings.get("CHINANEWS_DATA_DIR") or "data"
    name = getattr(crawler.spider, "name", None) or "crawl"
    return str(Path(data_dir) / "index" / f"{name}.sqlite3")


class CrawlState:
    """Per-crawl shared state of the deduplication layers (see the module docstring)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.fresh = bool(getattr(getattr(crawler.spider, "args", None), "fresh", False))
        path = index_path(crawler)
        if self.fresh and path != ":memory:" and Path(path).exists():
            # A full re-crawl starts the index over; the old one stays beside it.
            for suffix in ("", "-wal", "-shm"):
                if Path(path + suffix).exists():
                    os.replace(path + suffix, path + ".previous" + suffix)
            logger.info("Fresh crawl: the previous article index was moved to %s.previous", path)
        self.index = ArticleIndex(path)
        self.duplicates = JsonLines(beside_output(crawler, ".duplicates.jsonl"))
        self.near: Any = MinHashIndex()
        loaded = 0
        for key, blob in self.index.signatures():
            self.near.add(key, self.near.load_signature(blob))
            loaded += 1
        self.emitted_this_run: dict[str, str] = {}
        #: Near-duplicate signatures computed for items still on their way to RecordPipeline.
        self.pending_signatures: dict[str, Any] = {}
        logger.info(
            "Article index %s: %d articles known from earlier crawls%s",
            self.index.path,
            loaded,
            " (fresh crawl: starting over)" if self.fresh else "",
        )

    @classmethod
    def of(cls, crawler: Crawler) -> CrawlState:
        state: CrawlState | None = getattr(crawler, "_chinanews_state", None)
        if state is None:
            state = cls(crawler)
            crawler._chinanews_state = state  # type: ignore[attr-defined]
            crawler.signals.connect(state.close, signal=signals.spider_closed)
        return state

    def write_duplicate(self, record: dict[str, Any], *, duplicate_of: str, layer: str) -> None:
        self.duplicates.write({"duplicate_of": duplicate_of, "layer": layer, "item": record})

    def close(self) -> None:
        if self.duplicates.count:
            logger.info("%d duplicates written to %s", self.duplicates.count, self.duplicates.path)
        self.duplicates.close()
        self.index.close()
        self.crawler._chinanews_state = None  # type: ignore[attr-defined]
