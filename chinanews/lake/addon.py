"""The plain Parquet lake: ``-s CHINANEWS_LAKE=<directory or s3://bucket/prefix>`` with
``-s CHINANEWS_LAKE_FORMAT=parquet`` (the default format, ``iceberg``, is
``chinanews.lake.iceberg``).

Adds one ``FEEDS`` entry, beside the feeds already configured (``-O``, the default JSONL):

    <lake>/articles/dt=%(dt)s/%(name)s-%(job)s-%(batch_id)05d.parquet   format: parquet

A file holds at most ``CHINANEWS_LAKE_BATCH_ITEM_COUNT`` articles (the feed's
``batch_item_count``; 0 falls back to ``FEED_EXPORT_BATCH_ITEM_COUNT``, as for any feed). S3 credentials, region and endpoint come
from Scrapy's ``AWS_*`` settings or boto's environment variables, never from the URI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from scrapy.settings import BaseSettings

LAKE_FILES = "articles/dt=%(dt)s/%(name)s-%(job)s-%(batch_id)05d.parquet"


def local_lake(lake: str) -> Path | None:
    """The directory of a lake on local disk, or None (no lake, or an object store)."""
    parsed = urlparse(lake)
    if not lake or not (len(parsed.scheme) <= 1 or parsed.scheme == "file"):
        return None
    return Path(lake.removeprefix("file://"))


def lake_feed(lake: str, batch_item_count: int = 0) -> tuple[str, dict[str, Any]]:
    """The ``FEEDS`` key and options of the lake at ``lake``."""
    parsed = urlparse(lake)
    if parsed.username or parsed.password:
        raise ValueError(
            "CHINANEWS_LAKE must not hold credentials; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (settings or environment) instead"
        )
    local = local_lake(lake) is not None  # C:\… is a local path too
    uri = f"{lake.rstrip('/')}/{LAKE_FILES}"
    # Local: never append to an existing file (the exporter refuses it); object stores
    # have no append, and file names are unique per job anyway.
    options: dict[str, Any] = {"format": "parquet", "overwrite": not local}
    if batch_item_count > 0:
        options["batch_item_count"] = batch_item_count
    return uri, options


class Lake:
    """Scrapy add-on (``ADDONS`` in ``chinanews/settings.py``); does nothing unless
    ``CHINANEWS_LAKE`` is set."""

    def update_settings(self, settings: BaseSettings) -> None:
        lake = (settings.get("CHINANEWS_LAKE") or "").strip()
        fmt = str(settings.get("CHINANEWS_LAKE_FORMAT") or "iceberg").strip().lower()
        if not lake or fmt != "parquet":
            return  # the Iceberg table is chinanews.lake.iceberg.IcebergLake's
        uri, options = lake_feed(lake, settings.getint("CHINANEWS_LAKE_BATCH_ITEM_COUNT"))
        feeds = settings.getdict("FEEDS")
        feeds.setdefault(uri, options)
        settings.set("FEEDS", feeds, priority=settings.getpriority("FEEDS") or "addon")
