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
* ``Journal`` (extension) keeps the frontier journal (``JOBDIR/frontier.sqlite3``): the
  requests scheduled and not yet done, committed in step with the article index at each of
  the crawl's checkpoints (``chinanews.lifecycle``). After a kill, the requests pending at
  the last checkpoint are queued again.

What every run gets, with or without ``JOBDIR`` (checkpoints, the replay of a dead
attempt's feed into the index, the database and the lake), is ``chinanews.lifecycle``'s;
this module adds only the frontier. Without ``JOBDIR`` none of it runs. See
``docs/scheduling.md``.
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

from chinanews.follow import FollowRules
from chinanews.lifecycle import crawl_run, default_run_id

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


class JobDir:
    """Add-on (``ADDONS``): resumable identity and crash recovery for ``JOBDIR`` crawls."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JobDir:
        return cls(crawler)

    def update_settings(self, settings: BaseSettings) -> None:
        """Tell the crawl, through settings, which attempt of which run this is and how to
        recover the last one: ``CHINANEWS_RUN_ID`` (kept across attempts),
        ``CHINANEWS_ATTEMPT``, and after a kill ``CHINANEWS_RECOVER`` with either
        ``CHINANEWS_RECOVERING_SINCE`` and ``CHINANEWS_FRONTIER_RESTORED`` (the journal
        brings the queue back) or ``CHINANEWS_REFETCH_KNOWN`` (it died before its first
        checkpoint: known articles are fetched again to find every link)."""
        jobdir = settings.get("JOBDIR")
        if not jobdir or self.crawler.spider is None:
            return
        state = read_state(jobdir) or {
            "run_id": default_run_id(self.crawler.spider),
            "attempt": 0,
            "closed": True,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        crashed = not state.get("closed", True)
        state["attempt"] = attempt = int(state.get("attempt", 0)) + 1
        run_id = state["run_id"] = state.get("run_id") or default_run_id(self.crawler.spider)
        settings.set("CHINANEWS_RUN_ID", run_id, priority="addon")
        settings.set("CHINANEWS_ATTEMPT", attempt, priority="addon")
        if attempt > 1:
            self._append_to_feeds(settings)
        if crashed:
            moved = self._set_aside(Path(jobdir), attempt - 1)
            settings.set("CHINANEWS_RECOVER", True, priority="addon")
            if FrontierJournal.checkpointed(Path(jobdir) / JOURNAL_FILE):
                # The journal's requests go back in the queue; what this run already fetched
                # is not fetched again (chinanews.follow), nor walked again to find links.
                settings.set("CHINANEWS_RECOVERING_SINCE", state["created"], priority="addon")
                settings.set("CHINANEWS_FRONTIER_RESTORED", True, priority="addon")
                how = (
                    "the requests pending at its last checkpoint are queued again, with the "
                    "seeds; articles it already fetched are not fetched again"
                )
            else:
                settings.set("CHINANEWS_REFETCH_KNOWN", True, priority="addon")
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
                run_id,
                how,
                f" (moved aside: {', '.join(moved)})" if moved else "",
            )
        elif attempt > 1:
            logger.info("JOBDIR %s: resuming run %s (attempt %d)", jobdir, run_id, attempt)
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
    """Spider middleware (outermost): tells ``Journal`` when a response's callback has
    run to the end, and which items it produced."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JournalMiddleware:
        journal = crawler.get_extension(Journal)
        if journal is None:
            raise NotConfigured  # without JOBDIR: off, and silent (a message would be a WARNING)
        return cls(journal)

    async def process_spider_output(
        self, response: Any, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        fp = self.journal.fingerprint(response.request)
        async for output in result:
            if fp is not None and not isinstance(output, Request):
                self.journal.item_started(fp)
            yield output
        if fp is not None:
            self.journal.callback_done(fp)

    def process_spider_exception(self, response: Any, exception: BaseException) -> None:
        fp = self.journal.fingerprint(response.request)
        if fp is not None:
            self.journal.callback_done(fp)


class Journal:
    """Extension: the frontier journal of a ``JOBDIR`` crawl (module docstring); not
    configured without ``JOBDIR``.

    A request is done when its callback has run to the end and every item it produced has
    left the pipelines; its journal row is deleted at the first checkpoint that commits the
    index after that, so that a kill before it brings the request back."""

    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.get("JOBDIR"):
            raise NotConfigured  # without JOBDIR: off, and silent (a message would be a WARNING)
        self.crawler = crawler
        jobdir = Path(crawler.settings["JOBDIR"])
        jobdir.mkdir(parents=True, exist_ok=True)
        self.journal = FrontierJournal(jobdir / JOURNAL_FILE)
        #: Items of a response still in the pipelines, and responses whose callback ended.
        self.outstanding: dict[str, int] = {}
        self.ended: set[str] = set()
        #: Requests done since the last checkpoint took its rows.
        self.done: list[str] = []
        self._unjournaled = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Journal:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.item_left, signal=signals.item_scraped)
        crawler.signals.connect(ext.item_left, signal=signals.item_dropped)
        crawler.signals.connect(ext.item_left, signal=signals.item_error)
        crawler.signals.connect(ext.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(ext.request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        # after the lifecycle's last checkpoint, which commits the journal one last time
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

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
            self.done.append(fp)

    def item_started(self, fp: str) -> None:
        self.outstanding[fp] = self.outstanding.get(fp, 0) + 1

    def callback_done(self, fp: str) -> None:
        if self.outstanding.get(fp, 0) == 0:
            self.outstanding.pop(fp, None)
            self.done.append(fp)
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
            self.done.append(fp)

    def take(self) -> tuple[list[str], dict[str, str]]:
        """At a checkpoint, as the index's ready rows are taken: the requests done so far
        and the links the follow rules hold back."""
        done, self.done = self.done, []
        rules = self.crawler.get_spider_middleware(FollowRules)
        return done, rules.held_links() if rules is not None else {}

    def commit(self, taken: tuple[list[str], dict[str, str]]) -> None:
        done, deferred = taken
        for fp in done:
            self.journal.done(fp)
        self.journal.commit(deferred)

    def spider_opened(self) -> None:
        crawl_run(self.crawler).journal(self.take, self.commit)
        if self.crawler.settings.getbool("CHINANEWS_RECOVER"):
            self._requeue()

    def _requeue(self) -> None:
        """Queue again what the dead attempt had pending at its last checkpoint, and the
        links its spider held back."""
        spider: Any = self.crawler.spider
        if not self.crawler.settings.get("CHINANEWS_RECOVERING_SINCE"):
            return  # no checkpoint: the whole crawl is walked again
        engine = self.crawler.engine
        assert engine is not None and self.crawler.stats is not None
        pending = self.journal.pending()
        for blob in pending:
            engine.crawl(request_from_dict(pickle.loads(blob), spider=spider))
        deferred = self.journal.deferred()
        rules = self.crawler.get_spider_middleware(FollowRules)
        if rules is not None:
            rules.hold(deferred)
        self.crawler.stats.set_value(f"{STAT}/requeued", len(pending))
        logger.warning(
            "Recovery: %d requests pending at the last checkpoint queued again, %d held-back "
            "links restored",
            len(pending),
            len(deferred),
        )

    def spider_closed(self, reason: str) -> None:
        self.reason = reason

    def engine_stopped(self) -> None:
        self.journal.close()
        jobdir = self.crawler.settings["JOBDIR"]
        state = read_state(jobdir) or {}
        state["closed"] = True
        state["last_reason"] = getattr(self, "reason", None)
        state["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        write_state(jobdir, state)
