"""End to end on a real Scrapyd: the project deployed with ``scrapyd-deploy`` and crawled as a
Scrapyd job, as in production (``docs/deploy.md``).

A Scrapyd on 127.0.0.1 (a free port, its own scrapyd.conf and directories, basic auth, SQLite
job storage) gets the project's egg from ``scrapyd-deploy production``, run in a copy of the
project whose scrapy.cfg points that target at the test's Scrapyd, credentials from the
environment. Two jobs of ``china_com`` are scheduled through ``schedule.json`` against the
local site, with spider arguments and settings (database, lake, data directory, ``since``),
one after the other; each is waited for through ``listjobs.json``. Each must leave its own
JSONL feed, lake files named with its Scrapyd job id and crawl-run row, and a log with the
crawl summary and no traceback. Unauthenticated requests are refused with 401.
"""

from __future__ import annotations

import base64
import configparser
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chinanews.localsite import LocalSite, serve, serve_outside
from tests.conftest import LOCAL_SETTINGS, outside_base
from tests.test_package_data import copy_project

pytestmark = pytest.mark.e2e

USERNAME = "ops"
PASSWORD = "s3cret-for-the-test"
PROJECT = "chinanews"
SPIDER = "china_com"
LAKE_FILE = re.compile(r"^china_com-(?P<job>[0-9a-f]{32})-(?P<batch>\d{5})\.parquet$")
JOB_WAIT = 120.0


def _scrapyd_bin(name: str) -> Path:
    """A console script of Scrapyd or scrapyd-client next to this Python (the ``deploy``
    extra). Missing: the test fails in CI (CI=true) and is skipped elsewhere."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        reason = f"{name} is not installed next to {sys.executable} (pip install -e '.[deploy]')"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(home: Path) -> dict[str, str]:
    """The environment without what would leak this machine's configuration into Scrapyd or
    the jobs (credentials, database, lake, data directory, ~/.scrapyd.conf, ~/.netrc)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "SCRAPYD_USERNAME",
            "SCRAPYD_PASSWORD",
            "DATABASE_URL",
            "CHINANEWS_LAKE",
            "CHINANEWS_DATA_DIR",
            "SCRAPY_SETTINGS_MODULE",
            "SCRAPY_PROJECT",
        }
    }
    env["HOME"] = str(home)
    return env


class Scrapyd:
    """A running Scrapyd and the few calls of its JSON API the test makes."""

    def __init__(self, url: str, workdir: Path, process: subprocess.Popen[bytes]) -> None:
        self.url, self.workdir, self.process = url, workdir, process

    @property
    def output(self) -> str:
        return (self.workdir / "scrapyd.out").read_text(encoding="utf-8", errors="replace")

    def request(
        self,
        path: str,
        data: list[tuple[str, str]] | None = None,
        auth: tuple[str, str] | None = (USERNAME, PASSWORD),
    ) -> Any:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(urllib.parse.urljoin(self.url, path), data=body)
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        if urllib.parse.urlsplit(path).path.endswith(".json"):
            return json.loads(raw)
        return raw.decode("utf-8")

    def status(self, path: str, auth: tuple[str, str] | None) -> int:
        """The HTTP status of a GET of ``path`` with these credentials."""
        try:
            self.request(path, auth=auth)
        except urllib.error.HTTPError as exc:
            return exc.code
        return 200

    def schedule(self, args: dict[str, str], settings: dict[str, str]) -> str:
        data = [("project", PROJECT), ("spider", SPIDER), *args.items()]
        data += [("setting", f"{name}={value}") for name, value in settings.items()]
        answer = self.request("schedule.json", data)
        assert answer["status"] == "ok", answer
        return str(answer["jobid"])

    def wait(self, job: str, timeout: float = JOB_WAIT) -> dict[str, Any]:
        """The job's ``listjobs.json`` entry once it is finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = self.request(f"listjobs.json?project={PROJECT}")
            for entry in jobs["finished"]:
                if entry["id"] == job:
                    return dict(entry)
            if self.process.poll() is not None:
                pytest.fail(f"Scrapyd exited ({self.process.returncode}):\n{self.output[-3000:]}")
            time.sleep(0.5)
        pytest.fail(f"job {job} not finished after {timeout:.0f} s:\n{self.output[-3000:]}")


@pytest.fixture(scope="module")
def scrapyd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrapyd]:
    """A real Scrapyd on 127.0.0.1 with basic auth and its own directories."""
    _scrapyd_bin("scrapyd")
    workdir = tmp_path_factory.mktemp("scrapyd")
    port = _free_port()
    (workdir / "home").mkdir()
    (workdir / "scrapyd.conf").write_text(
        f"""[scrapyd]
bind_address = 127.0.0.1
http_port = {port}
username = {USERNAME}
password = {PASSWORD}
eggs_dir = {workdir / "eggs"}
logs_dir = {workdir / "logs"}
items_dir =
dbs_dir = {workdir / "dbs"}
jobstorage = scrapyd.jobstorage.SqliteJobStorage
max_proc = 2
poll_interval = 0.5
""",
        encoding="utf-8",
    )
    out = (workdir / "scrapyd.out").open("wb")
    # Scrapyd reads scrapyd.conf in its working directory; its jobs run there too.
    process = subprocess.Popen(
        [sys.executable, "-m", "scrapyd"],
        cwd=workdir,
        env=_clean_env(workdir / "home"),
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    server = Scrapyd(f"http://127.0.0.1:{port}/", workdir, process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert server.request("daemonstatus.json")["status"] == "ok"
                break
            except (urllib.error.URLError, ConnectionError) as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Scrapyd did not start ({exc}):\n{server.output[-3000:]}")
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        out.close()


@dataclass
class Deploy:
    """A copy of the project whose ``production`` target is the test's Scrapyd."""

    project: Path
    env: dict[str, str]

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(_scrapyd_bin("scrapyd-deploy")), *args],
            cwd=self.project,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=180,
        )
        return proc


@pytest.fixture(scope="module")
def deploy(scrapyd: Scrapyd, tmp_path_factory: pytest.TempPathFactory) -> Deploy:
    """The project's files as they are, with the ``production`` target's URL changed to the
    test's Scrapyd (its credential lines stay as the project has them)."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(project / "scrapy.cfg", encoding="utf-8")
    assert cfg.has_section("deploy:production"), "scrapy.cfg has no [deploy:production] target"
    cfg["deploy:production"]["url"] = scrapyd.url
    with (project / "scrapy.cfg").open("w", encoding="utf-8") as f:
        cfg.write(f)
    return Deploy(project, _clean_env(scrapyd.workdir / "home"))


@pytest.fixture(scope="module")
def deployed(scrapyd: Scrapyd, deploy: Deploy) -> subprocess.CompletedProcess[str]:
    """``scrapyd-deploy production`` with the credentials in the environment."""
    proc = deploy.run(
        "production",
        "--version",
        "e2e-1",
        env={"SCRAPYD_USERNAME": USERNAME, "SCRAPYD_PASSWORD": PASSWORD},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def site(sentinel: Any) -> Iterator[tuple[LocalSite, Any]]:
    local = LocalSite(size=30, seed=7, outside_base=outside_base(sentinel))
    with serve(local) as server:
        yield local, server


@pytest.fixture(scope="module")
def empty_site() -> Iterator[str]:
    """A site with no article: every page is a short text (not the session's sentinel,
    whose requests other tests count)."""
    with serve_outside() as server:
        yield server.start_url


@dataclass
class Job:
    """One finished Scrapyd job and what it wrote."""

    id: str
    entry: dict[str, Any]
    log: str
    items: list[dict[str, Any]]
    feed: Path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="module")
def since(site: tuple[LocalSite, Any]) -> str:
    """The first publication day of the site: every article is on or after it."""
    local, server = site
    return min(a["published_at"][:10] for a in local.expected(server, rendered=False).values())


@pytest.fixture(scope="module")
def jobs(
    scrapyd: Scrapyd,
    deployed: subprocess.CompletedProcess[str],
    site: tuple[LocalSite, Any],
    outputs: Path,
    since: str,
) -> list[Job]:
    """Two jobs, one after the other, writing to one database and one lake; the second
    with ``fresh=1``, so that it emits every article again."""
    _, server = site
    settings = {
        **LOCAL_SETTINGS,
        "DATABASE_URL": f"sqlite:///{outputs / 'news.sqlite3'}",
        "CHINANEWS_LAKE": str(outputs / "lake"),
        "CHINANEWS_LAKE_FORMAT": "parquet",
        "CHINANEWS_DATA_DIR": str(outputs / "data"),
    }
    args = {"start_urls": server.start_url, "render": "never", "since": since}
    done = []
    for extra in ({}, {"fresh": "1"}):
        job = scrapyd.schedule({**args, **extra}, settings)
        entry = scrapyd.wait(job)
        log = scrapyd.request(entry["log_url"].lstrip("/"))
        # the crawl report lies beside the JSONL feed: <data>/jsonl/<spider>/<spider>-<run>.*
        match = re.search(r"Crawl report written to (\S+)\.report\.json", log)
        assert match, log[-3000:]
        feed = Path(match.group(1) + ".jsonl")
        items = [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines()]
        done.append(Job(job, entry, log, items, feed))
    return done


def test_scrapyd_refuses_requests_without_credentials(scrapyd: Scrapyd) -> None:
    assert scrapyd.status("daemonstatus.json", auth=None) == 401
    assert scrapyd.status("listprojects.json", auth=(USERNAME, "wrong")) == 401
    assert scrapyd.status("daemonstatus.json", auth=(USERNAME, PASSWORD)) == 200


def test_deploy_without_credentials_is_refused(deploy: Deploy) -> None:
    proc = deploy.run("production", "--version", "e2e-0")
    assert proc.returncode == 1
    assert "Deploy failed (401)" in proc.stderr, proc.stderr


def test_deploy_with_credentials_adds_the_project(
    scrapyd: Scrapyd, deployed: subprocess.CompletedProcess[str]
) -> None:
    answer = json.loads(deployed.stdout)
    assert answer["status"] == "ok" and answer["project"] == PROJECT
    assert answer["spiders"] == 1
    assert scrapyd.request(f"listversions.json?project={PROJECT}")["versions"] == ["e2e-1"]
    # Scrapyd ran the egg (python -m scrapyd.runner list), finding chinanews.settings
    # through the egg's ``scrapy`` entry point
    assert scrapyd.request(f"listspiders.json?project={PROJECT}")["spiders"] == [SPIDER]


def test_each_job_ends_cleanly_with_its_crawl_summary(scrapyd: Scrapyd, jobs: list[Job]) -> None:
    for job in jobs:
        assert re.search(
            r"Crawl finished \(finished\): \d+ articles emitted .*; checks passed", job.log
        )
        assert "Traceback" not in job.log, job.log
        # the only errors are Scrapy giving up on the page that always answers 500
        errors = [line for line in job.log.splitlines() if " ERROR: " in line]
        assert all("Gave up retrying" in line for line in errors), errors
        # exit code 0: Scrapyd says "finished", not "died"
        assert f"Process finished: project='{PROJECT}' spider='{SPIDER}' job='{job.id}'" in (
            scrapyd.output
        ), scrapyd.output[-3000:]
        # Scrapyd's own copy of the log: <logs_dir>/<project>/<spider>/<job>.log
        path = scrapyd.workdir / "logs" / PROJECT / SPIDER / f"{job.id}.log"
        assert path.read_text(encoding="utf-8") == job.log
        assert job.entry["project"] == PROJECT and job.entry["spider"] == SPIDER
        assert job.entry["items_url"] is None  # items_dir is empty: no feed of Scrapyd's own


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        # stopped before the crawl: the one line goes to stderr, which Scrapyd logs
        ({"since": "last week"}, 2, "error: since: 'last week' is not a date"),
        ({"render": "never"}, 3, "checks FAILED: articles"),
    ],
    ids=["bad-argument", "no-article"],
)
def test_the_crawl_commands_exit_codes_reach_scrapyd(
    scrapyd: Scrapyd,
    deployed: subprocess.CompletedProcess[str],
    empty_site: str,
    outputs: Path,
    args: dict[str, str],
    status: int,
    message: str,
) -> None:
    """A bad argument (exit 2) and a crawl that finds no article (exit 3, the quality
    checks) show in Scrapyd's log as a died process with that status."""
    job = scrapyd.schedule(
        {"start_urls": empty_site, **args},
        {**LOCAL_SETTINGS, "CHINANEWS_DATA_DIR": str(outputs / f"exit-{status}")},
    )
    scrapyd.wait(job)
    died = [line for line in scrapyd.output.splitlines() if f"job='{job}'" in line]
    assert any(f"Process died: exitstatus={status}" in line for line in died), died
    log = scrapyd.workdir / "logs" / PROJECT / SPIDER / f"{job}.log"
    assert message in (log.read_text(encoding="utf-8") if status == 3 else scrapyd.output)
    # the default DATABASE_URL; checked (so created) before the arguments
    db = sqlite3.connect(outputs / f"exit-{status}" / "chinanews.sqlite3")
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    runs = db.execute("SELECT ok, finish_reason FROM crawl_runs").fetchall() if tables else []
    db.close()
    assert runs == ([] if status == 2 else [(0, "finished")])


def test_each_job_emits_every_story_once(site: tuple[LocalSite, Any], jobs: list[Job]) -> None:
    local, server = site
    expected = local.expected(server, rendered=False)
    for job in jobs:
        urls = [item["url"] for item in job.items]
        assert [u for u, n in Counter(urls).items() if n > 1] == []
        assert sorted(set(urls) - set(expected)) == []
        stories = Counter(expected[u]["story_id"] for u in urls)
        assert [s for s, n in stories.items() if n > 1] == []
        assert set(stories) == {a["story_id"] for a in expected.values()}


def test_each_job_writes_its_own_feed_under_the_data_dir(outputs: Path, jobs: list[Job]) -> None:
    feeds = [job.feed for job in jobs]
    assert len(set(feeds)) == len(jobs)
    for feed in feeds:
        assert feed.parent == outputs / "data" / "jsonl" / SPIDER


def test_lake_files_are_named_with_the_scrapyd_job(outputs: Path, jobs: list[Job]) -> None:
    import pyarrow.parquet as pq

    files = sorted((outputs / "lake" / "articles").glob("dt=*/*.parquet"))
    names = [LAKE_FILE.match(f.name) for f in files]
    assert files and all(names), [f.name for f in files]
    rows: Counter[str] = Counter()
    for path, name in zip(files, names, strict=True):
        assert name is not None
        rows[name["job"]] += pq.read_metadata(path).num_rows
    assert rows == {job.id: len(job.items) for job in jobs}


def test_each_job_records_its_crawl_run(outputs: Path, jobs: list[Job], since: str) -> None:
    db = sqlite3.connect(outputs / "news.sqlite3")
    db.row_factory = sqlite3.Row
    runs = {row["run_id"]: dict(row) for row in db.execute("SELECT * FROM crawl_runs")}
    articles = {row[0] for row in db.execute("SELECT url FROM articles")}
    db.close()
    assert len(runs) == len(jobs)
    for job in jobs:
        run_id = job.feed.name.removeprefix(f"{SPIDER}-").removesuffix(".jsonl")
        run = runs[run_id]
        assert run["spider"] == SPIDER
        assert run["ok"] == 1 and run["finish_reason"] == "finished"
        args = json.loads(run["args"])
        assert args["since"] == since and args["render"] == "never"
        report = json.loads(run["report"])
        assert report["stats"]["item_scraped_count"] == len(job.items)
        assert {item["url"] for item in job.items} <= articles
    assert json.loads(runs[jobs[1].feed.stem.split("-", 1)[1]]["args"])["fresh"] is True
