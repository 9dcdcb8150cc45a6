"""PostgreSQL going away again and again under load: about 2,000 articles of the local site
are fed to the store's writer thread (as the pipeline does, without a crawl) through a TCP
proxy that cuts every connection several times, once stays down for longer than the writer
retries, and is down when the run ends. The next run loads the spool; then every article is
in the database exactly once, as it was sent, with its related links.

Runs against the real PostgreSQL on 127.0.0.1:5432 (``postgres_url``: it fails in CI when
PostgreSQL is down)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chinanews.localsite import LocalSite
from chinanews.storage import open_store, parse_database_url
from chinanews.storage.writer import StoreWriter

pytestmark = pytest.mark.e2e

BASE = "http://127.0.0.1:8000"
RETRY_SECONDS = 0.5
#: At these records fed, every connection is cut (the writer retries the batch and goes on).
CUTS_AT = (100, 500, 900)
#: ... and at these without waiting for the writer, which is busy: the feeder has waited for
#: room in the queue (of 200) since the last cut, so most likely in the middle of a batch
#: (sent, perhaps committed, its answer lost).
MID_BATCH_CUTS = (350, 750, 1150)
#: From the first to the second record, an outage longer than the writer retries: batches
#: are spooled; then the database is back, and the writer with it.
OUTAGE = (1250, 1350)
OUTAGE_SECONDS = 4 * RETRY_SECONDS
#: From this record on, the database is away until the run has ended.
DOWN_FROM = 1800


class FlakyProxy:
    """A TCP proxy to PostgreSQL that can cut every live connection (``cut``) and refuse new
    ones for a while (``down``/``up``: a connection is accepted and reset at once)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.port = int(self.listener.getsockname()[1])
        self.available = threading.Event()
        self.available.set()
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.cuts = 0
        self.refused = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database_url: str) -> str:
        return database_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.port}")

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.available.is_set():
                self.refused += 1
                _reset(client)
                continue
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass  # the other direction, or a cut, closed the pair: this copy ends too
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Reset every live connection, both to the client and to the server."""
        with self.lock:
            doomed, self.sockets = self.sockets, []
            self.cuts += 1
        for s in doomed:
            _reset(s)

    def down(self) -> None:
        self.available.clear()
        self.cut()

    def up(self) -> None:
        self.available.set()

    def close(self) -> None:
        self.closed = True
        self.listener.close()
        self.cut()


def _reset(s: socket.socket) -> None:
    """Close ``s`` at once (linger 0: an RST), as a killed server would. ``shutdown`` first:
    a ``close`` alone does not end a connection another thread is blocked reading, and
    PostgreSQL would keep the cut session, its transaction and its row locks, on which the
    writer's retry of the same batch would then wait forever."""
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()


def records(run_id: str) -> list[dict[str, Any]]:
    """The article records the pipeline would hand the writer for a crawl of a local site of
    about 2,000 articles (every field the store keeps, body_html included)."""
    site = LocalSite(size=2000, seed=3)
    out = []
    for item in site.expected(BASE).values():
        item = {k: v for k, v in item.items() if k not in ("story_id", "duplicate_of")}
        item["body_html"] = "".join(f"<p>{line}</p>" for line in item["body"].split("\n"))
        item["crawled_at"] = "2026-11-28T04:00:00+00:00"
        item["language"] = "zh"
        item["content_hash"] = hashlib.sha1(item["body"].encode()).hexdigest()
        item["version"] = 1
        item["previous_content_hash"] = None
        out.append({"kind": "article", "run_id": run_id, "item": item})
    return out


class Stats(dict[str, int]):
    def inc(self, key: str, n: int) -> None:
        self[key.rsplit("/", 1)[1]] = self.get(key.rsplit("/", 1)[1], 0) + n


def writer(url: str, run_id: str, spool: Path, stats: Stats) -> StoreWriter:
    db = parse_database_url(url)
    assert db is not None
    w = StoreWriter(
        open_store(db, connect_timeout=2),
        run_id=run_id,
        spool_dir=spool,
        batch_size=50,
        flush_seconds=0.05,
        retry_seconds=RETRY_SECONDS,
        inc_stat=stats.inc,
    )
    w.start()
    return w


def spooled_ids(spool: Path) -> list[str]:
    return [
        json.loads(line)["item"]["article_id"]
        for path in sorted(spool.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line
    ]


def test_repeated_outages_lose_nothing_and_write_nothing_twice(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="chinanews.storage.writer")
    sent = records("r1")
    by_id = {r["item"]["article_id"]: r["item"] for r in sent}
    assert len(by_id) == len(sent) >= 1900
    spool = tmp_path / "spool"
    proxy = FlakyProxy(("127.0.0.1", 5432))
    started = time.monotonic()
    try:
        # -- run 1: cuts, an outage, and the database away at the end -----------------------
        first = Stats()
        w = writer(proxy.url(postgres_url), "r1", spool, first)
        for n, record in enumerate(sent):
            if n in CUTS_AT:
                w.drain()  # let the writer have a connection to lose
                proxy.cut()
            elif n in MID_BATCH_CUTS:
                proxy.cut()
            elif n == OUTAGE[0]:
                proxy.down()
            elif n == OUTAGE[1]:
                w.drain()
                time.sleep(OUTAGE_SECONDS)
                proxy.up()
            elif n == DOWN_FROM:
                w.drain()
                proxy.down()
            while not w.offer(record):  # back-pressure, as the pipeline waits for room
                time.sleep(0.005)
        w.drain()
        w.stop()
        with psycopg.connect(postgres_url) as conn:
            stored_1 = {row[0] for row in conn.execute("SELECT article_id FROM articles")}
        in_spool = spooled_ids(spool)
        # every article is in the database or waits in the spool; some in both when a
        # commit went through and its answer was lost
        assert stored_1 | set(in_spool) == set(by_id)
        assert len(sent) - len(stored_1) >= len(sent) - DOWN_FROM  # the tail never got in
        assert first["spooled"] == len(in_spool)
        assert first["retries"] >= len(CUTS_AT)  # a cut after a drain: one retry at least
        assert "is back" in caplog.text  # after the outage, before the end
        assert proxy.cuts == len(CUTS_AT) + len(MID_BATCH_CUTS) + 2 and proxy.refused >= 2

        # -- run 2: the database is back; the writer loads the spool before anything else ---
        proxy.up()
        second = Stats()
        w = writer(proxy.url(postgres_url), "r2", spool, second)
        w.drain()
        w.stop()
        assert second["unspooled"] == len(in_spool)
        print(
            f"run 1: {len(sent)} articles, {proxy.cuts} cuts, {proxy.refused} connections"
            f" refused, {first.get('retries', 0)} retries, {len(stored_1)} stored,"
            f" {first['spooled']} spooled; run 2: {second['unspooled']} loaded from the spool"
        )
        assert list(spool.glob("*.jsonl")) == []
    finally:
        proxy.close()
    elapsed = time.monotonic() - started

    with psycopg.connect(postgres_url) as conn:
        count, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT article_id) FROM articles"
        ).fetchone()
        rows = conn.execute(
            "SELECT article_id, title, body, content_hash, version, previous_content_hash,"
            " first_run_id FROM articles"
        ).fetchall()
        edges = dict(
            conn.execute(
                "SELECT from_article_id, count(*) FROM related_links GROUP BY from_article_id"
            ).fetchall()
        )
    assert count == distinct == len(by_id)
    assert {row[0] for row in rows} == set(by_id)
    for article_id, title, body, content_hash, version, previous, first_run in rows:
        item = by_id[article_id]
        assert (title, body, content_hash) == (item["title"], item["body"], item["content_hash"])
        # written twice (a retried batch, a spooled one that had committed): not a new version
        assert (version, previous) == (1, None), article_id
        assert first_run == "r1"  # the spool keeps the run that crawled it
    assert edges == {i: len(item["related"]) for i, item in by_id.items() if item["related"]}
    assert elapsed < 90
