"""A small threaded HTTP/1.1 server for a ``LocalSite`` (and a sentinel for the outside host)."""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .faults import KINDS_LABEL, relabel
from .site import LocalSite


class BaseURL(str):
    """The base URL of a running server (``http://127.0.0.1:PORT``), which also carries the
    list of request targets it answered, in arrival order (``base.requests``), and when it
    handled each (``base.timings``: ``(start, end)`` in ``time.monotonic()`` seconds, in the
    order the answers ended; one per request, faults included)."""

    requests: list[str]
    timings: list[tuple[float, float]]
    server: ThreadingHTTPServer

    def __new__(cls, value: str) -> BaseURL:
        obj = super().__new__(cls, value)
        obj.requests = []
        obj.timings = []
        return obj

    def peak_in_flight(self, grace: float = 0.0) -> int:
        """The most requests the server was handling at one moment. ``grace`` (seconds)
        leaves out overlaps shorter than it: the server notes an answer's end after it has
        written it, and on a loaded machine its thread may note it a little after the client
        has the whole answer and has sent the next request."""
        ends = [max(start, end - grace) for start, end in self.timings]
        events = sorted(
            [(start, 1) for start, _ in self.timings] + [(end, -1) for end in ends],
            key=lambda e: (e[0], e[1]),  # an answer that ends as another starts: not both
        )
        peak = current = 0
        for _, step in events:
            current += step
            peak = max(peak, current)
        return peak

    @property
    def start_url(self) -> str:
        return self + "/"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    #: Connections the client dropped while they were being answered (a crawler killed).
    dropped = 0

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away mid-answer (a worker killed in a crash test) is counted,
        not printed as a traceback; any other error is printed as ``socketserver`` does."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            self.dropped += 1
            return
        super().handle_error(request, client_address)


def _handler(
    site: LocalSite | None,
    log: list[str],
    verbose: bool,
    timings: list[tuple[float, float]] | None = None,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "chinanews-localsite/1"

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def _answer(self, send_body: bool) -> None:
            started = time.monotonic()
            try:
                self._respond(send_body)
            finally:
                if timings is not None:
                    timings.append((started, time.monotonic()))

        def _respond(self, send_body: bool) -> None:
            log.append(self.path)
            if site is None:  # outside sentinel
                body, status, headers, delay = (
                    b"outside\n",
                    200,
                    [("Content-Type", "text/plain")],
                    0.0,
                )
            else:
                address: Any = self.server.server_address
                host = self.headers.get("Host") or f"{address[0]}:{address[1]}"
                faults = site.faults
                fault = faults.on_request(self.path) if faults is not None else None
                if faults is not None and fault is not None and fault not in KINDS_LABEL:
                    self._fail(fault, faults.plan.stall_seconds, host)
                    return
                r = site.render(self.path, f"http://{host}")
                body, status, headers, delay = r.body, r.status, r.headers, r.delay
                if fault is not None:
                    body, ctype = relabel(fault, body)
                    headers = [("Content-Type", ctype), *headers[1:]]
                if status == 200:
                    headers = site.answer_validators(headers)
                    if _not_modified(self.headers, headers) or (
                        "always_304" in site.quirks
                        and any(k in ("ETag", "Last-Modified") for k, _ in headers)
                    ):
                        self.send_response(304)
                        for k, v in headers:
                            if k in ("ETag", "Last-Modified"):
                                self.send_header(k, v)
                        self.end_headers()
                        return
            if delay:
                time.sleep(delay)
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def _fail(self, kind: str, stall_seconds: float, host: str) -> None:
            """Answer with the transport fault ``kind`` (see ``chinanews.localsite.faults``)."""
            self.close_connection = True
            if kind in ("http500", "http503"):
                status = int(kind[4:])
                body = f"<html><body><h1>{status}</h1></body></html>\n".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
            elif kind == "truncate":
                assert site is not None
                r = site.render(self.path, f"http://{host}")
                body = r.body
                self.send_response(200)
                for k, v in r.headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
            else:  # reset, or a stall past the client's timeout that ends in one
                if kind == "stall":
                    time.sleep(stall_seconds)
                # linger 0: close() sends an RST, not a FIN
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()

        def date_time_string(self, timestamp: float | None = None) -> str:
            """The ``Date`` header: the site's clock (the sentinel's is the real one)."""
            if site is None or timestamp is not None:
                return super().date_time_string(timestamp)
            return site.http_date()

        def log_message(self, format: str, *args: Any) -> None:
            if verbose:
                super().log_message(format, *args)

    return Handler


def _not_modified(request: Any, headers: list[tuple[str, str]]) -> bool:
    """Whether a conditional request's validators still match the page (RFC 9110 13.1):
    ``If-None-Match`` when it is sent (weak comparison), else ``If-Modified-Since``."""
    answer = dict(headers)
    if_none_match = request.get("If-None-Match")
    if if_none_match is not None:
        etag = answer.get("ETag")
        if etag is None:
            return False
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    since, modified = request.get("If-Modified-Since"), answer.get("Last-Modified")
    if since is None or modified is None:
        return False
    try:
        return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False


@contextmanager
def _run(site: LocalSite | None, host: str, port: int, verbose: bool) -> Iterator[BaseURL]:
    log: list[str] = []
    timings: list[tuple[float, float]] = []
    httpd = _Server((host, port), _handler(site, log, verbose, timings))
    base = BaseURL(f"http://{host}:{httpd.server_address[1]}")
    base.requests = log
    base.timings = timings
    base.server = httpd
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield base
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@contextmanager
def serve(
    site: LocalSite, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
) -> Iterator[BaseURL]:
    """Serve ``site`` in a background thread; yields the base URL (with ``.requests``)."""
    with _run(site, host, port, verbose) as base:
        yield base


@contextmanager
def serve_outside(host: str = "127.0.0.1", port: int = 0) -> Iterator[BaseURL]:
    """A sentinel for the outside host: answers everything with 200 and records it.
    A correct crawl leaves ``base.requests`` empty."""
    with _run(None, host, port, False) as base:
        yield base
