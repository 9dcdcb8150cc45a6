"""Where articles go besides the feed: a database, chosen by ``DATABASE_URL`` alone.

- ``url``: parsing ``DATABASE_URL`` (SQLite file, PostgreSQL, ``none``) and redaction;
- ``schema``: the tables as numbered migrations, with ``schema_version``;
- ``stores``: the SQLite and PostgreSQL dialects (batched upserts, edges, runs);
- ``writer``: the thread that writes batches off the reactor, retries and spools.

``chinanews.pipelines.store.DatabasePipeline`` wires them to a crawl; ``docs/storage.md``
describes the tables and the rules.
"""

from __future__ import annotations

from typing import Any

from chinanews.storage.stores import Store, open_store
from chinanews.storage.url import DatabaseURL, StorageSettingError, parse_database_url, redact

__all__ = [
    "DatabaseURL",
    "StorageSettingError",
    "Store",
    "check_settings",
    "database_url",
    "open_store",
    "parse_database_url",
    "redact",
]


def database_url(settings: Any) -> DatabaseURL | None:
    """The database the settings choose (``None``: no database); raises
    ``StorageSettingError`` for a ``DATABASE_URL`` that cannot name one."""
    return parse_database_url(
        settings.get("DATABASE_URL"), settings.get("CHINANEWS_DATA_DIR") or "data"
    )


def check_settings(settings: Any) -> None:
    """Fail before the crawl starts when the database cannot be used: a malformed
    ``DATABASE_URL``, a batch size below 1, or a database that does not answer."""
    try:
        batch = settings.getint("CHINANEWS_DB_BATCH_SIZE", 500)
    except ValueError:
        batch = 0
    if batch < 1:
        raise StorageSettingError(
            f"CHINANEWS_DB_BATCH_SIZE: {settings.get('CHINANEWS_DB_BATCH_SIZE')!r} is not a "
            "positive whole number; e.g. -s CHINANEWS_DB_BATCH_SIZE=500"
        )
    db = database_url(settings)
    if db is None:
        return
    try:
        open_store(db, connect_timeout=5).ping()
    except Exception as exc:
        reason = db.hide_password(str(exc).strip().replace("\n", " ") or type(exc).__name__)
        raise StorageSettingError(
            f"DATABASE_URL: cannot connect to {db.redacted}: {reason}"
        ) from None
