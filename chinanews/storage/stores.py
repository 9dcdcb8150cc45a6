"""The two dialects: SQLite (stdlib ``sqlite3``, WAL) and PostgreSQL (psycopg 3).

A store takes batches of *records* (plain dicts, so that a batch can be spooled to JSON as
it is) and writes each batch in one transaction:

- ``{"kind": "article", "run_id", "item"}``: upsert on ``article_id``; its related links
  replace the article's rows in ``related_links``;
- ``{"kind": "duplicate" | "reject", "run_id", "seq", "record"}``: one row each, keyed by
  ``(run_id, seq)`` so that a batch written twice (a retry, a spool loaded again) adds nothing;
- ``{"kind": "run", "run_id", "spider", "started_at", "args", ...}``: the ``crawl_runs`` row,
  opened at the start of a crawl and completed (``finished_at``, ``finish_reason``, ``ok``,
  ``report``) at its end.

The upsert's version rule: a re-crawl updates the row in place; when its ``content_hash``
differs from the stored one, ``version`` becomes the stored version + 1 (or the item's own
version, if that is higher) and ``previous_content_hash`` the stored hash; otherwise the
stored version stays. Writing the same item twice changes nothing but ``run_id`` and
``stored_at``.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chinanews.items import ARTICLE_FIELDS
from chinanews.sqlite_wal import enable_wal
from chinanews.storage.schema import migrate, transaction
from chinanews.storage.url import DatabaseURL
from chinanews.urls import article_ref

Record = dict[str, Any]

#: Item fields stored as JSON, with the JSON stored when the item has none (or an empty one).
JSON_EMPTY: dict[str, str] = {"keywords": "[]", "images": "[]", "related": "[]", "provenance": "{}"}
JSON_FIELDS = frozenset(JSON_EMPTY)
#: Columns of ``articles``: every item field, then the store's own.
ARTICLE_COLUMNS: tuple[str, ...] = (
    "article_id",
    *(f for f in ARTICLE_FIELDS if f != "article_id"),
    "first_run_id",
    "run_id",
    "stored_at",
)
_KEPT_ON_UPDATE = frozenset({"article_id", "version", "previous_content_hash", "first_run_id"})
#: How ``_article_row`` fills the item's columns after ``article_id``: as they are, as JSON
#: (``JSON_EMPTY`` when missing or empty), or at least 1 (``version``, ``pages``).
_AS_IS, _AS_JSON, _AT_LEAST_ONE = 0, 1, 2
_ITEM_COLUMNS: tuple[tuple[str, int], ...] = tuple(
    (c, _AS_JSON if c in JSON_FIELDS else _AT_LEAST_ONE if c in ("version", "pages") else _AS_IS)
    for c in ARTICLE_COLUMNS[1:-3]
)
assert ARTICLE_COLUMNS[-3:] == ("first_run_id", "run_id", "stored_at")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


#: ``json.dumps(value, ensure_ascii=False, default=str)`` without building an encoder per call.
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


def _json(value: Any) -> str:
    return _encode(value)


def article_key(item: dict[str, Any]) -> str:
    """china.com's article id, or the canonical URL when a page has none (as in dedup)."""
    return str(item.get("article_id") or item["url"])


def _split_on_repeats(articles: Sequence[Record]) -> Iterable[list[Record]]:
    """Sub-batches in which no article id repeats, in order: one statement must not
    update a row twice, and two versions of one article in a batch must bump twice."""
    chunk: list[Record] = []
    keys: set[str] = set()
    for record in articles:
        key = article_key(record["item"])
        if key in keys:
            yield chunk
            chunk, keys = [], set()
        chunk.append(record)
        keys.add(key)
    if chunk:
        yield chunk


class Store:
    """A connection to one database, the schema brought up to date at ``connect``."""

    dialect = ""
    placeholder = "?"
    json_param = "?"
    #: ``IS DISTINCT FROM`` in the dialect, and the two-argument maximum.
    distinct = "IS NOT"
    greatest = "max"

    def __init__(self, db: DatabaseURL, connect_timeout: float = 10) -> None:
        self.db = db
        self.connect_timeout = connect_timeout
        self.conn: Any = None
        p = self.placeholder
        values = ", ".join(self.json_param if c in JSON_FIELDS else p for c in ARTICLE_COLUMNS)
        changed = f"articles.content_hash {self.distinct} excluded.content_hash"
        updates = [f"{c} = excluded.{c}" for c in ARTICLE_COLUMNS if c not in _KEPT_ON_UPDATE]
        updates += [
            f"version = CASE WHEN {changed} THEN {self.greatest}(articles.version + 1, excluded.version) "
            "ELSE articles.version END",
            f"previous_content_hash = CASE WHEN {changed} THEN articles.content_hash "
            "ELSE articles.previous_content_hash END",
        ]
        self.upsert_set = f"ON CONFLICT (article_id) DO UPDATE SET {', '.join(updates)}"
        self.upsert_sql = (
            f"INSERT INTO articles ({', '.join(ARTICLE_COLUMNS)}) VALUES ({values}) "
            + self.upsert_set
        )
        self.edge_sql = (
            "INSERT INTO related_links (from_article_id, position, to_url, to_article_id, title, "
            f"published_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
        )
        j = self.json_param
        self.duplicate_sql = (
            "INSERT INTO duplicates (run_id, seq, article_id, url, duplicate_of, layer, item, "
            f"recorded_at) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {j}, {p}) "
            "ON CONFLICT (run_id, seq) DO NOTHING"
        )
        self.reject_sql = (
            "INSERT INTO rejects (run_id, seq, article_id, url, reason, errors, item, recorded_at) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {j}, {j}, {p}) ON CONFLICT (run_id, seq) DO NOTHING"
        )
        run_insert = (
            "INSERT INTO crawl_runs (run_id, spider, started_at, finished_at, finish_reason, ok, "
            f"args, report) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {j}, {j}) ON CONFLICT (run_id) "
        )
        #: The run's row as the crawl opens (a replay sets the same values again) ...
        self.run_open_sql = (
            run_insert + "DO UPDATE SET spider = excluded.spider, "
            "started_at = excluded.started_at, args = excluded.args"
        )
        #: ... and as it ends: only the end's columns, whichever arrives first.
        self.run_end_sql = (
            run_insert + "DO UPDATE SET finished_at = excluded.finished_at, "
            "finish_reason = excluded.finish_reason, ok = excluded.ok, report = excluded.report"
        )

    # -- connection ----------------------------------------------------------------------

    def _open(self) -> Any:
        raise NotImplementedError

    def connect(self) -> list[int]:
        """Connect and migrate; return the schema versions applied."""
        self.close()
        self.conn = self._open()
        return migrate(self.conn, self.dialect)

    def ping(self) -> None:
        """Connect once and check that the database answers (for the start-up check)."""
        conn = self._open()
        try:
            conn.execute("SELECT 1").fetchone()
        finally:
            conn.close()

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None

    def is_transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` may go away by itself (connection lost, database locked)."""
        raise NotImplementedError

    # -- writing -------------------------------------------------------------------------

    def write(self, records: Sequence[Record]) -> int:
        """Write a batch in one transaction; return the number of articles upserted."""
        if self.conn is None:
            self.connect()
        articles = [r for r in records if r["kind"] == "article"]
        now = _now()
        with transaction(self.conn, self.dialect):
            for chunk in _split_on_repeats(articles):
                self._write_articles(chunk, now)
            self._executemany(
                self.duplicate_sql,
                [
                    (
                        r["run_id"],
                        r["seq"],
                        r["record"]["item"].get("article_id"),
                        r["record"]["item"].get("url") or "",
                        r["record"]["duplicate_of"],
                        r["record"]["layer"],
                        _json(r["record"]["item"]),
                        now,
                    )
                    for r in records
                    if r["kind"] == "duplicate"
                ],
            )
            self._executemany(
                self.reject_sql,
                [
                    (
                        r["run_id"],
                        r["seq"],
                        r["record"]["item"].get("article_id"),
                        r["record"]["item"].get("url"),
                        r["record"]["reason"],
                        _json(r["record"].get("errors") or []),
                        _json(r["record"]["item"]),
                        now,
                    )
                    for r in records
                    if r["kind"] == "reject"
                ],
            )
            for r in records:
                if r["kind"] == "run":
                    self.conn.execute(
                        self.run_end_sql if r.get("finished_at") else self.run_open_sql,
                        (
                            r["run_id"],
                            r["spider"],
                            r["started_at"],
                            r.get("finished_at"),
                            r.get("finish_reason"),
                            r.get("ok"),
                            _json(r.get("args") or {}),
                            _json(r["report"]) if r.get("report") is not None else None,
                        ),
                    )
        return len(articles)

    def _article_row(self, record: Record, now: str) -> tuple[Any, ...]:
        """The ``articles`` row of ``record``, in the order of :data:`ARTICLE_COLUMNS`."""
        item = record["item"]
        get = item.get
        row: list[Any] = [article_key(item)]
        for column, how in _ITEM_COLUMNS:
            value = get(column)
            if how == _AS_JSON:
                row.append(_encode(value) if value else JSON_EMPTY[column])
            elif how == _AT_LEAST_ONE:
                row.append(value or 1)
            else:
                row.append(value)
        run_id = record.get("run_id")
        row += (run_id, run_id, now)
        return tuple(row)

    def _write_articles(self, records: Sequence[Record], now: str) -> None:
        rows = [self._article_row(r, now) for r in records]
        self._executemany(self.upsert_sql, rows)
        keys = [row[0] for row in rows]
        self._delete_edges(keys)
        self._executemany(self.edge_sql, self._edges(keys, records))

    def _edges(self, keys: list[str], records: Sequence[Record]) -> list[tuple[Any, ...]]:
        edges = []
        for key, record in zip(keys, records, strict=True):
            for position, link in enumerate(record["item"].get("related") or []):
                url = link.get("url")
                if not url:
                    continue
                ref = article_ref(url)
                edges.append(
                    (
                        key,
                        position,
                        url,
                        ref.article_id if ref else None,
                        link.get("title"),
                        link.get("published_at"),
                    )
                )
        return edges

    def _delete_edges(self, keys: list[str]) -> None:
        raise NotImplementedError

    def _executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.conn.executemany(sql, rows)


class SQLiteStore(Store):
    """SQLite in WAL mode, ``synchronous=NORMAL``: readers never block the crawl's writes."""

    dialect = "sqlite"

    def _open(self) -> sqlite3.Connection:
        path = self.db.path or ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, timeout=self.connect_timeout, isolation_level=None, check_same_thread=False
        )
        enable_wal(conn, self.connect_timeout)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def ping(self) -> None:
        conn = self._open()
        try:
            conn.execute("BEGIN IMMEDIATE")  # writable, not locked for good
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and (
            "locked" in str(exc) or "busy" in str(exc) or "disk I/O" in str(exc)
        )

    def _delete_edges(self, keys: list[str]) -> None:
        self._executemany(
            "DELETE FROM related_links WHERE from_article_id = ?", [(k,) for k in keys]
        )


class PostgresStore(Store):
    """PostgreSQL through psycopg 3. A batch of articles is streamed with ``COPY`` into a
    temporary staging table and upserted from there in one statement; the edges are
    replaced with one ``DELETE`` by key (the primary key's index) and one ``COPY``.
    (``executemany`` of the same upsert, even in pipeline mode, was 4 to 10 times slower:
    ``docs/benchmarks.md``.)"""

    STAGING = "chinanews_staging"
    #: The TOAST compression of this session's writes unless the server, database, role or
    #: URL chose one (``docs/storage.md``); values read back the same either way.
    TOAST_COMPRESSION = "lz4"

    dialect = "postgresql"
    placeholder = "%s"
    json_param = "%s::jsonb"
    distinct = "IS DISTINCT FROM"
    greatest = "GREATEST"

    def __init__(self, db: DatabaseURL, connect_timeout: float = 10) -> None:
        super().__init__(db, connect_timeout)
        columns = ", ".join(ARTICLE_COLUMNS)
        self.copy_articles_sql = f"COPY {self.STAGING} ({columns}) FROM STDIN"
        self.upsert_staged_sql = (
            f"INSERT INTO articles ({columns}) SELECT {columns} FROM {self.STAGING} "
            + self.upsert_set
        )
        self.copy_edges_sql = (
            "COPY related_links (from_article_id, position, to_url, to_article_id, title, "
            "published_at) FROM STDIN"
        )
        #: Whether the staging table holds rows in this transaction (it is emptied at
        #: commit and by a rollback: ``ON COMMIT DELETE ROWS``, temporary).
        self._staged = False

    #: Session settings of ours; the URL's own ``options`` come after, so they win.
    SESSION_OPTIONS = "-c lock_timeout=60s -c statement_timeout=300s"

    def _open(self) -> Any:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        own = str(conninfo_to_dict(self.db.url).get("options") or "")
        return psycopg.connect(
            self.db.url,
            autocommit=True,
            connect_timeout=max(1, int(self.connect_timeout)),
            application_name="chinanews",
            # A connection cut without a word (a partition, a dead proxy) is found within a
            # minute instead of hanging the writer for hours, and a batch never waits on the
            # locks of a dead session for longer than lock_timeout: both raise, the batch is
            # retried, then spooled.
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
            options=f"{self.SESSION_OPTIONS} {own}".strip(),
        )

    def is_transient(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) or (
            self.conn is not None and bool(getattr(self.conn, "closed", False))
        )

    def connect(self) -> list[int]:
        import psycopg

        applied = super().connect()
        self.conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {self.STAGING} "
            "(LIKE articles INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        # lz4 compresses the long text columns (body, body_html) several times faster than
        # the built-in default, pglz, which took a third of the time of a batch.
        with contextlib.suppress(psycopg.errors.DataError):
            self.conn.execute(
                "SELECT set_config('default_toast_compression', %s, false) FROM pg_settings "
                "WHERE name = 'default_toast_compression' AND source = 'default'",
                (self.TOAST_COMPRESSION,),
            )
        self._staged = False
        return applied

    def write(self, records: Sequence[Record]) -> int:
        self._staged = False
        try:
            return super().write(records)
        finally:
            self._staged = False

    def _write_articles(self, records: Sequence[Record], now: str) -> None:
        rows = [self._article_row(r, now) for r in records]
        keys = [row[0] for row in rows]
        with self.conn.cursor() as cursor:
            if self._staged:  # a second chunk in this transaction (an id repeated)
                cursor.execute(f"TRUNCATE {self.STAGING}")
            self._staged = True
            with cursor.copy(self.copy_articles_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            # The upsert and the edges' delete run on the server while the edges are built.
            with self.conn.pipeline():
                cursor.execute(self.upsert_staged_sql)
                cursor.execute("DELETE FROM related_links WHERE from_article_id = ANY(%s)", (keys,))
                edges = self._edges(keys, records)
            if edges:
                with cursor.copy(self.copy_edges_sql) as copy:
                    for edge in edges:
                        copy.write_row(edge)

    def _executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            with self.conn.cursor() as cursor:
                cursor.executemany(sql, rows)


def open_store(db: DatabaseURL, connect_timeout: float = 10) -> Store:
    """The store for ``db`` (not yet connected)."""
    if db.dialect == "sqlite":
        return SQLiteStore(db, connect_timeout)
    return PostgresStore(db, connect_timeout)
