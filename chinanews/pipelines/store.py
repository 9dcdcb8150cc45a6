"""Store: every emitted article, and the crawl's duplicates, rejects and run, in the database
``DATABASE_URL`` names (``docs/storage.md``).

The last pipeline (950, after ``RecordPipeline``): what reaches it is what the feed gets.
It drops nothing and never waits on the database: an item is handed to the writer thread
(``chinanews.storage.writer``) and passed on; only when the writer is ``queue_size`` records
behind does the item wait, without blocking the reactor, for room. Duplicates and rejects
come through our signals (``article_duplicate``, ``article_rejected``), the run's row is
opened at ``open_spider`` and completed with the crawl report (``crawl_report``), and the
writer is flushed at ``close_spider`` (so the report's figures are final) and stopped at
``spider_closed``. ``DATABASE_URL=none`` turns the pipeline off.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from chinanews.lifecycle import OutputFailed, RunRecord, crawl_run
from chinanews.signals import article_duplicate, article_rejected, crawl_report
from chinanews.storage import database_url, open_store
from chinanews.storage.writer import STAT, StoreWriter

logger = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def spider_arguments(spider: Any) -> dict[str, Any]:
    """The spider's checked arguments (``spider.args``), as JSON values."""
    args = getattr(spider, "args", None)
    if dataclasses.is_dataclass(args) and not isinstance(args, type):
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(args)}
    elif isinstance(args, dict):
        values = dict(args)
    else:
        values = {}
    return {name: _jsonable(value) for name, value in values.items()}


class DatabasePipeline:
    """Stores emitted items; drops nothing."""

    def __init__(self, crawler: Crawler) -> None:
        db = database_url(crawler.settings)
        if db is None:
            raise NotConfigured("DATABASE_URL=none: no database")
        self.crawler = crawler
        self.db = db
        settings = crawler.settings
        self.batch_size = settings.getint("CHINANEWS_DB_BATCH_SIZE", 500)
        self.flush_seconds = settings.getfloat("CHINANEWS_DB_FLUSH_SECONDS", 1.0)
        self.retry_seconds = settings.getfloat("CHINANEWS_DB_RETRY_SECONDS", 30.0)
        self.spool_dir = Path(settings.get("CHINANEWS_DATA_DIR") or "data") / "spool"
        self.writer: StoreWriter | None = None
        self.run: dict[str, Any] = {}
        self._seq = itertools.count(1)
        self._waiters: list[Deferred[None]] = []
        self._finished = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DatabasePipeline:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.duplicate, signal=article_duplicate)
        crawler.signals.connect(pipeline.rejected, signal=article_rejected)
        crawler.signals.connect(pipeline.report, signal=crawl_report)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def _inc(self, key: str, count: int) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key, count)

    def open_spider(self) -> None:
        spider = self.crawler.spider
        started = datetime.now(timezone.utc)
        run_id = str(getattr(spider, "run_id", None) or started.strftime("%Y%m%dT%H%M%SZ"))
        self.writer = StoreWriter(
            open_store(self.db),
            run_id=run_id,
            spool_dir=self.spool_dir,
            batch_size=self.batch_size,
            flush_seconds=self.flush_seconds,
            retry_seconds=self.retry_seconds,
            inc_stat=self._inc,
        )
        from twisted.internet import reactor

        self.writer.on_room = lambda: reactor.callFromThread(self._wake)
        if self.crawler.stats is not None:
            self.crawler.stats.set_value(f"{STAT}/database", self.db.redacted)
        self.run = {
            "kind": "run",
            "run_id": run_id,
            "spider": getattr(spider, "name", "crawl"),
            "started_at": started.isoformat(),
            "args": spider_arguments(spider),
        }
        self.writer.start()
        self.writer.put(dict(self.run))
        crawl_run(self.crawler).register(
            "database", self.checkpoint, replay=self.replay, interrupted=self.interrupted
        )
        logger.info("Articles are stored in %s", self.db.redacted)

    async def checkpoint(self) -> None:
        """Wait until the writer has committed (or spooled) every record handed to it."""
        if self.writer is None:
            return
        from twisted.internet import reactor

        done: Deferred[bool] = Deferred()
        self.writer.barrier(lambda ok: reactor.callFromThread(done.callback, ok))
        if not await maybe_deferred_to_future(done):
            raise OutputFailed(f"the database writer failed ({self.db.redacted})")

    def replay(self, dead: RunRecord, item: dict[str, Any]) -> bool:
        """Upsert an article a dead run emitted (its last batch may be lost); storing it
        again changes nothing (``chinanews.storage.stores``)."""
        if self.writer is None:
            return False
        self.writer.put({"kind": "article", "run_id": dead.run_id, "item": item})
        return True

    def interrupted(self, dead: RunRecord) -> None:
        """The dead run's ``crawl_runs`` row, ended as ``interrupted``, with what it did."""
        if self.writer is None:
            return
        self.writer.put(
            {
                "kind": "run",
                "run_id": dead.run_id,
                "spider": dead.spider,
                "started_at": dead.started_at,
                "finished_at": dead.finished_at or datetime.now(timezone.utc).isoformat(),
                "finish_reason": "interrupted",
                "ok": False,
                "report": {"interrupted": True, "recovered_by": dead.recovered_by, **dead.recovery},
            }
        )

    async def process_item(self, item: Any) -> Any:
        assert self.writer is not None
        record = {
            "kind": "article",
            "run_id": self.run["run_id"],
            "item": ItemAdapter(item).asdict(),
        }
        while not self.writer.offer(record):
            waiter: Deferred[None] = Deferred()
            self._waiters.append(waiter)
            await maybe_deferred_to_future(waiter)
        return item

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def duplicate(self, record: dict[str, Any]) -> None:
        self._put_side("duplicate", record)

    def rejected(self, record: dict[str, Any]) -> None:
        self._put_side("reject", record)

    def _put_side(self, kind: str, record: dict[str, Any]) -> None:
        if self.writer is None:
            return
        self.writer.put(
            {"kind": kind, "run_id": self.run["run_id"], "seq": next(self._seq), "record": record}
        )

    async def close_spider(self) -> None:
        if self.writer is not None:
            await maybe_deferred_to_future(deferToThread(self.writer.drain))

    def report(self, report: dict[str, Any]) -> None:
        self._finish(report.get("finish_reason"), report)

    def _finish(self, reason: str | None, report: dict[str, Any] | None) -> None:
        if self.writer is None or self._finished:
            return
        self._finished = True
        self.writer.put(
            {
                **self.run,
                "finished_at": datetime.now(timezone.utc).isoformat(),
                "finish_reason": reason,
                "ok": report.get("ok") if report else None,
                "report": report,
            }
        )

    async def spider_closed(self, reason: str) -> None:
        if self.writer is None:
            return
        self._finish(reason, None)  # no crawl report (CrawlReport turned off)
        writer, self.writer = self.writer, None
        await maybe_deferred_to_future(deferToThread(writer.stop))
        self._wake()
        stats = self.crawler.stats
        spooled = stats.get_value(f"{STAT}/spooled", 0) if stats is not None else 0
        if spooled:
            logger.error(
                "%d records could not be written to %s and wait in %s for the next run",
                spooled,
                self.db.redacted,
                writer.spool_path,
            )
