"""End to end, what scheduled runs fetch (issue 13's table), on one site whose clock the
test moves on (no sleeps), requests counted by the site's server:

1. a first crawl;
2. a re-run of the unchanged site, nothing due: a small share of the first run's
   requests, nothing emitted, the lists' pagination stopped;
3. after 12 new articles: all 12 emitted, the lists walked only as far as the news;
4. after 4 edits, not yet due: nothing fetched again, the report says how many wait;
5. past the first re-check age: the 4 edited articles emitted as version 2, each known
   article checked once, those with a validator at the cost of a 304.

And servers whose validators misbehave: logged once, a plain fetch, no crash.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from chinanews.localsite import LocalSite, serve
from tests.conftest import Crawl, outside_base, run_crawl

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runs(sentinel: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    local = LocalSite(size=400, seed=13, outside_base=outside_base(sentinel))
    env = {"CHINANEWS_DATA_DIR": str(tmp_path_factory.mktemp("data"))}
    out: dict[str, Any] = {"site": local}
    with serve(local) as base:

        def crawl(name: str) -> None:
            done = len(base.requests)
            result = run_crawl(
                tmp_path_factory.mktemp(name), "-a", f"start_urls={base.start_url}", env=env
            )
            out[name] = result
            out[f"{name}_requests"] = list(base.requests[done:])
            out[f"{name}_truth"] = local.expected(base)

        crawl("first")
        crawl("unchanged")
        local.advance(new=12)
        crawl("new")
        local.advance(edit=4)
        crawl("not_due")
        local.advance(minutes=61)
        crawl("due")
        out["base"] = str(base)
    yield out


def test_every_run_succeeds(runs: dict[str, Any]) -> None:
    for name in ("first", "unchanged", "new", "not_due", "due"):
        crawl: Crawl = runs[name]
        assert crawl.returncode == 0, (name, crawl.log[-3000:])
        assert "Traceback" not in crawl.log


def test_an_unchanged_site_costs_a_small_share_of_a_first_crawl(runs: dict[str, Any]) -> None:
    first, again = runs["first_requests"], runs["unchanged_requests"]
    crawl: Crawl = runs["unchanged"]
    assert crawl.items == []
    assert len(again) <= 0.10 * len(first), (len(again), len(first))
    # what it fetched: lists and feeds, and the few pages that never become articles
    assert crawl.stat("chinanews/requests/recheck") == 0
    assert crawl.stat("chinanews/lists/pagination_stopped") > 0
    assert crawl.stat("chinanews/recheck/waiting") == len(runs["first"].items)
    assert "requests: " in crawl.log and "waiting for a later re-check" in crawl.log


def test_new_articles_are_all_emitted_at_a_small_cost(runs: dict[str, Any]) -> None:
    before, after = runs["unchanged_truth"], runs["new_truth"]
    new = set(after) - set(before)
    assert len(new) == 12
    crawl: Crawl = runs["new"]
    assert {item["url"] for item in crawl.items} == new
    assert len(runs["new_requests"]) <= 0.15 * len(runs["first_requests"])
    assert crawl.stat("chinanews/requests/new") >= 12


def test_edits_not_yet_due_wait(runs: dict[str, Any]) -> None:
    before, after = runs["new_truth"], runs["not_due_truth"]
    edited = {u for u in after if u in before and after[u]["body"] != before[u]["body"]}
    assert len(edited) == 4
    crawl: Crawl = runs["not_due"]
    assert crawl.items == []
    paths = {urlsplit(u).path for u in edited}
    assert paths.isdisjoint(runs["not_due_requests"])
    assert crawl.stat("chinanews/recheck/waiting") >= len(runs["first"].items)
    runs["edited"] = edited


def test_edits_due_are_emitted_as_the_next_version(runs: dict[str, Any]) -> None:
    before, after = runs["new_truth"], runs["due_truth"]
    edited = {u for u in after if u in before and after[u]["body"] != before[u]["body"]}
    crawl: Crawl = runs["due"]
    assert {item["url"] for item in crawl.items} == edited
    assert all(item["version"] == 2 for item in crawl.items)
    assert crawl.stat("chinanews/incremental/changed") == 4


def test_a_due_recheck_costs_one_request_and_a_304_where_there_is_a_validator(
    runs: dict[str, Any],
) -> None:
    crawl: Crawl = runs["due"]
    site: LocalSite = runs["site"]
    truth = runs["due_truth"]
    paths = {urlsplit(u).path: u for u in truth}
    fetched = Counter(p for p in runs["due_requests"] if p in paths)
    assert [p for p, n in fetched.items() if n > 1] == []
    emitted_before = {
        item["url"]
        for name in ("first", "new")
        for item in runs[name].items  # every original known before the edits
    }
    assert {urlsplit(u).path for u in emitted_before} <= set(fetched)
    model = site.model
    conditional = []
    plain = []
    for path in fetched:
        i = model.by_aid.get(path.rsplit("/", 1)[-1].split(".")[0].split("_")[0])
        if i is None or paths[path] in runs["edited"] or paths[path] not in emitted_before:
            continue
        served = site.render(path).headers
        has_validator = any(name in ("ETag", "Last-Modified") for name, _ in served)
        (conditional if has_validator else plain).append(path)
    # the local site sends validators on most of its articles: each of those unchanged ones
    # costs a 304, the rest a plain 200 found unchanged
    assert conditional and plain
    assert crawl.stat("chinanews/recheck/not_modified") == len(conditional)
    assert crawl.stat("chinanews/incremental/unchanged") == len(plain)


@pytest.fixture(scope="module", params=["etag_per_response+bad_last_modified", "always_304"])
def quirky(
    request: pytest.FixtureRequest, sentinel: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    quirks = set(request.param.split("+"))
    local = LocalSite(size=60, seed=4, outside_base=outside_base(sentinel), quirks=quirks)
    env = {"CHINANEWS_DATA_DIR": str(tmp_path_factory.mktemp("data"))}
    with serve(local) as base:
        args = ("-a", f"start_urls={base.start_url}")
        first = run_crawl(tmp_path_factory.mktemp("q1"), *args, env=env)
        local.advance(minutes=61)
        second = run_crawl(tmp_path_factory.mktemp("q2"), *args, env=env)
        truth = local.expected(base)
    yield {"quirks": quirks, "first": first, "second": second, "truth": truth}


def test_misbehaving_validators_are_logged_once_and_cost_a_plain_fetch(
    quirky: dict[str, Any],
) -> None:
    first: Crawl = quirky["first"]
    second: Crawl = quirky["second"]
    for crawl in (first, second):
        assert crawl.returncode in (0, 3), crawl.log[-3000:]  # 3: a quality check, not a crash
        assert "Traceback" not in crawl.log
    if "bad_last_modified" in quirky["quirks"]:
        assert first.stat("chinanews/recheck/bad_last_modified") > 0
        assert first.log.count("sends a Last-Modified that is not a date") == 1
        # every story is in the outputs: a bad validator costs nothing but requests
        assert len(first.items) > 0
        assert second.stat("chinanews/recheck/etag_changed") > 0
        assert second.log.count("came back unchanged with another ETag") == 1
        assert second.stat("chinanews/recheck/not_modified") == 0
        assert second.items == []  # re-checked in full, and unchanged
    else:
        # a 304 to a request without validators: the page is lost with its reason, once said
        assert first.stat("chinanews/recheck/unexpected_304") > 0
        assert first.log.count("answered 304 Not Modified to a request without validators") == 1
        lost = first.stat("chinanews/lost/article/http_304")
        assert lost == first.stat("chinanews/recheck/unexpected_304")
        assert "http_304" in first.log  # in the summary's lost pages
