"""Scheduled crawls on Scrapyd: ``chinanews schedule``.

Scrapyd runs jobs when asked and has no clock of its own, by design. ``chinanews schedule``
asks it: one call triggers one job of the spider through ``schedule.json`` (for cron or a
systemd timer), and ``--every 30m`` keeps triggering on its own. Before each trigger it reads
``listjobs.json``: while a job of the same spider is pending or running, it schedules nothing
and says so, so two runs never overlap. Two triggers on one machine take turns through a
lock file; on the Scrapyd side, the crawl itself holds its index lock (``chinanews.runlock``),
so even two triggers from different machines cannot run two crawls on one index.

Credentials come from ``SCRAPYD_USERNAME``/``SCRAPYD_PASSWORD`` (as scrapyd-client reads
them) or the URL, and are never printed. See ``docs/scheduling.md``.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import logging
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 60.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class ScheduleError(RuntimeError):
    """Scrapyd could not be asked, or said no; the message says which and why."""


def parse_interval(text: str) -> float:
    """Seconds in ``30m``, ``2h``, ``900s``, ``1d`` or ``45`` (minutes)."""
    match = _INTERVAL.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(
            f"--every: {text!r} is not an interval; use a number with s, m, h or d, e.g. 30m"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_pairs(values: Sequence[str], option: str) -> dict[str, str]:
    """``NAME=VALUE`` strings as a dict; a string without ``=`` is an error."""
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{option} {value!r}: use {option} NAME=VALUE")
        pairs[name.strip()] = rest
    return pairs


@dataclass(frozen=True)
class Scrapyd:
    """The few calls of Scrapyd's JSON API that scheduling needs."""

    url: str
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, timeout: float = 30.0) -> Scrapyd:
        """``url`` may carry ``user:password@``; else ``SCRAPYD_USERNAME``/``SCRAPYD_PASSWORD``."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"--scrapyd: {url!r} is not an http(s) URL, e.g. http://127.0.0.1:6800"
            )
        username = urllib.parse.unquote(parts.username) if parts.username else None
        password = urllib.parse.unquote(parts.password) if parts.password else None
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        bare = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        return cls(
            bare,
            username or os.environ.get("SCRAPYD_USERNAME") or None,
            password or os.environ.get("SCRAPYD_PASSWORD") or None,
            timeout,
        )

    def _call(self, endpoint: str, params: list[tuple[str, str]], post: bool) -> dict[str, Any]:
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/{endpoint}"
        if post:
            request = urllib.request.Request(url, data=query.encode(), method="POST")
        else:
            request = urllib.request.Request(f"{url}?{query}" if query else url)
        if self.username is not None:
            token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            hint = " (set SCRAPYD_USERNAME and SCRAPYD_PASSWORD)" if exc.code == 401 else ""
            raise ScheduleError(f"{endpoint} at {self.url}: HTTP {exc.code}{hint}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ScheduleError(f"cannot reach Scrapyd at {self.url}: {reason}") from None
        if answer.get("status") != "ok":
            message = answer.get("message") or answer
            raise ScheduleError(f"{endpoint} at {self.url}: {message}")
        return dict(answer)

    def active_jobs(self, project: str, spider: str) -> list[dict[str, Any]]:
        """The pending and running jobs of ``spider`` in ``project``."""
        answer = self._call("listjobs.json", [("project", project)], post=False)
        return [
            job
            for state in ("pending", "running")
            for job in answer.get(state, [])
            if job.get("spider") == spider and job.get("project", project) == project
        ]

    def schedule(
        self, project: str, spider: str, args: dict[str, str], settings: dict[str, str]
    ) -> str:
        """Schedule one job; its id."""
        params = [("project", project), ("spider", spider)]
        params += [("setting", f"{name}={value}") for name, value in settings.items()]
        params += list(args.items())
        return str(self._call("schedule.json", params, post=True)["jobid"])


@dataclass(frozen=True)
class Outcome:
    scheduled: str | None  # the new job's id
    running: list[str]  # the jobs that made this trigger skip


def trigger(
    scrapyd: Scrapyd,
    project: str,
    spider: str,
    args: dict[str, str],
    settings: dict[str, str],
    lock_file: str,
) -> Outcome:
    """Schedule one job unless one of the same spider is pending or running.

    The check and the schedule happen under ``lock_file``, so two triggers on this machine
    cannot both see "nothing running" and both schedule."""
    Path(lock_file).parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a", encoding="utf-8") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # waits for the other trigger: a few ms
        active = scrapyd.active_jobs(project, spider)
        if active:
            return Outcome(None, [str(job.get("id")) for job in active])
        return Outcome(scrapyd.schedule(project, spider, args, settings), [])


def default_lock_file(scrapyd_url: str, project: str, spider: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{scrapyd_url}-{project}-{spider}")
    return str(Path(tempfile.gettempdir()) / f"chinanews-schedule-{safe}.lock")


def add_parser(sub: Any) -> None:
    """Register ``chinanews schedule`` on the ``chinanews`` command's subparsers."""
    parser = sub.add_parser(
        "schedule",
        help="trigger a crawl on Scrapyd, unless one is still running",
        description="Schedule a job of the spider on Scrapyd through schedule.json, unless a "
        "job of the same spider is pending or running there. Once (for cron or a systemd "
        "timer), or every INTERVAL with --every. Exit code 0 when a job was scheduled or one "
        "was still running, 1 when Scrapyd could not be asked or refused, 2 for bad arguments. "
        "Credentials: SCRAPYD_USERNAME and SCRAPYD_PASSWORD.",
    )
    parser.add_argument(
        "--scrapyd",
        default=os.environ.get("SCRAPYD_URL", "http://127.0.0.1:6800"),
        help="Scrapyd's URL (default $SCRAPYD_URL or http://127.0.0.1:6800)",
    )
    parser.add_argument("--project", default="chinanews", help="Scrapyd project (chinanews)")
    parser.add_argument("--spider", default="china_com", help="spider name (china_com)")
    parser.add_argument(
        "-a", dest="args", action="append", default=[], metavar="NAME=VALUE",
        help="spider argument, e.g. -a since=2025-11-01 (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "-s", dest="settings", action="append", default=[], metavar="NAME=VALUE",
        help="Scrapy setting for the job, e.g. -s DATABASE_URL=postgresql://... (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--every", metavar="INTERVAL", help="keep running: trigger every INTERVAL (30m, 2h)"
    )
    parser.add_argument(
        "--lock-file", help="serialises triggers on this machine (default: in the temp dir)"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per API call")
    parser.set_defaults(func=cmd_schedule)


def cmd_schedule(
    ns: argparse.Namespace,
    sleep: Callable[[float], None] = time.sleep,
    rounds: int | None = None,
) -> int:
    """``chinanews schedule``; ``rounds`` bounds ``--every`` (tests)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        scrapyd = Scrapyd.from_url(ns.scrapyd, ns.timeout)
        args = parse_pairs(ns.args, "-a")
        settings = parse_pairs(ns.settings, "-s")
        every = parse_interval(ns.every) if ns.every else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lock_file = ns.lock_file or default_lock_file(scrapyd.url, ns.project, ns.spider)
    where = scrapyd.url  # bare: credentials are kept apart
    done = 0
    while True:
        started = time.monotonic()
        try:
            outcome = trigger(scrapyd, ns.project, ns.spider, args, settings, lock_file)
        except ScheduleError as exc:
            logger.error("%s", exc)
            if every is None:
                return 1
        else:
            if outcome.scheduled:
                logger.info("Scheduled %s on %s: job %s", ns.spider, where, outcome.scheduled)
            else:
                logger.info(
                    "Skipped: %s still has job(s) %s pending or running on %s",
                    ns.spider,
                    ", ".join(outcome.running),
                    where,
                )
        done += 1
        if every is None or (rounds is not None and done >= rounds):
            return 0
        sleep(max(0.0, every - (time.monotonic() - started)))
