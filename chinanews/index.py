"""The cross-run article index: what earlier crawls (and this one) have already seen.

One row per article key (china.com's article id, or the canonical URL when there is none):
its URL, content hash, version, the article it duplicates if it is a copy, and its
near-duplicate signature. Embedded SQLite by default (``<data dir>/index/<spider>.sqlite3``,
``CHINANEWS_INDEX_PATH``); ``CHINANEWS_INDEX_PATH=:memory:`` keeps it for one run only.

``CHINANEWS_INDEX_BACKEND=redis`` keeps it in Redis instead (``REDIS_URL``, keys under
``CHINANEWS_REDIS_PREFIX``), shared by the workers of a distributed crawl.

``CrawlState`` holds one crawl's index, near-duplicate index and duplicates output; the
crawl's lifecycle (``chinanews.lifecycle.CrawlRun``) opens it, commits the index at its
checkpoints and closes it, and the follow rules and the deduplication pipelines reach it
through ``crawl_run(crawler).state``. Rows wait in memory until their items have reached the
outputs (``BufferedIndex``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler

from chinanews import signals as signals_ours
from chinanews.dedup.near import MinHashIndex, RedisNearDuplicateIndex
from chinanews.outputs import JsonLines, beside_output, path_safe, resumed
from chinanews.sqlite_wal import enable_wal

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
CREATE TABLE IF NOT EXISTS lists (
    url TEXT PRIMARY KEY,
    newest_at TEXT,
    pages INTEGER NOT NULL DEFAULT 1,
    walked_at TEXT NOT NULL
);
"""

#: Columns schema version 2 added to ``seen``: each article's fetches (re-check schedule,
#: conditional requests, list entries; ``chinanews.recheck``).
FETCH_COLUMNS = (
    ("first_fetched", "TEXT"),
    ("last_fetched", "TEXT"),
    ("etag", "TEXT"),
    ("last_modified", "TEXT"),
    ("last_check", "TEXT"),
    ("checks", "INTEGER NOT NULL DEFAULT 0"),
    ("listings", "TEXT"),
)
SCHEMA_VERSION = 2
#: List-entry fingerprints kept per article (the newest).
MAX_LISTINGS = 16


@dataclass(frozen=True)
class Seen:
    key: str
    url: str
    content_hash: str | None
    version: int
    duplicate_of: str | None


@dataclass(frozen=True)
class Fetch:
    """What one download of an article said beside its content: when, by the server's clock
    (its ``Date``; UTC, ISO 8601), and its validators as sent."""

    fetched_at: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchState:
    """An article's fetches, as the index keeps them: the first and the last (server's
    clock), the last validators, how the last check ended (``new``, ``changed``,
    ``unchanged``, ``not_modified``), how many fetches there were, and the list entries seen."""

    first_fetched: str | None
    last_fetched: str | None
    etag: str | None
    last_modified: str | None
    last_check: str | None
    checks: int
    listings: frozenset[str]

    def after(self, fetch: Fetch, outcome: str) -> FetchState:
        return FetchState(
            self.first_fetched or fetch.fetched_at,
            fetch.fetched_at,
            fetch.etag,
            fetch.last_modified,
            outcome,
            self.checks + 1,
            self.listings,
        )

    def listed(self, listings: Iterable[str]) -> FetchState:
        return dataclasses.replace(self, listings=self.listings | frozenset(listings))


NO_FETCH = FetchState(None, None, None, None, None, 0, frozenset())


@dataclass(frozen=True)
class ListMark:
    """What the last walk of a list saw: the newest time an entry showed, and how many
    pages it walked."""

    url: str
    newest_at: str | None
    pages: int
    walked_at: str


@dataclass(frozen=True)
class Row:
    """One article's record, as ``record`` took it and ``commit`` writes it."""

    key: str
    url: str
    content_hash: str | None
    version: int
    duplicate_of: str | None
    signature: bytes | None
    published_at: str | None
    seen_at: str
    #: The download that gave this content, and what it meant (``new``, ``changed``).
    fetch: Fetch | None = None
    outcome: str | None = None

    def seen(self) -> Seen:
        return Seen(self.key, self.url, self.content_hash, self.version, self.duplicate_of)


@dataclass
class Ready:
    """What a checkpoint commits: article rows whose outputs hold them, checks of known
    articles (their content unchanged), list marks."""

    rows: dict[str, Row]
    checks: dict[str, tuple[Fetch, str]]
    lists: dict[str, ListMark]

    def __len__(self) -> int:
        return len(self.rows)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class BufferedIndex:
    """What both backends share: records wait in memory until the outputs hold them.

    ``record`` keeps an article's row in memory, where every read of this crawl sees it at
    once (dedup within the crawl needs that). ``ready(key)`` says the outputs it went to
    hold it now (the crawl lifecycle calls it when the item has left the pipelines and
    reached the feeds), and a checkpoint takes the ready rows (``take_ready``), makes the
    outputs durable, then writes them (``commit``). A row never made ready is never written:
    a kill, or an output that failed, leaves the article unknown, so the next run emits it
    again (``chinanews.lifecycle``)."""

    path = ""

    def __init__(self) -> None:
        self._unsaved: dict[str, Row] = {}
        #: Unsaved originals (not duplicates) by content hash.
        self._unsaved_hashes: dict[str, str] = {}
        self._ready: list[str] = []
        #: Checks of known articles, by key: ready at once (their content is in the outputs).
        self._checks: dict[str, tuple[Fetch, str]] = {}
        self._lists: dict[str, ListMark] = {}
        #: Fetch states read from the backend in this crawl.
        self._states: dict[str, FetchState] = {}
        #: List entries seen in this crawl, by key, written with the article's next fetch.
        self._listed: dict[str, set[str]] = {}
        #: Keys whose fetch this crawl has committed.
        self._fetched: set[str] = set()

    # -- the backend's part -----------------------------------------------------------

    def _load(self, key: str) -> Seen | None:
        raise NotImplementedError

    def _load_field(self, key: str, field: str) -> str | None:
        raise NotImplementedError

    def _load_original(self, content_hash: str, other_than: str) -> str | None:
        raise NotImplementedError

    def _load_fetch(self, key: str) -> FetchState | None:
        raise NotImplementedError

    def _load_list(self, url: str) -> ListMark | None:
        raise NotImplementedError

    def _save(self, rows: list[Row]) -> None:
        raise NotImplementedError

    def _originals(self) -> Iterator[tuple[str, str, str | None, str | None]]:
        """(key, url, first fetched, last fetched) of every original article committed."""
        raise NotImplementedError

    def _save_fetches(self, fetches: dict[str, FetchState], lists: list[ListMark]) -> None:
        raise NotImplementedError

    def _count(self) -> int:
        raise NotImplementedError

    def _write(
        self, rows: list[Row], fetches: dict[str, FetchState], lists: list[ListMark]
    ) -> None:
        """Write one commit (the SQLite index does it in one transaction)."""
        if rows:
            self._save(rows)
        if fetches or lists:
            self._save_fetches(fetches, lists)

    # -- reads: what this crawl recorded first, then the backend --------------------------

    def __len__(self) -> int:
        return self._count() + sum(1 for k in self._unsaved if self._load(k) is None)

    def get(self, key: str) -> Seen | None:
        row = self._unsaved.get(key)
        return row.seen() if row is not None else self._load(key)

    def knows(self, key: str) -> bool:
        return key in self._unsaved or self._load_field(key, "url") is not None

    def last_seen(self, key: str) -> str | None:
        """When the article was last recorded (UTC, ISO 8601), or None."""
        row = self._unsaved.get(key)
        return row.seen_at if row is not None else self._load_field(key, "last_seen")

    def url_of(self, key: str) -> str | None:
        row = self._unsaved.get(key)
        return row.url if row is not None else self._load_field(key, "url")

    def original_with_hash(self, content_hash: str, other_than: str) -> str | None:
        """The URL of an original (not itself a duplicate) article with this content hash."""
        key = self._unsaved_hashes.get(content_hash)
        row = self._unsaved.get(key) if key is not None else None
        if row is not None and key != other_than and row.content_hash == content_hash:
            return row.url
        return self._load_original(content_hash, other_than)

    def fetch_state(self, key: str) -> FetchState:
        """The article's fetches as committed by earlier checkpoints and runs (``NO_FETCH``
        for an article never fetched, or recorded before the index kept fetches)."""
        state = self._states.get(key)
        if state is None:
            state = self._load_fetch(key) or NO_FETCH
            self._states[key] = state
        row = self._unsaved.get(key)
        if row is not None and state.last_fetched is None:
            # Recorded in this crawl, not committed yet: fetched now, as far as a re-check goes.
            fetched = row.fetch.fetched_at if row.fetch is not None else row.seen_at
            return dataclasses.replace(state, first_fetched=fetched, last_fetched=fetched)
        return state

    def originals(self) -> Iterator[tuple[str, str, str | None, str | None]]:
        """(key, url, first fetched, last fetched) of every original (not a duplicate)
        article committed, for the re-check schedule (``chinanews.recheck``): one pass over
        the index."""
        return self._originals()

    def list_mark(self, url: str) -> ListMark | None:
        """What the last committed walk of the list at ``url`` saw."""
        return self._load_list(url)

    # -- writes -----------------------------------------------------------------------

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
        fetch: Fetch | None = None,
        outcome: str | None = None,
    ) -> None:
        """Remember an article for this crawl; it is written at the first commit after
        ``ready(key)``, with ``fetch``, the download that gave it, when there was one."""
        row = Row(
            key,
            url,
            content_hash,
            version,
            duplicate_of,
            signature,
            published_at,
            _now(),
            fetch,
            outcome or ("new" if version == 1 else "changed"),
        )
        self._unsaved[key] = row
        if content_hash and duplicate_of is None:
            self._unsaved_hashes.setdefault(content_hash, key)

    def ready(self, key: str) -> None:
        """The outputs the article went to hold it: the next checkpoint may write it."""
        if key in self._unsaved:
            self._ready.append(key)

    def note_check(self, key: str, fetch: Fetch, outcome: str) -> None:
        """A known article was fetched again and its content had not changed (``unchanged``:
        the same body; ``not_modified``: a 304): ready for the next checkpoint at once."""
        self._checks[key] = (fetch, outcome)

    def note_listing(self, key: str, fingerprint: str) -> None:
        """A list entry for ``key`` showed ``fingerprint`` (``chinanews.recheck.listing``).
        It is written with the article's fetch in this crawl, once that is committed: an
        entry that changed with the article is not marked seen before the change is in the
        outputs."""
        self._listed.setdefault(key, set()).add(fingerprint)

    def note_list(self, mark: ListMark) -> None:
        """What this crawl's walk of a list saw (committed at the next checkpoint; this
        crawl's ``list_mark`` still answers with the earlier walk's)."""
        self._lists[mark.url] = mark

    def take_ready(self) -> Ready:
        """What was made ready so far, for a checkpoint to ``commit`` once the outputs are
        durable (what is made ready meanwhile waits for the next one)."""
        rows = {k: self._unsaved[k] for k in self._ready if k in self._unsaved}
        self._ready = []
        ready = Ready(rows, self._checks, self._lists)
        self._checks, self._lists = {}, {}
        return ready

    def commit(self, ready: Ready | None = None) -> int:
        """Write ``ready`` (default: everything ready now); the number of article rows."""
        if ready is None:
            ready = self.take_ready()
        rows = ready.rows
        fetches: dict[str, FetchState] = {}
        for key, row in rows.items():
            if row.fetch is not None:
                fetches[key] = self.fetch_state(key).after(row.fetch, row.outcome or "new")
        for key, (fetch, outcome) in ready.checks.items():
            fetches[key] = self.fetch_state(key).after(fetch, outcome)
        self._fetched.update(fetches)
        for key in [k for k in self._listed if k in self._fetched]:
            fetches[key] = fetches.get(key, self.fetch_state(key)).listed(self._listed.pop(key))
        if rows or fetches or ready.lists:
            self._write(list(rows.values()), fetches, list(ready.lists.values()))
            self._states.update(fetches)
        for key, row in rows.items():
            if self._unsaved.get(key) is row:  # not recorded again meanwhile
                del self._unsaved[key]
                if row.content_hash and self._unsaved_hashes.get(row.content_hash) == key:
                    del self._unsaved_hashes[row.content_hash]
        return len(rows)

    @property
    def unsaved(self) -> int:
        """Rows recorded and not written (yet, or ever)."""
        return len(self._unsaved)

    def claim(self, key: str, version: int, url: str) -> str | None:
        """The right to emit ``version`` of ``key``: always this crawl's, since one crawl at a
        time uses a SQLite index (``chinanews.runlock``). See ``RedisArticleIndex.claim``."""
        return None

    def claim_content(self, content_hash: str, key: str, url: str) -> str | None:
        """Always None here, as ``claim``. See ``RedisArticleIndex.claim_content``."""
        return None


class ArticleIndex(BufferedIndex):
    """SQLite-backed memory of seen articles; each commit is one transaction."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        enable_wal(self.db, timeout=5.0)  # sqlite3.connect's own busy timeout
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Schema version 2: the fetch columns (an index of an earlier release gains them;
        its articles count as never fetched until they are)."""
        have = {row[1] for row in self.db.execute("PRAGMA table_info(seen)")}
        with self.db:
            for name, kind in FETCH_COLUMNS:
                if name not in have:
                    self.db.execute(f"ALTER TABLE seen ADD COLUMN {name} {kind}")
            self.db.execute(
                "UPDATE meta SET value = ? WHERE name = 'schema_version' AND value < ?",
                (str(SCHEMA_VERSION), str(SCHEMA_VERSION)),
            )

    def _count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM seen").fetchone()[0])

    def _load(self, key: str) -> Seen | None:
        row = self.db.execute(
            "SELECT key, url, content_hash, version, duplicate_of FROM seen WHERE key = ?", (key,)
        ).fetchone()
        return Seen(*row) if row else None

    def _load_field(self, key: str, field: str) -> str | None:
        assert field in ("url", "last_seen")
        row = self.db.execute(f"SELECT {field} FROM seen WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _load_fetch(self, key: str) -> FetchState | None:
        row = self.db.execute(
            # An article recorded before the index kept fetches: first and last recorded.
            "SELECT coalesce(first_fetched, first_seen), coalesce(last_fetched, last_seen), "
            "etag, last_modified, last_check, checks, listings FROM seen WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        first, last, etag, modified, check, checks, listings = row
        return FetchState(
            first,
            last,
            etag,
            modified,
            check,
            int(checks or 0),
            frozenset((listings or "").split()),
        )

    def _originals(self) -> Iterator[tuple[str, str, str | None, str | None]]:
        yield from self.db.execute(
            "SELECT key, url, coalesce(first_fetched, first_seen), "
            "coalesce(last_fetched, last_seen) FROM seen WHERE duplicate_of IS NULL"
        )

    def _load_list(self, url: str) -> ListMark | None:
        row = self.db.execute(
            "SELECT url, newest_at, pages, walked_at FROM lists WHERE url = ?", (url,)
        ).fetchone()
        return ListMark(row[0], row[1], int(row[2]), row[3]) if row else None

    def _write(
        self, rows: list[Row], fetches: dict[str, FetchState], lists: list[ListMark]
    ) -> None:
        with self.db:  # one transaction
            self._save(rows)
            self._save_fetches(fetches, lists)

    def _save_fetches(self, fetches: dict[str, FetchState], lists: list[ListMark]) -> None:
        # inside _write's transaction
        self.db.executemany(
            """UPDATE seen SET first_fetched = ?, last_fetched = ?, etag = ?,
                 last_modified = ?, last_check = ?, checks = ?, listings = ?
               WHERE key = ?""",
            [
                (
                    f.first_fetched,
                    f.last_fetched,
                    f.etag,
                    f.last_modified,
                    f.last_check,
                    f.checks,
                    _listings(f.listings),
                    key,
                )
                for key, f in fetches.items()
            ],
        )
        self.db.executemany(
            """INSERT INTO lists (url, newest_at, pages, walked_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (url) DO UPDATE SET newest_at = excluded.newest_at,
                 pages = excluded.pages, walked_at = excluded.walked_at""",
            [(m.url, m.newest_at, m.pages, m.walked_at) for m in lists],
        )

    def _load_original(self, content_hash: str, other_than: str) -> str | None:
        row = self.db.execute(
            "SELECT url FROM seen WHERE content_hash = ? AND key != ? AND duplicate_of IS NULL LIMIT 1",
            (content_hash, other_than),
        ).fetchone()
        return row[0] if row else None

    def _save(self, rows: list[Row]) -> None:
        # inside _write's transaction
        self.db.executemany(
            """INSERT INTO seen (key, url, content_hash, version, duplicate_of, signature,
                                 published_at, first_seen, last_seen)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET
                 url = excluded.url, content_hash = excluded.content_hash,
                 version = excluded.version, duplicate_of = excluded.duplicate_of,
                 signature = excluded.signature, published_at = excluded.published_at,
                 last_seen = excluded.last_seen""",
            [
                (
                    r.key,
                    r.url,
                    r.content_hash,
                    r.version,
                    r.duplicate_of,
                    r.signature,
                    r.published_at,
                    r.seen_at,
                    r.seen_at,
                )
                for r in rows
            ],
        )

    def signatures(self) -> Iterator[tuple[str, bytes]]:
        """(key, signature) of every original article, to rebuild the near-duplicate index."""
        yield from self.db.execute(
            "SELECT key, signature FROM seen WHERE duplicate_of IS NULL AND signature IS NOT NULL"
        )

    def close(self) -> None:
        """Close; rows never made ready are not written."""
        self.db.close()


#: Seconds a worker's claim on an article version lasts (``RedisArticleIndex.claim``).
CLAIM_TTL = 3600


# Claim KEYS[1] for ARGV[1] ("<worker> <url>"): granted (nil) when free or when its owner
# died: its lease in KEYS[2] expired (scored by expiry; ARGV[3] is now), or it was reclaimed
# (in the set KEYS[3]); else the claim's value.
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if v then
  local owner = string.match(v, '^(%S+) ') or ''
  local mine = string.match(ARGV[1], '^(%S+) ') or ''
  local expiry = redis.call('ZSCORE', KEYS[2], owner)
  local dead = (expiry and tonumber(expiry) < tonumber(ARGV[3]))
    or redis.call('SISMEMBER', KEYS[3], owner) == 1
  if owner == mine or not dead then
    return v
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""


class RedisArticleIndex(BufferedIndex):
    """The same index in Redis, shared by every worker of a distributed crawl: a hash per
    article (``{prefix}:seen:<key>``) and the original's URL per content hash
    (``{prefix}:hash:<hash>``), and the claims of the workers on the article versions they
    emit (``{prefix}:claim:<key>:<version>``). Near-duplicate signatures live in the Redis
    near index. Claims are written at once; records at each commit (``BufferedIndex``)."""

    def __init__(self, client: Any, prefix: str, worker: str = "") -> None:
        super().__init__()
        self.redis = client
        self.prefix = prefix
        #: The worker whose claims these are (``chinanews.distributed.worker_id``).
        self.worker = worker
        self.path = f"redis {prefix}"

    def _seen(self, key: str) -> str:
        return f"{self.prefix}:seen:{key}"

    def _count(self) -> int:
        return sum(1 for _ in self.redis.scan_iter(match=f"{self.prefix}:seen:*", count=1000))

    def _load(self, key: str) -> Seen | None:
        row = self.redis.hmget(self._seen(key), "url", "content_hash", "version", "duplicate_of")
        if row[0] is None:
            return None
        url, content_hash, version, duplicate_of = (
            v.decode() if isinstance(v, bytes) else v for v in row
        )
        return Seen(key, url, content_hash or None, int(version or 1), duplicate_of or None)

    def _load_field(self, key: str, field: str) -> str | None:
        value = self.redis.hget(self._seen(key), field)
        return value.decode() if value is not None else None

    def _load_fetch(self, key: str) -> FetchState | None:
        names = ("url", *(name for name, _ in FETCH_COLUMNS), "first_seen", "last_seen")
        values = [
            v.decode() if isinstance(v, bytes) else v
            for v in self.redis.hmget(self._seen(key), *names)
        ]
        if values[0] is None:
            return None
        first, last, etag, modified, check, checks, listings, first_seen, last_seen = values[1:]
        return FetchState(
            first or first_seen or None,
            last or last_seen or None,
            etag or None,
            modified or None,
            check or None,
            int(checks or 0),
            frozenset((listings or "").split()),
        )

    def _originals(self) -> Iterator[tuple[str, str, str | None, str | None]]:
        names = ("url", "duplicate_of", "first_fetched", "first_seen", "last_fetched", "last_seen")
        start = len(self.prefix) + len(":seen:")
        batch: list[bytes] = []

        def rows(keys: list[bytes]) -> Iterator[tuple[str, str, str | None, str | None]]:
            pipe = self.redis.pipeline(transaction=False)
            for name in keys:
                pipe.hmget(name, *names)
            for name, values in zip(keys, pipe.execute(), strict=True):
                url, duplicate_of, first, first_seen, last, last_seen = (
                    v.decode() if v is not None else None for v in values
                )
                if url and not duplicate_of:
                    yield name.decode()[start:], url, first or first_seen, last or last_seen

        for name in self.redis.scan_iter(match=f"{self.prefix}:seen:*", count=1000):
            batch.append(name)
            if len(batch) >= 1000:
                yield from rows(batch)
                batch = []
        if batch:
            yield from rows(batch)

    def _load_list(self, url: str) -> ListMark | None:
        values = self.redis.hmget(f"{self.prefix}:list:{url}", "newest_at", "pages", "walked_at")
        if values[2] is None:
            return None
        newest, pages, walked = (v.decode() if v is not None else None for v in values)
        return ListMark(url, newest or None, int(pages or 1), str(walked))

    def _save_fetches(self, fetches: dict[str, FetchState], lists: list[ListMark]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for key, f in fetches.items():
            mapping = {
                "first_fetched": f.first_fetched or "",
                "last_fetched": f.last_fetched or "",
                "etag": f.etag or "",
                "last_modified": f.last_modified or "",
                "last_check": f.last_check or "",
                "checks": f.checks,
                "listings": _listings(f.listings),
            }
            pipe.hset(self._seen(key), mapping=mapping)
        for m in lists:
            pipe.hset(
                f"{self.prefix}:list:{m.url}",
                mapping={
                    "newest_at": m.newest_at or "",
                    "pages": m.pages,
                    "walked_at": m.walked_at,
                },
            )
        pipe.execute()

    def _load_original(self, content_hash: str, other_than: str) -> str | None:
        value = self.redis.hget(f"{self.prefix}:hash:{content_hash}", "url")
        owner = self.redis.hget(f"{self.prefix}:hash:{content_hash}", "key")
        if value is None or (owner is not None and owner.decode() == other_than):
            return None
        return str(value.decode())

    def _save(self, rows: list[Row]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for r in rows:
            pipe.hsetnx(self._seen(r.key), "first_seen", r.seen_at)
            pipe.hset(
                self._seen(r.key),
                mapping={
                    "url": r.url,
                    "content_hash": r.content_hash or "",
                    "version": r.version,
                    "duplicate_of": r.duplicate_of or "",
                    "published_at": r.published_at or "",
                    "last_seen": r.seen_at,
                },
            )
            if r.content_hash and r.duplicate_of is None:
                pipe.hsetnx(f"{self.prefix}:hash:{r.content_hash}", "url", r.url)
                pipe.hsetnx(f"{self.prefix}:hash:{r.content_hash}", "key", r.key)
        pipe.execute()

    def claim(self, key: str, version: int, url: str) -> str | None:
        """Take the right to emit ``version`` of ``key``, atomically across the workers of a
        distributed crawl (``SET NX``): None when this worker has it, else the URL of the
        item that took it first. Two workers that read the index before either recorded the
        article both see it as new; only the claim's winner emits it. A claim lasts
        ``CLAIM_TTL`` seconds, ample for its item to reach ``record``.

        The claim names its worker (``<worker> <url>``): the claim of a worker that died (its
        lease in ``<prefix>:leases`` expired, or it is in ``<prefix>:dead_workers``) is taken
        over, since the request that led to the article came back to the queue
        (``chinanews.lease``)."""
        name = f"{self.prefix}:claim:{key}:{version}"
        winner = self.redis.eval(
            _CLAIM, 3, name, f"{self.prefix}:leases", f"{self.prefix}:dead_workers",
            f"{self.worker} {url}", CLAIM_TTL, time.time(),
        )  # fmt: skip
        if winner is None:
            return None
        text = winner.decode() if isinstance(winner, bytes) else str(winner)
        return text.split(" ", 1)[-1]

    def claim_content(self, content_hash: str, key: str, url: str) -> str | None:
        """Make ``key`` the original of ``content_hash`` unless another article is already
        (atomically, ``HSETNX`` in ``MULTI``): None when it is ``key``, else the URL of the
        original. An article another worker recorded with the same body after this one
        passed the content layer loses here."""
        name = f"{self.prefix}:hash:{content_hash}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.hsetnx(name, "key", key)
        pipe.hsetnx(name, "url", url)
        pipe.hmget(name, "key", "url")
        owner, owner_url = pipe.execute()[-1]
        if owner is None or owner.decode() == key:
            return None
        return str(owner_url.decode()) if owner_url is not None else None

    def signatures(self) -> Iterator[tuple[str, bytes]]:
        return iter(())  # the Redis near index keeps its own signatures

    def clear(self) -> None:
        for name in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000):
            self.redis.delete(name)

    def close(self) -> None:
        """Close; rows never made ready are not written."""
        self.redis.close()


def _listings(listings: frozenset[str]) -> str:
    """The fingerprints kept, space-separated: the newest ``MAX_LISTINGS`` are enough to see
    a list entry change (the set has no order; any are dropped once there are more)."""
    return " ".join(sorted(listings)[-MAX_LISTINGS:])


def redis_client(settings: Any) -> Any:
    """A Redis client for ``REDIS_URL`` that has answered a PING; raises ``IndexSettingError``."""
    import redis

    url = settings.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise IndexSettingError(
            f"REDIS_URL: cannot use {redact(url)} for the article index: {exc}"
        ) from None
    return client


def redact(url: str) -> str:
    """A URL (or a message quoting URLs) with each password replaced, fit for logs. The
    password runs to the last ``@`` before the host, as ``urlsplit`` reads it: one that
    holds an unescaped ``@`` is hidden whole."""
    return re.sub(r"(//[^:/@\s]*:)[^/\s]*@", r"\1***@", url)


class IndexSettingError(ValueError):
    """A setting of the article index that cannot be used; the message says what to fix."""


BACKENDS = ("sqlite", "redis")


def check_settings(settings: Any) -> None:
    """Fail before the crawl starts when the index settings cannot work."""
    backend = str(settings.get("CHINANEWS_INDEX_BACKEND") or "sqlite").lower()
    if backend not in BACKENDS:
        raise IndexSettingError(
            f"CHINANEWS_INDEX_BACKEND: unknown {backend!r}; use sqlite (default) or redis"
        )
    if backend == "redis":
        redis_client(settings).close()


def index_path(crawler: Crawler) -> str:
    explicit = crawler.settings.get("CHINANEWS_INDEX_PATH")
    if explicit:
        return str(explicit)
    data_dir = crawler.settings.get("CHINANEWS_DATA_DIR") or "data"
    name = path_safe(getattr(crawler.spider, "name", None) or "crawl")  # -a name=… sets it
    return str(Path(data_dir) / "index" / f"{name}.sqlite3")


class CrawlState:
    """The deduplication layers' shared state for one crawl: the article index, the
    near-duplicate index and the duplicates output. Opened and closed by the crawl's
    ``chinanews.lifecycle.CrawlRun``, which commits the index at its checkpoints."""

    def __init__(self, crawler: Crawler, run: Any) -> None:
        self.crawler = crawler
        self.fresh = bool(getattr(getattr(crawler.spider, "args", None), "fresh", False))
        settings = crawler.settings
        self.index: ArticleIndex | RedisArticleIndex
        self.near: MinHashIndex | RedisNearDuplicateIndex
        if str(settings.get("CHINANEWS_INDEX_BACKEND") or "sqlite").lower() == "redis":
            prefix = (
                settings.get("CHINANEWS_REDIS_PREFIX")
                or f"chinanews:{getattr(crawler.spider, 'name', 'crawl')}"
            )
            from chinanews.distributed import worker_id

            self.index = RedisArticleIndex(redis_client(settings), prefix, worker_id(settings))
            self.near = RedisNearDuplicateIndex(self.index.redis, f"{prefix}:near")
            if self.fresh:
                self.index.clear()
                logger.info("Fresh crawl: the article index under %s was cleared", prefix)
        else:
            self.index = open_sqlite_index(index_path(crawler), fresh=self.fresh)
            self.near = MinHashIndex()
        self.duplicates = JsonLines(
            beside_output(crawler, ".duplicates.jsonl"), append=resumed(crawler)
        )
        run.register("duplicates", self.duplicates.sync)
        signatures = [(k, self.near.load_signature(b)) for k, b in self.index.signatures()]
        self.near.add_many(signatures)
        loaded = len(signatures)
        self.emitted_this_run: dict[str, str] = {}
        self._etag_warned = False
        #: Near-duplicate signatures computed for items still on their way to RecordPipeline.
        self.pending_signatures: dict[str, Any] = {}
        #: Index keys recorded for items still in the pipelines, by ``id(item)``.
        self._recorded: dict[int, str] = {}
        #: What the last download of each article said, until its item is recorded (or
        #: found unchanged), and the ETag the request sent, if any.
        self._fetches: dict[str, tuple[Fetch, bytes | None]] = {}
        logger.info(
            "Article index %s: %d articles known from earlier crawls%s",
            self.index.path,
            loaded,
            " (fresh crawl: starting over)" if self.fresh else "",
        )

    def fetched(self, key: str, fetch: Fetch, etag_sent: bytes | None = None) -> None:
        """An article page was downloaded (``chinanews.recheck.Revalidate``): ``fetch`` goes
        into the index with the article's record, or as a check when its content turns out
        unchanged."""
        self._fetches[key] = (fetch, etag_sent)

    def record(self, item: Any, key: str, **fields: Any) -> None:
        """Record ``item`` under ``key`` in the index, with the download that gave it; the
        row is committed at the first checkpoint after the item has left the pipelines
        (``left_pipelines``)."""
        fetch, _ = self._fetches.pop(key, (None, None))
        self.index.record(key, fetch=fetch, **fields)
        self._recorded[id(item)] = key

    def unchanged(self, key: str) -> None:
        """A known article was downloaded again and its content had not changed: its check
        is committed at the next checkpoint. An ETag that changed although the content did
        not is counted (``chinanews/recheck/etag_changed``): that server's ETags save no
        requests."""
        fetch, etag_sent = self._fetches.pop(key, (None, None))
        if fetch is None:
            return
        sent = etag_sent.decode("latin-1") if etag_sent is not None else None
        if sent is not None and fetch.etag and fetch.etag != sent:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("chinanews/recheck/etag_changed")
            if not self._etag_warned:
                self._etag_warned = True
                logger.warning(
                    "An article came back unchanged with another ETag (%s): the server's "
                    "ETags change without the content, so re-checks cost full downloads; "
                    "said once",
                    self.index.url_of(key) or key,
                )
        self.index.note_check(key, fetch, "unchanged")

    def left_pipelines(self, item: Any, *, durable: bool) -> None:
        """``item`` is out of the pipelines: in the outputs (``durable``: scraped, or dropped
        as a duplicate into the duplicates output), or lost to an error (its row is never
        committed)."""
        key = self._recorded.pop(id(item), None)
        if key is not None and durable:
            self.index.ready(key)

    def write_duplicate(self, record: dict[str, Any], *, duplicate_of: str, layer: str) -> None:
        entry = {"duplicate_of": duplicate_of, "layer": layer, "item": record}
        self.duplicates.write(entry)
        self.crawler.signals.send_catch_log(signal=signals_ours.article_duplicate, record=entry)

    def close(self) -> None:
        if self.duplicates.count:
            logger.info("%d duplicates written to %s", self.duplicates.count, self.duplicates.path)
        self.duplicates.close()
        if self.index.unsaved:
            logger.info(
                "Article index: %d records not committed (their items did not reach the "
                "outputs); the next run sees them as new",
                self.index.unsaved,
            )
        self.index.close()


def open_sqlite_index(path: str, *, fresh: bool = False) -> ArticleIndex:
    """The SQLite index at ``path``. A fresh crawl moves the old one aside; one that cannot
    be read (a disk fault, a file that is not a database) is moved aside with a warning and
    the crawl starts a new one, which means the next articles are emitted again."""
    if fresh and path != ":memory:" and Path(path).exists():
        # A full re-crawl starts the index over; the old one stays beside it.
        _move_aside(path, ".previous")
        logger.info("Fresh crawl: the previous article index was moved to %s.previous", path)
    try:
        index = ArticleIndex(path)
        index.db.execute("SELECT count(*) FROM seen").fetchone()
    except sqlite3.DatabaseError as exc:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        _move_aside(path, f".unreadable-{stamp}")
        logger.warning(
            "Article index %s cannot be read (%s): moved aside as %s.unreadable-%s; a new "
            "index starts empty, so known articles are emitted again",
            path,
            exc,
            path,
            stamp,
        )
        index = ArticleIndex(path)
    return index


def _move_aside(path: str, suffix: str) -> None:
    for part in ("", "-wal", "-shm"):
        if Path(path + part).exists():
            os.replace(path + part, path + suffix + part)
