"""The database store on both dialects: URLs, the start-up check, schema versions and
migrations, the upsert and its version rule, edges, side tables, and the writer's retries
and spool. PostgreSQL tests run in a database of their own, created and dropped."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from chinanews.storage import (
    StorageSettingError,
    check_settings,
    open_store,
    parse_database_url,
)
from chinanews.storage.schema import MIGRATIONS, SchemaError, current_version, migrate
from chinanews.storage.stores import JSON_FIELDS, Store
from chinanews.storage.writer import StoreWriter
from tests.conftest import ROOT, SCRAPY


def article(article_id: str = "49123456", **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "url": f"https://news.china.com/international/1000/20251124/{article_id}.html",
        "article_id": article_id,
        "channel": "international",
        "column_id": "1000",
        "title": "美乌首轮会谈结束",
        "published_at": "2025-11-24T22:19:13+08:00",
        "published_at_raw": "2025-11-24 22:19:13",
        "source": "环球网",
        "source_url": None,
        "author": None,
        "editor": "0764",
        "keywords": ["美国", "乌克兰"],
        "summary": None,
        "body": "第一段\n第二段",
        "body_html": "<p>第一段</p><p>第二段</p>",
        "images": [{"url": "https://img1.utuku.china.com/a.jpg", "caption": None}],
        "related": [
            {
                "url": "https://news.china.com/domestic/945/20251123/49000001.html",
                "title": "相关",
                "published_at": "2025-11-23T10:00:00+08:00",
            },
            {"url": "https://tech.china.com/article/20251120/2025112011.html", "title": "科技"},
        ],
        "pages": 1,
        "template": "C",
        "provenance": {"title": "C:h1.article_title", "published_at": "generic:time-near-title"},
        "crawled_at": "2026-11-28T04:00:00+00:00",
        "language": "zh",
        "content_hash": "h1",
        "version": 1,
        "previous_content_hash": None,
    }
    item.update(fields)
    return item


def rec(item: dict[str, Any], run_id: str = "r1") -> dict[str, Any]:
    return {"kind": "article", "run_id": run_id, "item": item}


# -- URLs and the start-up check --------------------------------------------------------------


def test_urls_name_the_dialect_and_file() -> None:
    default = parse_database_url("", "/srv/data")
    assert default is not None
    assert (default.dialect, default.path) == ("sqlite", "/srv/data/chinanews.sqlite3")
    relative = parse_database_url("sqlite:///db/news.sqlite3")
    assert relative is not None and relative.path == "db/news.sqlite3"
    absolute = parse_database_url("sqlite:////tmp/news.sqlite3")
    assert absolute is not None and absolute.path == "/tmp/news.sqlite3"
    pg = parse_database_url("postgres://u:s3cret@db.example:5433/news")
    assert pg is not None and pg.dialect == "postgresql"
    assert pg.redacted == "postgresql://u:***@db.example:5433/news"
    assert parse_database_url("none") is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("mysql://u@h/db", "unknown scheme 'mysql'"),
        ("data/news.sqlite3", "is not a URL"),
        ("sqlite://", "has no path"),
        ("sqlite:///data/", "names a directory"),
        ("postgresql://u:pw@host:5432", "names no database"),
        ("postgresql://u:pw@host:port/db", "Port could not be cast"),
    ],
)
def test_bad_urls_say_what_is_wrong(value: str, says: str) -> None:
    with pytest.raises(StorageSettingError, match=r"^DATABASE_URL: ") as exc:
        parse_database_url(value)
    assert says in str(exc.value)
    assert "pw" not in str(exc.value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_database_fails_the_check_without_its_password() -> None:
    url = f"postgresql://chinanews:s3cret@127.0.0.1:{free_port()}/news"
    with pytest.raises(StorageSettingError) as exc:
        check_settings(Settings({"DATABASE_URL": url}))
    message = str(exc.value)
    assert message.startswith(
        f"DATABASE_URL: cannot connect to postgresql://chinanews:***@127.0.0.1:{url.split(':')[3]}"
    )
    assert "refused" in message
    assert "s3cret" not in message


def test_an_unwritable_sqlite_path_fails_the_check(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageSettingError, match="cannot connect to sqlite:///"):
        check_settings(Settings({"DATABASE_URL": f"sqlite:///{blocker}/news.sqlite3"}))


def test_bad_batch_size_fails_the_check() -> None:
    with pytest.raises(StorageSettingError, match="CHINANEWS_DB_BATCH_SIZE"):
        check_settings(Settings({"CHINANEWS_DB_BATCH_SIZE": "0", "DATABASE_URL": "none"}))


def test_scrapy_crawl_stops_with_one_line_and_exit_2(tmp_path: Path) -> None:
    import subprocess

    url = f"postgresql://u:s3cret@127.0.0.1:{free_port()}/news"
    proc = subprocess.run(
        [*SCRAPY, "crawl", "china_com", "-s", f"DATABASE_URL={url}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "CHINANEWS_DATA_DIR": str(tmp_path)},
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "error: DATABASE_URL: cannot connect to postgresql://u:***@127.0.0.1"
    )
    assert "s3cret" not in proc.stderr


# -- schema, upsert, version ---------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/news.sqlite3"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    db = parse_database_url(db_url)
    assert db is not None
    store = open_store(db)
    store.connect()
    yield store
    store.close()


def rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.conn.execute(sql).fetchall()]


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_the_schema_is_created_with_its_version_once(store: Store) -> None:
    assert current_version(store.conn) == len(MIGRATIONS[store.dialect])
    assert migrate(store.conn, store.dialect) == []  # a second open applies nothing
    versions = rows(store, "SELECT version FROM schema_version ORDER BY 1")
    assert versions == [(n,) for n in range(1, len(MIGRATIONS[store.dialect]) + 1)]
    for table in ("articles", "related_links", "duplicates", "rejects", "crawl_runs"):
        assert rows(store, f"SELECT count(*) FROM {table}") == [(0,)]


def test_a_new_migration_is_applied_and_recorded(store: Store) -> None:
    steps = [*MIGRATIONS[store.dialect], ["ALTER TABLE articles ADD COLUMN lang_guess TEXT"]]
    assert migrate(store.conn, store.dialect, steps) == [len(steps)]
    versions = [v for (v,) in rows(store, "SELECT version FROM schema_version ORDER BY 1")]
    assert versions == list(range(1, len(steps) + 1))
    assert rows(store, "SELECT count(lang_guess) FROM articles") == [(0,)]


def test_a_newer_schema_is_refused(store: Store) -> None:
    p = "?" if store.dialect == "sqlite" else "%s"
    store.conn.execute(f"INSERT INTO schema_version (version) VALUES ({p})", (9,))
    with pytest.raises(SchemaError, match="schema version 9, newer than this chinanews knows"):
        store.connect()


def test_every_field_is_stored(store: Store) -> None:
    item = article()
    assert store.write([rec(item)]) == 1
    cursor = store.conn.execute("SELECT * FROM articles")
    names = [d[0] for d in cursor.description]
    row = dict(zip(names, cursor.fetchone(), strict=True))
    for name, value in item.items():
        stored = as_json(row[name]) if name in JSON_FIELDS else row[name]
        assert stored == value, name
    assert row["run_id"] == row["first_run_id"] == "r1"


#: The ``articles`` columns of schema version 1 (the release before ``provenance``).
V1_COLUMNS = (
    "article_id, url, channel, column_id, title, published_at, published_at_raw, source, "
    "source_url, author, editor, keywords, summary, body, body_html, images, related, pages, "
    "template, crawled_at, language, content_hash, version, previous_content_hash, "
    "first_run_id, run_id, stored_at"
)


def test_a_database_of_the_previous_release_is_upgraded_in_place(db_url: str) -> None:
    db = parse_database_url(db_url)
    assert db is not None
    old = open_store(db)
    conn = old._open()  # what the release before provenance created and wrote
    assert migrate(conn, old.dialect, MIGRATIONS[old.dialect][:1]) == [1]
    item = article()
    values = [
        json.dumps(item.get(c), ensure_ascii=False)
        if c in ("keywords", "images", "related")
        else item.get(c, "r0" if c.endswith("run_id") else "2026-11-28T04:00:00+00:00")
        for c in V1_COLUMNS.split(", ")
    ]
    p = "?" if old.dialect == "sqlite" else "%s"
    conn.execute(
        f"INSERT INTO articles ({V1_COLUMNS}) VALUES ({', '.join([p] * len(values))})", values
    )
    conn.close()

    store = open_store(db)
    assert store.connect() == list(range(2, len(MIGRATIONS[store.dialect]) + 1))
    try:
        (stored,) = rows(store, "SELECT provenance, title, version FROM articles")
        assert (as_json(stored[0]), stored[1], stored[2]) == ({}, item["title"], 1)
        # the next crawl of the article fills it; the same content keeps the version
        store.write([rec(item, "r1")])
        (stored,) = rows(store, "SELECT provenance, version, first_run_id FROM articles")
        assert (as_json(stored[0]), stored[1], stored[2]) == (item["provenance"], 1, "r0")
        assert store.connect() == []  # opened again: nothing more to apply
    finally:
        store.close()


def test_the_upsert_replaces_provenance_and_an_item_without_it_stores_an_empty_object(
    store: Store,
) -> None:
    store.write([rec(article())])
    store.write([rec(article(provenance={"title": "generic:h1"}), "r2")])
    assert [as_json(p) for (p,) in rows(store, "SELECT provenance FROM articles")] == [
        {"title": "generic:h1"}
    ]
    without = article("49123457")
    del without["provenance"]  # an item of an older extractor, a spool of the last release
    store.write([rec(without, "r3"), rec(article("49123458", provenance=None), "r3")])
    assert [
        as_json(p) for (p,) in rows(store, "SELECT provenance FROM articles ORDER BY article_id")
    ] == [{"title": "generic:h1"}, {}, {}]


def test_related_links_are_edges_replaced_on_update(store: Store) -> None:
    store.write([rec(article())])
    assert rows(
        store,
        "SELECT position, to_url, to_article_id, title FROM related_links ORDER BY position",
    ) == [
        (0, "https://news.china.com/domestic/945/20251123/49000001.html", "49000001", "相关"),
        (1, "https://tech.china.com/article/20251120/2025112011.html", "2025112011", "科技"),
    ]
    store.write([rec(article(related=[]), "r2")])
    assert rows(store, "SELECT count(*) FROM related_links") == [(0,)]


def test_a_recrawl_updates_in_place_and_bumps_version_only_when_content_changed(
    store: Store,
) -> None:
    store.write([rec(article())])
    store.write([rec(article(title="新标题"), "r2")])  # same content hash
    assert rows(store, "SELECT title, version, previous_content_hash, run_id FROM articles") == [
        ("新标题", 1, None, "r2")
    ]
    store.write([rec(article(body="改了", content_hash="h2"), "r3")])
    assert rows(store, "SELECT version, previous_content_hash, content_hash FROM articles") == [
        (2, "h1", "h2")
    ]
    # written again (a retried batch, a spool loaded twice): nothing changes
    store.write([rec(article(body="改了", content_hash="h2"), "r3")])
    assert rows(store, "SELECT count(*), max(version), max(first_run_id) FROM articles") == [
        (1, 2, "r1")
    ]


def test_two_versions_in_one_batch_bump_twice(store: Store) -> None:
    store.write([rec(article()), rec(article(content_hash="h2")), rec(article(content_hash="h3"))])
    assert rows(store, "SELECT version, previous_content_hash FROM articles") == [(3, "h2")]


def test_a_failed_batch_leaves_nothing_behind_for_the_next(store: Store) -> None:
    with pytest.raises(Exception, match=r"(?i)null"):
        store.write(
            [rec(article("1")), rec(article("1", content_hash="h2")), rec(article("2", url=None))]
        )
    assert store.write([rec(article("3")), rec(article("3", content_hash="h2"))]) == 2
    assert rows(store, "SELECT article_id, version FROM articles") == [("3", 2)]
    assert rows(store, "SELECT DISTINCT from_article_id FROM related_links") == [("3",)]
    assert rows(store, "SELECT count(*) FROM related_links") == [(2,)]


def test_postgres_compresses_with_lz4_unless_the_session_chose(postgres_url: str) -> None:
    """lz4 is a property of the stored values only: the table is the same, the text too."""
    body = "第一段。" * 4000  # compressed out of line: TOAST
    for url, method in (
        (postgres_url, "lz4"),
        (postgres_url + "?options=-c%20default_toast_compression%3Dpglz", "pglz"),
    ):
        db = parse_database_url(url)
        assert db is not None
        store = open_store(db)
        store.connect()
        try:
            store.write([rec(article(body=body, content_hash=method), method)])
            stored = store.conn.execute(
                "SELECT pg_column_compression(body), body = %s FROM articles", (body,)
            ).fetchall()
            assert stored == [(method, True)]
        finally:
            store.close()


def test_postgres_sessions_neither_hang_nor_wait_for_ever(postgres_url: str) -> None:
    """Keepalives find a connection cut without a word; lock and statement timeouts end a
    batch that waits on a dead session's locks: the batch is retried, then spooled. The
    URL's own options still win."""
    for url, lock_timeout in (
        (postgres_url, "1min"),
        (postgres_url + "?options=-c%20lock_timeout%3D5s", "5s"),
    ):
        db = parse_database_url(url)
        assert db is not None
        store = open_store(db)
        store.connect()
        try:
            show = store.conn.execute
            assert show("SHOW lock_timeout").fetchone() == (lock_timeout,)
            assert show("SHOW statement_timeout").fetchone() == ("5min",)
            assert store.conn.info.get_parameters().get("keepalives") == "1"
        finally:
            store.close()


def test_duplicates_rejects_and_runs(store: Store) -> None:
    dup = {"duplicate_of": article()["url"], "layer": "near", "item": article("49000002")}
    bad = {"reason": "missing_title", "errors": ["title: None"], "item": article("3", title=None)}
    run = {
        "kind": "run",
        "run_id": "r1",
        "spider": "china_com",
        "started_at": "2026-11-28T04:00:00+00:00",
    }
    batch = [
        {**run, "args": {"since": "2025-11-01", "channels": ["tech"]}},
        {"kind": "duplicate", "run_id": "r1", "seq": 1, "record": dup},
        {"kind": "reject", "run_id": "r1", "seq": 2, "record": bad},
    ]
    store.write(batch)
    store.write(batch)  # idempotent
    end = {**run, "finished_at": "2026-11-28T04:01:00+00:00", "finish_reason": "finished"}
    store.write([{**end, "ok": True, "report": {"ok": True, "articles": {"emitted": 0}}}])
    assert rows(store, "SELECT article_id, duplicate_of, layer FROM duplicates") == [
        ("49000002", dup["duplicate_of"], "near")
    ]
    assert rows(store, "SELECT article_id, reason FROM rejects") == [("3", "missing_title")]
    [(finish_reason, ok, args, report)] = rows(
        store, "SELECT finish_reason, ok, args, report FROM crawl_runs"
    )
    assert (finish_reason, bool(ok)) == ("finished", True)
    assert as_json(args) == {"since": "2025-11-01", "channels": ["tech"]}
    assert as_json(report)["articles"] == {"emitted": 0}


# -- the writer: batches, retries, spool ---------------------------------------------------


def test_the_writer_batches_and_counts(db_url: str, tmp_path: Path) -> None:
    db = parse_database_url(db_url)
    assert db is not None
    stats: dict[str, int] = {}
    writer = StoreWriter(
        open_store(db),
        run_id="r1",
        spool_dir=tmp_path / "spool",
        batch_size=7,
        flush_seconds=0.05,
        inc_stat=lambda k, n: stats.__setitem__(k, stats.get(k, 0) + n),
    )
    writer.start()
    for i in range(50):
        while not writer.offer(rec(article(str(i)))):  # full: 4 batches waiting
            time.sleep(0.01)
    writer.drain()
    writer.stop()
    assert stats["chinanews/storage/articles"] == 50
    assert "chinanews/storage/spooled" not in stats
    check = open_store(db)
    check.connect()
    assert rows(check, "SELECT count(*) FROM articles") == [(50,)]
    check.close()


def test_an_unreachable_database_spools_and_the_next_run_loads_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    target = tmp_path / "db" / "news.sqlite3"
    spool = tmp_path / "spool"
    stats: dict[str, int] = {}

    def inc(k: str, n: int) -> None:
        stats[k] = stats.get(k, 0) + n

    # the same store name as the real database, but a path that cannot be opened yet
    db = parse_database_url(f"sqlite:///{target}")
    assert db is not None
    broken = open_store(db)
    broken.is_transient = lambda exc: True  # type: ignore[method-assign]
    broken._open = lambda: (_ for _ in ()).throw(OSError("disk gone"))  # type: ignore[method-assign]
    writer = StoreWriter(
        broken,
        run_id="r1",
        spool_dir=spool,
        batch_size=10,
        flush_seconds=0.01,
        retry_seconds=0.3,
        inc_stat=inc,
    )
    writer.start()
    for i in range(25):
        writer.put(rec(article(str(i))))
    writer.drain()
    writer.stop()
    assert stats["chinanews/storage/spooled"] == 25
    assert stats["chinanews/storage/retries"] >= 1
    spooled = [json.loads(line) for line in writer.spool_path.read_text().splitlines()]
    assert sorted(r["item"]["article_id"] for r in spooled) == sorted(str(i) for i in range(25))

    stats.clear()
    writer = StoreWriter(open_store(db), run_id="r2", spool_dir=spool, inc_stat=inc)
    writer.start()
    writer.put(rec(article("99"), "r2"))
    writer.drain()
    writer.stop()
    assert stats["chinanews/storage/unspooled"] == 25
    assert not list(spool.glob("*.jsonl"))
    check = open_store(db)
    check.connect()
    assert rows(check, "SELECT count(*) FROM articles") == [(26,)]
    check.close()


def test_a_barrier_answers_once_every_record_before_it_is_written(tmp_path: Path) -> None:
    """The checkpoint's wait on the database (``StoreWriter.barrier``): answered after the
    records queued before it are committed, without waiting for the ones after it."""
    import sqlite3
    import threading

    path = tmp_path / "db.sqlite3"
    db = parse_database_url(f"sqlite:///{path}")
    assert db is not None
    writer = StoreWriter(
        open_store(db), run_id="r1", spool_dir=tmp_path / "spool", flush_seconds=30
    )
    writer.start()
    for i in range(5):
        writer.put(rec(article(str(i))))
    answered = threading.Event()
    seen: list[tuple[bool, int]] = []

    def done(ok: bool) -> None:
        with sqlite3.connect(path) as conn:
            seen.append((ok, conn.execute("SELECT count(*) FROM articles").fetchone()[0]))
        answered.set()

    writer.barrier(done)
    for i in range(5, 8):  # after the barrier: not waited for
        writer.put(rec(article(str(i))))
    # flush_seconds is 30: only the barrier ends the first batch this early
    assert answered.wait(10)
    assert seen == [(True, 5)]
    writer.stop()
    late: list[bool] = []
    writer.barrier(late.append)  # the thread has ended: answered at once
    assert late == [True]
