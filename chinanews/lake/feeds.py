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

The exporter is one of the crawl's outputs (``chinanews.lifecycle.CrawlRun``). At each
checkpoint it flushes and fsyncs its local feed files and publishes every open partition
file (a lake file is complete and visible once the checkpoint has passed it), and reports
a storage that failed (``OutputFailed``) instead of only logging it. A partition file is
never published before the feed files are flushed, so a lake file never holds an article
the JSONL feed lacks. On recovery, ``replay`` writes again the articles of a dead run that
none of its published lake files holds, into files named after that run's job.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.extensions.feedexport import FeedExporter, FeedSlot, apply_uri_params
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from scrapy.utils.misc import load_object
from twisted.internet.defer import Deferred

from chinanews.lake.storage import file_pattern, published_rows, remove_temporary
from chinanews.lake.times import SITE_ZONE, parse_time
from chinanews.lifecycle import OutputFailed, RunRecord, crawl_run
from chinanews.outputs import PathSafeParams, path_safe

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


def run_job_id(spider: Any) -> str:
    """``job_id`` without the attempt: what every attempt's file names start with."""
    job = getattr(spider, "_job", None) or os.environ.get("SCRAPY_JOB") or spider.run_id
    return _SAFE.sub("_", str(job))


def job_id(spider: Any) -> str:
    """This run's id for file names: the Scrapyd job (spider attribute ``_job`` or the
    ``SCRAPY_JOB`` environment variable), else the spider's ``run_id``
    (``chinanews.lifecycle``: the UTC start time); ``-a<N>`` added for the N-th attempt of
    a resumed ``JOBDIR`` run."""
    job = run_job_id(spider)
    crawler = getattr(spider, "crawler", None)
    attempt = crawler.settings.getint("CHINANEWS_ATTEMPT", 1) if crawler is not None else 1
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


class _TrackedStorage:
    """A feed storage whose failures the exporter hears of (Scrapy's only logs them)."""

    def __init__(self, storage: Any, uri: str, failures: list[str]) -> None:
        self.storage = storage
        self.uri = uri
        self.failures = failures

    def open(self, spider: Any) -> IO[bytes]:
        file: IO[bytes] = self.storage.open(spider)
        return file

    def store(self, file: IO[bytes]) -> Deferred[None]:
        return deferred_from_coro(self._store(file))

    async def _store(self, file: IO[bytes]) -> None:
        try:
            result = self.storage.store(file)
            if isinstance(result, Deferred):
                await maybe_deferred_to_future(result)
            elif result is not None:
                await result
        except Exception as exc:
            self.failures.append(f"{self.uri}: {exc}")
            raise


class PartitionedFeedExporter(FeedExporter):
    """Scrapy's ``FeedExporter`` with ``%(dt)s`` feeds routed item by item to the slot of
    their partition, and a part in the crawl's checkpoints (module docstring)."""

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
        #: Open slots by (feed URI template, partition, job), least recently used first
        #: (job: "" for this run's items, the dead run's for items ``replay`` writes).
        self.partitions: OrderedDict[tuple[str, str, str], FeedSlot] = OrderedDict()
        self.batch_ids: dict[tuple[str, str, str], int] = {}
        #: Storages that failed since the last checkpoint; partition files being published.
        self.failures: list[str] = []
        self.publishing: list[Any] = []
        #: Per dead run: the (url, version) pairs its published lake files hold.
        self._published: dict[str, set[tuple[str, int]] | None] = {}

    def open_spider(self, spider: Spider) -> None:
        crawl_run(self.crawler).register("feeds", self.checkpoint, replay=self.replay)
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

    def export_partitioned(self, item: Any, spider: Spider, job: str = "") -> None:
        """``item`` into the partitioned feeds only (also used to re-export an item), in
        files of ``job`` (default: this run's)."""
        for uri_template, partition_of in self.partition_of.items():
            if not self.filters[uri_template].accepts(item):
                continue
            key = (uri_template, partition_of(item), job)
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
                self._publish(key)

    def _publish(self, key: tuple[str, str, str], sync: bool = True) -> None:
        """Close a partition's file (the storage publishes it), after the feed files are
        flushed: a lake file never holds an article the feed file could still lose."""
        if sync:
            self._sync_files()
        self.publishing.append(self._schedule_slot_close(self.partitions.pop(key), self._spider))

    def _sync_files(self) -> None:
        """Flush and fsync the open local files of the feeds without partitions."""
        for slot in self.slots:
            file = slot.file
            if file is None or getattr(file, "closed", False):
                continue
            file.flush()
            try:
                descriptor = file.fileno()
            except (AttributeError, OSError, io.UnsupportedOperation):
                continue  # not a local file (a post-processing wrapper, a temporary upload)
            os.fsync(descriptor)

    async def checkpoint(self) -> None:
        """Make every article exported so far durable: feed files flushed and fsynced, open
        partition files published; ``OutputFailed`` if a storage failed."""
        self._sync_files()
        for key in list(self.partitions):
            self._publish(key, sync=False)
        publishing, self.publishing = self.publishing, []
        for closing in publishing:
            if isinstance(closing, Deferred):
                await maybe_deferred_to_future(closing)
            else:
                await asyncio.shield(closing)
        failures, self.failures = self.failures, []
        if failures:
            raise OutputFailed("; ".join(failures))

    def replay(self, dead: RunRecord, item: dict[str, Any]) -> bool:
        """Write an article of the dead run ``dead`` into the partitioned feeds unless a
        published file of that run holds the same version; True when written."""
        if not self.partition_of or not dead.lake_job:
            return False
        if dead.run_id not in self._published:
            self._published[dead.run_id] = self._published_by(dead)
        published = self._published[dead.run_id]
        if published is not None and (item.get("url"), item.get("version") or 1) in published:
            return False
        self.export_partitioned(item, self._spider, job=f"{dead.lake_job}-r{job_id(self._spider)}")
        return True

    def _published_by(self, dead: RunRecord) -> set[tuple[str, int]] | None:
        """What the published files of ``dead`` hold; its temporary files are removed."""
        assert dead.lake_job
        values = {"name": str(path_safe(dead.spider)), "job": dead.lake_job}
        rows: set[tuple[str, int]] = set()
        for uri_template in self.partition_of:
            pattern = file_pattern(uri_template, values)
            for name in remove_temporary(pattern):
                logger.warning(
                    "Recovery: removed %s, a lake file the dead run never finished", name
                )
            found = published_rows(pattern, self.settings)
            if found is None:
                logger.warning(
                    "Recovery: cannot list %s; every article of run %s is written to it again "
                    "(at least once there)",
                    uri_template,
                    dead.run_id,
                )
                return None
            rows |= found
        return rows

    @property
    def _spider(self) -> Any:
        return self.crawler.spider

    async def close_spider(self, spider: Spider) -> None:
        self._sync_files()
        self.slots.extend(self.partitions.values())
        self.partitions.clear()
        await super().close_spider(spider)

    def _start_new_batch(self, *args: Any, **kwargs: Any) -> FeedSlot:
        slot = super()._start_new_batch(*args, **kwargs)
        slot.storage = _TrackedStorage(slot.storage, slot.uri, self.failures)
        return slot

    def _open_partition(self, key: tuple[str, str, str], spider: Spider) -> FeedSlot:
        uri_template, partition, job = key
        if not partition or "/" in partition or partition in (".", ".."):
            raise ValueError(f"not a partition name: {partition!r}")
        open_here = [k for k in self.partitions if k[0] == uri_template]
        if len(open_here) >= self.max_open[uri_template]:
            self._publish(open_here[0])
        feed_options = self.feeds[uri_template]
        batch_id = self.batch_ids.get(key, 0) + 1
        self.batch_ids[key] = batch_id
        params = self._get_uri_params(spider, None)
        params["batch_id"] = batch_id
        params[PARTITION_PARAM] = partition
        if feed_options["uri_params"]:
            function = load_object(feed_options["uri_params"])
            params = function(params, spider) or params
        if job:
            params["job"] = job
        slot = self._start_new_batch(
            batch_id=batch_id,
            uri=apply_uri_params(uri_template, params),
            feed_options=feed_options,
            spider=spider,
            uri_template=uri_template,
        )
        self.partitions[key] = slot
        return slot
