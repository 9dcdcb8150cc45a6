"""Feeds partitioned by an item value: one feed slot per partition, opened on demand.

Scrapy fills a feed URI's ``%(...)s`` parameters once per batch (``FEED_URI_PARAMS``), so
the items of one batch share one URI whatever they hold. A lake partitioned by publication
date needs the URI to follow each item. ``PartitionedFeedExporter`` replaces Scrapy's
``FeedExporter`` extension and behaves exactly like it, except for feeds whose URI contains
``%(dt)s``: for those, each item goes to the slot of its partition
(``publication_date(item)``, or the feed option ``partition_by``), created the first time a
partition is seen, with its own batch numbering. Every slot is a plain Scrapy ``FeedSlot``:
the same storages (``file``, ``s3``, …), exporters, item filters, ``batch_item_count``,
post-processing and ``FEED_URI_PARAMS``, which receives ``dt`` and ``batch_id`` and adds
``job`` (``uri_params``).

At most ``max_open_partitions`` slots of a feed are open at once (feed option, default 64):
opening one more ends the batch of the least recently used, whose next item starts a new
file. See ``docs/lake.md``.
"""

from __future__ import annotations

import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.extensions.feedexport import FeedExporter, FeedSlot, apply_uri_params
from scrapy.utils.misc import load_object

from chinanews.lake.times import SITE_ZONE, parse_time
from chinanews.outputs import PathSafeParams

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

PARTITION_PARAM = "dt"
UNKNOWN_PARTITION = "unknown"
DEFAULT_MAX_OPEN_PARTITIONS = 64
_PARTITION_RE = re.compile(r"%\(" + PARTITION_PARAM + r"\)")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def publication_date(item: Any) -> str:
    """``YYYY-MM-DD``, the Beijing date of ``published_at`` (the date the site prints and
    puts in the article URL), or ``unknown`` when the item has none or it is not a time."""
    try:
        published = parse_time(ItemAdapter(item).get("published_at"))
    except (TypeError, ValueError):
        return UNKNOWN_PARTITION
    if published is None:
        return UNKNOWN_PARTITION
    return published.astimezone(SITE_ZONE).date().isoformat()


def job_id(spider: Any) -> str:
    """This run's id for file names: the Scrapyd job (spider attribute ``_job`` or the
    ``SCRAPY_JOB`` environment variable), else the spider's ``run_id`` (UTC start time);
    ``-a<N>`` added for the N-th attempt of a resumed ``JOBDIR`` run."""
    job = getattr(spider, "_job", None) or os.environ.get("SCRAPY_JOB")
    if not job:
        job = getattr(spider, "run_id", None)
    if not job:
        job = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        spider.run_id = job
    attempt = getattr(spider, "attempt", 1)
    if attempt > 1:  # a resumed JOBDIR run (chinanews.jobdir): never reuse a file name
        job = f"{job}-a{attempt}"
    return _SAFE.sub("_", str(job))


def uri_params(params: dict[str, Any], spider: Spider) -> dict[str, Any]:
    """``FEED_URI_PARAMS``: adds ``%(job)s`` (see ``job_id``) to the spider's attributes,
    ``%(time)s``, ``%(batch_id)d`` and, for partitioned feeds, ``%(dt)s``; every value made
    ``path_safe`` when read, since ``-a NAME=VALUE`` sets any spider attribute (``-a name=../..``
    would otherwise write outside the feed's directory)."""
    params["job"] = job_id(spider)
    return PathSafeParams(params)


class PartitionedFeedExporter(FeedExporter):
    """Scrapy's ``FeedExporter`` with ``%(dt)s`` feeds routed item by item to the slot of
    their partition."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.partition_of: dict[str, Callable[[Any], str]] = {}
        self.max_open: dict[str, int] = {}
        for uri, options in self.feeds.items():
            if _PARTITION_RE.search(uri):
                self.partition_of[uri] = load_object(
                    options.get("partition_by") or publication_date
                )
                self.max_open[uri] = int(
                    options.get("max_open_partitions") or DEFAULT_MAX_OPEN_PARTITIONS
                )
        #: Open slots by (feed URI template, partition), least recently used first.
        self.partitions: OrderedDict[tuple[str, str], FeedSlot] = OrderedDict()
        self.batch_ids: dict[tuple[str, str], int] = {}

    def open_spider(self, spider: Spider) -> None:
        for uri, feed_options in self.feeds.items():
            if uri in self.partition_of:
                continue  # slots open with their partition's first item
            params = self._get_uri_params(spider, feed_options["uri_params"])
            self.slots.append(
                self._start_new_batch(
                    batch_id=1,
                    uri=apply_uri_params(uri, params),
                    feed_options=feed_options,
                    spider=spider,
                    uri_template=uri,
                )
            )

    def item_scraped(self, item: Any, spider: Spider) -> None:
        super().item_scraped(item, spider)  # the feeds without partitions
        self.export_partitioned(item, spider)

    def export_partitioned(self, item: Any, spider: Spider) -> None:
        """``item`` into the partitioned feeds only (also used to re-export an item)."""
        for uri_template, partition_of in self.partition_of.items():
            if not self.filters[uri_template].accepts(item):
                continue
            key = (uri_template, partition_of(item))
            slot = self.partitions.get(key)
            if slot is None:
                slot = self._open_partition(key, spider)
            else:
                self.partitions.move_to_end(key)
            slot.start_exporting()
            assert slot.exporter
            slot.exporter.export_item(item)
            slot.itemcount += 1
            limit = self.feeds[uri_template]["batch_item_count"]
            if limit and slot.itemcount >= limit:
                del self.partitions[key]
                self._schedule_slot_close(slot, spider)

    async def close_spider(self, spider: Spider) -> None:
        self.slots.extend(self.partitions.values())
        self.partitions.clear()
        await super().close_spider(spider)

    def _open_partition(self, key: tuple[str, str], spider: Spider) -> FeedSlot:
        uri_template, partition = key
        if not partition or "/" in partition or partition in (".", ".."):
            raise ValueError(f"not a partition name: {partition!r}")
        open_here = [k for k in self.partitions if k[0] == uri_template]
        if len(open_here) >= self.max_open[uri_template]:
            oldest = open_here[0]
            self._schedule_slot_close(self.partitions.pop(oldest), spider)
        feed_options = self.feeds[uri_template]
        batch_id = self.batch_ids.get(key, 0) + 1
        self.batch_ids[key] = batch_id
        params = self._get_uri_params(spider, None)
        params["batch_id"] = batch_id
        params[PARTITION_PARAM] = partition
        if feed_options["uri_params"]:
            function = load_object(feed_options["uri_params"])
            params = function(params, spider) or params
        slot = self._start_new_batch(
            batch_id=batch_id,
            uri=apply_uri_params(uri_template, params),
            feed_options=feed_options,
            spider=spider,
            uri_template=uri_template,
        )
        self.partitions[key] = slot
        return slot
