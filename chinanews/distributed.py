"""Distributed crawls: several workers share one crawl through Redis (``docs/distributed.md``).

``-s CHINANEWS_DISTRIBUTED=1 -s REDIS_URL=redis://host:6379/0`` turns it on; the
``Distributed`` add-on (``ADDONS`` in ``chinanews/settings.py``) then sets

* scrapy-redis' scheduler and request dupefilter (``scrapy_redis.dupefilter.RFPDupeFilter``)
  with ``SCHEDULER_PERSIST`` on: the frontier outlives any one worker; its queue leased
  (``chinanews.lease``: ``LeasedScheduler``, ``LeasedQueue``), so that the requests a dead
  worker held come back to the others;
* the cross-run article index and the near-duplicate index in Redis
  (``CHINANEWS_INDEX_BACKEND=redis``),
* one politeness budget per host for all workers (``chinanews.politeness``) unless
  ``CHINANEWS_SHARED_POLITENESS=0``,

every key under ``CHINANEWS_REDIS_PREFIX`` (default ``chinanews:<spider>``)::

    <prefix>:requests     the shared request queue (sorted set, by priority)
    <prefix>:dupefilter   fingerprints of the requests this crawl has scheduled (set)
    <prefix>:start_urls   start URLs waiting for a worker (list; ``chinanews seed`` adds some)
    <prefix>:workers      live workers and their last heartbeat (sorted set)
    <prefix>:leases, :claimed:<worker>, :deliveries, :dead   the leases (chinanews.lease)
    <prefix>:seen:*, :hash:*, :claim:*, :near:*   the article indexes (chinanews.index)
    <prefix>:polite:*, :throttle   the politeness budget per host (chinanews.politeness)

``Frontier`` is the spider's side. When a worker starts, one atomic step registers it and,
if no other worker is live and the frontier (queue and start URLs) is empty, begins a new
crawl: it clears the previous crawl's request fingerprints and pushes the worker's seeds
(``-a start_urls`` or the default seeds) to ``<prefix>:start_urls``. Workers started
together therefore seed once; a worker joining a crawl under way, or restarted after a
crash while requests remain, only takes work. ``start()`` and every idle moment pop start
URLs; a worker stops on its own when the frontier has stayed empty for
``CHINANEWS_IDLE_TIMEOUT`` seconds.

Each worker writes its own outputs: its ``run_id`` (``%(run_id)s`` in feed URIs, the lake's
``%(job)s``) ends with its worker id, and the end-of-crawl check on the number of articles
is off (``CHINANEWS_MIN_ARTICLES`` 0 unless given), since another worker may have emitted
them all.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.extensions.throttle import AutoThrottle
from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings

from chinanews import politeness

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

STAT = "chinanews/distributed"
SCHEDULER = "chinanews.lease.LeasedScheduler"
QUEUE = "chinanews.lease.LeasedQueue"
DUPEFILTER = "scrapy_redis.dupefilter.RFPDupeFilter"
#: Seconds between a busy worker's heartbeats; a worker silent for LIVE_WINDOW is dead.
HEARTBEAT = 10.0
LIVE_WINDOW = 60.0
#: How often an idle worker looks at the shared frontier (the engine alone would wait for
#: its 5 s heartbeat): it takes new work within this time, and the idle timeout counts
#: from the first of a run of samples that all found the frontier empty.
POLL = 0.5


class DistributedSettingError(ValueError):
    """A setting of distributed mode that cannot work; the message says what to fix."""


def enabled(settings: BaseSettings) -> bool:
    return settings.getbool("CHINANEWS_DISTRIBUTED")


def key_prefix(settings: BaseSettings, spider_name: str) -> str:
    return str(settings.get("CHINANEWS_REDIS_PREFIX") or f"chinanews:{spider_name}")


@dataclass(frozen=True)
class Keys:
    """The Redis keys of one distributed crawl (see the module docstring)."""

    prefix: str

    @property
    def requests(self) -> str:
        return f"{self.prefix}:requests"

    @property
    def dupefilter(self) -> str:
        return f"{self.prefix}:dupefilter"

    @property
    def start_urls(self) -> str:
        return f"{self.prefix}:start_urls"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def leases(self) -> str:
        """Workers holding claimed requests, by lease expiry (``chinanews.lease``)."""
        return f"{self.prefix}:leases"


#: Drawn once per process: a container restarted keeps its host name and often its pid (1),
#: and a worker must not inherit the claims, places and leases of the one that died.
_INCARNATION = secrets.token_hex(3)


def worker_id(settings: BaseSettings) -> str:
    """``CHINANEWS_WORKER_ID``, else ``<host>-<pid>-<6 random hex digits drawn at start>``:
    unique among the workers, live or dead (a name given by the setting must be too)."""
    given = settings.get("CHINANEWS_WORKER_ID") or (
        f"{socket.gethostname()}-{os.getpid()}-{_INCARNATION}"
    )
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(given))


def redis_from_settings(settings: BaseSettings) -> Any:
    """A client of ``REDIS_URL`` that has answered a PING; raises ``DistributedSettingError``
    when the setting is missing, ``chinanews.index.IndexSettingError`` when unreachable."""
    if not settings.get("REDIS_URL"):
        raise DistributedSettingError(
            "CHINANEWS_DISTRIBUTED needs REDIS_URL, the Redis the workers share: "
            "e.g. -s REDIS_URL=redis://127.0.0.1:6379/0 (or the REDIS_URL environment variable)"
        )
    from chinanews.index import redis_client

    return redis_client(settings)


def _explicit(settings: BaseSettings, name: str) -> bool:
    """Whether ``name`` was given above the project's defaults (``-s``, spider, Scrapyd)."""
    return (settings.getpriority(name) or 0) > SETTINGS_PRIORITIES["project"]


def check_settings(settings: BaseSettings, spider_kwargs: dict[str, Any]) -> None:
    """Fail before the crawl starts when distributed mode cannot work; called by
    ``scrapy crawl`` (through the spider's ``check_environment``).

    Also makes the index backend Redis on the command's own settings, so that the crawl
    takes no SQLite run lock (``chinanews.runlock``): the workers share the crawl on purpose.
    """
    if not enabled(settings):
        return
    try:
        import scrapy_redis  # noqa: F401
    except ImportError:
        raise DistributedSettingError(
            "CHINANEWS_DISTRIBUTED needs scrapy-redis: pip install 'chinanews[distributed]'"
        ) from None
    backend = str(settings.get("CHINANEWS_INDEX_BACKEND") or "").lower()
    if backend not in ("", "redis"):
        raise DistributedSettingError(
            f"CHINANEWS_INDEX_BACKEND={backend}: the workers of a distributed crawl share the "
            "article index in Redis; drop the setting (the add-on sets redis)"
        )
    if _explicit(settings, "SCHEDULER_PERSIST") and not settings.getbool("SCHEDULER_PERSIST"):
        raise DistributedSettingError(
            "SCHEDULER_PERSIST=0: the first worker to stop would delete the shared queue under "
            "the others; drop the setting (distributed mode keeps the frontier)"
        )
    if settings.get("JOBDIR"):
        raise DistributedSettingError(
            "JOBDIR: a distributed crawl keeps its frontier in Redis, which survives any "
            "worker; drop -s JOBDIR"
        )
    if settings.getfloat("CHINANEWS_IDLE_TIMEOUT", 60) <= 0:
        raise DistributedSettingError(
            f"CHINANEWS_IDLE_TIMEOUT={settings.get('CHINANEWS_IDLE_TIMEOUT')}: give the seconds "
            "a worker waits on an empty frontier before it stops, e.g. 60"
        )
    fresh = str(spider_kwargs.get("fresh", "0")).strip().lower()
    if fresh in ("1", "true", "yes", "on"):
        raise DistributedSettingError(
            "fresh=1 would clear the article index the other workers are using; to start a "
            "distributed crawl over, run `chinanews seed --reset` while no worker runs"
        )
    redis_from_settings(settings).close()
    settings.set("CHINANEWS_INDEX_BACKEND", "redis", "addon")


class Distributed:
    """Scrapy add-on (``ADDONS`` in ``chinanews/settings.py``); does nothing unless
    ``CHINANEWS_DISTRIBUTED`` is on. See the module docstring for what it sets."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Distributed:
        return cls(crawler)

    def update_settings(self, settings: BaseSettings) -> None:
        if not enabled(settings):
            return
        name = getattr(self.crawler.spider, "name", None) or "crawl"
        keys = Keys(key_prefix(settings, name))
        settings.set("CHINANEWS_REDIS_PREFIX", keys.prefix, "addon")
        settings.set("CHINANEWS_INDEX_BACKEND", "redis", "addon")
        settings.set("SCHEDULER", SCHEDULER, "addon")
        settings.set("SCHEDULER_QUEUE_CLASS", QUEUE, "addon")
        settings.set("DUPEFILTER_CLASS", DUPEFILTER, "addon")
        settings.set("SCHEDULER_PERSIST", True, "addon")
        # scrapy-redis formats these with %(spider)s: a literal % in the prefix is doubled.
        settings.set("SCHEDULER_QUEUE_KEY", keys.requests.replace("%", "%%"), "addon")
        settings.set("SCHEDULER_DUPEFILTER_KEY", keys.dupefilter.replace("%", "%%"), "addon")
        if politeness.enabled(settings):
            # One budget per host for all workers (chinanews/politeness.py), which applies
            # AutoThrottle's rule to the shared delay: Scrapy's own would add a local one.
            settings.set_in_component_priority_dict(
                "DOWNLOADER_MIDDLEWARES", politeness.SharedPoliteness, politeness.PRIORITY
            )
            settings.set_in_component_priority_dict("EXTENSIONS", AutoThrottle, None)
            politeness.budget_browser(self.crawler, settings)
        if not _explicit(settings, "CHINANEWS_MIN_ARTICLES"):
            # Another worker may have emitted every article: no worker fails for having none.
            settings.set("CHINANEWS_MIN_ARTICLES", 0, "project")


# One atomic step when a worker starts (or `chinanews seed` runs): drop dead workers,
# register this one, and begin a new crawl when no other worker is live and the frontier is
# empty (no request queued, no start URL, none claimed: chinanews.lease) (clear the old fingerprints, push the seeds). ARGV[4] = "always" pushes the seeds
# in any case (`chinanews seed`). Returns 1 when a new crawl began, else 0.
_BEGIN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local others = redis.call('ZCARD', KEYS[1])
if ARGV[3] ~= '' then
  redis.call('ZREM', KEYS[1], ARGV[3])
  others = redis.call('ZCARD', KEYS[1])
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
end
local held = 0
local prefix = string.sub(KEYS[5], 1, #KEYS[5] - #':leases')
for _, w in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do
  held = held + redis.call('HLEN', prefix .. ':claimed:' .. w)
end
local new = others == 0 and redis.call('ZCARD', KEYS[2]) == 0
  and redis.call('LLEN', KEYS[3]) == 0 and held == 0
if new then redis.call('DEL', KEYS[4]) end
if (new or ARGV[4] == 'always') and #ARGV > 4 then
  redis.call('RPUSH', KEYS[3], unpack(ARGV, 5))
end
if new then return 1 end
return 0
"""


def begin(
    client: Any, keys: Keys, seeds: Iterable[str], *, worker: str = "", always: bool = False
) -> bool:
    """Register ``worker`` (none for a seeding command) and push ``seeds`` when a new crawl
    begins (or ``always``); True when a new crawl began."""
    now = time.time()
    args = [now, now - LIVE_WINDOW, worker, "always" if always else "if_new", *seeds]
    result = client.eval(
        _BEGIN,
        5,
        keys.workers,
        keys.requests,
        keys.start_urls,
        keys.dupefilter,
        keys.leases,
        *args,
    )
    return bool(result)


def live_workers(client: Any, keys: Keys) -> list[str]:
    members = client.zrangebyscore(keys.workers, time.time() - LIVE_WINDOW, "+inf")
    return [m.decode() if isinstance(m, bytes) else str(m) for m in members]


def reset(client: Any, keys: Keys) -> int:
    """Delete every key of the crawl under ``keys.prefix`` (frontier and indexes alike)."""
    deleted = 0
    batch: list[bytes] = []
    for name in client.scan_iter(match=f"{keys.prefix}:*", count=1000):
        batch.append(name)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch.clear()
    if batch:
        deleted += client.delete(*batch)
    return int(deleted)


def _url_of(entry: bytes | str) -> str | None:
    """A start URL as pushed: the URL itself, or scrapy-redis' JSON ``{"url": …}``."""
    text = entry.decode("utf-8", "replace") if isinstance(entry, bytes) else entry
    text = text.strip()
    if text.startswith("{"):
        try:
            url = json.loads(text).get("url")
        except (ValueError, AttributeError):
            return None
        return str(url) if url else None
    return text or None


class Frontier:
    """The spider's side of a distributed crawl: seeds and start URLs through Redis, the
    worker's registration and heartbeat, and the stop on an empty frontier.

    Created by the spider's ``from_crawler`` (``Frontier.of``), before the add-ons have
    run, so it connects to Redis only when the spider opens."""

    def __init__(self, crawler: Crawler, spider: Any) -> None:
        self.crawler = crawler
        self.spider = spider
        settings = crawler.settings
        self.worker = worker_id(settings)
        self.keys = Keys(key_prefix(settings, spider.name))
        self.idle_timeout = settings.getfloat("CHINANEWS_IDLE_TIMEOUT", 60)
        self.batch = max(1, settings.getint("CONCURRENT_REQUESTS", 16))
        self.client: Any = None
        self._make_request: Callable[[str], Request | None] | None = None
        self._idle_since: float | None = None
        self._downloads_seen = -1
        self._heartbeat: Any = None
        crawler.signals.connect(self._opened, signal=signals.spider_opened)
        crawler.signals.connect(self._on_idle, signal=signals.spider_idle)
        crawler.signals.connect(self._closed, signal=signals.spider_closed)

    @classmethod
    def of(cls, crawler: Crawler, spider: Any) -> Frontier | None:
        """The spider's frontier in distributed mode, else None."""
        return cls(crawler, spider) if enabled(crawler.settings) else None

    # -- lifecycle --------------------------------------------------------------------

    def _opened(self) -> None:
        from twisted.internet import task

        if self.client is not None:
            return
        self.client = redis_from_settings(self.crawler.settings)
        self._heartbeat = task.LoopingCall(self._beat)
        self._heartbeat.start(HEARTBEAT, now=False)

    def _beat(self) -> None:
        import redis

        from chinanews.lease import redis_lost

        try:
            self.client.zadd(self.keys.workers, {self.worker: time.time()})
        except redis.RedisError as exc:
            if self._heartbeat is not None and self._heartbeat.running:
                self._heartbeat.stop()
            if not redis_lost(self.crawler, exc):
                raise

    def _closed(self, reason: str) -> None:
        import redis

        if self._heartbeat is not None and self._heartbeat.running:
            self._heartbeat.stop()
        if self.client is not None:
            try:
                self.client.zrem(self.keys.workers, self.worker)
            except redis.RedisError as exc:
                logger.warning(
                    "Worker %s could not leave %s (%s): it drops out after %.0f s",
                    self.worker,
                    self.keys.workers,
                    exc,
                    LIVE_WINDOW,
                )
            self.client.close()
        logger.info("Worker %s left the crawl under %s (%s)", self.worker, self.keys.prefix, reason)

    # -- start URLs -------------------------------------------------------------------

    async def start(
        self, seeds: Iterable[str], make_request: Callable[[str], Request | None]
    ) -> AsyncIterator[Request]:
        """Join the crawl (seeding it when it is new), then the start URLs waiting in Redis."""
        seeds = list(seeds)
        self._make_request = make_request
        if self.client is None:
            self._opened()
        if begin(self.client, self.keys, seeds, worker=self.worker):
            self._stats().set_value(f"{STAT}/seeded", len(seeds))
            logger.info(
                "Worker %s began a new crawl under %s: %d seeds pushed to %s",
                self.worker,
                self.keys.prefix,
                len(seeds),
                self.keys.start_urls,
            )
        else:
            logger.info(
                "Worker %s joined the crawl under %s (%d requests queued, %d start URLs waiting)",
                self.worker,
                self.keys.prefix,
                self.client.zcard(self.keys.requests),
                self.client.llen(self.keys.start_urls),
            )
        for request in self._pop_start_requests():
            yield request

    def _pop_start_requests(self) -> list[Request]:
        make_request = self._make_request
        if make_request is None:  # start() has not run yet
            return []
        pipe = self.client.pipeline(transaction=True)
        pipe.lrange(self.keys.start_urls, 0, self.batch - 1)
        pipe.ltrim(self.keys.start_urls, self.batch, -1)
        entries, _ = pipe.execute()
        requests = []
        for entry in entries:
            url = _url_of(entry)
            request = make_request(url) if url else None
            if request is None:
                self._stats().inc_value(f"{STAT}/start_urls/unusable")
                logger.warning("Start URL from %s not crawled: %r", self.keys.start_urls, entry)
                continue
            self._stats().inc_value(f"{STAT}/start_urls/popped")
            requests.append(request)
        return requests

    # -- idle -------------------------------------------------------------------------

    def _frontier_empty(self) -> bool:
        pipe = self.client.pipeline(transaction=False)
        pipe.zcard(self.keys.requests)
        pipe.llen(self.keys.start_urls)
        queued, waiting = pipe.execute()
        if queued or waiting:
            return False
        from chinanews.lease import LeaseKeys, claims_of_others

        # Requests other workers hold may still bring links, or come back when a lease expires.
        return not claims_of_others(self.client, LeaseKeys(self.keys.prefix), self.worker)

    def _on_idle(self) -> None:
        """Pop more start URLs; keep the worker open until the frontier has stayed empty for
        ``CHINANEWS_IDLE_TIMEOUT`` seconds."""
        import redis

        from chinanews.lease import redis_lost

        if self.client is None:
            return
        engine = self.crawler.engine
        assert engine is not None
        self._acknowledge_soon()
        try:
            self.client.zadd(self.keys.workers, {self.worker: time.time()})
            popped = self._pop_start_requests()
            empty = not popped and self._frontier_empty()
        except redis.RedisError as exc:
            if not redis_lost(self.crawler, exc):
                raise
            return  # the worker stops (Leases.lost closes the spider)
        for request in popped:
            engine.crawl(request)
        downloads = int(self._stats().get_value("downloader/request_count", 0))
        busy = downloads != self._downloads_seen
        self._downloads_seen = downloads
        if not empty:
            self._idle_since = None
            self._poll_soon()
            raise DontCloseSpider
        now = time.monotonic()
        if busy or self._idle_since is None:
            self._idle_since = now
        idle = now - self._idle_since
        if idle < self.idle_timeout:
            self._poll_soon()  # look again soon: another worker may fill the queue
            raise DontCloseSpider
        self._stats().set_value(f"{STAT}/idle_stop", round(idle, 1))
        logger.info(
            "Worker %s stops: the frontier under %s has been empty for %.0f s "
            "(CHINANEWS_IDLE_TIMEOUT %s)",
            self.worker,
            self.keys.prefix,
            idle,
            self.idle_timeout,
        )

    def _acknowledge_soon(self) -> None:
        """An idle worker checkpoints at once when it holds finished claims: the others see
        them as claimed, and so the frontier as not empty, until it acknowledges them (they
        would otherwise wait up to ``CHINANEWS_CHECKPOINT_SECONDS`` for each other)."""
        from chinanews.lease import Leases
        from chinanews.lifecycle import crawl_run

        leases = self.crawler.get_extension(Leases)
        if leases is not None and leases.waiting_for_checkpoint:
            crawl_run(self.crawler).checkpoint_soon()

    def _poll_soon(self) -> None:
        """Have the engine look at the shared queue (and call this idle handler again) in
        POLL seconds rather than at its next 5 s heartbeat (the engine's private
        ``_slot.nextcall``; without it the heartbeat still comes)."""
        slot = getattr(self.crawler.engine, "_slot", None)
        nextcall = getattr(slot, "nextcall", None)
        if nextcall is not None:
            nextcall.schedule(POLL)

    def _stats(self) -> Any:
        stats = self.crawler.stats
        assert stats is not None
        return stats


# -- `chinanews seed` ---------------------------------------------------------------------


def cmd_seed(args: Any) -> int:
    """Push start URLs to a distributed crawl, or (``--reset``) delete all its keys."""
    import redis

    from chinanews.index import redact

    keys = Keys(args.prefix)
    try:
        client = redis.Redis.from_url(args.redis_url, socket_connect_timeout=5)
        workers = live_workers(client, keys)
        if args.reset:
            if workers:
                print(
                    f"error: {len(workers)} worker(s) still run under {keys.prefix} "
                    f"({', '.join(workers)}); stop them before --reset",
                    file=sys.stderr,
                )
                return 2
            print(f"deleted {reset(client, keys)} keys under {keys.prefix}:")
            return 0
        bad = [u for u in args.urls if urlsplit(u).scheme not in ("http", "https")]
        if bad or not args.urls:
            print(
                f"error: give absolute http(s) URLs to push (not {bad or 'none'})", file=sys.stderr
            )
            return 2
        new = begin(client, keys, args.urls, always=True)
        waiting = client.llen(keys.start_urls)
    except (redis.RedisError, ValueError) as exc:
        print(f"error: cannot use {redact(args.redis_url)}: {exc}", file=sys.stderr)
        return 1
    print(
        f"pushed {len(args.urls)} URL(s) to {keys.start_urls} ({waiting} waiting; "
        f"{'a new crawl: the previous request fingerprints were cleared' if new else 'added to the crawl under way'}; "
        f"{len(workers)} worker(s) live)"
    )
    return 0


def add_parser(sub: Any) -> None:
    """Register ``chinanews seed`` on the ``chinanews`` command's subparsers."""
    parser = sub.add_parser(
        "seed",
        help="push start URLs to a distributed crawl (docs/distributed.md)",
        description="Push start URLs to <prefix>:start_urls, where the workers of a "
        "distributed crawl (scrapy crawl china_com -s CHINANEWS_DISTRIBUTED=1) pick them up: "
        "at their start, and whenever they idle. Workers must be started with the same "
        "-a start_urls (or none), which sets the hosts in scope. When no worker is live and "
        "the frontier is empty, a new crawl begins: the previous crawl's request fingerprints "
        "are cleared. --reset deletes every key of the crawl (frontier and article indexes). "
        "Exit code 0 done, 1 Redis could not be used, 2 bad arguments or workers still live.",
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="absolute http(s) URLs")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        help="the workers' REDIS_URL (default $REDIS_URL or redis://127.0.0.1:6379/0)",
    )
    parser.add_argument(
        "--prefix",
        default=os.environ.get("CHINANEWS_REDIS_PREFIX") or "chinanews:china_com",
        help="the workers' CHINANEWS_REDIS_PREFIX (default $CHINANEWS_REDIS_PREFIX or "
        "chinanews:china_com)",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="delete every key under the prefix instead (no worker may be live)",
    )
    parser.set_defaults(func=cmd_seed)
