"""The follow rules (``chinanews.follow.FollowRules``), one case per rule: the links the
spider routes (URL, and how it was found), which of them go on, and what the refusals count.

The spider is built as a crawl builds it (``ChinaComSpider.from_crawler``, an in-memory
index) and only routes: ``spider.follow(url, via=...)`` is the request a page would yield;
the middleware decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy import Request
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.test import get_crawler

from chinanews.follow import FollowRules
from chinanews.lifecycle import crawl_run
from chinanews.spiders.china_com import ChinaComSpider
from chinanews.urls import Link, article_ref
from tests.conftest import RUN_SETTINGS

LOCAL = "http://127.0.0.1:8000"

# Articles (each its own id unless it is a mirror or another page of one).
ARTICLE = "https://news.china.com/domestic/945/20251124/49000001.html"
ARTICLE_PAGE_2 = "https://news.china.com/domestic/945/20251124/49000001_1.html"
MIRROR = "https://3g.china.com/act/news/945/20251124/49000001.html"
OTHER_ARTICLE = "https://news.china.com/socialgd/10000169/20251124/49000002.html"
MILITARY_ARTICLE = "https://military.china.com/news/568/20251124/49000003.html"
NO_CHANNEL_ARTICLE = "https://news.china.com/news100/11038989/20251124/49000004.html"
OLD_ARTICLE = "https://news.china.com/domestic/945/20251119/49000005.html"
SINCE_DAY_ARTICLE = "https://news.china.com/international/1000/20251120/49000006.html"
OLD_TECH_ARTICLE = "https://tech.china.com/article/20251101/202511011848337.html"
OTHER_MIRROR = "https://3g.china.com/act/military/568/20251124/49000007.html"
LOCAL_ARTICLE = f"{LOCAL}/news/domestic/945/20251124/49000011.html"
LOCAL_MIRROR = f"{LOCAL}/3g/act/news/945/20251124/49000012.html"
OTHER_PORT_ARTICLE = "http://127.0.0.1:8001/news/domestic/945/20251124/49000013.html"
LOCALHOST_ARTICLE = "http://localhost:8000/news/domestic/945/20251124/49000014.html"
LOOKALIKE_ARTICLE = "https://news.china.com.evil.example/domestic/945/20251124/49000015.html"

# Lists and feeds.
HOME = "https://news.china.com/"
DOMESTIC_LIST = "https://news.china.com/domestic/"
MILITARY_LIST = "https://military.china.com/news/"
NEWS_RANK = "https://rank.china.com/rank/cms/news/day/rank_all.js"
MILITARY_RANK = "https://rank.china.com/rank/cms/mili/day/rank_all.js"
FINANCE_FEED = "https://finance.china.com/index/getNewsInfo?page=1&column_id=11173294"
AD_HOST = "https://ad.china.com/"
OTHER_SITE = "https://www.huanqiu.com/"

# What a refusal counts.
OUT_OF_SCOPE = "chinanews/links/out_of_scope"
OTHER_CHANNEL = "chinanews/links/other_channel"
BEFORE_SINCE = "chinanews/links/before_since"
SKIPPED_KNOWN = "chinanews/incremental/skipped_known"
SKIPPED_THIS_RUN = "chinanews/jobdir/skipped_this_run"
STATS = (OUT_OF_SCOPE, OTHER_CHANNEL, BEFORE_SINCE, SKIPPED_KNOWN, SKIPPED_THIS_RUN)


def follow_rules(
    args: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
    known: tuple[str, ...] = (),
) -> tuple[ChinaComSpider, FollowRules]:
    """A spider with these ``-a`` arguments and settings, the index knowing the articles
    at ``known``, and the follow rules of its crawl."""
    crawler = get_crawler(
        ChinaComSpider,
        {**RUN_SETTINGS, "CHINANEWS_INDEX_PATH": ":memory:", **(settings or {})},
    )
    crawler.stats.open_spider()
    spider = ChinaComSpider.from_crawler(crawler, **(args or {}))
    crawler.spider = spider
    index = crawl_run(crawler).state.index
    for url in known:
        ref = article_ref(url)
        assert ref is not None
        index.record(ref.article_id, url=url, content_hash="h")
    return spider, FollowRules.from_crawler(crawler)


def routed(spider: ChinaComSpider, url: str, *, via: str, listed_at: str | None = None) -> Request:
    """The request a page yields for a link to ``url`` (``ChinaComSpider.follow``)."""
    request = spider.follow(url, via=via, listed_at=listed_at)
    assert request is not None, url
    return request


def counted(rules: FollowRules) -> dict[str, int]:
    stats = rules.crawler.stats
    assert stats is not None
    return {stat: stats.get_value(stat, 0) for stat in STATS}


@dataclass(frozen=True)
class Found:
    """A link as a page yields it, and whether the rules let it go on."""

    url: str
    via: str
    goes_on: bool
    listed_at: str | None = None


def kept(url: str, via: str = "list", listed_at: str | None = None) -> Found:
    return Found(url, via, True, listed_at)


def refused(url: str, via: str = "list", listed_at: str | None = None) -> Found:
    return Found(url, via, False, listed_at)


@dataclass(frozen=True)
class Case:
    rule: str
    links: tuple[Found, ...]
    #: The refusals counted, by stat (every other stat of ``STATS`` stays at 0).
    counts: dict[str, int] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    #: Articles the index knows (from an earlier run).
    known: tuple[str, ...] = ()


CASES = [
    Case(
        "scope: china.com article hosts only, without start URLs",
        links=(
            kept(ARTICLE),
            kept(OTHER_MIRROR, via="mobile"),
            kept(HOME),
            refused(LOCAL_ARTICLE),
            refused(LOOKALIKE_ARTICLE),
            refused(AD_HOST, via="nav"),
            refused(OTHER_SITE, via="nav"),
        ),
        counts={OUT_OF_SCOPE: 4},
    ),
    Case(
        "scope: a start URL's host and port beside china.com's",
        args={"start_urls": f"{LOCAL}/"},
        links=(
            kept(LOCAL_ARTICLE),
            kept(f"{LOCAL}/news/domestic/"),
            kept(ARTICLE),
            refused(OTHER_PORT_ARTICLE),
            refused(LOCALHOST_ARTICLE),
        ),
        counts={OUT_OF_SCOPE: 2},
    ),
    Case(
        "scope is checked before the channels",
        args={"channels": "military"},
        links=(refused(LOCAL_ARTICLE), refused(ARTICLE)),
        counts={OUT_OF_SCOPE: 1, OTHER_CHANNEL: 1},
    ),
    Case(
        "channels: articles of the chosen channels; lists and feeds of those or of none",
        args={"channels": "military"},
        links=(
            kept(MILITARY_ARTICLE),
            kept(OTHER_MIRROR, via="mobile"),
            refused(ARTICLE),
            refused(NO_CHANNEL_ARTICLE),
            refused(MIRROR, via="mobile"),
            kept(MILITARY_LIST, via="seed"),
            kept(MILITARY_RANK, via="seed"),
            kept(HOME, via="seed"),
            kept(NEWS_RANK, via="seed"),
            refused(DOMESTIC_LIST, via="seed"),
            refused(FINANCE_FEED, via="seed"),
        ),
        counts={OTHER_CHANNEL: 5},
    ),
    Case(
        "channels: several at once",
        args={"channels": "military,domestic"},
        links=(kept(MILITARY_ARTICLE), kept(ARTICLE), refused(OTHER_ARTICLE)),
        counts={OTHER_CHANNEL: 1},
    ),
    Case(
        "since: articles dated before it by their URL",
        args={"since": "2025-11-20"},
        links=(
            kept(ARTICLE),
            kept(SINCE_DAY_ARTICLE),
            refused(OLD_ARTICLE),
            refused(OLD_TECH_ARTICLE),
            kept(HOME),  # lists carry no date
        ),
        counts={BEFORE_SINCE: 2},
    ),
    Case(
        "since: articles whose list entry shows a time before it",
        args={"since": "2025-11-20"},
        links=(
            refused(ARTICLE, listed_at="2025-11-19T23:59:00+08:00"),
            kept(OTHER_ARTICLE, listed_at="2025-11-20T00:01:00+08:00"),
            kept(MILITARY_ARTICLE, via="feed", listed_at="2025-11-24"),
            refused(OLD_ARTICLE, listed_at="2025-11-24T08:00:00+08:00"),
        ),
        counts={BEFORE_SINCE: 2},
    ),
    Case(
        "without since, a list entry's time refuses nothing",
        links=(kept(OLD_ARTICLE, listed_at="2020-01-01T00:00:00+08:00"),),
    ),
    Case(
        "once per article id: another link to it is dropped silently",
        links=(
            kept(ARTICLE),
            refused(ARTICLE, via="related"),
            refused(ARTICLE, via="feed"),
            refused(ARTICLE_PAGE_2, via="body"),
            refused(MIRROR),
            kept(OTHER_ARTICLE, via="related"),
        ),
    ),
    Case(
        "known articles: not through another article's links before they are due",
        known=(ARTICLE,),
        links=(
            refused(ARTICLE, via="related"),
            refused(ARTICLE, via="recommended"),
            refused(ARTICLE, via="body"),
            refused(ARTICLE, via="nav"),
            kept(OTHER_ARTICLE, via="related"),  # not known
        ),
        counts={SKIPPED_KNOWN: 4},
    ),
    Case(
        "known articles: through a list or feed entry never seen for them",
        known=(ARTICLE,),
        links=(
            refused(ARTICLE, via="feed"),  # an entry that shows nothing: nothing changed
            kept(ARTICLE, via="feed", listed_at="2025-11-24T21:00:00+08:00"),
        ),
        counts={SKIPPED_KNOWN: 1},
    ),
    Case(
        "known articles: a known mirror's id is known too",
        known=(ARTICLE,),
        links=(refused(MIRROR, via="related"),),
        counts={SKIPPED_KNOWN: 1},
    ),
    Case(
        "known articles: fetched again with -a fresh=1",
        args={"fresh": "1"},
        known=(ARTICLE,),
        links=(kept(ARTICLE, via="related"),),
    ),
    Case(
        "known articles: fetched again when the run must walk them (CHINANEWS_REFETCH_KNOWN)",
        settings={"CHINANEWS_REFETCH_KNOWN": "1"},
        known=(ARTICLE,),
        links=(kept(ARTICLE, via="related"),),
    ),
    Case(
        "resumed JOBDIR run: articles recorded since it began are not fetched again",
        settings={"CHINANEWS_RECOVERING_SINCE": "2000-01-01T00:00:00+00:00"},
        known=(ARTICLE,),
        links=(refused(ARTICLE, via="list"), kept(OTHER_ARTICLE, via="list")),
        counts={SKIPPED_THIS_RUN: 1},
    ),
    Case(
        "resumed JOBDIR run: articles recorded before it began are only known",
        settings={"CHINANEWS_RECOVERING_SINCE": "2100-01-01T00:00:00+00:00"},
        known=(ARTICLE,),
        links=(
            refused(ARTICLE, via="related"),
            kept(ARTICLE, via="list", listed_at="2025-11-24T21:00:00+08:00"),
        ),
        counts={SKIPPED_KNOWN: 1},
    ),
    Case(
        "mobile mirrors wait for the crawl to idle (not counted)",
        links=(refused(MIRROR, via="list"), refused(OTHER_MIRROR, via="related")),
    ),
    Case(
        "mobile mirrors: a held one leaves its id free for the desktop page",
        links=(refused(MIRROR, via="list"), kept(ARTICLE, via="related")),
    ),
    Case(
        "a mirror's desktop page (via canonical) goes on though its id is taken",
        links=(
            kept(MIRROR, via="mobile"),
            kept(ARTICLE, via="canonical"),
            refused(ARTICLE, via="related"),
        ),
    ),
    Case(
        "lists and feeds: once per URL",
        links=(
            kept(HOME, via="seed"),
            refused(HOME, via="nav"),
            refused(f"{HOME}#top", via="nav"),
            kept(DOMESTIC_LIST, via="nav"),
            kept(NEWS_RANK, via="seed"),
            refused(NEWS_RANK, via="nav"),
            kept(FINANCE_FEED, via="seed"),
            refused(
                "https://finance.china.com/index/getNewsInfo?column_id=11173294&page=1",
                via="pagination",
            ),
            kept(
                "https://finance.china.com/index/getNewsInfo?page=2&column_id=11173294",
                via="pagination",
            ),
        ),
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.rule) for c in CASES])
def test_follow_rules(case: Case) -> None:
    spider, rules = follow_rules(case.args, case.settings, case.known)
    requests = [routed(spider, f.url, via=f.via, listed_at=f.listed_at) for f in case.links]
    went_on = list(rules.process_spider_output(None, requests))
    outcome = [
        (f.via, f.url, any(r is o for o in went_on))
        for f, r in zip(case.links, requests, strict=True)
    ]
    assert outcome == [(f.via, f.url, f.goes_on) for f in case.links]
    assert counted(rules) == {stat: case.counts.get(stat, 0) for stat in STATS}


def test_allows_answers_for_one_request_as_the_output_does() -> None:
    spider, rules = follow_rules({"channels": "military"})
    assert rules.allows(routed(spider, MILITARY_ARTICLE, via="list"))
    assert not rules.allows(routed(spider, ARTICLE, via="list"))
    assert not rules.allows(routed(spider, MILITARY_ARTICLE, via="related"))
    assert counted(rules)[OTHER_CHANNEL] == 1


def test_requests_without_a_link_and_items_pass_untouched() -> None:
    _, rules = follow_rules({"channels": "military", "since": "2025-11-20"})
    later_page = Request(
        "https://news.china.com/domestic/945/20251119/49000005_1.html", meta={"via": "pager"}
    )
    rendered_again = Request(OLD_ARTICLE, meta={"chinanews_static": True}, dont_filter=True)
    outside = Request("http://127.0.0.1:8001/news/")
    item = {"url": ARTICLE}
    output = [later_page, item, rendered_again, outside]
    passed = list(rules.process_spider_output(None, output))
    assert len(passed) == len(output)
    assert all(a is b for a, b in zip(passed, output, strict=True))
    assert rules.allows(outside)
    assert counted(rules) == dict.fromkeys(STATS, 0)


def test_the_start_requests_and_async_output_go_through_the_same_rules() -> None:
    spider, rules = follow_rules({"channels": "military"})

    async def stream(*items: Any) -> AsyncIterator[Any]:
        for item in items:
            yield item

    async def collect(out: AsyncIterator[Any]) -> list[Any]:
        return [o async for o in out]

    seeds = [routed(spider, u, via="seed") for u in (MILITARY_LIST, DOMESTIC_LIST, MILITARY_LIST)]
    started = asyncio.run(collect(rules.process_start(stream(*seeds))))
    assert started == [seeds[0]]
    found = [routed(spider, u, via="list") for u in (MILITARY_ARTICLE, ARTICLE)]
    item = {"url": MILITARY_ARTICLE}
    out = asyncio.run(collect(rules.process_spider_output_async(None, stream(*found, item))))
    assert out == [found[0], item]
    assert counted(rules)[OTHER_CHANNEL] == 2


# -- mobile mirrors at idle -------------------------------------------------------------


def engine_of(rules: FollowRules) -> list[Request]:
    """Stub the engine: what ``engine.crawl`` is given."""
    crawled: list[Request] = []
    rules.crawler.engine = SimpleNamespace(crawl=crawled.append)  # type: ignore[assignment]
    return crawled


def test_a_held_mirror_is_scheduled_when_the_crawl_idles() -> None:
    spider, rules = follow_rules()
    crawled = engine_of(rules)
    held = routed(spider, MIRROR, via="list")
    assert list(rules.process_spider_output(None, [held])) == []
    assert rules.held_links() == {"49000001": MIRROR}

    with pytest.raises(DontCloseSpider):
        rules.spider_idle()
    (request,) = crawled
    assert request.url == MIRROR
    assert request.meta["via"] == "mobile"
    link = request.meta["link"]
    assert isinstance(link, Link) and link.mobile
    assert rules.held_links() == {}
    # Its id is taken now: the desktop page only through the mirror's canonical link.
    assert not rules.allows(routed(spider, ARTICLE, via="related"))
    assert rules.allows(routed(spider, ARTICLE, via="canonical"))
    # Nothing more held: the crawl may close.
    rules.spider_idle()
    assert len(crawled) == 1


def test_a_mirror_whose_desktop_page_turned_up_is_not_scheduled() -> None:
    spider, rules = follow_rules()
    crawled = engine_of(rules)
    assert not rules.allows(routed(spider, MIRROR, via="list"))
    assert not rules.allows(routed(spider, OTHER_MIRROR, via="related"))
    assert rules.allows(routed(spider, ARTICLE, via="related"))

    with pytest.raises(DontCloseSpider):
        rules.spider_idle()
    assert [r.url for r in crawled] == [OTHER_MIRROR]


def test_nothing_held_or_only_mirrors_of_emitted_articles_lets_the_crawl_close() -> None:
    spider, rules = follow_rules()
    crawled = engine_of(rules)
    rules.spider_idle()
    assert not rules.allows(routed(spider, MIRROR, via="list"))
    assert rules.allows(routed(spider, ARTICLE, via="list"))
    rules.spider_idle()
    assert crawled == []
    assert rules.held_links() == {}


def test_a_mirror_is_held_once_per_id() -> None:
    spider, rules = follow_rules({"start_urls": f"{LOCAL}/"})
    first = routed(spider, LOCAL_MIRROR, via="list")
    assert not rules.allows(first)
    assert not rules.allows(routed(spider, LOCAL_MIRROR, via="related"))
    assert rules.held == {"49000012": first}
    assert rules.held_links() == {"49000012": LOCAL_MIRROR}


def test_held_links_round_trip_through_hold() -> None:
    """What the JOBDIR journal keeps of the held mirrors, held again by a resumed run."""
    spider, rules = follow_rules()
    for url in (MIRROR, OTHER_MIRROR):
        assert not rules.allows(routed(spider, url, via="list"))
    journal = rules.held_links()
    assert journal == {"49000001": MIRROR, "49000007": OTHER_MIRROR}

    _, resumed = follow_rules()
    resumed.hold(journal)
    assert resumed.held_links() == journal
    assert all(r.meta["via"] == "mobile" for r in resumed.held.values())
    crawled = engine_of(resumed)
    with pytest.raises(DontCloseSpider):
        resumed.spider_idle()
    assert sorted(r.url for r in crawled) == sorted(journal.values())
    assert resumed.held_links() == {}


def test_hold_skips_what_the_spider_does_not_follow() -> None:
    _, rules = follow_rules()
    rules.hold({"1": "mailto:news@china.com", "49000001": MIRROR})
    assert rules.held_links() == {"49000001": MIRROR}


def test_a_held_mirror_still_obeys_the_rules_at_idle() -> None:
    """A resumed run holds the journal's mirrors again; those it recorded meanwhile are done."""
    _, rules = follow_rules(
        settings={"CHINANEWS_RECOVERING_SINCE": "2000-01-01T00:00:00+00:00"}, known=(ARTICLE,)
    )
    crawled = engine_of(rules)
    rules.hold({"49000001": MIRROR})
    rules.spider_idle()
    assert crawled == []
    assert counted(rules)[SKIPPED_THIS_RUN] == 1


# -- what a scheduled run fetches again (chinanews.recheck) ---------------------------------

SERVED = "Mon, 24 Nov 2025 14:30:00 GMT"  # the server's clock on the page being read
FIRST_FETCH = "2025-11-24T14:00:00+00:00"  # half an hour before: nothing due yet


def remember(rules: FollowRules, url: str, *, fetched_at: str = FIRST_FETCH, **listed: str) -> None:
    """The index of an earlier run: ``url`` fetched at ``fetched_at``, listed with
    ``listed["title"]`` and ``listed["at"]``."""
    from chinanews.index import Fetch
    from chinanews.recheck import listing

    index = crawl_run(rules.crawler).state.index
    ref = article_ref(url)
    assert ref is not None
    index.record(ref.article_id, url=url, content_hash="h", fetch=Fetch(fetched_at))
    for fingerprint in listing(listed.get("title"), listed.get("at")):
        index.note_listing(ref.article_id, fingerprint)
    index.ready(ref.article_id)
    index.commit()


def page(url: str, *, served: str = SERVED, **meta: Any) -> Any:
    """The response of a page of ``url`` (a list page when its URL says so)."""
    from scrapy.http import HtmlResponse

    from chinanews.urls import classify

    request = Request(url, meta={"link": classify(url), **meta})
    return HtmlResponse(url, body=b"<html></html>", request=request, headers={"Date": served})


def through(rules: FollowRules, response: Any, requests: list[Request]) -> list[Request]:
    return list(rules.process_spider_output(response, requests))


def entry(spider: ChinaComSpider, url: str, title: str, at: str) -> Request:
    request = spider.follow(url, via="list", listed_at=at, listed_title=title)
    assert request is not None
    return request


def stat(rules: FollowRules, name: str) -> int:
    assert rules.crawler.stats is not None
    return int(rules.crawler.stats.get_value(name, 0))


def test_a_known_article_listed_as_before_is_not_fetched_until_due() -> None:
    spider, rules = follow_rules()
    remember(rules, ARTICLE, title="标题", at="2025-11-24T21:00:00+08:00")
    listed = entry(spider, ARTICLE, "标题", "2025-11-24T21:00:00+08:00")
    assert through(rules, page(DOMESTIC_LIST), [listed]) == []
    assert stat(rules, "chinanews/recheck/not_due") == 1


def test_a_known_article_whose_entry_changed_is_checked_again() -> None:
    spider, rules = follow_rules()
    remember(rules, ARTICLE, title="标题", at="2025-11-24T21:00:00+08:00")
    retitled = entry(spider, ARTICLE, "新标题", "2025-11-24T21:00:00+08:00")
    assert through(rules, page(DOMESTIC_LIST), [retitled]) == [retitled]
    assert retitled.meta["recheck"] == "49000001"
    assert stat(rules, "chinanews/recheck/listing_changed") == 1


def test_a_known_article_due_is_checked_again_however_it_is_reached() -> None:
    spider, rules = follow_rules()
    remember(rules, ARTICLE, fetched_at="2025-11-24T13:00:00+00:00")  # 1.5 h before
    related = routed(spider, ARTICLE, via="related")
    assert through(rules, page(OTHER_ARTICLE), [related]) == [related]
    assert related.meta["recheck"] == "49000001"
    assert stat(rules, "chinanews/recheck/due") == 1


@pytest.mark.parametrize(("mode", "fetched"), [("all", True), ("none", False), ("due", False)])
def test_recheck_argument(mode: str, fetched: bool) -> None:
    spider, rules = follow_rules({"recheck": mode})
    remember(rules, ARTICLE)
    related = routed(spider, ARTICLE, via="related")
    assert (through(rules, page(OTHER_ARTICLE), [related]) == [related]) is fetched


def test_the_first_dated_page_adds_the_articles_due_from_the_index() -> None:
    _spider, rules = follow_rules()
    remember(rules, ARTICLE, fetched_at="2025-11-24T13:00:00+00:00")  # due
    remember(rules, OTHER_ARTICLE)  # not due: waiting
    out = through(rules, page(HOME), [])
    assert [r.url for r in out] == [ARTICLE]
    assert out[0].meta["recheck"] == "49000001"
    assert (stat(rules, "chinanews/recheck/due"), stat(rules, "chinanews/recheck/waiting")) == (
        1,
        1,
    )
    assert through(rules, page(DOMESTIC_LIST), []) == []  # once per crawl


def next_page(spider: ChinaComSpider) -> Request:
    request = spider.follow(
        "https://news.china.com/domestic/index_2.html",
        via="pagination",
        list_root=DOMESTIC_LIST,
        list_page=2,
    )
    assert request is not None
    return request


def walked_before(rules: FollowRules, newest: str) -> None:
    from chinanews.index import ListMark

    index = crawl_run(rules.crawler).state.index
    index.note_list(ListMark(DOMESTIC_LIST, newest, 5, FIRST_FETCH))
    index.commit()


def test_pagination_stops_at_a_page_that_brings_nothing_new() -> None:
    spider, rules = follow_rules()
    remember(rules, ARTICLE, title="标题", at="2025-11-24T21:00:00+08:00")
    walked_before(rules, "2025-11-24T21:00:00+08:00")
    requests = [entry(spider, ARTICLE, "标题", "2025-11-24T21:00:00+08:00"), next_page(spider)]
    assert through(rules, page(DOMESTIC_LIST), requests) == []
    assert stat(rules, "chinanews/lists/pagination_stopped") == 1
    assert stat(rules, "chinanews/lists/pages_saved") == 4  # the last walk went to page 5


@pytest.mark.parametrize(
    ("case", "listed_url", "title", "at", "newest"),
    [
        ("an unknown article", OTHER_ARTICLE, "别的", "2025-11-24T20:00:00+08:00", "2025-11-24T21:00:00+08:00"),
        ("another title", ARTICLE, "新标题", "2025-11-24T21:00:00+08:00", "2025-11-24T21:00:00+08:00"),
        ("newer than the last walk saw", ARTICLE, "标题", "2025-11-24T21:00:00+08:00", "2025-11-24T20:00:00+08:00"),
    ],
)  # fmt: skip
def test_pagination_goes_on_past_a_page_with_news(
    case: str, listed_url: str, title: str, at: str, newest: str
) -> None:
    spider, rules = follow_rules()
    remember(rules, ARTICLE, title="标题", at="2025-11-24T21:00:00+08:00")
    walked_before(rules, newest)
    more = next_page(spider)
    assert more in through(rules, page(DOMESTIC_LIST), [entry(spider, listed_url, title, at), more])


def test_a_list_never_walked_is_walked_to_its_end() -> None:
    spider, rules = follow_rules()
    remember(rules, ARTICLE, title="标题", at="2025-11-24T21:00:00+08:00")
    more = next_page(spider)
    pager = routed(spider, "https://news.china.com/domestic/index_7.html", via="nav")
    requests = [entry(spider, ARTICLE, "标题", "2025-11-24T21:00:00+08:00"), pager, more]
    assert through(rules, page(DOMESTIC_LIST), requests) == [pager, more]


def test_a_list_walked_before_is_walked_page_by_page() -> None:
    spider, rules = follow_rules()
    walked_before(rules, "2025-11-24T21:00:00+08:00")
    pager = routed(spider, "https://news.china.com/domestic/index_7.html", via="nav")
    other_list = routed(spider, MILITARY_LIST, via="nav")
    more = next_page(spider)
    unknown = entry(spider, OTHER_ARTICLE, "别的", "2025-11-24T22:00:00+08:00")
    out = through(rules, page(DOMESTIC_LIST), [unknown, pager, other_list, more])
    assert out == [unknown, other_list, more]
    assert stat(rules, "chinanews/lists/pager_links_skipped") == 1
