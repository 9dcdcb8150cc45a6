"""The Arrow schema of the lake: one explicit type per field of ``chinanews.items.Article``.

Types never depend on the items a file happens to hold: every file of every run has this
schema, lists stay lists (empty or not), a field that is ``None`` everywhere is still typed,
and times are timestamps with a time zone. ``published_at`` (and ``related.published_at``)
keep the site's zone, Asia/Shanghai; ``crawled_at`` is UTC. Parquet stores both as UTC
instants and keeps the zone in the Arrow schema it embeds.

``tests/test_lake_schema.py`` checks this schema against ``docs/article.schema.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from chinanews.items import Article
from chinanews.lake.times import SITE_TZ, parse_time

PUBLISHED = pa.timestamp("us", tz=SITE_TZ)
CRAWLED = pa.timestamp("us", tz="UTC")

IMAGE = pa.struct([pa.field("url", pa.string(), nullable=False), pa.field("caption", pa.string())])
RELATED = pa.struct(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("published_at", PUBLISHED),
    ]
)

PROVENANCE = pa.map_(pa.string(), pa.field("value", pa.string(), nullable=False))
"""Field name to rule name; DuckDB reads it as ``MAP(VARCHAR, VARCHAR)``."""

ARTICLE_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("article_id", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("column_id", pa.string()),
        pa.field("title", pa.string()),
        pa.field("published_at", PUBLISHED),
        pa.field("published_at_raw", pa.string()),
        pa.field("source", pa.string()),
        pa.field("source_url", pa.string()),
        pa.field("author", pa.string()),
        pa.field("editor", pa.string()),
        pa.field("keywords", pa.list_(pa.field("element", pa.string(), nullable=False)), False),
        pa.field("summary", pa.string()),
        pa.field("body", pa.string()),
        pa.field("body_html", pa.string()),
        pa.field("images", pa.list_(pa.field("element", IMAGE, nullable=False)), False),
        pa.field("related", pa.list_(pa.field("element", RELATED, nullable=False)), False),
        pa.field("pages", pa.int32(), nullable=False),
        pa.field("template", pa.string()),
        pa.field("provenance", PROVENANCE, nullable=False),
        pa.field("crawled_at", CRAWLED),
        pa.field("language", pa.string()),
        pa.field("content_hash", pa.string()),
        pa.field("version", pa.int32(), nullable=False),
        pa.field("previous_content_hash", pa.string()),
    ],
    metadata={"chinanews.schema": "article", "chinanews.schema_version": "2"},
)
"""One row per emitted article version. Non-nullable: ``url`` (the item's one required
field), the lists (``[]`` when empty), ``provenance`` (``{}`` when empty) and the integers
with a default (``pages``, ``version``)."""

_DEFAULTS: dict[str, Any] = {
    name: (f.default_factory() if callable(f.default_factory) else f.default)
    for name, f in Article.__dataclass_fields__.items()
    if name != "url"
}


def _struct_rows(values: Any, fields: tuple[str, ...], times: tuple[str, ...] = ()) -> list[Any]:
    rows = []
    for value in values or ():
        row = {name: value.get(name) for name in fields}
        for name in times:
            row[name] = parse_time(row[name])
        rows.append(row)
    return rows


def to_row(record: Mapping[str, Any], fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The Arrow row of an article given as a mapping (a dict, an ``ItemAdapter``): missing fields take the item's
    defaults, times become aware datetimes, ``None`` lists become ``[]`` (``provenance``: ``{}``). Keys the schema
    does not know are left out. ``fields``: only those columns."""
    row: dict[str, Any] = {}
    for name in fields or ARTICLE_SCHEMA.names:
        value = record.get(name, _DEFAULTS.get(name))
        if name in ("published_at", "crawled_at"):
            value = parse_time(value)
        elif name == "keywords":
            value = list(value or ())
        elif name == "images":
            value = _struct_rows(value, ("url", "caption"))
        elif name == "related":
            value = _struct_rows(value, ("url", "title", "published_at"), ("published_at",))
        elif name == "provenance":
            value = [(str(k), str(v)) for k, v in (value or {}).items() if v is not None]
        elif value is None and name in ("pages", "version"):
            value = _DEFAULTS[name]
        row[name] = value
    return row


def project(fields: list[str] | tuple[str, ...] | None) -> pa.Schema:
    """The schema restricted to ``fields`` (``FEED_EXPORT_FIELDS``), in that order."""
    if not fields:
        return ARTICLE_SCHEMA
    unknown = [f for f in fields if f not in ARTICLE_SCHEMA.names]
    if unknown:
        raise ValueError(f"fields not in the article schema: {', '.join(unknown)}")
    return pa.schema([ARTICLE_SCHEMA.field(f) for f in fields], metadata=ARTICLE_SCHEMA.metadata)
