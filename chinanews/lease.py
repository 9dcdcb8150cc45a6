"""Leased requests: a distributed crawl loses nothing when a worker dies (``docs/distributed.md``,
"When a worker dies").

scrapy-redis pops a request from ``<prefix>:requests`` and forgets it. Here a worker that takes
a request *claims* it instead, in one atomic step (a Lua script):

    <prefix>:claimed:<worker>   the requests the worker took and has not acknowledged (hash:
                                token -> "<score> <request as the queue encodes it>")
    <prefix>:leases             the workers holding claims, scored by the expiry of their lease
    <prefix>:deliveries         how many times each request was taken (hash: sha1 -> count)
    <prefix>:dead               requests that were taken CHINANEWS_MAX_DELIVERIES times by
                                workers that died (list, as encoded)
    <prefix>:dead_workers       workers whose expired leases were reclaimed (set): their
                                claims on articles (``chinanews.index``) are taken over

A claim is acknowledged (deleted) only when the request's callback or errback has run to the
end, every item it produced has left the pipelines, and the crawl's next checkpoint
(``chinanews.lifecycle``) has made those items durable and committed the index: the
acknowledgements are the checkpoint's ``journal``. A request that led to another one (a
redirect, a retry) is done once that one is in the queue. A heartbeat renews the worker's
lease every third of ``CHINANEWS_LEASE_SECONDS``; any live worker puts the claims of an
expired lease back in the queue (atomically: two workers never both requeue one), straight
into the sorted set, past the dupefilter, or to the dead-letter list once they were taken
``CHINANEWS_MAX_DELIVERIES`` times. A worker that stops cleanly gives back what it still holds.

``LeasedQueue`` (``SCHEDULER_QUEUE_CLASS``), ``LeasedScheduler`` (``SCHEDULER``),
``Leases`` (extension) and ``LeaseMiddleware`` (spider middleware) are set by the
``Distributed`` add-on.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler

from chinanews.distributed import STAT, Keys, enabled, key_prefix, redis_from_settings, worker_id
from chinanews.lifecycle import crawl_run

logger = logging.getLogger(__name__)

#: The request's claim token, in its meta while this worker holds it.
META = "chinanews_lease"
#: ``scrapy crawl``'s exit code when the worker stopped because Redis could not be used.
EXIT_REDIS_LOST = 6
REDIS_LOST_STAT = f"{STAT}/redis_lost"


def claimed_key(prefix: str, worker: str) -> str:
    return f"{prefix}:claimed:{worker}"


# Take up to ARGV[3] requests: pop the best, count the delivery, claim it, renew the lease.
# KEYS: requests, claimed, leases, deliveries, seq. ARGV: worker, expiry, count.
# Returns token, value, token, value, ... (value = "<score> <data>").
_TAKE = """
local out = {}
for i = 1, tonumber(ARGV[3]) do
  local r = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #r == 0 then break end
  redis.call('ZREM', KEYS[1], r[1])
  redis.call('HINCRBY', KEYS[4], redis.sha1hex(r[1]), 1)
  local token = tostring(redis.call('INCR', KEYS[5]))
  local value = r[2] .. ' ' .. r[1]
  redis.call('HSET', KEYS[2], token, value)
  table.insert(out, token)
  table.insert(out, value)
end
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return out
"""

# Put the claims of every lease expired before ARGV[1] back in the queue (or to the dead
# list after ARGV[3] deliveries). KEYS: leases, requests, deliveries, dead. ARGV: now,
# prefix, max deliveries. Returns {requeued, dead-lettered, workers...}.
_RECLAIM = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local requeued, dead = 0, 0
local out = {0, 0}
for _, worker in ipairs(expired) do
  local claimed = ARGV[2] .. ':claimed:' .. worker
  local all = redis.call('HGETALL', claimed)
  for i = 2, #all, 2 do
    local value = all[i]
    local space = string.find(value, ' ', 1, true)
    local score = string.sub(value, 1, space - 1)
    local data = string.sub(value, space + 1)
    local h = redis.sha1hex(data)
    local n = tonumber(redis.call('HGET', KEYS[3], h) or '0')
    if n >= tonumber(ARGV[3]) then
      redis.call('RPUSH', KEYS[4], data)
      redis.call('HDEL', KEYS[3], h)
      dead = dead + 1
    else
      redis.call('ZADD', KEYS[2], score, data)
      requeued = requeued + 1
    end
  end
  redis.call('DEL', claimed)
  redis.call('ZREM', KEYS[1], worker)
  redis.call('SADD', ARGV[2] .. ':dead_workers', worker)
  table.insert(out, worker)
end
out[1] = requeued
out[2] = dead
return out
"""

# A worker that stops cleanly gives back what it holds: not a delivery that killed a worker.
# KEYS: claimed, leases, requests, deliveries. ARGV: worker, tokens...
_RELEASE = """
local n = 0
for i = 2, #ARGV do
  local value = redis.call('HGET', KEYS[1], ARGV[i])
  if value then
    local space = string.find(value, ' ', 1, true)
    local data = string.sub(value, space + 1)
    redis.call('ZADD', KEYS[3], string.sub(value, 1, space - 1), data)
    local h = redis.sha1hex(data)
    if redis.call('HINCRBY', KEYS[4], h, -1) <= 0 then redis.call('HDEL', KEYS[4], h) end
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
return n
"""


@dataclass(frozen=True)
class LeaseKeys:
    """The Redis keys of the leases of one crawl (module docstring)."""

    prefix: str

    @property
    def requests(self) -> str:
        return Keys(self.prefix).requests

    @property
    def leases(self) -> str:
        return f"{self.prefix}:leases"

    @property
    def deliveries(self) -> str:
        return f"{self.prefix}:deliveries"

    @property
    def dead(self) -> str:
        return f"{self.prefix}:dead"

    @property
    def seq(self) -> str:
        return f"{self.prefix}:lease_seq"

    def claimed(self, worker: str) -> str:
        return claimed_key(self.prefix, worker)


@dataclass(frozen=True)
class Reclaimed:
    requeued: int
    dead_lettered: int
    workers: list[str]


def take(
    client: Any, keys: LeaseKeys, worker: str, lease_seconds: float
) -> tuple[str, bytes] | None:
    """Claim the best request of the queue for ``worker``: its token and encoded request."""
    result = client.eval(
        _TAKE,
        5,
        keys.requests,
        keys.claimed(worker),
        keys.leases,
        keys.deliveries,
        keys.seq,
        worker,
        time.time() + lease_seconds,
        1,
    )
    if not result:
        return None
    token, value = result[0], result[1]
    data = value.split(b" ", 1)[1]
    return token.decode() if isinstance(token, bytes) else str(token), data


def acknowledge(client: Any, keys: LeaseKeys, worker: str, done: list[tuple[str, str]]) -> None:
    """Delete the claims ``done`` (token, sha1 of the request): they are finished for good."""
    if not done:
        return
    pipe = client.pipeline(transaction=True)
    pipe.hdel(keys.claimed(worker), *[token for token, _ in done])
    pipe.hdel(keys.deliveries, *[digest for _, digest in done])
    pipe.execute()


def renew(client: Any, keys: LeaseKeys, worker: str, lease_seconds: float) -> None:
    client.zadd(keys.leases, {worker: time.time() + lease_seconds})


def reclaim(client: Any, keys: LeaseKeys, max_deliveries: int) -> Reclaimed:
    """Requeue (or dead-letter) the claims of every expired lease, atomically."""
    result = client.eval(
        _RECLAIM, 4, keys.leases, keys.requests, keys.deliveries, keys.dead,
        time.time(), keys.prefix, max_deliveries,
    )  # fmt: skip
    workers = [w.decode() if isinstance(w, bytes) else str(w) for w in result[2:]]
    return Reclaimed(int(result[0]), int(result[1]), workers)


def release(client: Any, keys: LeaseKeys, worker: str, tokens: Iterable[str]) -> int:
    """Give back the claims ``tokens`` (not done) to the queue; drop the lease once empty."""
    names = (keys.claimed(worker), keys.leases, keys.requests, keys.deliveries)
    return int(client.eval(_RELEASE, len(names), *names, worker, *tokens))


def claims_of_others(client: Any, keys: LeaseKeys, worker: str) -> int:
    """Requests claimed by the other workers (live or not yet reclaimed)."""
    others = [w.decode() for w in client.zrange(keys.leases, 0, -1) if w.decode() != worker]
    if not others:
        return 0
    pipe = client.pipeline(transaction=False)
    for other in others:
        pipe.hlen(keys.claimed(other))
    return sum(pipe.execute())


def digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


# -- the worker's side ----------------------------------------------------------------------


@dataclass
class _Claim:
    digest: str
    items: int = 0
    ended: bool = False


class RedisUnreachable(RuntimeError):
    """Redis could not be used mid-crawl: the worker stops; its leases expire."""


def redis_lost(crawler: Crawler, exc: Exception) -> bool:
    """Tell this worker's ``Leases`` that Redis cannot be used (another component found out
    first): it says so in one line and stops the worker. False outside distributed mode."""
    leases = crawler.get_extension(Leases)
    if leases is None:
        return False
    leases.lost(exc)
    return True


class Leases:
    """Extension: this worker's claims, their acknowledgement at each checkpoint, the lease
    heartbeat and the reclaim of expired leases (module docstring). Not configured outside
    distributed mode."""

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not enabled(settings):
            raise NotConfigured  # off, and silent
        self.crawler = crawler
        self.worker = worker_id(settings)
        self.lease_seconds = settings.getfloat("CHINANEWS_LEASE_SECONDS", 30.0)
        self.max_deliveries = settings.getint("CHINANEWS_MAX_DELIVERIES", 3)
        self.keys: LeaseKeys | None = None
        self.client: Any = None
        self.claims: dict[str, _Claim] = {}
        #: Claims done since the last checkpoint took them.
        self.done: list[str] = []
        self.broken: str | None = None
        self._heartbeat: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Leases:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.item_left, signal=signals.item_scraped)
        crawler.signals.connect(ext.item_left, signal=signals.item_dropped)
        crawler.signals.connect(ext.item_left, signal=signals.item_error)
        # after the lifecycle's last checkpoint, which acknowledges one last time
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def _open(self) -> None:
        if self.client is None:
            spider_name = getattr(self.crawler.spider, "name", None) or "crawl"
            self.keys = LeaseKeys(key_prefix(self.crawler.settings, spider_name))
            self.client = redis_from_settings(self.crawler.settings)

    def spider_opened(self) -> None:
        from twisted.internet import task

        self._open()
        crawl_run(self.crawler).journal(self.take_done, self.commit_done)
        self._heartbeat = task.LoopingCall(self.beat)
        self._heartbeat.start(max(0.2, self.lease_seconds / 3), now=True)

    def _inc(self, key: str, count: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(key, count)

    # -- Redis ------------------------------------------------------------------------

    def lost(self, exc: Exception) -> None:
        """Redis cannot be used: say so once, in one line, and stop the worker."""
        if self.broken is None:
            self.broken = str(exc)
            logger.error(
                "Worker %s lost Redis (%s): it stops; the %d requests it holds go back to the "
                "other workers when its lease expires (CHINANEWS_LEASE_SECONDS %s)",
                self.worker,
                exc,
                len(self.claims),
                self.lease_seconds,
            )
            self._inc(REDIS_LOST_STAT)
            if self._heartbeat is not None and self._heartbeat.running:
                self._heartbeat.stop()
            engine = self.crawler.engine
            if engine is not None and engine.spider is not None:
                from scrapy.utils.defer import deferred_from_coro

                deferred_from_coro(engine.close_spider_async(reason="redis_lost"))

    def beat(self) -> None:
        """Renew this worker's lease, then put expired leases' requests back."""
        import redis

        if self.broken is not None:
            return
        self._open()
        assert self.keys is not None
        try:
            renew(self.client, self.keys, self.worker, self.lease_seconds)
            got = reclaim(self.client, self.keys, self.max_deliveries)
        except redis.RedisError as exc:
            self.lost(exc)
            return
        if got.workers:
            self._inc(f"{STAT}/reclaimed", got.requeued)
            logger.warning(
                "Leases of %s expired: %d requests put back in %s",
                ", ".join(got.workers),
                got.requeued,
                self.keys.requests,
            )
        if got.dead_lettered:
            self._inc(f"{STAT}/dead_lettered", got.dead_lettered)
            logger.error(
                "%d requests were taken %d times by workers that died: moved to %s, not retried",
                got.dead_lettered,
                self.max_deliveries,
                self.keys.dead,
            )

    def take(self, spider: Any, decode: Any) -> Request | None:
        """Claim the next request of the queue (``LeasedQueue.pop``)."""
        import redis

        if self.broken is not None:
            return None
        self._open()
        assert self.keys is not None
        try:
            got = take(self.client, self.keys, self.worker, self.lease_seconds)
        except redis.RedisError as exc:
            self.lost(exc)
            return None
        if got is None:
            return None
        token, data = got
        request: Request = decode(data)
        request.meta[META] = token
        request.errback = _Errback(request.errback, self, token)
        self.claims[token] = _Claim(digest(data))
        return request

    # -- what ends a request ----------------------------------------------------------

    @staticmethod
    def unwrap(request: Request) -> str | None:
        """A request goes to the queue: give it its spider errback back and take off the
        claim token it inherited from a claimed request it follows (a redirect, a retry),
        which is done once this one is queued; that token."""
        if isinstance(request.errback, _Errback):
            request.errback = request.errback.inner
        token = request.meta.pop(META, None)
        return str(token) if token is not None else None

    def item_started(self, token: str) -> None:
        claim = self.claims.get(token)
        if claim is not None:
            claim.items += 1

    def ended(self, token: str) -> None:
        """The request's callback or errback ran to the end (or it led to another)."""
        claim = self.claims.get(token)
        if claim is None or claim.ended:
            return
        claim.ended = True
        if claim.items <= 0:
            self.done.append(token)

    def item_left(self, response: Any = None) -> None:
        request = getattr(response, "request", None)  # a Response, or an errback's Failure
        token = request.meta.get(META) if isinstance(request, Request) else None
        claim = self.claims.get(token) if token is not None else None
        if claim is None:
            return
        claim.items -= 1
        if claim.items <= 0 and claim.ended:
            self.done.append(token)  # type: ignore[arg-type]

    # -- acknowledgements at the checkpoints ------------------------------------------

    @property
    def waiting_for_checkpoint(self) -> int:
        """Claims done and not yet taken by a checkpoint: the other workers see them as
        claimed until the next one."""
        return len(self.done)

    def take_done(self) -> list[str]:
        done, self.done = self.done, []
        return done

    def commit_done(self, done: list[str]) -> None:
        """Right after the index commit: these requests are finished for good."""
        import redis

        pairs = [(t, self.claims.pop(t).digest) for t in done if t in self.claims]
        if self.broken is not None or not pairs:
            return
        assert self.keys is not None
        try:
            acknowledge(self.client, self.keys, self.worker, pairs)
        except redis.RedisError as exc:
            self.lost(exc)
            return
        self._inc(f"{STAT}/acknowledged", len(pairs))

    def engine_stopped(self) -> None:
        """Give back what this worker still holds (cut short by the stop, or done but not
        checkpointed), and leave ``<prefix>:leases``."""
        import redis

        if self._heartbeat is not None and self._heartbeat.running:
            self._heartbeat.stop()
        if self.client is None:
            return
        assert self.keys is not None
        if self.broken is None:
            try:
                given = release(self.client, self.keys, self.worker, list(self.claims))
                if given:
                    self._inc(f"{STAT}/released", given)
                    logger.info(
                        "Worker %s gave back %d unfinished requests to %s",
                        self.worker,
                        given,
                        self.keys.requests,
                    )
            except redis.RedisError as exc:
                logger.error(
                    "Worker %s could not give back its %d requests (%s): they return when its "
                    "lease expires",
                    self.worker,
                    len(self.claims),
                    exc,
                )
        self.client.close()


class _Errback:
    """Wraps a claimed request's errback (or its absence) to see it end and count its items;
    taken off again before the request is encoded (``Leases.scheduled``)."""

    def __init__(self, inner: Any, leases: Leases, token: str) -> None:
        self.inner = inner
        self.leases = leases
        self.token = token

    def __call__(self, failure: Any) -> Any:
        try:
            if self.inner is None:
                failure.raiseException()  # as Scrapy does without an errback
            result = self.inner(failure)
        except BaseException:
            self.leases.ended(self.token)
            raise
        if isinstance(result, AsyncIterator):
            return self._follow_async(result)
        if isinstance(result, Iterable) and not isinstance(result, (Request, dict, str)):
            return self._follow(result)
        if result is not None and not isinstance(result, Request):
            self.leases.item_started(self.token)
        self.leases.ended(self.token)
        return result

    def _follow(self, result: Iterable[Any]) -> Iterator[Any]:
        try:
            for output in result:
                _count(self.leases, self.token, output)
                yield output
        finally:
            self.leases.ended(self.token)

    async def _follow_async(self, result: AsyncIterator[Any]) -> AsyncIterator[Any]:
        try:
            async for output in result:
                _count(self.leases, self.token, output)
                yield output
        finally:
            self.leases.ended(self.token)


def _count(leases: Leases, token: str, output: Any) -> None:
    if isinstance(output, Request):
        output.meta.pop(META, None)  # a new request, not the claimed one's successor
    elif output is not None:
        leases.item_started(token)


class LeaseMiddleware:
    """Spider middleware (outermost): tells ``Leases`` when a claimed request's callback has
    run to the end, and which items it produced."""

    def __init__(self, leases: Leases) -> None:
        self.leases = leases

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LeaseMiddleware:
        leases = crawler.get_extension(Leases)
        if leases is None:
            raise NotConfigured  # outside distributed mode: off, and silent
        return cls(leases)

    async def process_spider_output(
        self, response: Any, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        token = response.request.meta.get(META) if response.request is not None else None
        try:
            async for output in result:
                if token is not None:
                    _count(self.leases, token, output)
                yield output
        finally:
            if token is not None:
                self.leases.ended(token)

    def process_spider_exception(self, response: Any, exception: BaseException) -> list[Any] | None:
        """A callback that failed for want of Redis leaves its request claimed (it comes back
        to another worker with the lease), stops the worker in one line and is counted
        (``…/redis_lost/callbacks``) rather than traced; any other error ends the request."""
        import redis

        token = response.request.meta.get(META) if response.request is not None else None
        if isinstance(exception, redis.RedisError):
            self.leases.lost(exception)
            self.leases._inc(f"{REDIS_LOST_STAT}/callbacks")
            return []
        if token is not None:
            self.leases.ended(token)
        return None


class LeasedQueue(PriorityQueue):
    """scrapy-redis' priority queue whose ``pop`` claims the request for this worker
    (``SCHEDULER_QUEUE_CLASS``); ``push`` and the encoding are scrapy-redis' own."""

    def pop(self, timeout: int = 0) -> Request | None:
        leases = self.spider.crawler.get_extension(Leases)
        if leases is None:
            raise RuntimeError(
                "chinanews.lease.Leases is not in EXTENSIONS: the leased queue needs it"
            )
        return leases.take(self.spider, self._decode_request)


class LeasedScheduler(Scheduler):
    """scrapy-redis' scheduler, telling ``Leases`` about each request it queues (a claimed
    request's successor ends it) and stopping the worker when Redis is gone."""

    def open(self, spider: Any) -> None:
        super().open(spider)
        self.leases = spider.crawler.get_extension(Leases)

    def enqueue_request(self, request: Request) -> bool:
        import redis

        leases: Leases | None = getattr(self, "leases", None)
        token = Leases.unwrap(request)  # before encoding: no errback wrapper, no token
        try:
            queued = bool(super().enqueue_request(request))
        except redis.RedisError as exc:
            if leases is None:
                raise
            leases.lost(exc)  # its parent stays claimed: it comes back with the lease
            return False
        if leases is not None and token is not None:
            leases.ended(token)
        return queued

    def has_pending_requests(self) -> bool:
        """Whether the shared queue holds requests (scrapy-redis: its length); with Redis
        gone, none: the worker stops (``Leases.lost``) instead of failing in the engine's
        loop, which asks this while nothing is in flight."""
        import redis

        try:
            return bool(super().has_pending_requests())
        except redis.RedisError as exc:
            leases: Leases | None = getattr(self, "leases", None)
            if leases is None:
                raise
            leases.lost(exc)
            return False
