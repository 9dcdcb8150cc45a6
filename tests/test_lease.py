"""The leased frontier of a distributed crawl against the Redis on 127.0.0.1:6379
(``chinanews.lease``): a request a worker takes stays claimed until the checkpoint after its
callback ended acknowledges it; an expired lease's requests go back to the queue once,
whoever reclaims them, past the dupefilter; a request that keeps killing workers ends in the
dead-letter list."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from chinanews import distributed
from chinanews.distributed import Keys
from chinanews.lease import LeasedQueue, LeasedScheduler, LeaseKeys, Leases, reclaim
from chinanews.spiders.china_com import ChinaComSpider
from tests.conftest import REDIS_URL

URL = "http://127.0.0.1:8000/news/2025/1124/49000001.html"


@pytest.fixture
def keys(redis_client: Any) -> Iterator[LeaseKeys]:
    k = Keys(f"chinanews-test:lease:{uuid.uuid4().hex[:12]}")
    yield LeaseKeys(k.prefix)
    distributed.reset(redis_client, k)


class Worker:
    """One worker's scheduler (leased queue, Redis dupefilter) and leases, without an engine."""

    def __init__(self, keys: LeaseKeys, name: str, **settings: Any) -> None:
        given = {
            "CHINANEWS_DISTRIBUTED": "1",
            "REDIS_URL": REDIS_URL,
            "CHINANEWS_REDIS_PREFIX": keys.prefix,
            "CHINANEWS_WORKER_ID": name,
            "CHINANEWS_LEASE_SECONDS": "30",
            "EXTENSIONS": {"chinanews.lifecycle.CrawlRun": 700, "chinanews.lease.Leases": 720},
            "SCHEDULER_QUEUE_KEY": keys.requests,
            "SCHEDULER_DUPEFILTER_KEY": f"{keys.prefix}:dupefilter",
            "SCHEDULER_QUEUE_CLASS": "chinanews.lease.LeasedQueue",
            "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
            "SCHEDULER_PERSIST": True,
            **settings,
        }
        self.crawler = get_crawler(ChinaComSpider, given)
        self.spider = ChinaComSpider.from_crawler(self.crawler)
        self.crawler.spider = self.spider
        self.crawler.stats.open_spider()
        self.leases = self.crawler.get_extension(Leases)
        assert self.leases is not None
        self.scheduler = LeasedScheduler.from_crawler(self.crawler)
        self.scheduler.open(self.spider)
        assert isinstance(self.scheduler.queue, LeasedQueue)

    def respond(self, request: Request, items: int = 0) -> list[Any]:
        """The callback ran to the end through the lease middleware; its items are returned
        still in the pipelines."""
        response = HtmlResponse(request.url, body=b"<html></html>", request=request)
        produced = [{"url": f"{request.url}#{i}"} for i in range(items)]
        for _ in produced:
            self.leases.item_started(request.meta["chinanews_lease"])
        self.leases.ended(request.meta["chinanews_lease"])
        return [(item, response) for item in produced]

    def checkpoint(self) -> None:
        self.leases.commit_done(self.leases.take_done())


def claimed(client: Any, keys: LeaseKeys, worker: str) -> int:
    return int(client.hlen(keys.claimed(worker)))


def expire(client: Any, keys: LeaseKeys, worker: str) -> None:
    client.zadd(keys.leases, {worker: time.time() - 1})


def test_a_request_taken_stays_claimed_until_the_checkpoint_after_its_items_left(
    redis_client: Any, keys: LeaseKeys
) -> None:
    w = Worker(keys, "w1")
    assert w.scheduler.enqueue_request(Request(URL, callback=w.spider.parse_article))
    request = w.scheduler.next_request()
    assert request is not None and request.url == URL
    assert redis_client.zcard(keys.requests) == 0
    assert claimed(redis_client, keys, "w1") == 1
    assert redis_client.zscore(keys.leases, "w1") > time.time()
    (item_and_response,) = w.respond(request, items=1)
    w.checkpoint()  # callback ended, but its item is still in the pipelines
    assert claimed(redis_client, keys, "w1") == 1
    w.leases.item_left(item_and_response[1])  # the item left the pipelines...
    taken = w.leases.take_done()  # ...and a checkpoint takes it with the index rows
    assert claimed(redis_client, keys, "w1") == 1  # not yet committed
    w.leases.commit_done(taken)
    assert claimed(redis_client, keys, "w1") == 0
    assert redis_client.hlen(keys.deliveries) == 0


def test_a_redirect_ends_the_claimed_request_once_it_is_queued(
    redis_client: Any, keys: LeaseKeys
) -> None:
    w = Worker(keys, "w1")
    w.scheduler.enqueue_request(Request(URL, callback=w.spider.parse_article))
    request = w.scheduler.next_request()
    assert request is not None
    redirected = request.replace(url=URL.replace(".html", "_all.html"))
    assert w.scheduler.enqueue_request(redirected)
    w.checkpoint()
    assert claimed(redis_client, keys, "w1") == 0
    again = w.scheduler.next_request()  # the queued copy carries neither token nor wrapper
    assert again is not None and again.url == redirected.url
    assert again.errback is not None and again.errback.inner is None


def test_a_failed_download_ends_when_its_errback_has_run(
    redis_client: Any, keys: LeaseKeys
) -> None:
    w = Worker(keys, "w1")
    w.scheduler.enqueue_request(Request(URL, callback=w.spider.parse_article))
    request = w.scheduler.next_request()
    assert request is not None
    failure = Failure(ConnectionRefusedError("refused"))
    with pytest.raises(ConnectionRefusedError):
        request.errback(failure)  # no errback of its own: Scrapy logs the error as before
    w.checkpoint()
    assert claimed(redis_client, keys, "w1") == 0


def test_an_expired_lease_is_requeued_exactly_once_by_two_reclaimers(
    redis_client: Any, keys: LeaseKeys
) -> None:
    w = Worker(keys, "dead")
    for n in range(50):
        w.scheduler.enqueue_request(Request(f"{URL}?n={n}", callback=w.spider.parse_article))
    taken = [w.scheduler.next_request() for _ in range(50)]
    assert all(taken) and claimed(redis_client, keys, "dead") == 50
    expire(redis_client, keys, "dead")
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def reclaimer() -> None:
        client = redis_client.__class__.from_url(REDIS_URL)
        barrier.wait()
        results.append(reclaim(client, keys, 3))
        client.close()

    threads = [threading.Thread(target=reclaimer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.requeued for r in results) == [0, 50]
    assert redis_client.zcard(keys.requests) == 50
    assert claimed(redis_client, keys, "dead") == 0
    assert redis_client.zcard(keys.leases) == 0


def test_a_request_that_keeps_killing_workers_is_dead_lettered(
    redis_client: Any, keys: LeaseKeys, caplog: pytest.LogCaptureFixture
) -> None:
    killer = Request(URL, callback=ChinaComSpider.parse_article)
    for attempt in range(3):
        w = Worker(keys, f"w{attempt}", CHINANEWS_MAX_DELIVERIES="3")
        if attempt == 0:
            w.scheduler.enqueue_request(killer.replace(callback=w.spider.parse_article))
        assert w.scheduler.next_request() is not None  # ...and the worker dies
        expire(redis_client, keys, f"w{attempt}")
        survivor = Worker(keys, "survivor", CHINANEWS_MAX_DELIVERIES="3")
        survivor.leases.beat()
    assert redis_client.zcard(keys.requests) == 0
    assert redis_client.llen(keys.dead) == 1
    assert survivor.crawler.stats.get_value("chinanews/distributed/dead_lettered") == 1
    assert "moved to" in caplog.text and keys.dead in caplog.text
    assert claimed(redis_client, keys, "w2") == 0


def test_a_requeued_request_is_not_dropped_by_the_dupefilter(
    redis_client: Any, keys: LeaseKeys
) -> None:
    dead = Worker(keys, "dead")
    assert dead.scheduler.enqueue_request(Request(URL, callback=dead.spider.parse_article))
    assert dead.scheduler.next_request() is not None
    expire(redis_client, keys, "dead")
    other = Worker(keys, "other")
    other.leases.beat()  # renews its own lease, reclaims the dead one's
    assert other.crawler.stats.get_value("chinanews/distributed/reclaimed") == 1
    # the fingerprint stays seen: scheduling the URL anew is still refused...
    assert not other.scheduler.enqueue_request(Request(URL, callback=other.spider.parse_article))
    back = other.scheduler.next_request()  # ...yet the requeued request is there
    assert back is not None and back.url == URL
    assert back.callback == other.spider.parse_article


def test_a_worker_stopping_cleanly_gives_back_what_it_did_not_finish(
    redis_client: Any, keys: LeaseKeys
) -> None:
    w = Worker(keys, "w1")
    for n in range(2):
        w.scheduler.enqueue_request(Request(f"{URL}?n={n}", callback=w.spider.parse_article))
    first, second = w.scheduler.next_request(), w.scheduler.next_request()
    assert first is not None and second is not None
    w.respond(first)
    w.checkpoint()
    w.leases.engine_stopped()
    assert redis_client.zcard(keys.requests) == 1  # the one cut short by the stop
    assert redis_client.zcard(keys.leases) == 0
    assert redis_client.hlen(keys.deliveries) == 0  # a clean stop is no failed delivery


def test_a_worker_that_loses_redis_stops_in_one_line(
    redis_client: Any, keys: LeaseKeys, caplog: pytest.LogCaptureFixture
) -> None:
    w = Worker(keys, "w1")
    closed: list[str] = []
    w.crawler.engine = SimpleNamespace(  # type: ignore[assignment]
        spider=w.spider, close_spider_async=lambda reason: closed.append(reason)
    )
    w.leases.beat()  # connected, lease taken
    w.leases.client = redis_client.__class__.from_url("redis://127.0.0.1:1/0")  # Redis gone
    assert w.scheduler.next_request() is None
    assert closed == ["redis_lost"]
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "\n" not in errors[0].getMessage()
    assert "lost Redis" in errors[0].getMessage()
