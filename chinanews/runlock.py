"""One crawl at a time per article index: two runs of the same spider never overlap.

Two crawls sharing one embedded index would both find the same new article "unknown" and
both emit it. ``scrapy crawl`` therefore takes an exclusive lock beside the SQLite index
(``<index>.lock``) for the whole crawl; a second crawl that finds it held stops at once with
exit code 4 and a line naming the holder. The lock is an ``flock``: the kernel releases it
when its process ends, even by ``kill -9``, so a crashed crawl never leaves a stale lock.

A crawl whose index lives in Redis (``CHINANEWS_INDEX_BACKEND=redis``, distributed mode) takes
no lock: several workers share that crawl on purpose. ``CHINANEWS_RUN_LOCK=0`` turns the
lock off.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

#: ``scrapy crawl``'s exit code when another run holds the lock.
EXIT_LOCKED = 4


class RunLocked(RuntimeError):
    """Another crawl holds the lock; the message names it and the lock file."""


def lock_path(settings: Any, spider_name: str) -> str | None:
    """The lock file of ``spider_name``'s crawls under ``settings``, or None for no lock."""
    if not settings.getbool("CHINANEWS_RUN_LOCK", True):
        return None
    if settings.getbool("CHINANEWS_DISTRIBUTED"):
        return None  # workers share the crawl on purpose (its index lives in Redis)
    if str(settings.get("CHINANEWS_INDEX_BACKEND") or "sqlite").lower() != "sqlite":
        return None
    index = settings.get("CHINANEWS_INDEX_PATH")
    if index == ":memory:":
        return None
    if not index:
        data_dir = settings.get("CHINANEWS_DATA_DIR") or "data"
        index = str(Path(data_dir) / "index" / f"{spider_name}.sqlite3")
    return f"{index}.lock"


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``path``, which records its holder."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip()
            f.close()
            raise RunLocked(
                f"another crawl holds {self.path} ({holder or 'holder unknown'}); "
                "two runs sharing one article index would emit the same articles twice. "
                "Wait for it to end, or give this run its own CHINANEWS_DATA_DIR"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "job": os.environ.get("SCRAPY_JOB"),
                }
            )
        )
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the flock
            self._file = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
