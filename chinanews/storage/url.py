"""``DATABASE_URL``: which database the articles go to, parsed, checked and redacted.

``sqlite:///relative/path.sqlite3`` and ``sqlite:////absolute/path.sqlite3`` (SQLAlchemy's
convention), ``postgresql://user:password@host:port/dbname?options`` (``postgres://`` too),
``none`` for no database, and empty for the default, ``<CHINANEWS_DATA_DIR>/chinanews.sqlite3``.
Every message that shows a URL shows it through :func:`redact`: no password in logs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from chinanews.index import redact

__all__ = ["DISABLED", "DatabaseURL", "StorageSettingError", "parse_database_url", "redact"]

#: ``DATABASE_URL`` values that turn the database off.
DISABLED = frozenset({"none", "off", "0", "false", "no"})

DEFAULT_SQLITE_NAME = "chinanews.sqlite3"


class StorageSettingError(ValueError):
    """A database setting that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed ``DATABASE_URL``: ``dialect`` is ``sqlite`` or ``postgresql``."""

    dialect: str
    url: str
    #: The SQLite file (``:memory:`` allowed), or ``None`` for PostgreSQL.
    path: str | None = None

    @property
    def redacted(self) -> str:
        return redact(self.url)

    @property
    def password(self) -> str | None:
        parts = urlsplit(self.url)
        return unquote(parts.password) if parts.password else None

    @property
    def store_name(self) -> str:
        """A file-name-safe name for this database, for its spool files:
        ``sqlite-chinanews-1a2b3c4d``, ``postgresql-news-5e6f7a8b``."""
        if self.path is not None:
            base = Path(self.path).stem
            key = str(Path(self.path).resolve()) if self.path != ":memory:" else ":memory:"
        else:
            parts = urlsplit(self.url)
            base = parts.path.lstrip("/") or "postgres"
            key = f"{parts.hostname}:{parts.port}/{base}"
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", base)[:40]
        digest = hashlib.blake2b(key.encode(), digest_size=4).hexdigest()
        return f"{self.dialect}-{safe}-{digest}"

    def hide_password(self, message: str) -> str:
        """``message`` with this URL's password (if any) replaced by ``***``."""
        password = self.password
        message = redact(message)
        return message.replace(password, "***") if password else message


def parse_database_url(value: Any, data_dir: str | Path = "data") -> DatabaseURL | None:
    """The database ``value`` names, ``None`` when it is turned off; raises
    ``StorageSettingError`` for a value that cannot name a database."""
    text = str(value or "").strip()
    if text.lower() in DISABLED:
        return None
    if not text:
        path = str(Path(data_dir) / DEFAULT_SQLITE_NAME)
        return DatabaseURL("sqlite", f"sqlite:///{path}", path)
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise StorageSettingError(
            f"DATABASE_URL: {redact(text)!r} is not a URL; use sqlite:///path/to/file.sqlite3, "
            "postgresql://user:password@host:5432/dbname or none"
        )
    if scheme == "sqlite":
        if not rest.startswith("/"):
            raise StorageSettingError(
                f"DATABASE_URL: {redact(text)!r} has no path; use sqlite:///relative/file.sqlite3 "
                "or sqlite:////absolute/file.sqlite3"
            )
        path = rest[1:].split("?", 1)[0]
        if not path or path.endswith("/"):
            raise StorageSettingError(
                f"DATABASE_URL: {text!r} names a directory, not a file; add a file name, "
                "e.g. sqlite:///data/chinanews.sqlite3"
            )
        return DatabaseURL("sqlite", f"sqlite:///{path}", unquote(path))
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        url = "postgresql://" + rest
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise StorageSettingError(f"DATABASE_URL: {redact(text)!r}: {exc}") from None
        if not parts.path.strip("/"):
            raise StorageSettingError(
                f"DATABASE_URL: {redact(text)!r} names no database; add it after the host, "
                "e.g. postgresql://user@127.0.0.1:5432/chinanews"
            )
        return DatabaseURL("postgresql", url)
    raise StorageSettingError(
        f"DATABASE_URL: unknown scheme {scheme!r} in {redact(text)!r}; "
        "use sqlite:///path, postgresql://… or none"
    )
