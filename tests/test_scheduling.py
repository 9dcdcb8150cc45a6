"""``chinanews schedule`` against a stand-in Scrapyd, and the crawl's run lock."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings

from chinanews import cli
from chinanews.runlock import EXIT_LOCKED, RunLock, RunLocked, lock_path
from chinanews.scheduling import Scrapyd, parse_interval, parse_pairs
from tests.conftest import ROOT, SCRAPY


class FakeScrapyd(ThreadingHTTPServer):
    """Answers listjobs.json and schedule.json like Scrapyd 1.6, and records the calls."""

    def __init__(self, auth: tuple[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.auth = auth
        self.calls: list[tuple[str, dict[str, list[str]], str | None]] = []
        self.running: list[dict[str, str]] = []
        self.scheduled = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeScrapyd

    def _answer(self, params: dict[str, list[str]]) -> None:
        endpoint = urllib.parse.urlsplit(self.path).path.strip("/")
        header = self.headers.get("Authorization")
        self.server.calls.append((endpoint, params, header))
        if self.server.auth is not None:
            user, password = self.server.auth
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if header != expected:
                self.send_response(401)
                self.end_headers()
                return
        if endpoint == "listjobs.json":
            body = {"status": "ok", "pending": [], "running": self.server.running, "finished": []}
        elif endpoint == "schedule.json":
            self.server.scheduled += 1
            body = {"status": "ok", "jobid": f"job{self.server.scheduled}"}
        else:
            body = {"status": "error", "message": f"no {endpoint}"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(urllib.parse.parse_qs(self.rfile.read(length).decode()))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chinanews.scheduling")


@pytest.fixture
def scrapyd() -> Iterator[FakeScrapyd]:
    server = FakeScrapyd()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def schedule(*argv: str, sleep: Any = None, rounds: int | None = None) -> int:
    ns = cli.build_parser().parse_args(["schedule", *argv])
    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return int(ns.func(ns, rounds=rounds, **kwargs))


def test_schedules_with_arguments_and_settings(scrapyd: FakeScrapyd, tmp_path: Path) -> None:
    code = schedule(
        "--scrapyd", scrapyd.url, "--lock-file", str(tmp_path / "lock"),
        "-a", "since=2025-11-01", "-a", "channels=military,tech",
        "-s", "DATABASE_URL=postgresql://crawler@db/news", "-s", "CHINANEWS_LAKE=s3://lake/news",
    )  # fmt: skip
    assert code == 0
    assert [c[0] for c in scrapyd.calls] == ["listjobs.json", "schedule.json"]
    params = scrapyd.calls[1][1]
    assert params["project"] == ["chinanews"]
    assert params["spider"] == ["china_com"]
    assert params["since"] == ["2025-11-01"]
    assert params["channels"] == ["military,tech"]
    assert sorted(params["setting"]) == [
        "CHINANEWS_LAKE=s3://lake/news",
        "DATABASE_URL=postgresql://crawler@db/news",
    ]


def test_skips_while_a_job_of_the_spider_runs(
    scrapyd: FakeScrapyd, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scrapyd.running = [{"id": "abc", "spider": "china_com", "project": "chinanews"}]
    assert schedule("--scrapyd", scrapyd.url, "--lock-file", str(tmp_path / "lock")) == 0
    assert [c[0] for c in scrapyd.calls] == ["listjobs.json"]
    assert "Skipped: china_com still has job(s) abc" in caplog.text


def test_another_spider_running_does_not_block(scrapyd: FakeScrapyd, tmp_path: Path) -> None:
    scrapyd.running = [{"id": "x", "spider": "other", "project": "chinanews"}]
    assert schedule("--scrapyd", scrapyd.url, "--lock-file", str(tmp_path / "lock")) == 0
    assert scrapyd.scheduled == 1


def test_every_triggers_each_interval_and_skips_overlaps(
    scrapyd: FakeScrapyd, tmp_path: Path
) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        # The first job is still running at the second trigger, finished by the third.
        scrapyd.running = [{"id": "job1", "spider": "china_com"}] if len(sleeps) == 1 else []

    code = schedule(
        "--scrapyd", scrapyd.url, "--lock-file", str(tmp_path / "lock"), "--every", "15m",
        sleep=sleep, rounds=3,
    )  # fmt: skip
    assert code == 0
    assert scrapyd.scheduled == 2
    assert len(sleeps) == 2 and all(880 < s <= 900 for s in sleeps)


def test_credentials_from_the_environment_are_sent_not_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = FakeScrapyd(auth=("ops", "s3cret"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        lock = str(tmp_path / "lock")
        assert schedule("--scrapyd", server.url, "--lock-file", lock) == 1
        assert "HTTP 401 (set SCRAPYD_USERNAME and SCRAPYD_PASSWORD)" in caplog.text
        monkeypatch.setenv("SCRAPYD_USERNAME", "ops")
        monkeypatch.setenv("SCRAPYD_PASSWORD", "s3cret")
        assert schedule("--scrapyd", server.url, "--lock-file", lock) == 0
        assert server.scheduled == 1
        assert "Scheduled china_com" in caplog.text
        assert "s3cret" not in caplog.text
    finally:
        server.shutdown()
        server.server_close()


def test_credentials_in_the_url_are_used_and_kept_out_of_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = FakeScrapyd(auth=("ops", "p@ss"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = server.url.replace("http://", "http://ops:p%40ss@")
        assert schedule("--scrapyd", url, "--lock-file", str(tmp_path / "lock")) == 0
        assert server.scheduled == 1
        assert f"Scheduled china_com on {server.url}: job job1" in caplog.text
        assert "p@ss" not in caplog.text and "p%40ss" not in caplog.text
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_scrapyd_is_exit_1(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    code = schedule("--scrapyd", "http://127.0.0.1:9", "--lock-file", str(tmp_path / "lock"))
    assert code == 1
    assert "cannot reach Scrapyd at http://127.0.0.1:9" in caplog.text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--every", "soon"], "--every: 'soon' is not an interval"),
        (["-a", "since"], "-a 'since': use -a NAME=VALUE"),
        (["--scrapyd", "127.0.0.1:6800"], "is not an http(s) URL"),
    ],
)
def test_bad_arguments_are_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert schedule(*argv) == 2
    assert message in capsys.readouterr().err


def test_intervals_and_pairs() -> None:
    assert parse_interval("30m") == 1800
    assert parse_interval("2h") == 7200
    assert parse_interval("90s") == 90
    assert parse_interval("45") == 45 * 60
    with pytest.raises(ValueError):
        parse_interval("0m")
    assert parse_pairs(["A=1", "B=x=y"], "-s") == {"A": "1", "B": "x=y"}
    assert Scrapyd.from_url("http://u:p@h:6800/").url == "http://h:6800"


# -- the run lock ------------------------------------------------------------------------


def test_lock_path_follows_the_index() -> None:
    assert lock_path(Settings({"CHINANEWS_DATA_DIR": "/d"}), "china_com") == (
        "/d/index/china_com.sqlite3.lock"
    )
    assert lock_path(Settings({"CHINANEWS_INDEX_PATH": "/x/i.db"}), "s") == "/x/i.db.lock"
    assert lock_path(Settings({"CHINANEWS_INDEX_PATH": ":memory:"}), "s") is None
    assert lock_path(Settings({"CHINANEWS_INDEX_BACKEND": "redis"}), "s") is None
    assert lock_path(Settings({"CHINANEWS_RUN_LOCK": "0"}), "s") is None
    assert lock_path(Settings({"CHINANEWS_DISTRIBUTED": "1"}), "s") is None


def _hold_lock_in_child(path: Path) -> subprocess.Popen[str]:
    code = (
        "import sys, time\n"
        "from chinanews.runlock import RunLock\n"
        f"lock = RunLock({str(path)!r})\n"
        "lock.acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "held"
    return child


def test_lock_is_exclusive_and_freed_when_its_holder_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "index" / "china_com.sqlite3.lock"
    child = _hold_lock_in_child(path)
    try:
        with pytest.raises(RunLocked, match=rf"pid.{{0,4}}{child.pid}"):
            RunLock(str(path)).acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with RunLock(str(path)):  # kill -9 left no stale lock
        pass


@pytest.mark.e2e
def test_second_crawl_on_the_same_index_stops_with_exit_4(tmp_path: Path) -> None:
    data = tmp_path / "data"
    child = _hold_lock_in_child(data / "index" / "china_com.sqlite3.lock")
    try:
        proc = subprocess.run(
            [
                *SCRAPY,
                "crawl",
                "china_com",
                "-a",
                "render=never",
                "-a",
                "start_urls=http://127.0.0.1:9/",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "CHINANEWS_DATA_DIR": str(data)},
        )
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert proc.returncode == EXIT_LOCKED, proc.stderr[-2000:]
    assert "error: another crawl holds" in proc.stderr
    assert "Spider opened" not in proc.stderr  # stopped before crawling anything
