"""One crawl run, from start to end: its record, its checkpoints, and the recovery of a run
that did not finish.

``CrawlRun`` (extension, ``crawler.get_extension(CrawlRun)``) owns what outlives a single
item:

* **The run's record** in ``<data dir>/runs/<spider>/<run_id>.json`` (``RunRegistry``):
  ``running`` from the start, ``finished`` at a clean end, ``failed`` when an output could
  not store its data, ``interrupted`` once a later run has recovered it. A run that is still
  ``running`` while this one starts on the same data directory died (the run lock,
  ``chinanews.runlock``, says no other is alive; else its process is gone).
* **The crawl state** (``chinanews.index.CrawlState``): the article index, the
  near-duplicate index and the duplicates output, which the pipelines and the spider use.
* **Checkpoints.** Every output registers how it makes its data durable (``register``):
  the feeds flush and fsync their files and publish their open lake files, the rejects and
  duplicates files fsync, the database waits for its writer to have committed (or spooled)
  what it was given. A checkpoint takes the index rows whose items have left the pipelines,
  calls every output in turn, and only then commits those rows: the index never knows an
  article an output could lose. One runs every ``CHINANEWS_CHECKPOINT_ITEMS`` items,
  every ``CHINANEWS_CHECKPOINT_SECONDS`` seconds and at the end.
* **Recovery.** Before crawling, each dead run's feed is read back (a half-written last
  line cut): every article it emitted is recorded in the index, upserted into the database
  and written to the lake unless a published lake file of that run holds it already
  (``replay``); the database's ``crawl_runs`` gets the dead run as ``interrupted``; and,
  since the dead run's queue is gone, this run fetches known articles again to find every
  link once more (``refetch_known``). One log line says what was recovered.
* **Failure.** An output that cannot store its data stops the crawl (``output_failed``):
  nothing more is committed to the index, so what it lost is emitted again next time, and
  ``scrapy crawl`` exits with ``EXIT_OUTPUT_FAILED``.

See ``docs/scheduling.md`` (what each output promises after a crash) and
``docs/architecture.md`` (the lifecycle in a picture).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet import task
from twisted.internet.defer import Deferred

from chinanews.outputs import main_output, path_safe
from chinanews.report import EXIT_OUTPUT_FAILED

__all__ = [
    "EXIT_OUTPUT_FAILED",
    "CrawlRun",
    "OutputFailed",
    "RunRecord",
    "crawl_run",
    "default_run_id",
]

logger = logging.getLogger(__name__)

STAT = "chinanews/run"
OUTPUT_FAILED_STAT = "chinanews/outputs/failed"
#: ``CHINANEWS_FAULT`` (``chinanews.config.FAULT_POINTS``) kills the crawl on purpose, for
#: the tests of crash safety: ``<point>`` or ``<point>:<n>`` (at the n-th checkpoint).


class OutputFailed(RuntimeError):
    """An output could not make its data durable; the message says which and why."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class RunRecord:
    """What the registry keeps of one run."""

    run_id: str
    spider: str
    pid: int
    started_at: str
    state: str = "running"
    feed: str | None = None
    #: The job its lake files are named after, without the attempt (every attempt's start so).
    lake_job: str | None = None
    checkpoints: int = 0
    committed: int = 0
    finished_at: str | None = None
    finish_reason: str | None = None
    recovered_by: str | None = None
    recovery: dict[str, Any] = field(default_factory=dict)


class RunRegistry:
    """``<data dir>/runs/<spider>/<run_id>.json``, one file per run, replaced atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, run_id: str) -> Path:
        return self.directory / f"{path_safe(run_id)}.json"

    def save(self, record: RunRecord) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(record.run_id)
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(asdict(record), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def running(self) -> list[RunRecord]:
        """Records still ``running``, oldest first; an unreadable record is set aside with
        a warning (a kill while it was written leaves only its temporary file)."""
        records: list[RunRecord] = []
        if not self.directory.is_dir():
            return records
        for path in sorted(self.directory.glob("*.json")):
            try:
                record = RunRecord(**json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, TypeError) as exc:
                aside = path.with_suffix(".json.unreadable")
                os.replace(path, aside)
                logger.warning("Run record %s unreadable (%s): set aside as %s", path, exc, aside)
                continue
            if record.state == "running":
                records.append(record)
        return sorted(records, key=lambda r: r.started_at)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Output:
    name: str
    checkpoint: Callable[[], Awaitable[None] | None]
    replay: Callable[[RunRecord, dict[str, Any]], bool] | None
    interrupted: Callable[[RunRecord], None] | None


def cut_torn_line(path: Path) -> int:
    """Drop the unterminated last line a kill left in ``path``; the bytes dropped."""
    if not path.exists():
        return 0
    with path.open("rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        position = size
        keep = 0
        while position > 0:  # walk back to the last newline
            step = min(65536, position)
            f.seek(position - step)
            newline = f.read(step).rfind(b"\n")
            if newline >= 0:
                keep = position - step + newline + 1
                break
            position -= step
        f.truncate(keep)
        return size - keep


class CrawlRun:
    """Extension: the run's record, checkpoints and recovery (see the module docstring)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.every_items = settings.getint("CHINANEWS_CHECKPOINT_ITEMS", 500)
        self.every_seconds = settings.getfloat("CHINANEWS_CHECKPOINT_SECONDS", 30.0)
        fault = str(settings.get("CHINANEWS_FAULT") or "")
        self.fault, _, at = fault.partition(":")
        self.fault_at = int(at or 1)
        self.outputs: list[_Output] = []
        self._journals: list[tuple[Callable[[], Any], Callable[[Any], None]]] = []
        self._state: Any = None
        self.record: RunRecord | None = None
        #: True after recovering a dead run: its queue is lost, so known articles are
        #: fetched again to find every link once more.
        self.refetch_known = False
        self.failed: str | None = None
        self._items_since = 0
        self._last = time.monotonic()
        self._running: Deferred[None] | None = None
        self._again = False
        self._loop: task.LoopingCall | None = None
        self._closed = False
        self._run_id: str | None = None
        #: Why the spider closed; the run ends when the feeds are stored (``feeds_closed``).
        self._reason = "finished"

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlRun:
        run = cls(crawler)
        crawler.signals.connect(run.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(run.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(run.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(run.item_error, signal=signals.item_error)
        crawler.signals.connect(run.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(run.feeds_closed, signal=signals.feed_exporter_closed)
        return run

    # -- what the other components use ------------------------------------------------

    @property
    def spider_name(self) -> str:
        return str(getattr(self.crawler.spider, "name", None) or "crawl")

    @property
    def registry(self) -> RunRegistry:
        data_dir = Path(self.crawler.settings.get("CHINANEWS_DATA_DIR") or "data")
        return RunRegistry(data_dir / "runs" / str(path_safe(self.spider_name)))

    @property
    def run_id(self) -> str:
        """This run's id: names its output files (``%(run_id)s``), its record and its
        ``crawl_runs`` row. ``CHINANEWS_RUN_ID`` (a resumed ``JOBDIR`` run keeps its id),
        else ``default_run_id``; a distributed worker adds its worker id."""
        if self._run_id is None:
            settings = self.crawler.settings
            run_id = str(settings.get("CHINANEWS_RUN_ID") or default_run_id(self.crawler.spider))
            if settings.getbool("CHINANEWS_DISTRIBUTED"):
                from chinanews.distributed import worker_id

                run_id = f"{run_id}-{worker_id(settings)}"
            self._run_id = run_id
        return self._run_id

    @property
    def state(self) -> Any:
        """The crawl's ``CrawlState`` (article index, near-duplicate index, duplicates
        output), opened on first use."""
        if self._state is None:
            from chinanews.index import CrawlState

            self._state = CrawlState(self.crawler, self)
        return self._state

    def register(
        self,
        name: str,
        checkpoint: Callable[[], Awaitable[None] | None],
        *,
        replay: Callable[[RunRecord, dict[str, Any]], bool] | None = None,
        interrupted: Callable[[RunRecord], None] | None = None,
    ) -> None:
        """An output joins the checkpoints: ``checkpoint()`` makes what it was given durable
        (raising ``OutputFailed`` when it cannot); ``replay(dead_run, item)`` writes an
        article a dead run emitted unless the output holds it already (True when written);
        ``interrupted(dead_run)`` notes the dead run (the database's ``crawl_runs``)."""
        self.outputs.append(_Output(name, checkpoint, replay, interrupted))

    def journal(self, take: Callable[[], Any], commit: Callable[[Any], None]) -> None:
        """A record kept in step with the index (the JOBDIR frontier journal): ``take()``
        is called when a checkpoint takes the index's ready rows, and ``commit(taken)``
        right after those rows are committed."""
        self._journals.append((take, commit))

    def _inc(self, key: str, count: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(key, count)

    # -- the start ----------------------------------------------------------------------

    async def spider_opened(self) -> None:
        state = self.state  # the index opens before anything reads it
        feed = main_output(self.crawler)
        from chinanews.lake.feeds import run_job_id

        self.record = RunRecord(
            run_id=self.run_id,
            spider=self.spider_name,
            pid=os.getpid(),
            started_at=_now(),
            feed=str(feed) if feed is not None else None,
            lake_job=run_job_id(self.crawler.spider)
            if self.crawler.settings.get("CHINANEWS_LAKE")
            else None,
        )
        if self._recovers():
            for dead in self.registry.running():
                if dead.run_id == self.run_id or self._is_dead(dead):
                    await self._recover(dead, state)
        self.registry.save(self.record)
        if self.every_seconds > 0:
            self._loop = task.LoopingCall(self._tick)
            self._loop.start(self.every_seconds, now=False)

    def _recovers(self) -> bool:
        """Distributed workers share one crawl: their dead peers are the frontier's matter."""
        return not self.crawler.settings.getbool("CHINANEWS_DISTRIBUTED")

    def _is_dead(self, record: RunRecord) -> bool:
        from chinanews.runlock import lock_path

        if lock_path(self.crawler.settings, self.spider_name) is not None:
            return True  # we hold the run lock: no other run of this index is alive
        return not _alive(record.pid)

    async def _recover(self, dead: RunRecord, state: Any) -> None:
        """Make every output and the index hold what ``dead`` emitted (module docstring)."""
        feed = Path(dead.feed) if dead.feed else None
        summary: dict[str, Any] = {
            "started_at": dead.started_at,
            "checkpoints": dead.checkpoints,
            "committed": dead.committed,
        }
        lines = indexed = bad = 0
        written: dict[str, int] = {}
        if feed is None or not feed.exists():
            logger.warning(
                "Run %s did not finish and left no local feed (%s): what it emitted after its "
                "last checkpoint is fetched again",
                dead.run_id,
                feed,
            )
        else:
            cut = cut_torn_line(feed)
            if cut:
                self._inc(f"{STAT}/recovery/torn_bytes", cut)
                logger.warning(
                    "Recovery: cut a half-written last line (%d bytes) from %s", cut, feed
                )
            summary["torn_bytes"] = cut
            index, near = state.index, state.near
            with feed.open(encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        continue
                    try:
                        item = json.loads(line)
                        key = str(item.get("article_id") or item["url"])
                    except (ValueError, KeyError, TypeError, AttributeError):
                        bad += 1
                        continue
                    lines += 1
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
                        index.ready(key)
                        near.add(key, signature)
                        indexed += 1
                    for output in self.outputs:
                        if output.replay is not None and output.replay(dead, item):
                            written[output.name] = written.get(output.name, 0) + 1
            if bad:
                logger.warning("Recovery: %d lines of %s are not articles; skipped", bad, feed)
        summary.update(articles=lines, indexed=indexed, unreadable_lines=bad, rewritten=written)
        dead.state = "interrupted"
        dead.finish_reason = "interrupted"
        dead.finished_at = _now()
        dead.recovered_by = self.run_id
        dead.recovery = summary
        for output in self.outputs:
            if output.interrupted is not None:
                output.interrupted(dead)
        if not await self.checkpoint():
            return  # an output failed: the dead run stays to be recovered next time
        self.registry.save(dead)
        # The dead run's queue is lost unless a JOBDIR journal brought it back.
        self.refetch_known = not self.crawler.settings.getbool("CHINANEWS_FRONTIER_RESTORED")
        self._inc(f"{STAT}/recovered_runs")
        self._inc(f"{STAT}/recovery/articles", lines)
        self._inc(f"{STAT}/recovery/indexed", indexed)
        for name, count in written.items():
            self._inc(f"{STAT}/recovery/rewritten/{name}", count)
        rewritten = ", ".join(f"{n} to the {name}" for name, n in written.items()) or "none"
        logger.warning(
            "Recovered run %s (interrupted after %d checkpoints): %d articles in its feed, "
            "%d of them recorded in the index now, written again: %s%s",
            dead.run_id,
            dead.checkpoints,
            lines,
            indexed,
            rewritten,
            "; known articles are fetched again in this run to find the links its lost queue held"
            if self.refetch_known
            else "",
        )

    # -- items --------------------------------------------------------------------------

    def item_scraped(self, item: Any) -> None:
        self._left(item, durable=True)
        self._items_since += 1
        if self.every_items and self._items_since >= self.every_items:
            self._schedule()

    def item_dropped(self, item: Any) -> None:
        self._left(item, durable=True)  # a recorded duplicate is in the duplicates output

    def item_error(self, item: Any) -> None:
        self._left(item, durable=False)

    def _left(self, item: Any, durable: bool) -> None:
        if self._state is not None:
            self._state.left_pipelines(item, durable=durable)

    def _tick(self) -> None:
        if time.monotonic() - self._last >= self.every_seconds:
            self._schedule()

    def checkpoint_soon(self) -> None:
        """Ask for a checkpoint now, out of turn: another component needs what it commits
        (an idle worker's acknowledgements, which the other workers wait for)."""
        self._schedule()

    def _schedule(self) -> None:
        """Start a checkpoint once every handler of the current signal has run (the feed
        exporter writes the item in its own ``item_scraped``)."""
        from twisted.internet import reactor

        reactor.callLater(0, self._start)  # type: ignore[arg-type]

    def _start(self) -> None:
        if self._closed:
            return
        if self._running is not None:
            self._again = True
            return
        self._running = deferred_from_coro(self._checkpoint_loop())

    async def _checkpoint_loop(self) -> None:
        try:
            while True:
                self._again = False
                await self.checkpoint()
                if not self._again or self.failed:
                    break
        finally:
            self._running = None

    # -- checkpoints --------------------------------------------------------------------

    async def checkpoint(self) -> bool:
        """Make every output durable, then commit the index rows taken before: True when
        done, False when an output failed (nothing committed)."""
        if self.failed:
            return False
        self._items_since = 0
        self._last = time.monotonic()
        index = self.state.index
        rows = index.take_ready()
        taken = [(take(), commit) for take, commit in self._journals]
        for output in self.outputs:
            try:
                result = output.checkpoint()
                if result is not None:
                    await result
            except Exception as exc:
                self.output_failed(output.name, exc)
                return False
        if self.fault == "after_outputs_before_index":
            assert self.crawler.stats is not None
            if (self.crawler.stats.get_value(f"{STAT}/checkpoints", 0) or 0) + 1 >= self.fault_at:
                logger.warning("CHINANEWS_FAULT=%s: killing the crawl now", self.fault)
                logging.shutdown()
                os.kill(os.getpid(), signal.SIGKILL)
        try:
            committed = index.commit(rows)
        except Exception as exc:  # the Redis index of a worker that lost Redis, a full disk
            logger.error(
                "Checkpoint: the index could not commit (%s): its rows since the last "
                "checkpoint stay unrecorded and their articles are emitted again",
                exc,
            )
            self._inc(f"{STAT}/index_commit_failed")
            return False
        for value, commit in taken:
            commit(value)
        self._inc(f"{STAT}/checkpoints")
        self._inc(f"{STAT}/committed", committed)
        if self.record is not None:
            self.record.checkpoints += 1
            self.record.committed += committed
            self.registry.save(self.record)
        return True

    def output_failed(self, name: str, exc: BaseException) -> None:
        """Stop committing (what the output lost stays unknown, to be emitted again) and
        stop the crawl."""
        if self.failed is None:
            self.failed = f"{name}: {exc}"
            logger.error(
                "Output %s failed (%s): the crawl stops; the articles it did not store stay "
                "unrecorded and the next run emits them again",
                name,
                exc,
            )
        self._inc(f"{OUTPUT_FAILED_STAT}/{name}")
        self._inc(OUTPUT_FAILED_STAT)
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None and not self._closed:
            self._closed = True
            deferred_from_coro(engine.close_spider_async(reason="output_failed"))

    # -- the end ------------------------------------------------------------------------

    async def spider_closed(self, reason: str) -> None:
        self._closed = True
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        from scrapy.extensions.feedexport import FeedExporter

        if self.crawler.get_extension(FeedExporter) is None:
            await self._finish(reason)  # no feeds: nothing to wait for
        else:
            self._reason = reason

    async def feeds_closed(self) -> None:
        await self._finish(self._reason)

    async def _finish(self, reason: str) -> None:
        while self._running is not None:
            await maybe_deferred_to_future(self._running)
        ok = await self.checkpoint()
        state = self._state
        if state is not None:
            state.close()
        if self.record is not None:
            self.record.state = "finished" if ok else "failed"
            self.record.finished_at = _now()
            self.record.finish_reason = reason if ok else "output_failed"
            self.registry.save(self.record)
            logger.info(
                "Run %s %s: %d checkpoints, %d index rows committed%s",
                self.run_id,
                self.record.state,
                self.record.checkpoints,
                self.record.committed,
                f"; output failed: {self.failed}" if self.failed else "",
            )


def default_run_id(spider: Any) -> str:
    """Under Scrapyd, the job id (unique even for jobs started in the same second), made
    path-safe; else the UTC start time, ``20251124T101500Z``."""
    job = str(path_safe(getattr(spider, "_job", "") or os.environ.get("SCRAPY_JOB") or ""))
    return job.strip("._") or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def crawl_run(crawler: Crawler) -> CrawlRun:
    """The crawl's ``CrawlRun`` extension; a clear error when it was turned off."""
    run = crawler.get_extension(CrawlRun)
    if run is None:
        raise RuntimeError(
            "chinanews.lifecycle.CrawlRun is not in EXTENSIONS: the article index and the "
            "checkpoints need it"
        )
    return run
