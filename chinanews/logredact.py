"""Secrets out of the log: a logging filter that hides passwords and keys in every record.

Our own messages show URLs through ``chinanews.index.redact``, but Scrapy logs what it is
given: its "Overridden settings" line prints every one of its own settings given with
``-s`` (``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``), a feed URI with credentials is
logged as it is, and an exception's text may quote a URL. ``RedactSecrets``, a Scrapy
add-on, puts ``SecretFilter`` on the root logger's handlers (Scrapy's among them) before the
crawler logs its settings: every record, from any logger, leaves with the password of any
``scheme://user:password@`` URL and the values of the secret settings replaced by ``***``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from chinanews.index import redact

#: Settings (or environment variables) whose whole value is a secret.
SECRET_SETTINGS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "SCRAPYD_PASSWORD")
#: Settings (or environment variables) that are URLs which may carry a password.
URL_SETTINGS = (
    "DATABASE_URL",
    "REDIS_URL",
    "SCRAPYD_URL",
    "CHINANEWS_LAKE",
    "CHINANEWS_LAKE_CATALOG",
)
#: Shorter values are not hidden: replacing "a" or "1" everywhere would garble the log.
MIN_SECRET_LENGTH = 4
MASK = "***"


def _password(url: Any) -> list[str]:
    try:
        password = urlsplit(str(url)).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


def secrets_of(settings: Any, environ: dict[str, str] | None = None) -> set[str]:
    """The secret values a crawl with ``settings`` knows: the secret settings, the passwords
    of the URL settings and of the feed URIs, from the settings and the environment."""
    environ = dict(os.environ) if environ is None else environ
    found: set[str] = set()
    for name in SECRET_SETTINGS:
        found.update(str(v) for v in (settings.get(name), environ.get(name)) if v)
    for name in URL_SETTINGS:
        for value in (settings.get(name), environ.get(name)):
            found.update(_password(value) if value else ())
    for uri in settings.getdict("FEEDS"):
        found.update(_password(uri))
    # the Iceberg catalog's properties: credentials and tokens, whatever their names
    try:
        catalog = settings.getdict("CHINANEWS_LAKE_CATALOG_PROPERTIES")
    except (TypeError, ValueError):  # not a dict: refused at start, with nothing to hide
        catalog = {}
    found.update(str(v) for v in catalog.values() if isinstance(v, (str, int)))
    return {s for s in found if len(s) >= MIN_SECRET_LENGTH}


def hide(text: str, secrets: Iterable[str]) -> str:
    """``text`` with URL passwords (``redact``) and each of ``secrets`` replaced."""
    text = redact(text)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class SecretFilter(logging.Filter):
    """Rewrites each record's message (and exception text) without the secrets; drops none."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted(set(secrets), key=len, reverse=True)  # longest first
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = hide(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = hide(record.exc_text, self.secrets)
        return True


def install(secrets: Iterable[str], handlers: Iterable[logging.Handler] | None = None) -> None:
    """Put one ``SecretFilter`` with ``secrets`` on ``handlers`` (default: the root
    logger's), in place of any installed before."""
    log_filter = SecretFilter(secrets)
    for handler in logging.root.handlers if handlers is None else handlers:
        for old in [f for f in handler.filters if isinstance(f, SecretFilter)]:
            handler.removeFilter(old)
        handler.addFilter(log_filter)


class RedactSecrets:
    """Scrapy add-on: installs the filter with the secrets of the crawl's settings. Scrapy
    sets up its log handler before add-ons run and logs the settings after."""

    def update_settings(self, settings: Any) -> None:
        install(secrets_of(settings))
