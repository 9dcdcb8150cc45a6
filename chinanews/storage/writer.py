"""The writer thread: batches records to the store off the reactor thread, retries, spools.

Why a thread of its own rather than ``deferToThread`` per batch: the connection (an
``sqlite3`` connection is tied to a thread), the batch being filled and the state "the
database is down" all belong to one place, in order; the reactor's thread pool, which DNS
resolution shares, is never held by a slow database; and a batch is written while the crawl
goes on filling the next one.

- Batches: up to ``batch_size`` records, or whatever arrived within ``flush_seconds`` of
  the first one; each batch is one transaction.
- Back-pressure: :meth:`offer` refuses a record when ``queue_size`` are waiting; the
  pipeline then waits (without blocking the reactor) for :attr:`on_room`.
- Faults: a batch that fails with a transient error (connection lost, database locked) is
  retried with backoff for ``retry_seconds``; if the database stays away, the batch is
  appended to the spool file ``<spool_dir>/<store>-<run_id>.jsonl`` (flushed and fsynced)
  and logged at ERROR, and the writer is *down*: later batches go straight to the spool,
  with one reconnection attempt every ``retry_seconds``, so the crawl does not stall.
- The spool: at connection, the spool files of earlier runs for the same database are
  loaded first and deleted once committed; at :meth:`stop`, this run's own spool too if the
  database came back. A file that cannot be loaded stays for the next run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chinanews.storage.stores import Record, Store

logger = logging.getLogger(__name__)

STAT = "chinanews/storage"
_STOP = object()


class _Barrier:
    """A place in the queue: ``done(True)`` is called (from the writer thread) once every
    record queued before it is written or spooled, ``done(False)`` if the writer failed."""

    def __init__(self, done: Callable[[bool], None]) -> None:
        self.done = done


class StoreWriter:
    def __init__(
        self,
        store: Store,
        *,
        run_id: str,
        spool_dir: str | Path,
        batch_size: int = 500,
        flush_seconds: float = 1.0,
        retry_seconds: float = 30.0,
        queue_size: int | None = None,
        inc_stat: Callable[[str, int], None] | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.spool_dir = Path(spool_dir)
        self.batch_size = max(1, batch_size)
        self.flush_seconds = flush_seconds
        self.retry_seconds = retry_seconds
        self.queue_size = queue_size or 4 * self.batch_size
        self._inc = inc_stat or (lambda key, n: None)
        self.queue: queue.Queue[Any] = queue.Queue()
        #: Called (from the writer thread) each time records leave the queue.
        self.on_room: Callable[[], None] = lambda: None
        self.connected = False
        self.down = False
        #: The thread died of an error it could not handle (records may be lost).
        self.failed = False
        self._next_attempt = 0.0
        self._spool_file: Any = None
        self._thread = threading.Thread(target=self._run, name="chinanews-db-writer", daemon=True)

    @property
    def spool_path(self) -> Path:
        return self.spool_dir / f"{self.store.db.store_name}-{self.run_id}.jsonl"

    # -- the crawl's side ----------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def offer(self, record: Record) -> bool:
        """Queue ``record`` unless the queue is full (then wait for :attr:`on_room`)."""
        if self.queue.qsize() >= self.queue_size:
            return False
        self.queue.put(record)
        return True

    def put(self, record: Record) -> None:
        """Queue ``record`` whatever the queue's length (signal handlers cannot wait)."""
        self.queue.put(record)

    def barrier(self, done: Callable[[bool], None]) -> None:
        """Call ``done(True)`` once every record queued so far is written or spooled (both
        durable), ``done(False)`` if the writer failed first. Called at once when the
        writer thread has ended."""
        if not self._thread.is_alive():
            done(not self.failed)
            return
        self.queue.put(_Barrier(done))

    def drain(self) -> None:
        """Block until every record queued so far is written or spooled."""
        self.queue.join()

    def stop(self) -> None:
        """Write what is queued, then stop the thread and close the connection (blocking)."""
        if self._thread.is_alive():
            self.queue.put(_STOP)
            self._thread.join()

    # -- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._try_connect()
            while True:
                batch, stop, barriers = self._next_batch()
                try:
                    if batch:
                        self._write(batch)
                finally:
                    for _ in range(len(batch) + len(barriers) + stop):
                        self.queue.task_done()
                    self.on_room()
                for barrier in barriers:
                    barrier.done(True)
                if stop:
                    break
            if self.connected and not self.down:
                self._close_spool()
                # a failure is logged there; the file stays for the next run
                with contextlib.suppress(Exception):
                    self._load_spool(include_current=True)
        except Exception:
            self.failed = True
            logger.exception("The database writer failed")
        finally:
            self._close_spool()
            self.store.close()
            self._release_barriers()

    def _release_barriers(self) -> None:
        """Answer the barriers left in the queue when the thread ends: everything before
        them was handled, unless the thread failed."""
        while True:
            try:
                record = self.queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(record, _Barrier):
                record.done(not self.failed)
            self.queue.task_done()

    def _next_batch(self) -> tuple[list[Record], bool, list[_Barrier]]:
        """The next batch, whether the writer is to stop after it, and the barriers met
        (a batch ends at a barrier, so that it is answered as soon as possible)."""
        first = self.queue.get()
        if first is _STOP:
            return [], True, []
        if isinstance(first, _Barrier):
            return [], False, [first]
        batch = [first]
        deadline = time.monotonic() + self.flush_seconds
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                record = (
                    self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
                )
            except queue.Empty:
                break
            if record is _STOP:
                return batch, True, []
            if isinstance(record, _Barrier):
                return batch, False, [record]
            batch.append(record)
        return batch, False, []

    def _try_connect(self) -> bool:
        """Connect, migrate and load earlier runs' spools; False (and down) on failure."""
        try:
            applied = self.store.connect()
            if applied:
                logger.info(
                    "Database %s: schema version %s applied", self.store.db.redacted, applied[-1]
                )
            self.connected = True
            self._load_spool(include_current=False)
            return True
        except Exception as exc:
            self.connected = False
            self.store.close()
            logger.warning(
                "Database %s unavailable: %s",
                self.store.db.redacted,
                self.store.db.hide_password(str(exc)),
            )
            return False

    def _write(self, batch: list[Record]) -> None:
        if self.down and time.monotonic() < self._next_attempt:
            self._spool(batch, "the database is down")
            return
        deadline = time.monotonic() + (0 if self.down else self.retry_seconds)
        delay = 0.2
        while True:
            error: BaseException | None = None
            if self.connected or self._try_connect():
                try:
                    articles = self.store.write(batch)
                except Exception as exc:
                    error = exc
                else:
                    self._inc(f"{STAT}/written", len(batch))
                    self._inc(f"{STAT}/articles", articles)
                    if self.down:
                        logger.warning("Database %s is back", self.store.db.redacted)
                    self.down = False
                    return
                if not self.store.is_transient(error):
                    self._spool(batch, self._reason(error))
                    return
                self.connected = False
                self.store.close()
            now = time.monotonic()
            if now >= deadline:
                self.down = True
                self._next_attempt = now + self.retry_seconds
                self._spool(batch, self._reason(error) if error else "cannot connect")
                return
            self._inc(f"{STAT}/retries", 1)
            logger.warning(
                "Database %s: writing %d records failed (%s); retrying in %.1f s",
                self.store.db.redacted,
                len(batch),
                self._reason(error) if error else "cannot connect",
                delay,
            )
            time.sleep(min(delay, max(0.0, deadline - now)))
            delay = min(delay * 2, 5.0)

    def _reason(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return self.store.db.hide_password(text)

    def _spool(self, batch: list[Record], reason: str) -> None:
        if self._spool_file is None:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            self._spool_file = self.spool_path.open("a", encoding="utf-8")
        for record in batch:
            self._spool_file.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._spool_file.flush()
        os.fsync(self._spool_file.fileno())
        self._inc(f"{STAT}/spooled", len(batch))
        logger.error(
            "Database %s: %d records NOT written (%s); spooled to %s, the next run loads them",
            self.store.db.redacted,
            len(batch),
            reason,
            self.spool_path,
        )

    def _close_spool(self) -> None:
        if self._spool_file is not None:
            self._spool_file.close()
            self._spool_file = None

    def _load_spool(self, include_current: bool) -> None:
        if not self.spool_dir.is_dir():
            return
        for path in sorted(self.spool_dir.glob(f"{self.store.db.store_name}-*.jsonl")):
            if path == self.spool_path and not include_current:
                continue
            records = [
                json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line
            ]
            try:
                for start in range(0, len(records), self.batch_size):
                    self.store.write(records[start : start + self.batch_size])
            except Exception as exc:
                logger.error(
                    "Database %s: loading the spool %s failed (%s); it stays for the next run",
                    self.store.db.redacted,
                    path,
                    self._reason(exc),
                )
                if self.store.is_transient(exc):
                    raise
                continue
            path.unlink()
            self._inc(f"{STAT}/unspooled", len(records))
            logger.warning(
                "Database %s: %d spooled records from %s written",
                self.store.db.redacted,
                len(records),
                path.name,
            )
