"""``chinanews.sqlite_wal``: processes that open a new SQLite file at the same moment (workers
of a distributed crawl on one data directory) all get it in WAL mode; SQLite alone answers
"database is locked" at once to all but one of them."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from chinanews.sqlite_wal import enable_wal

ROUNDS = 25
PROCESSES = 3


def _open(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        conn = sqlite3.connect(path, timeout=5, isolation_level=None)
        enable_wal(conn, timeout=5)
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        conn.close()
        results.put(mode)
    except sqlite3.Error as exc:
        results.put(repr(exc))


def test_processes_opening_a_new_file_at_once_all_get_wal(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    outcomes: list[str] = []
    for n in range(ROUNDS):
        barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
        path = str(tmp_path / f"{n}.sqlite3")
        procs = [ctx.Process(target=_open, args=(path, barrier, results)) for _ in range(PROCESSES)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        outcomes += [results.get(timeout=5) for _ in procs]
    assert outcomes == ["wal"] * (ROUNDS * PROCESSES)


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "x.sqlite3")
    conn.close()
    with pytest.raises(sqlite3.ProgrammingError):  # a closed connection: no lock to wait for
        enable_wal(conn, timeout=5)
