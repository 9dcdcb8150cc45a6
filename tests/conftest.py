"""Shared fixtures: the local copy of china.com, an "outside" sentinel host, and a way to
run ``scrapy crawl`` as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRAPY = [sys.executable, "-m", "scrapy"]

#: The article fields the local site's truth holds, compared one by one in the tests.
COMPARED_FIELDS = (
    "url",
    "article_id",
    "channel",
    "column_id",
    "title",
    "published_at",
    "published_at_raw",
    "source",
    "source_url",
    "author",
    "editor",
    "keywords",
    "summary",
    "body",
    "images",
    "related",
    "pages",
    "template",
)

#: Settings for crawling the local site: no politeness delays against our own server.
#: Settings for a crawler built by hand around the dedup pipelines: the crawl lifecycle
#: that owns the article index (``chinanews.lifecycle``).
RUN_SETTINGS = {"EXTENSIONS": {"chinanews.lifecycle.CrawlRun": 700}}


def settle(crawler: Any, item: Any) -> None:
    """What the lifecycle does when ``item`` leaves the pipelines into the outputs."""
    from chinanews.lifecycle import crawl_run

    crawl_run(crawler).state.left_pipelines(item, durable=True)


def end_run(crawler: Any) -> None:
    """What the lifecycle does at the end: commit the settled rows, close the state."""
    from chinanews.lifecycle import crawl_run

    state = crawl_run(crawler).state
    state.index.commit()
    state.close()


LOCAL_SETTINGS = {
    "AUTOTHROTTLE_ENABLED": "0",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "RETRY_TIMES": "1",
    "DOWNLOAD_TIMEOUT": "15",
    "LOG_LEVEL": "INFO",
}


class _Sentinel(BaseHTTPRequestHandler):
    """Stands for every host outside the crawl's scope: records each request it gets."""

    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(b"<html><body>outside</body></html>")

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def sentinel() -> Iterator[ThreadingHTTPServer]:
    """An HTTP server on 127.0.0.2: a different host from the local site's 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.2", 0), _Sentinel)
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def outside_base(sentinel: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.2:{sentinel.server_address[1]}/"


REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_client() -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        client.close()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required in CI and is down at {REDIS_URL}: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL} (start redis-server to run this test)")
    yield client
    client.close()


@pytest.fixture
def redis_client() -> Iterator[Any]:
    """A client of the Redis on 127.0.0.1:6379. Redis down: the test fails in CI (CI=true)
    and is skipped, with the reason, elsewhere."""
    yield from _redis_client()


@pytest.fixture(scope="module")
def redis_client_module() -> Iterator[Any]:
    """``redis_client`` for module-scoped fixtures."""
    yield from _redis_client()


@pytest.fixture(scope="module")
def chromium() -> None:
    """A browser for rendering, or a failure in CI and a skip elsewhere."""
    from scrapy.utils.project import get_project_settings

    from chinanews.rendering import RenderMode, check_render

    try:
        check_render(get_project_settings(), RenderMode.AUTO)
    except ValueError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required in CI: {exc}")
        pytest.skip(f"no browser to render with ({exc})")


POSTGRES_URL = os.environ.get("POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_database() -> Iterator[str]:
    """Create a uniquely named database on the PostgreSQL of ``POSTGRES_URL``; yield its URL;
    drop it afterwards."""
    import uuid

    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is down at {POSTGRES_URL}: {exc}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} (start postgresql to run this test)")
    name = f"chinanews_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh database on the PostgreSQL on 127.0.0.1:5432, dropped after the
    test. PostgreSQL down: the test fails in CI (CI=true) and is skipped, with the reason,
    elsewhere."""
    yield from _postgres_database()


@pytest.fixture(scope="module")
def postgres_url_module() -> Iterator[str]:
    """``postgres_url`` for module-scoped fixtures."""
    yield from _postgres_database()


@dataclass
class Crawl:
    """The result of one ``scrapy crawl`` run."""

    returncode: int
    log: str
    items: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def stat(self, key: str, default: int = 0) -> Any:
        return self.stats.get(key, default)


def run_crawl(
    tmp_path: Path,
    *args: str,
    settings: dict[str, str] | None = None,
    output: str | None = "out.jsonl",
    env: dict[str, str] | None = None,
    timeout: float = 240,
) -> Crawl:
    """Run ``scrapy crawl china_com`` in the project directory and read back what it wrote."""
    out_path = tmp_path / output if output else None
    report_path = tmp_path / "report.json"
    cmd = [*SCRAPY, "crawl", "china_com", *args]
    for name, value in {**LOCAL_SETTINGS, **(settings or {})}.items():
        cmd += ["-s", f"{name}={value}"]
    cmd += ["-s", f"CHINANEWS_REPORT_FILE={report_path}"]
    if out_path is not None:
        cmd += ["-O", str(out_path)]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CHINANEWS_DATA_DIR": str(tmp_path / "data"), **(env or {})},
    )
    crawl = Crawl(proc.returncode, proc.stderr + proc.stdout)
    if out_path is not None and out_path.exists():
        with out_path.open(encoding="utf-8") as f:
            crawl.items = [json.loads(line) for line in f if line.strip()]
    if report_path.exists():
        crawl.stats = json.loads(report_path.read_text(encoding="utf-8"))["stats"]
    return crawl


def canonical(record: dict[str, Any]) -> dict[str, Any]:
    """A record (a JSONL item, a lake row) with its times as aware datetimes, so JSONL
    strings and Parquet timestamps compare by the instant they name."""
    from chinanews.lake.times import parse_time

    out = dict(record)
    for name in ("published_at", "crawled_at"):
        out[name] = parse_time(out[name])
    out["related"] = [
        {**r, "published_at": parse_time(r["published_at"])} for r in out["related"] or []
    ]
    return out
