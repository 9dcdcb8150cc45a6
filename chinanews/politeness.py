"""One politeness budget per host for all the workers of a distributed crawl.

Scrapy enforces ``DOWNLOAD_DELAY`` (randomised by ``DOWNLOAD_DELAY_JITTER``, ±50 % by
default), ``CONCURRENT_REQUESTS_PER_DOMAIN`` and AutoThrottle in each process's downloader
slots, so N workers hit a host N times as hard as one. ``SharedPoliteness``, a downloader
middleware the ``Distributed`` add-on installs (``CHINANEWS_SHARED_POLITENESS``, on by
default), takes a place in a budget kept in Redis before each download, for the download
slot of the request (its host, as Scrapy's downloader keys it; ``DOWNLOAD_SLOTS`` entries
apply):

One script, ``TAKE`` (one ``EVALSHA``), serves both ends of a download:

* *Taking* drops expired places, and when fewer than the slot's concurrency are taken,
  takes one for the request and *reserves* its start time: the later of now and the
  slot's next allowed time, which it moves on by the delay (the configured one, or the
  shared AutoThrottle delay, times the jitter the worker drew). The worker sleeps until
  that time and lets the request go: no second round trip. When every place is taken it
  answers "full" and the time to the next allowed start; the worker asks again at that
  time, or (when it has passed) as soon as one of its own requests to the host ends, or
  after ``POLL`` seconds. Within a worker one request per slot asks at a time, so a
  worker's waiting requests cost one query per retry, not one each.
* *Giving back* (once the response has gone on its way) frees the place, and with
  AutoThrottle on folds the response's latency into the shared delay with AutoThrottle's
  own rule (``scrapy/extensions/throttle.py``). A give-back is not sent on its own while a
  request of the same worker waits for a place on that host: it rides on that request's
  next query, which gives back first, then takes. A busy worker so pays about one round
  trip per download instead of two (stat ``carried``).

A place expires after the request's download timeout plus ``GRACE`` seconds, so a killed
worker's places come back on their own; sooner when its lease is reclaimed
(``chinanews.lease`` puts the worker in ``<prefix>:dead_workers``): a query that finds the
slot full drops the places of such workers. Times are Redis' own (``TIME``): the
workers' clocks do not matter.

The worker's own slot for the host then has no delay (set to 0 when the request reaches
the downloader, through the ``request_reached_downloader`` signal and the downloader's
slots, as AutoThrottle itself sets slot delays), and Scrapy's AutoThrottle extension is
off, so that delays do not add up; its concurrency stays ``CONCURRENT_REQUESTS_PER_DOMAIN``,
which the places a worker holds never exceed.

Keys (``<prefix>`` is ``CHINANEWS_REDIS_PREFIX``)::

    <prefix>:polite:<slot>:inflight  places taken, scored by expiry (sorted set, ms)
    <prefix>:polite:<slot>:next      the slot's next allowed start (string, ms)
    <prefix>:throttle                AutoThrottle's delay per slot, seconds (hash)
    <prefix>:dead_workers            read: workers whose leases were reclaimed (chinanews.lease)
    <prefix>:polite:<slot>:waiting   workers waiting for a place, by first ask (sorted set)
    <prefix>:polite:<slot>:waiting_until  the time (ms) by which each must ask again (hash)

Workers take turns: one that finds the slot full joins its waiting list, and once it has
waited ``PATIENCE`` a free place goes to it first (a give-back riding on the same worker's
next take would otherwise let a busy worker keep its places for good).

``BrowserBudget`` makes the browser's own requests (scripts, styles, data a rendered page
fetches through scrapy-playwright's route) take places in the same budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis
from scrapy import signals
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.settings import SETTINGS_PRIORITIES

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

STAT = "chinanews/politeness"
#: In ``DOWNLOADER_MIDDLEWARES``: after the HTTP cache (900), whose hits take no place, and
#: before the download itself; the first to see the response or the exception.
PRIORITY = 950
META = "chinanews_polite"
#: Seconds between two queries of a worker waiting for a place held by another worker.
POLL = 0.02
#: Seconds a place outlives its request's download timeout before it expires.
GRACE = 10.0
#: Seconds a worker waits for a place before the host's places go to it first (the waiting
#: list: workers take turns without leaving a place idle while the host turns them fast).
PATIENCE = 0.2

# One script gives places back and takes one, so that a worker's give-back rides on its next
# take (one round trip for both; ``Budget.give_back``).
# KEYS: inflight, next, throttle, dead workers (``chinanews.lease``), waiting, waiting's
# deadlines.
# ARGV: [1] token to take ('' to only give back), [2] delay factor (the jitter drawn), [3]
# delay ms (the configured one, or AutoThrottle's start delay), [4] concurrency, [5] slot
# name (the throttle hash field, '' without AutoThrottle), [6] place lifetime ms, [7..10]
# AutoThrottle's target concurrency, min, max and start delay (s), [11] the worker, then one
# triple per place given back: token, latency s ('' not to move the delay), '1' when the
# answer was a 200.
# Giving back: AutoThrottle's rule, target = latency / concurrency; new = max(target,
# (old + target) / 2) within [min, max]; not lowered by a non-200 answer.
# Taking: expired places are dropped, and, when the slot is full, those of workers whose
# leases were reclaimed (a dead worker's places come back with its requests); then when
# fewer than the concurrency are taken, and no other worker has waited longer (``waiting``,
# by first ask; a waiter that has not asked again by its deadline is dropped), a place is
# taken and its start *reserved*: the later of now and the slot's next allowed time, which
# moves on by the delay. Else the worker joins the waiting workers. The worker that has waited
# longest goes first only once it has waited PATIENCE ms. The slot's next allowed time and
# its waiting list are kept 10 minutes past their use.
# Returns {1, ms to wait before starting, delay} when a place is taken; {0, ms until the
# next allowed start, delay} when the slot is full (no request can start before it anyway);
# {2, 0, delay} when only giving back. delay: the slot's shared AutoThrottle delay, s, or -1.
TAKE = """
local PATIENCE = {patience_ms}
local shared = -1
if ARGV[5] ~= '' then shared = tonumber(redis.call('HGET', KEYS[3], ARGV[5]) or '') or -1 end
for i = 12, #ARGV, 3 do
  redis.call('ZREM', KEYS[1], ARGV[i])
  if ARGV[5] ~= '' and ARGV[i + 1] ~= '' then
    local old = shared
    if old < 0 then old = tonumber(ARGV[10]) end
    local target = tonumber(ARGV[i + 1]) / tonumber(ARGV[7])
    local new = math.max(target, (old + target) / 2)
    new = math.min(math.max(tonumber(ARGV[8]), new), tonumber(ARGV[9]))
    if ARGV[i + 2] == '1' or new > old then
      redis.call('HSET', KEYS[3], ARGV[5], tostring(new))
      shared = new
    end
  end
end
if ARGV[1] == '' then return {2, 0, tostring(shared)} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local taken = redis.call('ZCARD', KEYS[1])
if taken >= tonumber(ARGV[4]) and redis.call('SCARD', KEYS[4]) > 0 then
  for _, place in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local worker = string.match(place, '^(.*):%d+$')
    if worker and redis.call('SISMEMBER', KEYS[4], worker) == 1 then
      redis.call('ZREM', KEYS[1], place)
      taken = taken - 1
    end
  end
end
local nxt = tonumber(redis.call('GET', KEYS[2]) or '0')
local function wait()
  local ms = math.max(0, nxt - now)
  redis.call('ZADD', KEYS[5], 'NX', now, ARGV[11])
  redis.call('HSET', KEYS[6], ARGV[11], now + ms + 1000)
  redis.call('PEXPIRE', KEYS[5], 600000)
  redis.call('PEXPIRE', KEYS[6], 600000)
  return {0, ms, tostring(shared)}
end
if taken >= tonumber(ARGV[4]) then return wait() end
while true do
  local first = redis.call('ZRANGE', KEYS[5], 0, 0)[1]
  if not first or first == ARGV[11] then break end
  if tonumber(redis.call('HGET', KEYS[6], first) or '0') >= now then
    -- someone else waits: it goes first once it has waited PATIENCE ms (before that, a
    -- place that comes back goes on at once: no gap while the waiter's poll comes)
    if now - tonumber(redis.call('ZSCORE', KEYS[5], first)) >= PATIENCE then return wait() end
    break
  end
  redis.call('ZREM', KEYS[5], first)
  redis.call('HDEL', KEYS[6], first)
end
redis.call('ZREM', KEYS[5], ARGV[11])
redis.call('HDEL', KEYS[6], ARGV[11])
local delay = tonumber(ARGV[3])
if shared >= 0 then delay = shared * 1000 end
delay = math.floor(delay * tonumber(ARGV[2]))
local start = math.max(now, nxt)
local life = tonumber(ARGV[6]) + start - now
redis.call('ZADD', KEYS[1], now + life, ARGV[1])
redis.call('PEXPIRE', KEYS[1], life)
redis.call('SET', KEYS[2], start + delay, 'PX', delay + 600000)
return {1, start - now, tostring(shared)}
""".replace("{patience_ms}", str(int(PATIENCE * 1000)))


def jitter_factor(jitter: float) -> float:
    """What the delay is multiplied by, as Scrapy's ``Slot.download_delay`` draws it:
    uniform in 1 ± ``jitter`` (0.5–1.5 with the default ±50 %), never below 0."""
    if not jitter:
        return 1.0
    return max(0.0, 1 + random.uniform(-jitter, jitter))


def enabled(settings: BaseSettings) -> bool:
    """Shared politeness is on in distributed mode unless ``CHINANEWS_SHARED_POLITENESS=0``."""
    return settings.getbool("CHINANEWS_DISTRIBUTED") and settings.getbool(
        "CHINANEWS_SHARED_POLITENESS", True
    )


@dataclass(frozen=True)
class Limits:
    """A slot's budget: seconds between starts (AutoThrottle's start delay when it is on),
    jitter, places."""

    delay: float
    jitter: float
    concurrency: int


@dataclass(frozen=True)
class Throttle:
    """AutoThrottle's settings, applied to the shared delay."""

    target: float
    minimum: float
    maximum: float
    start: float


@dataclass(frozen=True)
class _Give:
    """A place to give back, with what AutoThrottle makes of its response."""

    token: str
    latency: float | None
    ok: bool
    throttle: Throttle | None


@dataclass
class _Gate:
    """One worker's side of a slot: its requests ask Redis one at a time (``lock``); the
    places it gives back wait in ``pending`` for the next of them to carry."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    freed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Requests of this worker in ``acquire`` for the slot (asking, or waiting to ask).
    waiting: int = 0
    #: Places this worker holds in the slot (taken, not given back): token -> the event
    #: loop's time at which Redis lets it expire.
    held: dict[str, float] = field(default_factory=dict)

    def holds_all(self, concurrency: int, now: float) -> float | None:
        """Seconds until the first of this worker's places expires when it holds every
        place of the slot (none can be had before one is back), else None."""
        for token in [t for t, expiry in self.held.items() if expiry <= now]:
            del self.held[token]  # lost (never given back): expired in Redis too
        if len(self.held) < concurrency:
            return None
        return min(self.held.values()) - now

    pending: list[_Give] = field(default_factory=list)


class Budget:
    """The shared budget through one async Redis client (``redis.asyncio``).

    A place is given back with ``give_back``: while a request of this worker waits for a
    place in the same slot, the give-back rides on that request's next query (the script
    gives back, then takes); otherwise it is sent at once, on its own. ``release`` sends one
    at once and waits for it."""

    def __init__(self, client: Any, prefix: str, worker: str, *, poll: float = POLL) -> None:
        self.client = client
        self.prefix = prefix
        self.worker = worker
        self.poll = poll
        self._take = client.register_script(TAKE)
        self._ids = itertools.count(1)
        self._gates: dict[str, _Gate] = {}
        #: Round trips to Redis (``EVALSHA`` calls, retries included), for the stats.
        self.round_trips = 0
        self.full_retries = 0
        #: Places given back on a query that also took one (no round trip of their own).
        self.carried = 0
        #: Background give-backs that failed (``give_back``).
        self.give_failures = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def throttle_key(self) -> str:
        return f"{self.prefix}:throttle"

    @property
    def dead_workers_key(self) -> str:
        """Workers whose leases were reclaimed (``chinanews.lease``): their places are void."""
        return f"{self.prefix}:dead_workers"

    def keys(self, slot: str) -> tuple[str, str]:
        return f"{self.prefix}:polite:{slot}:inflight", f"{self.prefix}:polite:{slot}:next"

    def waiting_keys(self, slot: str) -> tuple[str, str]:
        """The workers waiting for a place in ``slot`` (by first ask) and their deadlines."""
        base = f"{self.prefix}:polite:{slot}"
        return f"{base}:waiting", f"{base}:waiting_until"

    async def _query(
        self, slot: str, take: list[Any], gives: list[_Give]
    ) -> tuple[int, int, float]:
        """One ``EVALSHA`` of ``TAKE``: give ``gives`` back, then take a place as ``take``
        (``[token, factor, delay ms, concurrency, throttle field, lifetime ms]``; empty to only
        give back). Returns (granted, ms, shared delay or -1)."""
        inflight, nxt = self.keys(slot)
        throttle = next((g.throttle for g in gives if g.throttle is not None), None)
        args: list[Any] = list(take) if take else ["", 1, 0, 1, slot if throttle else "", 0]
        if take and throttle is not None:
            args[4] = slot  # the field the give-backs move
        if throttle is not None:
            args += [
                repr(throttle.target),
                repr(throttle.minimum),
                repr(throttle.maximum),
                repr(throttle.start),
            ]
        else:
            args += ["", "", "", ""]
        args.append(self.worker)
        for give in gives:
            adjust = give.throttle is not None and give.latency is not None
            args += [give.token, repr(give.latency) if adjust else "", "1" if give.ok else "0"]
        self.round_trips += 1
        granted, ms, delay = await self._take(
            keys=[
                inflight,
                nxt,
                self.throttle_key,
                self.dead_workers_key,
                *self.waiting_keys(slot),
            ],
            args=args,
        )
        return int(granted), int(ms), float(delay)

    async def acquire(
        self, slot: str, limits: Limits, lifetime: float, *, throttled: bool = False
    ) -> tuple[str, float]:
        """Take a place in ``slot``'s budget; returns its token and the seconds waited.
        ``lifetime`` is how long the place lasts when nobody releases it. The places this
        worker gave back meanwhile go with the query."""
        gate = self._gates.setdefault(slot, _Gate())
        token = f"{self.worker}:{next(self._ids)}"
        factor = jitter_factor(limits.jitter)
        loop = asyncio.get_running_loop()
        began = loop.time()
        take = [
            token,
            repr(factor),
            int(limits.delay * 1000),
            limits.concurrency,
            slot if throttled else "",
            int(lifetime * 1000),
        ]
        gate.waiting += 1
        try:
            async with gate.lock:
                while True:
                    gate.freed.clear()
                    wait = None if gate.pending else gate.holds_all(limits.concurrency, loop.time())
                    if wait is not None:
                        # Every place is this worker's: none can be had before one of them
                        # is back (or, lost, expires), so no query until then.
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(gate.freed.wait(), wait)
                        continue
                    gives, gate.pending = gate.pending, []
                    try:
                        granted, value, _ = await self._query(slot, take, gives)
                    except BaseException:
                        gate.pending[:0] = gives  # not known to be back: the next query's
                        raise
                    self.carried += len(gives)
                    if granted:
                        gate.held[token] = loop.time() + (value / 1000) + lifetime
                        break
                    self.full_retries += 1
                    if value > 0:  # nothing starts before the next allowed start
                        await asyncio.sleep(value / 1000)
                        continue
                    # Ask again when one of ours is back, or after POLL (another worker's
                    # place may be back).
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(gate.freed.wait(), self.poll)
        finally:
            gate.waiting -= 1
            if gate.pending and not gate.waiting:
                self._send_soon(slot)
        if value > 0:
            await asyncio.sleep(value / 1000)
        return token, loop.time() - began

    def give_back(
        self,
        slot: str,
        token: str,
        *,
        latency: float | None = None,
        throttle: Throttle | None = None,
        ok: bool = True,
    ) -> None:
        """Give a place back: carried by the next query of a request of this worker waiting
        for the slot, or, when none waits, sent at once in the background (a failure is
        counted in ``give_failures`` and logged; the place goes with the next query, or
        expires). With
        ``throttle`` and a ``latency``, it moves the slot's shared AutoThrottle delay."""
        gate = self._pend(slot, _Give(token, latency, ok, throttle))
        if not gate.waiting:
            self._send_soon(slot)

    def _pend(self, slot: str, give: _Give) -> _Gate:
        """The place is no longer this worker's: its give-back waits to be sent."""
        gate = self._gates.setdefault(slot, _Gate())
        gate.held.pop(give.token, None)
        gate.pending.append(give)
        gate.freed.set()
        return gate

    def _send_soon(self, slot: str) -> None:
        task = asyncio.ensure_future(self._send(slot))
        self._tasks.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            # The places go with the next query, or expire (their lifetime); the worker
            # goes on.
            self.give_failures += 1
            logger.warning("Could not give back places in the shared budget: %r", exc)

    async def _send(self, slot: str) -> float | None:
        """Send the slot's pending give-backs on their own; returns the shared delay."""
        gate = self._gates[slot]
        gives, gate.pending = gate.pending, []
        if not gives:
            return None
        try:
            _, _, delay = await self._query(slot, [], gives)
        except BaseException:
            gate.pending[:0] = gives
            raise
        return delay if delay >= 0 else None

    async def release(
        self,
        slot: str,
        token: str,
        *,
        latency: float | None = None,
        throttle: Throttle | None = None,
        ok: bool = True,
    ) -> float | None:
        """Give a place back at once (with any of this worker's pending ones) and wait for
        it; with ``throttle`` and a ``latency``, fold it into the slot's shared AutoThrottle
        delay and return that delay."""
        self._pend(slot, _Give(token, latency, ok, throttle))
        return await self._send(slot)

    async def close(self) -> None:
        """The crawl's end: wait for the give-backs under way, send those still pending
        (a failure is counted and logged as in the background), close the client."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for slot, gate in list(self._gates.items()):
            if gate.pending:
                self._send_soon(slot)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.client.aclose()
        except redis.RedisError as exc:  # Redis gone: nothing left to close cleanly
            logger.warning("Could not close the shared budget's Redis client: %r", exc)

    async def shared_delay(self, slot: str) -> float | None:
        value = await self.client.hget(self.throttle_key, slot)
        return float(value) if value is not None else None


def slot_limits(settings: BaseSettings, slot: str, jitter: float) -> Limits:
    """The slot's budget as Scrapy's downloader would give one process (``DOWNLOAD_SLOTS``,
    ``CONCURRENT_REQUESTS_PER_IP`` or ``_PER_DOMAIN``, ``DOWNLOAD_DELAY``,
    ``DOWNLOAD_DELAY_JITTER``), AutoThrottle's start delay when it is on."""
    own = settings.getdict("DOWNLOAD_SLOTS").get(slot, {})
    concurrency = int(
        own.get(
            "concurrency",
            settings.getint("CONCURRENT_REQUESTS_PER_IP")
            or settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"),
        )
    )
    delay = float(own.get("delay", settings.getfloat("DOWNLOAD_DELAY")))
    if settings.getbool("AUTOTHROTTLE_ENABLED"):
        delay = max(delay, settings.getfloat("AUTOTHROTTLE_START_DELAY"))
    return Limits(
        delay=delay, jitter=float(own.get("jitter", jitter)), concurrency=max(1, concurrency)
    )


def default_jitter(settings: BaseSettings) -> float:
    """The magnitude of the delay's random variation, as Scrapy 2.19's downloader reads it:
    ``DOWNLOAD_DELAY_JITTER``, or the deprecated ``RANDOMIZE_DOWNLOAD_DELAY`` (±50% or none)
    when that is set at a higher priority. Read here rather than through Scrapy's private
    helper, which an upgrade may change (Scrapy warns of the deprecated setting itself)."""
    randomize = settings.getpriority("RANDOMIZE_DOWNLOAD_DELAY") or 0
    if randomize <= SETTINGS_PRIORITIES["default"] or randomize <= (
        settings.getpriority("DOWNLOAD_DELAY_JITTER") or 0
    ):
        return settings.getfloat("DOWNLOAD_DELAY_JITTER")
    return 0.5 if settings.getbool("RANDOMIZE_DOWNLOAD_DELAY") else 0.0


def _throttle(settings: BaseSettings) -> Throttle | None:
    if not settings.getbool("AUTOTHROTTLE_ENABLED"):
        return None
    minimum = settings.getfloat("DOWNLOAD_DELAY")
    return Throttle(
        target=settings.getfloat("AUTOTHROTTLE_TARGET_CONCURRENCY"),
        minimum=minimum,
        maximum=settings.getfloat("AUTOTHROTTLE_MAX_DELAY"),
        start=max(minimum, settings.getfloat("AUTOTHROTTLE_START_DELAY")),
    )


class SharedPoliteness:
    """Downloader middleware: every download takes a place in its slot's shared budget
    (see the module docstring). Stats under ``chinanews/politeness/``: ``acquired``,
    ``round_trips``, ``full_retries``, ``carried`` (places given back on a query that took
    one), ``waited_ms`` (total), ``release_failed``. Redis unreachable while a request
    waits for its place: the worker stops (``chinanews.lease.redis_lost``) and the request
    is ignored, not failed: it stays claimed, for another worker."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not enabled(settings):
            raise NotConfigured("shared politeness is for distributed crawls")
        from chinanews.distributed import key_prefix, worker_id

        self.crawler = crawler
        self.settings = settings
        self.throttle = _throttle(settings)
        self.jitter = default_jitter(settings)
        self.timeout = settings.getfloat("DOWNLOAD_TIMEOUT")
        self.prefix = key_prefix(settings, getattr(crawler.spider, "name", None) or "crawl")
        self.worker = worker_id(settings)
        self.budget: Budget | None = None
        #: Whether the browser's requests take places themselves (``budget_browser``).
        self.browser = isinstance(settings.get("PLAYWRIGHT_ABORT_REQUEST"), BrowserBudget)
        self._limits: dict[str, Limits] = {}
        crawler.signals.connect(self._reached, signal=signals.request_reached_downloader)
        crawler.signals.connect(self._close, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedPoliteness:
        return cls(crawler)

    def _budget(self) -> Budget:
        if self.budget is None:
            import redis.asyncio

            url = self.settings.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
            client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
            self.budget = Budget(client, self.prefix, self.worker)
        return self.budget

    def slot_of(self, request: Request) -> str:
        engine = self.crawler.engine
        assert engine is not None
        return engine.downloader.get_slot_key(request)

    def limits(self, slot: str) -> Limits:
        if slot not in self._limits:
            self._limits[slot] = slot_limits(self.settings, slot, self.jitter)
        return self._limits[slot]

    async def take(self, slot: str, timeout: float | None = None, *, kind: str = "") -> str:
        """Wait for a place in ``slot``'s shared budget and take it; returns its token, to
        give back with ``give_back``. ``timeout``: the download's, for the place's lifetime;
        ``kind``: also counted under ``chinanews/politeness/<kind>``."""
        lifetime = (self.timeout if timeout is None else timeout) + GRACE
        try:
            token, waited = await self._budget().acquire(
                slot, self.limits(slot), lifetime, throttled=self.throttle is not None
            )
        except redis.RedisError as exc:
            from chinanews.lease import redis_lost

            redis_lost(self.crawler, exc)
            raise
        stats = self._stats()
        stats.inc_value(f"{STAT}/acquired")
        stats.inc_value(f"{STAT}/waited_ms", int(waited * 1000))
        self._count()
        if kind:
            stats.inc_value(f"{STAT}/{kind}")
        return token

    def give_back(
        self, slot: str, token: str, *, latency: float | None = None, ok: bool = True
    ) -> None:
        """Give a place back (``Budget.give_back``: on the next query of a request waiting
        for the slot, or at once in the background); with AutoThrottle on, ``latency``
        (seconds) adjusts the slot's shared delay."""
        if self.budget is None:
            return
        self.budget.give_back(slot, token, latency=latency, throttle=self.throttle, ok=ok)
        self._count()

    async def process_request(self, request: Request) -> None:
        if META in request.meta:  # already holds a place (e.g. passed through again)
            return
        if request.meta.get("playwright") and self.browser:
            # Rendered in the browser: each of its HTTP requests, the page's own included,
            # takes a place (BrowserBudget). A place held here for the whole render would
            # starve the page's scripts and data of places: two pages would deadlock.
            return
        slot = self.slot_of(request)
        timeout = float(request.meta.get("download_timeout", self.timeout))
        try:
            token = await self.take(slot, timeout)
        except redis.RedisError as exc:
            # Not this request's failure: the worker stops (the one line of
            # chinanews.lease), and the request stays claimed for the other workers.
            raise IgnoreRequest(f"shared politeness budget unreachable: {exc}") from exc
        request.meta[META] = (slot, token)

    def process_response(self, request: Request, response: Response) -> Response:
        self._release(request, ok=response.status == 200)
        return response

    def process_exception(self, request: Request, exception: BaseException) -> None:
        self._release(request, ok=False)

    def _release(self, request: Request, *, ok: bool) -> None:
        held = request.meta.pop(META, None)
        if held is None:
            return
        slot, token = held
        latency = request.meta.get("download_latency")
        if request.meta.get("autothrottle_dont_adjust_delay", False) is True:
            latency = None
        self.give_back(slot, token, latency=latency, ok=ok)

    def _reached(self, request: Request) -> None:
        """The request holds a shared place: its local slot adds no delay of its own."""
        if META not in request.meta:
            return
        engine = self.crawler.engine
        assert engine is not None
        slot = engine.downloader.slots.get(request.meta.get("download_slot", ""))
        if slot is not None:
            slot.delay = 0.0

    async def _close(self) -> None:
        """Send the give-backs still pending and wait for those under way (a failure is
        counted and logged by the budget), close the client, count the round trips."""
        if self.budget is not None:
            await self.budget.close()
            self._count()

    def _count(self) -> None:
        """The budget's round trips and retries so far, in the stats (kept up to date: the
        crawl report may be written before this middleware hears of the spider's close)."""
        if self.budget is not None:
            stats = self._stats()
            stats.set_value(f"{STAT}/round_trips", self.budget.round_trips)
            stats.set_value(f"{STAT}/full_retries", self.budget.full_retries)
            stats.set_value(f"{STAT}/carried", self.budget.carried)
            if self.budget.give_failures:
                stats.set_value(f"{STAT}/release_failed", self.budget.give_failures)

    def _stats(self) -> Any:
        stats = self.crawler.stats
        assert stats is not None
        return stats


class BrowserBudget:
    """``PLAYWRIGHT_ABORT_REQUEST`` when shared politeness is on: the request filter it
    wraps (``chinanews.rendering.BrowserRequestFilter``) decides first; a request the browser
    may make then waits for a place in its host's shared budget before it goes, and gives it
    back when its response has been read (or it failed).

    Every HTTP request of the browser counts, the page's own navigation included: the
    Scrapy request of a rendered page takes no place in the downloader middleware, which
    would hold it for the whole render while the page's scripts wait for places.
    scrapy-playwright awaits this predicate in its route handler before it lets the request
    continue, so the browser's requests keep to the same delay and concurrency as every
    worker's downloads. Stat: ``chinanews/politeness/browser``."""

    def __init__(self, crawler: Crawler, inner: Any = None) -> None:
        self.crawler = crawler
        self.inner = inner
        self._tasks: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} inner={self.inner!r}>"

    async def __call__(self, request: Any) -> bool:
        if self.inner is not None:
            verdict = self.inner(request)
            if asyncio.iscoroutine(verdict) or isinstance(verdict, asyncio.Future):
                verdict = await verdict
            if verdict:
                return True
        middleware = self.crawler.get_downloader_middleware(SharedPoliteness)
        host = (urlsplit(request.url).hostname or "").lower()
        if middleware is None or not host:
            return False
        try:
            token = await middleware.take(host, kind="browser")
        except redis.RedisError:
            return True  # not sent: the worker stops (``SharedPoliteness.take``)
        task = asyncio.ensure_future(self._give_back_when_done(middleware, request, host, token))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return False

    @staticmethod
    async def _give_back_when_done(
        middleware: SharedPoliteness, request: Any, host: str, token: str
    ) -> None:
        try:
            response = await request.response()  # None when the request failed
            if response is not None:
                await response.finished()
        finally:
            # Not fed to AutoThrottle, which (as Scrapy's) reads the downloads' latencies.
            middleware.give_back(host, token)


def budget_browser(crawler: Crawler, settings: BaseSettings) -> None:
    """When pages may go through scrapy-playwright (its download handler is set), wrap its
    ``PLAYWRIGHT_ABORT_REQUEST`` in a ``BrowserBudget``; called by the ``Distributed``
    add-on, after ``chinanews.rendering.RenderAddon`` has set the filter."""
    handlers = settings.getdict("DOWNLOAD_HANDLERS")
    if not any("scrapy_playwright" in str(h) for h in handlers.values()):
        return
    inner = settings.get("PLAYWRIGHT_ABORT_REQUEST")
    if isinstance(inner, str):
        from scrapy.utils.misc import load_object

        inner = load_object(inner)
    if isinstance(inner, BrowserBudget):
        return
    priority = max(settings.getpriority("PLAYWRIGHT_ABORT_REQUEST") or 0, 15)  # 15: addon
    settings.set("PLAYWRIGHT_ABORT_REQUEST", BrowserBudget(crawler, inner), priority)
