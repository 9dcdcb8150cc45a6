"""The database schema, as numbered migrations per dialect, and the code that applies them.

``schema_version`` holds one row per applied migration (``version``, ``applied_at``). At
open, every migration above the highest recorded version is applied in order, each in its
own transaction with its row; a database whose version is above what this code knows is
refused (an older chinanews must not write into a newer schema). To change the schema,
append a migration to both lists; never edit one that has shipped. ``docs/storage.md``
describes the tables.

Item fields are stored as the item has them: times as their ISO 8601 text (the interface,
``+08:00`` included; cast with ``published_at::timestamptz`` in PostgreSQL), lists and
``provenance`` (an object) as JSON (``jsonb`` on PostgreSQL, JSON text on SQLite). The store's own timestamps are
``timestamptz`` on PostgreSQL and ISO text on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_SQLITE_V1 = [
    """CREATE TABLE articles (
        article_id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        channel TEXT,
        column_id TEXT,
        title TEXT,
        published_at TEXT,
        published_at_raw TEXT,
        source TEXT,
        source_url TEXT,
        author TEXT,
        editor TEXT,
        keywords TEXT NOT NULL DEFAULT '[]',
        summary TEXT,
        body TEXT,
        body_html TEXT,
        images TEXT NOT NULL DEFAULT '[]',
        related TEXT NOT NULL DEFAULT '[]',
        pages INTEGER NOT NULL DEFAULT 1,
        template TEXT,
        crawled_at TEXT,
        language TEXT,
        content_hash TEXT,
        version INTEGER NOT NULL DEFAULT 1,
        previous_content_hash TEXT,
        first_run_id TEXT,
        run_id TEXT,
        stored_at TEXT NOT NULL
    )""",
    "CREATE INDEX articles_url ON articles (url)",
    "CREATE INDEX articles_published_at ON articles (published_at)",
    """CREATE TABLE related_links (
        from_article_id TEXT NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        to_url TEXT NOT NULL,
        to_article_id TEXT,
        title TEXT,
        published_at TEXT,
        PRIMARY KEY (from_article_id, position)
    )""",
    "CREATE INDEX related_links_to ON related_links (to_article_id)",
    """CREATE TABLE duplicates (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        article_id TEXT,
        url TEXT NOT NULL,
        duplicate_of TEXT NOT NULL,
        layer TEXT NOT NULL,
        item TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    )""",
    "CREATE INDEX duplicates_duplicate_of ON duplicates (duplicate_of)",
    """CREATE TABLE rejects (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        article_id TEXT,
        url TEXT,
        reason TEXT NOT NULL,
        errors TEXT NOT NULL DEFAULT '[]',
        item TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    )""",
    """CREATE TABLE crawl_runs (
        run_id TEXT PRIMARY KEY,
        spider TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        finish_reason TEXT,
        ok INTEGER,
        args TEXT NOT NULL DEFAULT '{}',
        report TEXT
    )""",
]

_POSTGRESQL_V1 = [
    """CREATE TABLE articles (
        article_id text PRIMARY KEY,
        url text NOT NULL,
        channel text,
        column_id text,
        title text,
        published_at text,
        published_at_raw text,
        source text,
        source_url text,
        author text,
        editor text,
        keywords jsonb NOT NULL DEFAULT '[]',
        summary text,
        body text,
        body_html text,
        images jsonb NOT NULL DEFAULT '[]',
        related jsonb NOT NULL DEFAULT '[]',
        pages integer NOT NULL DEFAULT 1,
        template text,
        crawled_at text,
        language text,
        content_hash text,
        version integer NOT NULL DEFAULT 1,
        previous_content_hash text,
        first_run_id text,
        run_id text,
        stored_at timestamptz NOT NULL DEFAULT now()
    )""",
    "CREATE INDEX articles_url ON articles (url)",
    "CREATE INDEX articles_published_at ON articles (published_at)",
    """CREATE TABLE related_links (
        from_article_id text NOT NULL REFERENCES articles (article_id) ON DELETE CASCADE,
        position integer NOT NULL,
        to_url text NOT NULL,
        to_article_id text,
        title text,
        published_at text,
        PRIMARY KEY (from_article_id, position)
    )""",
    "CREATE INDEX related_links_to ON related_links (to_article_id)",
    """CREATE TABLE duplicates (
        run_id text NOT NULL,
        seq integer NOT NULL,
        article_id text,
        url text NOT NULL,
        duplicate_of text NOT NULL,
        layer text NOT NULL,
        item jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, seq)
    )""",
    "CREATE INDEX duplicates_duplicate_of ON duplicates (duplicate_of)",
    """CREATE TABLE rejects (
        run_id text NOT NULL,
        seq integer NOT NULL,
        article_id text,
        url text,
        reason text NOT NULL,
        errors jsonb NOT NULL DEFAULT '[]',
        item jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, seq)
    )""",
    """CREATE TABLE crawl_runs (
        run_id text PRIMARY KEY,
        spider text NOT NULL,
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        finish_reason text,
        ok boolean,
        args jsonb NOT NULL DEFAULT '{}',
        report jsonb
    )""",
]

#: 2: ``articles.provenance``, which rule gave each field (``{}`` for the rows before it).
_SQLITE_V2 = ["ALTER TABLE articles ADD COLUMN provenance TEXT NOT NULL DEFAULT '{}'"]
_POSTGRESQL_V2 = ["ALTER TABLE articles ADD COLUMN provenance jsonb NOT NULL DEFAULT '{}'"]

#: Migration ``n`` is ``MIGRATIONS[dialect][n - 1]``: statements run in one transaction.
MIGRATIONS: dict[str, list[list[str]]] = {
    "sqlite": [_SQLITE_V1, _SQLITE_V2],
    "postgresql": [_POSTGRESQL_V1, _POSTGRESQL_V2],
}

SCHEMA_VERSION_DDL = {
    "sqlite": "CREATE TABLE IF NOT EXISTS schema_version "
    "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    "postgresql": "CREATE TABLE IF NOT EXISTS schema_version "
    "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
}


class SchemaError(RuntimeError):
    """The database's schema cannot be used by this version of chinanews."""


def current_version(conn: Any) -> int:
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(
    conn: Any, dialect: str, migrations: Sequence[Sequence[str]] | None = None
) -> list[int]:
    """Bring the schema of ``conn`` up to date; return the versions applied.

    ``conn`` is a DB-API connection (sqlite3 or psycopg) outside a transaction. On
    PostgreSQL an advisory lock keeps two crawls starting at once from migrating twice.
    """
    steps = list(MIGRATIONS[dialect] if migrations is None else migrations)
    placeholder = "?" if dialect == "sqlite" else "%s"
    applied: list[int] = []
    with _transaction(conn, dialect):
        if dialect == "postgresql":
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('chinanews.schema'))")
        conn.execute(SCHEMA_VERSION_DDL[dialect])
        version = current_version(conn)
        if version > len(steps):
            raise SchemaError(
                f"the database has schema version {version}, newer than this chinanews knows "
                f"({len(steps)}); upgrade chinanews or use another database"
            )
        for number, statements in enumerate(steps[version:], start=version + 1):
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"INSERT INTO schema_version (version) VALUES ({placeholder})", (number,))
            applied.append(number)
    return applied


class _transaction:
    """One explicit transaction on sqlite3 (in autocommit mode) or psycopg."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self._tx: Any = None

    def __enter__(self) -> None:
        if self.dialect == "sqlite":
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self._tx = self.conn.transaction()
            self._tx.__enter__()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.dialect == "sqlite":
            self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        else:
            self._tx.__exit__(exc_type, exc, tb)


transaction = _transaction
