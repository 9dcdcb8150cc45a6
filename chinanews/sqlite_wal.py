"""Write-ahead logging for the SQLite files of a crawl (the database, the article index).

``PRAGMA journal_mode=WAL`` on a new file takes an exclusive lock, and SQLite answers "database
is locked" at once, without waiting the connection's busy timeout, when another process is
doing the same: two workers of a distributed crawl started together on one data directory
then lose one of them at start. ``enable_wal`` asks again until the timeout.
"""

from __future__ import annotations

import sqlite3
import time

#: Seconds between two attempts.
PAUSE = 0.05


def enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put ``conn``'s database in WAL mode (a no-op when it is already), asking again for up
    to ``timeout`` seconds while another connection holds the lock it needs."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(PAUSE)
