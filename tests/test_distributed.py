"""Distributed mode without the engine: the add-on's settings, the checks before a crawl, the
atomic start of a crawl in Redis, the workers' claim on an article, and requests that
survive the trip through the shared queue."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler
from scrapy_redis import picklecompat
from scrapy_redis.queue import PriorityQueue

from chinanews import distributed
from chinanews.cli import main as cli_main
from chinanews.distributed import Distributed, Keys, begin
from chinanews.extract import extract_article
from chinanews.index import ArticleIndex, RedisArticleIndex
from chinanews.items import Article
from chinanews.pipelines.dedup import ContentPipeline, Duplicate, IdentityPipeline, RecordPipeline
from chinanews.rendering import render_meta
from chinanews.spiders.china_com import ChinaComSpider
from tests.conftest import REDIS_URL, ROOT, RUN_SETTINGS, SCRAPY, end_run, settle

PAGES = ROOT / "tests" / "pages"


@pytest.fixture
def keys(redis_client: Any) -> Iterator[Keys]:
    """A prefix of the test's own; every key under it is deleted afterwards."""
    k = Keys(f"chinanews-test:{uuid.uuid4().hex[:12]}")
    yield k
    distributed.reset(redis_client, k)


# -- the add-on ---------------------------------------------------------------------------


def addon_settings(**given: Any) -> Settings:
    settings = Settings()
    settings.setmodule("chinanews.settings", priority="project")
    settings.setdict(given, priority="cmdline")
    crawler = SimpleNamespace(spider=SimpleNamespace(name="china_com"))
    Distributed(crawler).update_settings(settings)  # type: ignore[arg-type]
    return settings


def test_the_addon_does_nothing_unless_distributed() -> None:
    settings = addon_settings()
    assert settings.get("SCHEDULER") != distributed.SCHEDULER
    assert settings.get("CHINANEWS_INDEX_BACKEND") is None
    assert settings.getint("CHINANEWS_MIN_ARTICLES") == 1


def test_the_addon_sets_scheduler_dupefilter_index_and_keys() -> None:
    settings = addon_settings(CHINANEWS_DISTRIBUTED="1", CHINANEWS_REDIS_PREFIX="crawl:a%b")
    assert settings.get("SCHEDULER") == "chinanews.lease.LeasedScheduler"
    assert settings.get("SCHEDULER_QUEUE_CLASS") == "chinanews.lease.LeasedQueue"
    assert settings.get("DUPEFILTER_CLASS") == "scrapy_redis.dupefilter.RFPDupeFilter"
    assert settings.getbool("SCHEDULER_PERSIST") is True
    assert settings.get("CHINANEWS_INDEX_BACKEND") == "redis"
    # scrapy-redis formats the key names with %(spider)s: a literal % comes out whole
    assert settings.get("SCHEDULER_QUEUE_KEY") % {"spider": "x"} == "crawl:a%b:requests"
    assert settings.get("SCHEDULER_DUPEFILTER_KEY") % {"spider": "x"} == "crawl:a%b:dupefilter"
    # no worker fails its checks because another emitted the articles
    assert settings.getint("CHINANEWS_MIN_ARTICLES") == 0


def test_the_default_prefix_names_the_spider() -> None:
    settings = addon_settings(CHINANEWS_DISTRIBUTED="1")
    assert settings.get("CHINANEWS_REDIS_PREFIX") == "chinanews:china_com"
    assert settings.get("SCHEDULER_QUEUE_KEY") == "chinanews:china_com:requests"


def test_a_minimum_given_on_the_command_line_is_kept() -> None:
    settings = addon_settings(CHINANEWS_DISTRIBUTED="1", CHINANEWS_MIN_ARTICLES="5")
    assert settings.getint("CHINANEWS_MIN_ARTICLES") == 5


# -- checks before the crawl --------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kwargs", "message"),
    [
        ({}, {}, "CHINANEWS_DISTRIBUTED needs REDIS_URL"),
        ({"REDIS_URL": "redis://u:pw@127.0.0.1:1/0"}, {}, "cannot use redis://u:***@127.0.0.1:1/0"),
        ({"REDIS_URL": REDIS_URL, "JOBDIR": "/tmp/j"}, {}, "JOBDIR: a distributed crawl"),
        ({"REDIS_URL": REDIS_URL, "SCHEDULER_PERSIST": "0"}, {}, "SCHEDULER_PERSIST=0"),
        ({"REDIS_URL": REDIS_URL, "CHINANEWS_IDLE_TIMEOUT": "0"}, {}, "CHINANEWS_IDLE_TIMEOUT=0"),
        ({"REDIS_URL": REDIS_URL, "CHINANEWS_INDEX_BACKEND": "sqlite"}, {}, "share the article"),
        ({"REDIS_URL": REDIS_URL}, {"fresh": "1"}, "fresh=1 would clear"),
    ],
)
def test_settings_that_cannot_work_fail_with_what_to_fix(
    given: dict[str, str], kwargs: dict[str, str], message: str
) -> None:
    settings = Settings({"REDIS_URL": ""}, priority="project")
    settings.setdict({"CHINANEWS_DISTRIBUTED": "1", **given}, priority="cmdline")
    with pytest.raises(ValueError) as info:
        distributed.check_settings(settings, kwargs)
    assert message in str(info.value)


def test_the_check_sets_the_redis_index_before_the_run_lock_is_chosen(redis_client: Any) -> None:
    settings = Settings({"CHINANEWS_DISTRIBUTED": "1", "REDIS_URL": REDIS_URL})
    distributed.check_settings(settings, {})
    assert settings.get("CHINANEWS_INDEX_BACKEND") == "redis"


def test_scrapy_crawl_without_redis_stops_before_it_starts() -> None:
    proc = subprocess.run(
        [*SCRAPY, "crawl", "china_com", "-a", "render=never", "-s", "CHINANEWS_DISTRIBUTED=1",
         "-s", "REDIS_URL=redis://127.0.0.1:1/0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: REDIS_URL: cannot use redis://127.0.0.1:1/0")
    assert len(proc.stderr.strip().splitlines()) == 1


# -- the start of a crawl in Redis --------------------------------------------------------


def test_the_first_worker_seeds_a_new_crawl_and_clears_old_fingerprints(
    redis_client: Any, keys: Keys
) -> None:
    redis_client.sadd(keys.dupefilter, "fingerprint-of-the-last-crawl")
    assert begin(redis_client, keys, ["http://a/", "http://b/"], worker="w1") is True
    assert not redis_client.exists(keys.dupefilter)
    assert redis_client.lrange(keys.start_urls, 0, -1) == [b"http://a/", b"http://b/"]
    # a worker started at the same time joins: it pushes nothing
    assert begin(redis_client, keys, ["http://a/", "http://b/"], worker="w2") is False
    assert redis_client.llen(keys.start_urls) == 2
    assert sorted(distributed.live_workers(redis_client, keys)) == ["w1", "w2"]


def test_a_worker_resumes_a_crawl_whose_workers_died(redis_client: Any, keys: Keys) -> None:
    redis_client.zadd(keys.workers, {"dead": 1.0})  # last heartbeat long ago
    redis_client.zadd(keys.requests, {b"a queued request": 0})
    redis_client.sadd(keys.dupefilter, "fp")
    assert begin(redis_client, keys, ["http://a/"], worker="w1") is False
    assert redis_client.llen(keys.start_urls) == 0
    assert redis_client.sismember(keys.dupefilter, "fp")
    assert distributed.live_workers(redis_client, keys) == ["w1"]


def test_two_workers_racing_seed_once(redis_client: Any, keys: Keys) -> None:
    from concurrent.futures import ThreadPoolExecutor

    clients = [redis.Redis.from_url(REDIS_URL) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        began = list(
            pool.map(lambda i: begin(clients[i], keys, ["http://a/"], worker=f"w{i}"), range(8))
        )
    assert began.count(True) == 1
    assert redis_client.llen(keys.start_urls) == 1


def test_chinanews_seed_pushes_and_resets(
    redis_client: Any, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["seed", "--redis-url", REDIS_URL, "--prefix", keys.prefix]
    assert cli_main([*base, "http://127.0.0.1:8000/"]) == 0
    assert "a new crawl" in capsys.readouterr().out
    redis_client.zadd(keys.workers, {"w1": time.time()})
    assert cli_main([*base, "http://127.0.0.1:8000/more"]) == 0
    assert "added to the crawl under way" in capsys.readouterr().out
    assert redis_client.lrange(keys.start_urls, 0, -1) == [
        b"http://127.0.0.1:8000/",
        b"http://127.0.0.1:8000/more",
    ]
    assert cli_main([*base, "ftp://x/"]) == 2
    assert cli_main([*base, "--reset"]) == 2  # a worker is live
    assert "stop them before --reset" in capsys.readouterr().err
    redis_client.delete(keys.workers)
    assert cli_main([*base, "--reset"]) == 0
    assert list(redis_client.scan_iter(match=f"{keys.prefix}:*")) == []


@pytest.mark.parametrize(
    ("entry", "url"),
    [
        (b"http://a/x", "http://a/x"),
        (b' {"url": "http://a/y", "meta": {}}', "http://a/y"),
        (b'{"no": "url"}', None),
        (b"{not json", None),
    ],
)
def test_start_url_entries_plain_or_scrapy_redis_json(entry: bytes, url: str | None) -> None:
    assert distributed._url_of(entry) == url


# -- the claim on an article --------------------------------------------------------------


class Worker:
    """The id layer and the record layer of one worker, on the shared Redis index."""

    def __init__(self, tmp_path: Path, prefix: str, name: str) -> None:
        settings = {
            "FEEDS": {str(tmp_path / f"{name}.jsonl"): {"format": "jsonlines"}},
            "CHINANEWS_INDEX_BACKEND": "redis",
            "REDIS_URL": REDIS_URL,
            "CHINANEWS_REDIS_PREFIX": prefix,
            **RUN_SETTINGS,
        }
        self.crawler = get_crawler(ChinaComSpider, settings)
        self.crawler.spider = ChinaComSpider.from_crawler(self.crawler)
        self.crawler.stats.open_spider()
        self.identity = IdentityPipeline.from_crawler(self.crawler)
        self.content = ContentPipeline.from_crawler(self.crawler)
        self.record = RecordPipeline.from_crawler(self.crawler)
        self.identity.open_spider()
        self.duplicates = tmp_path / f"{name}.duplicates.jsonl"

    def record_item(self, item: Any) -> Any:
        """The record layer, then the item into the outputs."""
        try:
            return self.record.process_item(item)
        finally:
            settle(self.crawler, item)

    def close(self) -> list[dict[str, Any]]:
        end_run(self.crawler)
        if not self.duplicates.exists():
            return []
        return [json.loads(line) for line in self.duplicates.read_text().splitlines()]


def article(url: str, body: str = "正文第一段。\n正文第二段。") -> Article:
    return Article(url=url, article_id="49000001", title="标题", body=body)


DESKTOP = "https://news.china.com/domestic/945/20251124/49000001.html"
MOBILE = "https://m.news.china.com/domestic/945/20251124/49000001.html"


def test_two_workers_finding_one_article_at_once_emit_it_once(tmp_path: Path, keys: Keys) -> None:
    a, b = Worker(tmp_path, keys.prefix, "a"), Worker(tmp_path, keys.prefix, "b")
    # both read the index before either has recorded the article
    item_a = a.identity.process_item(article(DESKTOP))
    with pytest.raises(Duplicate):
        b.identity.process_item(article(MOBILE))
    a.record_item(item_a)
    assert b.crawler.stats.get_value("chinanews/duplicates/claimed_by_other_worker") == 1
    assert a.close() == []
    ((record,),) = [b.close()]
    assert (record["layer"], record["duplicate_of"]) == ("id", DESKTOP)
    # the index keeps the winner's record, not the loser's
    index = RedisArticleIndex(redis.Redis.from_url(REDIS_URL), keys.prefix)
    seen = index.get("49000001")
    assert seen is not None and (seen.url, seen.duplicate_of, seen.version) == (DESKTOP, None, 1)


def test_a_changed_article_found_by_both_workers_gets_one_new_version(
    tmp_path: Path, keys: Keys
) -> None:
    first = Worker(tmp_path, keys.prefix, "first")
    first.record_item(first.identity.process_item(article(DESKTOP)))
    first.close()
    a, b = Worker(tmp_path, keys.prefix, "a"), Worker(tmp_path, keys.prefix, "b")
    changed = "正文第一段，改过了。\n正文第二段。"
    item_a = a.identity.process_item(article(DESKTOP, changed))
    assert item_a.version == 2
    with pytest.raises(Duplicate):
        b.identity.process_item(article(MOBILE, changed))
    a.record_item(item_a)
    a.close()
    ((record,),) = [b.close()]
    assert (record["layer"], record["duplicate_of"]) == ("id", DESKTOP)
    assert record["item"]["body"] == changed


def test_the_sqlite_index_always_grants_the_claim(tmp_path: Path) -> None:
    index = ArticleIndex(tmp_path / "i.sqlite3")
    assert index.claim("1", 1, DESKTOP) is None
    assert index.claim("1", 1, MOBILE) is None
    index.close()


# -- requests through the shared queue ----------------------------------------------------


def test_requests_with_extractions_and_render_meta_survive_the_queue(
    redis_client: Any, keys: Keys
) -> None:
    crawler = get_crawler(ChinaComSpider)
    spider = ChinaComSpider.from_crawler(crawler)
    html = (PAGES / "a_legacy.html").read_bytes()
    url = json.loads((PAGES / "a_legacy.json").read_text(encoding="utf-8"))["url"]
    first = extract_article(url, html)
    assert first.article is not None
    all_page = Request(
        url.replace(".html", "_all.html"),
        callback=spider.parse_all_page,
        errback=spider._all_page_failed,
        priority=40,
        cb_kwargs={"first": first},
        meta={"via": "pager", **render_meta(["#related"], 5000.0)},
    )
    response = HtmlResponse(url, body=html, request=Request(url, callback=spider.parse_article))
    rendered = spider._through_browser(response, [".related"], first)
    queue = PriorityQueue(redis_client, spider, keys.requests, picklecompat)
    queue.push(all_page)
    queue.push(rendered)
    back = [queue.pop(), queue.pop()]
    by_callback = {r.callback.__name__: r for r in back}
    got = by_callback["parse_all_page"]
    assert got.url == all_page.url and got.priority == 40
    assert got.errback == spider._all_page_failed
    assert got.cb_kwargs["first"] == first
    assert got.meta["playwright_page_methods"][0].args == (["#related"], 5000.0)
    again = by_callback["parse_article"]
    assert again.meta["chinanews_static"] == first
    assert again.errback == spider._render_failed and again.dont_filter


# -- the worker's frontier: start URLs on idle, and the stop on an empty frontier ----------


@pytest.fixture
def frontier(keys: Keys) -> Iterator[tuple[distributed.Frontier, list[Request]]]:
    settings = {
        "CHINANEWS_DISTRIBUTED": "1",
        "REDIS_URL": REDIS_URL,
        "CHINANEWS_REDIS_PREFIX": keys.prefix,
        "CHINANEWS_IDLE_TIMEOUT": "1",
        "CHINANEWS_WORKER_ID": "test worker/1",
        **RUN_SETTINGS,
    }
    crawler = get_crawler(ChinaComSpider, settings)
    spider = ChinaComSpider.from_crawler(crawler, start_urls="http://127.0.0.1:8000/")
    crawler.spider = spider
    crawler.stats.open_spider()
    crawled: list[Request] = []
    crawler.engine = SimpleNamespace(crawl=crawled.append)  # type: ignore[assignment]
    assert spider.frontier is not None
    assert spider.run_id.endswith("-test_worker_1")  # unique file names per worker
    spider.frontier._opened()
    yield spider.frontier, crawled
    spider.frontier._closed("finished")


def test_start_seeds_a_new_crawl_and_yields_the_start_requests(
    frontier: tuple[distributed.Frontier, list[Request]], redis_client: Any, keys: Keys
) -> None:
    f, _ = frontier

    async def collect() -> list[Request]:
        return [r async for r in f.spider.start()]

    import asyncio

    requests = asyncio.run(collect())
    assert [r.url for r in requests] == ["http://127.0.0.1:8000/"]
    assert requests[0].callback == f.spider.parse_list
    assert redis_client.llen(keys.start_urls) == 0
    assert distributed.live_workers(redis_client, keys) == ["test_worker_1"]


def test_an_idle_worker_takes_new_start_urls_and_stops_after_the_timeout(
    frontier: tuple[distributed.Frontier, list[Request]], redis_client: Any, keys: Keys
) -> None:
    from scrapy.exceptions import DontCloseSpider

    f, crawled = frontier
    f._make_request = f.spider._seed_request
    with pytest.raises(DontCloseSpider):  # empty: the wait begins
        f._on_idle()
    redis_client.rpush(keys.start_urls, "http://127.0.0.1:8000/social/", "mailto:x@y")
    with pytest.raises(DontCloseSpider):
        f._on_idle()
    assert [r.url for r in crawled] == ["http://127.0.0.1:8000/social/"]
    assert f.crawler.stats.get_value("chinanews/distributed/start_urls/unusable") == 1
    redis_client.zadd(keys.requests, {b"a request of the other worker": 0})
    time.sleep(1.1)
    with pytest.raises(DontCloseSpider):  # not empty: the wait starts over
        f._on_idle()
    redis_client.delete(keys.requests)
    with pytest.raises(DontCloseSpider):
        f._on_idle()
    time.sleep(1.1)
    f._on_idle()  # empty for the whole timeout: the worker may close
    assert f.crawler.stats.get_value("chinanews/distributed/idle_stop") >= 1.0


def test_a_copy_recorded_by_another_worker_meanwhile_is_dropped_as_content(
    tmp_path: Path, keys: Keys
) -> None:
    a, b = Worker(tmp_path, keys.prefix, "a"), Worker(tmp_path, keys.prefix, "b")
    copy_url = "https://news.china.com/social/1007/20251124/49000002.html"
    copy = replace(article(copy_url), article_id="49000002")
    # both pass the id and content layers before either records
    item_a = a.identity.process_item(article(DESKTOP))
    item_b = b.identity.process_item(copy)
    assert a.content.process_item(item_a) and b.content.process_item(item_b)
    b.record_item(item_b)
    with pytest.raises(Duplicate):
        a.record_item(item_a)
    ((record,),) = [a.close()]
    assert (record["layer"], record["duplicate_of"]) == ("content", copy_url)
    assert b.close() == []
    index = RedisArticleIndex(redis.Redis.from_url(REDIS_URL), keys.prefix)
    seen = index.get("49000001")
    assert seen is not None and seen.duplicate_of == copy_url


def test_an_idle_worker_checkpoints_at_once_when_it_holds_finished_claims(
    frontier: tuple[distributed.Frontier, list[Request]],
    redis_client: Any,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other workers see a worker's finished claims as claimed, and so the frontier as
    not empty, until its next checkpoint acknowledges them: idle, it checkpoints at once
    rather than at its next CHINANEWS_CHECKPOINT_SECONDS (two workers once waited ~20 s for
    each other at the end of every crawl)."""
    from scrapy.exceptions import DontCloseSpider

    from chinanews.lease import Leases
    from chinanews.lifecycle import CrawlRun

    f, _ = frontier
    asked: list[bool] = []
    monkeypatch.setattr(CrawlRun, "checkpoint_soon", lambda self: asked.append(True))
    # the fixture's crawler runs no add-on: this worker's Leases, as the add-on installs it
    leases = Leases(f.crawler)
    found = f.crawler.get_extension
    monkeypatch.setattr(
        f.crawler, "get_extension", lambda cls: leases if cls is Leases else found(cls)
    )
    with pytest.raises(DontCloseSpider):
        f._on_idle()
    assert asked == []  # nothing finished: nothing to acknowledge
    # it takes a request of the shared queue and finishes it
    redis_client.zadd(keys.requests, {b"a request": 0})
    claimed = leases.take(f.spider, lambda data: Request("http://127.0.0.1:8000/a.html"))
    assert claimed is not None
    with pytest.raises(DontCloseSpider):
        f._on_idle()
    assert asked == []  # still under way: nothing to acknowledge yet
    leases.ended(claimed.meta["chinanews_lease"])
    assert leases.waiting_for_checkpoint == 1
    with pytest.raises(DontCloseSpider):
        f._on_idle()
    assert asked == [True]
