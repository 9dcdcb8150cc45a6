"""The article item: the product's interface. Field names are stable across releases.

Only ``url`` is required by the type; every other field is checked by validation, so an
extractor can return what it found and let the pipelines decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Article:
    url: str
    """Canonical URL: https on china.com hosts, no ``_N``/``_all`` suffix, no query or fragment."""
    article_id: str | None = None
    """china.com's global, increasing numeric article id (a string)."""
    channel: str | None = None
    column_id: str | None = None
    title: str | None = None
    published_at: str | None = None
    """ISO 8601 with the ``+08:00`` offset (the site prints Beijing time)."""
    published_at_raw: str | None = None
    source: str | None = None
    """The originating outlet (环球网), without any ``来源：`` prefix."""
    source_url: str | None = None
    author: str | None = None
    editor: str | None = None
    """The id or name in ``(责任编辑:…)``."""
    keywords: list[str] = field(default_factory=list)
    summary: str | None = None
    body: str | None = None
    """Plain text, one paragraph per line."""
    body_html: str | None = None
    """The article body only, sanitised."""
    images: list[dict[str, Any]] = field(default_factory=list)
    """``{"url": absolute URL, "caption": str | None}``."""
    related: list[dict[str, Any]] = field(default_factory=list)
    """``{"url", "title", "published_at"}`` from the 相关新闻 block."""
    pages: int = 1
    template: str | None = None
    """Which extraction template matched: A, B, C, D, tech or generic."""
    provenance: dict[str, str] = field(default_factory=dict)
    """Which rule gave each field: ``{"title": "C:h1.article_title", "published_at": "generic:time-near-title"}``."""
    crawled_at: str | None = None
    """UTC ISO 8601."""
    language: str | None = None
    content_hash: str | None = None
    """Hash of the normalised body (set by the deduplication pipeline)."""
    version: int = 1
    """1 for an article seen the first time; +1 each time a later crawl finds its content changed."""
    previous_content_hash: str | None = None
    """The content hash of the version before this one, when ``version`` > 1."""


ARTICLE_FIELDS = tuple(Article.__dataclass_fields__)
