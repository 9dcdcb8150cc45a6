"""Pause and resume with ``JOBDIR``: after Ctrl-C, and after ``kill -9`` too.

Scrapy's ``JOBDIR`` keeps the request queue, the seen-request fingerprints and
``spider.state`` on disk, and saves them when the crawl closes: a crawl stopped with Ctrl-C
(or SIGTERM) resumes where it stopped. A crawl killed outright (``kill -9``, out of memory,
power cut) never closes: its queue's bookkeeping is never written, while its seen-request
file already holds requests it never made, so resuming on those files would skip pages
for ever. This module makes both cases end with every article once:

* ``JobDir`` (add-on) keeps the crawl's identity in ``JOBDIR/chinanews.json``: the run id
  (so every attempt of one job appends to the same JSONL feed and side outputs, and writes
  one crawl-run row), the attempt number (lake files get ``-a<N>`` in their job part, so
  attempts never overwrite each other's files) and whether the last attempt closed cleanly.
  A resumed attempt appends to the feed instead of overwriting it (``-O`` included).
* After an attempt that did not close, the add-on moves Scrapy's queue, seen-request file
  and spider state aside (``JOBDIR/crashed-<N>/``, kept for inspection) and the crawl starts
  again from its seeds with nothing skipped: articles already known are fetched again, so
  every link the dead attempt had queued is found again, and the article index keeps the
  ones already emitted from being emitted twice.
* ``Checkpoints`` (extension) keeps the article index no further ahead than the outputs: the
  index is committed only after the feed files and side outputs are flushed, every
  ``CHINANEWS_CHECKPOINT_ITEMS`` items. On recovery it replays the feed written by the dead
  attempts into the index (what the feed holds was emitted: it must not be emitted again)
  and into the database (whose writer may have lost its last batch), and cuts a line the
  kill left half-written.

Without ``JOBDIR`` none of this runs. See ``docs/scheduling.md``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import shutil
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.settings import BaseSettings
from scrapy.utils.request import request_from_dict

from chinanews.outputs import main_output, path_safe

logger = logging.getLogger(__name__)

STATE_FILE = "chinanews.json"
#: What Scrapy keeps in JOBDIR: the scheduler's queue, the dupefilter's fingerprints and
#: ``spider.state`` (SpiderState extension).
SCRAPY_STATE = ("requests.queue", "requests.seen", "spider.state")
STAT = "chinanews/jobdir"


def read_state(jobdir: str | Path) -> dict[str, Any] | None:
    path = Path(jobdir) / STATE_FILE
    if not path.exists():
        return None
    return dict(json.loads(path.read_text(encoding="utf-8")))


def write_state(jobdir: str | Path, state: dict[str, Any]) -> None:
    """Replace ``JOBDIR/chinanews.json`` atomically."""
    path = Path(jobdir) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def cut_torn_line(path: Path) -> int:
    """Drop the unterminated last line a kill left in ``path``; the bytes dropped."""
    if not path.exists():
        return 0
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(max(0, size - 1))
        if f.read(1) == b"\n":
            return 0
        # Walk back to the last newline.
        position = size
        while position > 0:
            step = min(65536, position)
            f.seek(position - step)
            chunk = f.read(step)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                keep = position - step + newline + 1
                break
            position -= step
        else:
            keep = 0
        f.truncate(keep)
        return size - keep


class JobDir:
    """Add-on (``ADDONS``): resumable identity and crash recovery for ``JOBDIR`` crawls."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JobDir:
        return cls(crawler)

    def update_settings(self, settings: BaseSettings) -> None:
        jobdir = settings.get("JOBDIR")
        spider: Any = self.crawler.spider
        if not jobdir or spider is None:
            return
        state = read_state(jobdir) or {
            "run_id": getattr(spider, "run_id", None),
            "attempt": 0,
            "closed": True,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        crashed = not state.get("closed", True)
        state["attempt"] = int(state.get("attempt", 0)) + 1
        attempt = state["attempt"]
        if state.get("run_id"):
            spider.run_id = state["run_id"]
        state["run_id"] = spider.run_id
        spider.attempt = attempt
        settings.set("CHINANEWS_ATTEMPT", attempt, priority="addon")
        if attempt > 1:
            self._append_to_feeds(settings)
        if crashed:
            moved = self._set_aside(Path(jobdir), attempt - 1)
            settings.set("CHINANEWS_RECOVER", True, priority="addon")
            if FrontierJournal.checkpointed(Path(jobdir) / JOURNAL_FILE):
                # The journal's requests go back in the queue; what this run already fetched
                # is not fetched again (chinanews.jobdir module docstring).
                spider.recovering_since = state["created"]
                how = (
                    "the requests pending at its last checkpoint are queued again, with the "
                    "seeds; articles it already fetched are not fetched again"
                )
            else:
                spider.skip_known = False
                how = (
                    "it died before its first checkpoint, so this attempt starts again from the "
                    "seeds, fetching known articles again"
                )
            logger.warning(
                "JOBDIR %s: attempt %d of run %s did not close (killed?); Scrapy's queue cannot "
                "be trusted: %s; the article index keeps what was emitted from being emitted "
                "twice%s",
                jobdir,
                attempt - 1,
                spider.run_id,
                how,
                f" (moved aside: {', '.join(moved)})" if moved else "",
            )
        elif attempt > 1:
            logger.info("JOBDIR %s: resuming run %s (attempt %d)", jobdir, spider.run_id, attempt)
        from chinanews.lake.feeds import job_id

        state["lake_jobs"] = [*state.get("lake_jobs", []), job_id(spider)]
        state["closed"] = False
        state["pid"] = os.getpid()
        state["started"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_state(jobdir, state)

    @staticmethod
    def _append_to_feeds(settings: BaseSettings) -> None:
        """Every attempt of a run writes the same JSONL feed: append, never overwrite."""
        feeds = settings.getdict("FEEDS")
        changed = False
        for options in feeds.values():
            if options.get("format") in ("jsonlines", "jsonl") and options.get("overwrite"):
                options["overwrite"] = False
                changed = True
        if changed:
            settings.set("FEEDS", feeds, priority=max(settings.getpriority("FEEDS") or 0, 30))

    @staticmethod
    def _set_aside(jobdir: Path, attempt: int) -> list[str]:
        target = jobdir / f"crashed-{attempt}"
        moved = []
        for name in SCRAPY_STATE:
            source = jobdir / name
            if source.exists():
                target.mkdir(exist_ok=True)
                shutil.move(str(source), str(target / name))
                moved.append(name)
        return moved


JOURNAL_FILE = "frontier.sqlite3"


class FrontierJournal:
    """The requests scheduled and not yet done, committed at each checkpoint with the index,
    in ``JOBDIR/frontier.sqlite3``: what a killed attempt had left to do.

    A request is done when its callback has run to the end and every item it produced has
    left the pipelines (scraped, dropped or failed): until then, a kill must bring it back.
    """

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.executescript(
            """CREATE TABLE IF NOT EXISTS pending (fp TEXT PRIMARY KEY, request BLOB NOT NULL);
               CREATE TABLE IF NOT EXISTS deferred (id TEXT PRIMARY KEY, url TEXT NOT NULL);
               CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);"""
        )

    @staticmethod
    def checkpointed(path: Path) -> bool:
        """True when the journal at ``path`` holds at least one committed checkpoint."""
        if not path.exists():
            return False
        with contextlib.closing(sqlite3.connect(path)) as db:
            try:
                row = db.execute("SELECT value FROM meta WHERE name = 'checkpoints'").fetchone()
            except sqlite3.OperationalError:  # no meta table: never committed
                return False
        return bool(row and int(row[0]) > 0)

    def scheduled(self, fp: str, request: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO pending VALUES (?, ?)", (fp, request))

    def done(self, fp: str) -> None:
        self.db.execute("DELETE FROM pending WHERE fp = ?", (fp,))

    def pending(self) -> list[bytes]:
        return [row[0] for row in self.db.execute("SELECT request FROM pending")]

    def deferred(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, url FROM deferred"))

    def commit(self, deferred: dict[str, str]) -> None:
        """Commit, with the links the spider holds back (mobile mirrors) as they are now."""
        self.db.execute("DELETE FROM deferred")
        self.db.executemany("INSERT INTO deferred VALUES (?, ?)", deferred.items())
        self.db.execute(
            """INSERT INTO meta VALUES ('checkpoints', '1') ON CONFLICT (name)
               DO UPDATE SET value = CAST(value AS INTEGER) + 1"""
        )
        self.db.commit()

    def close(self) -> None:
        self.db.close()


class JournalMiddleware:
    """Spider middleware (outermost): tells ``Checkpoints`` when a response's callback has
    run to the end, and which items it produced."""

    def __init__(self, checkpoints: Checkpoints) -> None:
        self.checkpoints = checkpoints

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JournalMiddleware:
        checkpoints = crawler.get_extension(Checkpoints)
        if checkpoints is None:
            raise NotConfigured  # without JOBDIR: off, and silent (a message would be a WARNING)
        return cls(checkpoints)

    async def process_spider_output(
        self, response: Any, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        fp = self.checkpoints.fingerprint(response.request)
        async for output in result:
            if fp is not None and not isinstance(output, Request):
                self.checkpoints.item_started(fp)
            yield output
        if fp is not None:
            self.checkpoints.callback_done(fp)

    def process_spider_exception(self, response: Any, exception: BaseException) -> None:
        fp = self.checkpoints.fingerprint(response.request)
        if fp is not None:
            self.checkpoints.callback_done(fp)


class Checkpoints:
    """Extension: commits the article index only behind the outputs, and replays the feed of
    a dead attempt (see the module docstring). Not configured without ``JOBDIR``."""

    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.get("JOBDIR"):
            raise NotConfigured  # without JOBDIR: off, and silent (a message would be a WARNING)
        self.crawler = crawler
        self.every = max(1, crawler.settings.getint("CHINANEWS_CHECKPOINT_ITEMS", 200))
        self.items = 0
        self.state: Any = None
        jobdir = Path(crawler.settings["JOBDIR"])
        jobdir.mkdir(parents=True, exist_ok=True)
        self.journal = FrontierJournal(jobdir / JOURNAL_FILE)
        #: Items of a response still in the pipelines, and responses whose callback ended.
        self.outstanding: dict[str, int] = {}
        self.ended: set[str] = set()
        self._unjournaled = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Checkpoints:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.item_left, signal=signals.item_dropped)
        crawler.signals.connect(ext.item_left, signal=signals.item_error)
        crawler.signals.connect(ext.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(ext.request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    # -- the frontier journal ---------------------------------------------------------

    def fingerprint(self, request: Request | None) -> str | None:
        if request is None:
            return None
        return self.crawler.request_fingerprinter.fingerprint(request).hex()

    def request_scheduled(self, request: Request) -> None:
        try:
            blob = pickle.dumps(request.to_dict(spider=self.crawler.spider), protocol=4)
        except (ValueError, TypeError, AttributeError, pickle.PicklingError) as exc:
            # Not resumable after a kill (Scrapy's own disk queue keeps such requests in
            # memory too); counted, and logged once.
            self._unjournaled += 1
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value(f"{STAT}/unjournaled")
            if self._unjournaled == 1:
                logger.warning("Request not journaled (%s): %s", exc, request)
            return
        fp = self.fingerprint(request)
        assert fp is not None
        self.journal.scheduled(fp, blob)

    def request_dropped(self, request: Request) -> None:
        fp = self.fingerprint(request)
        if fp is not None:
            self.journal.done(fp)

    def item_started(self, fp: str) -> None:
        self.outstanding[fp] = self.outstanding.get(fp, 0) + 1

    def callback_done(self, fp: str) -> None:
        if self.outstanding.get(fp, 0) == 0:
            self.outstanding.pop(fp, None)
            self.journal.done(fp)
        else:
            self.ended.add(fp)

    def item_left(self, response: Any = None) -> None:
        request = getattr(response, "request", None)
        fp = self.fingerprint(request) if isinstance(request, Request) else None
        if fp is None or fp not in self.outstanding:
            return
        self.outstanding[fp] -= 1
        if self.outstanding[fp] <= 0 and fp in self.ended:
            del self.outstanding[fp]
            self.ended.discard(fp)
            self.journal.done(fp)

    def spider_opened(self) -> None:
        from chinanews.index import ArticleIndex, CrawlState

        self.state = CrawlState.of(self.crawler)
        if isinstance(self.state.index, ArticleIndex):
            self.state.index.commit_every = 2**62  # committed by checkpoint() only
        if self.crawler.settings.getbool("CHINANEWS_RECOVER"):
            self.recover()

    def recover(self) -> None:
        """Make the index and the database hold every article the dead attempts wrote."""
        from chinanews.pipelines.store import DatabasePipeline

        feed = main_output(self.crawler)
        stats = self.crawler.stats
        assert stats is not None
        if feed is None or not feed.exists():
            logger.warning("Recovery: no local feed file to replay; nothing was emitted yet?")
            return
        cut = cut_torn_line(feed)
        if cut:
            stats.set_value(f"{STAT}/torn_bytes_cut", cut)
            logger.warning("Recovery: cut a half-written last line (%d bytes) from %s", cut, feed)
        database = self.crawler.get_item_pipeline(DatabasePipeline)
        index, near = self.state.index, self.state.near
        lines = indexed = 0
        with feed.open(encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                item = json.loads(line)
                lines += 1
                key = str(item.get("article_id") or item["url"])
                seen = index.get(key)
                if seen is None or seen.content_hash != item.get("content_hash"):
                    signature = near.signature(item.get("body") or "")
                    index.record(
                        key,
                        item["url"],
                        content_hash=item.get("content_hash"),
                        version=item.get("version") or 1,
                        signature=near.dump_signature(signature),
                        published_at=item.get("published_at"),
                    )
                    near.add(key, signature)
                    indexed += 1
                if database is not None and database.writer is not None:
                    database.writer.put(
                        {"kind": "article", "run_id": database.run["run_id"], "item": item}
                    )
        index.commit()
        self._recover_lake(feed)
        self._requeue()
        stats.set_value(f"{STAT}/replayed", lines)
        stats.set_value(f"{STAT}/replayed_into_index", indexed)
        logger.warning(
            "Recovery: %d articles already in %s; %d of them were missing from the article "
            "index and are recorded now%s",
            lines,
            feed,
            indexed,
            ", all upserted into the database again" if database is not None else "",
        )

    def _requeue(self) -> None:
        """Queue again what the dead attempt had pending at its last checkpoint, and the
        links its spider held back."""
        spider: Any = self.crawler.spider
        if getattr(spider, "recovering_since", None) is None:
            return  # no checkpoint: the whole crawl is walked again
        engine = self.crawler.engine
        assert engine is not None and self.crawler.stats is not None
        pending = self.journal.pending()
        for blob in pending:
            engine.crawl(request_from_dict(pickle.loads(blob), spider=spider))
        deferred = self.journal.deferred()
        spider._mobile_pending.update(deferred)
        self.crawler.stats.set_value(f"{STAT}/requeued", len(pending))
        logger.warning(
            "Recovery: %d requests pending at the last checkpoint queued again, %d held-back "
            "links restored",
            len(pending),
            len(deferred),
        )

    def _recover_lake(self, feed: Path) -> None:
        """A local lake: set aside the files a kill left without their footer, and write
        again the dead attempts' articles that no complete file of theirs holds."""
        from chinanews.lake.addon import local_lake
        from chinanews.lake.feeds import PartitionedFeedExporter

        lake = local_lake(self.crawler.settings.get("CHINANEWS_LAKE") or "")
        exporter = self.crawler.get_extension(PartitionedFeedExporter)
        if lake is None or exporter is None:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        spider: Any = self.crawler.spider
        state = read_state(self.crawler.settings["JOBDIR"]) or {}
        in_lake: set[str] = set()
        partial = 0
        for job in state.get("lake_jobs", [])[:-1]:  # the dead attempts'
            name = path_safe(spider.name)  # as the lake's file names have it
            for path in sorted(lake.glob(f"articles/*/{name}-{job}-*.parquet")):
                try:
                    in_lake.update(pq.read_table(path, columns=["url"]).column("url").to_pylist())
                except (OSError, pa.ArrowException) as exc:
                    path.rename(path.with_suffix(".parquet.partial"))
                    partial += 1
                    logger.warning("Recovery: %s is incomplete (%s), set aside", path, exc)
        rewritten = 0
        with feed.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    item = json.loads(line)
                    if item["url"] not in in_lake:
                        exporter.export_partitioned(item, spider)
                        rewritten += 1
        assert self.crawler.stats is not None
        self.crawler.stats.set_value(f"{STAT}/lake_partial_files", partial)
        self.crawler.stats.set_value(f"{STAT}/lake_rewritten", rewritten)
        if rewritten:
            logger.warning(
                "Recovery: %d articles of the dead attempts were in no complete lake file; "
                "written again under this attempt's files",
                rewritten,
            )

    def item_scraped(self, response: Any = None) -> None:
        self.item_left(response)
        self.items += 1
        if self.items % self.every == 0:
            self.checkpoint()

    def checkpoint(self) -> None:
        """Flush every output, then commit the index: the index never knows an article the
        outputs do not hold."""
        from chinanews.lake.feeds import PartitionedFeedExporter
        from chinanews.pipelines.validate import ValidatePipeline

        exporter = self.crawler.get_extension(PartitionedFeedExporter)
        if exporter is not None:
            for slot in [*exporter.slots, *exporter.partitions.values()]:
                flush = getattr(slot.file, "flush", None)
                if flush is not None and not getattr(slot.file, "closed", False):
                    flush()
        validate = self.crawler.get_item_pipeline(ValidatePipeline)
        if validate is not None and validate.rejects is not None:
            validate.rejects.flush()
        if self.state is not None:
            self.state.duplicates.flush()
            self.state.index.commit()
        spider: Any = self.crawler.spider
        self.journal.commit(dict(getattr(spider, "_mobile_pending", {})))
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"{STAT}/checkpoints")

    def spider_closed(self, reason: str) -> None:
        spider: Any = self.crawler.spider
        self.journal.commit(dict(getattr(spider, "_mobile_pending", {})))
        self.journal.close()
        jobdir = self.crawler.settings["JOBDIR"]
        state = read_state(jobdir) or {}
        state["closed"] = True
        state["last_reason"] = reason
        state["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_state(jobdir, state)
