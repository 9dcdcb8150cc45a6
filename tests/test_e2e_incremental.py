"""End to end, on one index: the first crawl emits each story once and records the
syndicated copies as duplicates; after the site has published new articles and edited some,
a second crawl (no re-check due yet) emits exactly the new ones and leaves the edited ones
waiting; a third, once the site's clock has passed the first re-check age, emits exactly
the edited ones as their next version, with conditional requests."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from chinanews.localsite import LocalSite, serve
from tests.conftest import REDIS_URL, Crawl, outside_base, run_crawl

pytestmark = pytest.mark.e2e


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def two_runs(
    request: pytest.FixtureRequest, sentinel: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Three crawls sharing one index: in SQLite (the default), or in Redis as a
    distributed crawl keeps it."""
    local = LocalSite(size=80, seed=21, outside_base=outside_base(sentinel))
    data = tmp_path_factory.mktemp("data")
    env = {"CHINANEWS_DATA_DIR": str(data)}
    settings: dict[str, str] = {}
    if request.param == "redis":
        client = request.getfixturevalue("redis_client_module")
        prefix = f"test:e2e:{uuid.uuid4().hex}"
        settings = {
            "CHINANEWS_INDEX_BACKEND": "redis",
            "REDIS_URL": REDIS_URL,
            "CHINANEWS_REDIS_PREFIX": prefix,
        }

    def crawl(directory: Path, *args: str) -> Crawl:
        return run_crawl(
            directory, "-a", f"start_urls={base.start_url}", *args, env=env, settings=settings
        )

    with serve(local) as base:
        before = local.expected(base)
        first_dir = tmp_path_factory.mktemp("run1")
        first = crawl(first_dir)
        requests_first = list(base.requests)
        local.advance(new=5, edit=2)  # 11 minutes later: no re-check due
        after = local.expected(base)
        second_dir = tmp_path_factory.mktemp("run2")
        second = crawl(second_dir)
        requests_second = list(base.requests[len(requests_first) :])
        local.advance(minutes=61)  # the 1 h re-check is due for every article
        third_dir = tmp_path_factory.mktemp("run3")
        done = len(base.requests)
        third = crawl(third_dir)
        requests_third = list(base.requests[done:])
        hidden = {local.model.path_of(a.idx) for a in local.model.arts if a.feature == "hidden"}
        fresh_dir = tmp_path_factory.mktemp("run4")
        fresh = crawl(fresh_dir, "-a", "fresh=1")
    yield {
        "before": before,
        "after": after,
        "first": first,
        "first_duplicates": read_jsonl(first_dir / "out.duplicates.jsonl"),
        "second": second,
        "second_duplicates": read_jsonl(second_dir / "out.duplicates.jsonl"),
        "third": third,
        "fresh": fresh,
        "requests": (requests_first, requests_second, requests_third),
        "hidden": hidden,
    }
    if request.param == "redis":
        leftover = list(client.scan_iter(match=f"{prefix}:*"))
        if leftover:
            client.delete(*leftover)


def test_the_first_crawl_emits_each_story_once(two_runs: dict[str, Any]) -> None:
    first: Crawl = two_runs["first"]
    expected = two_runs["before"]
    assert first.returncode == 0, first.log[-3000:]
    stories = Counter(expected[item["url"]]["story_id"] for item in first.items)
    assert [s for s, n in stories.items() if n > 1] == []
    assert set(stories) == {a["story_id"] for a in expected.values()}


def test_syndicated_copies_are_recorded_as_duplicates(two_runs: dict[str, Any]) -> None:
    expected = two_runs["before"]
    emitted = {item["url"] for item in two_runs["first"].items}
    duplicates = two_runs["first_duplicates"]
    copies = {u for u, a in expected.items() if a["duplicate_of"]}
    assert copies
    recorded = {d["item"]["url"]: d for d in duplicates}
    # every article is either emitted or recorded as a duplicate: nothing is lost
    assert emitted | set(recorded) == set(expected)
    assert not emitted & set(recorded)
    for url, record in recorded.items():
        assert record["duplicate_of"] in emitted
        assert expected[record["duplicate_of"]]["story_id"] == expected[url]["story_id"]
        assert record["layer"] in {"content", "near"}
    stats = two_runs["first"].stats
    assert sum(
        stats.get(f"chinanews/duplicates/{layer}", 0) for layer in ("content", "near")
    ) == len(recorded)


def changed_urls(two_runs: dict[str, Any]) -> set[str]:
    before, after = two_runs["before"], two_runs["after"]
    return {u for u in after if u in before and after[u]["body"] != before[u]["body"]}


def test_the_second_crawl_emits_exactly_the_new_articles(two_runs: dict[str, Any]) -> None:
    before, after = two_runs["before"], two_runs["after"]
    second: Crawl = two_runs["second"]
    assert second.returncode == 0, second.log[-3000:]
    new = {u for u in after if u not in before}
    assert len(new) == 5
    assert len(changed_urls(two_runs)) == 2
    assert {item["url"] for item in second.items} == new
    assert all(item["version"] == 1 for item in second.items)
    assert second.stat("chinanews/incremental/new") == 5
    assert second.stat("chinanews/incremental/changed") == 0
    # the edited articles are not due: they wait, and the report says how many wait
    # (every original the first crawl emitted)
    assert second.stat("chinanews/recheck/waiting") == len(two_runs["first"].items)
    assert second.stat("chinanews/requests/recheck") == 0
    assert two_runs["second_duplicates"] == []


def test_the_second_crawl_does_not_download_what_it_knows(two_runs: dict[str, Any]) -> None:
    """Known articles are not fetched again before they are due, whether a list, a feed or
    another article links them; a list walked before is walked no deeper than its news."""
    first_requests, second_requests, _ = two_runs["requests"]
    hidden = two_runs["hidden"]
    assert hidden
    assert hidden <= set(first_requests)
    assert hidden.isdisjoint(second_requests)
    known = {urlsplit(u).path for u in two_runs["before"]}
    assert known.isdisjoint(second_requests)
    second = two_runs["second"]
    assert second.stat("chinanews/incremental/skipped_known") > 0
    assert second.stat("chinanews/recheck/not_due") > 0
    first_pages = {p for p in first_requests if p.endswith("/")}
    assert first_pages and first_pages <= set(second_requests)
    assert len(second_requests) < len(first_requests) / 3  # lists, feeds and the 5 new


def test_the_third_crawl_emits_the_edited_articles_once_due(two_runs: dict[str, Any]) -> None:
    third: Crawl = two_runs["third"]
    assert third.returncode == 0, third.log[-3000:]
    changed = changed_urls(two_runs)
    after = two_runs["after"]
    assert {item["url"] for item in third.items} == changed
    earlier = {i["url"]: i for i in two_runs["first"].items}
    for item in third.items:
        assert item["version"] == 2
        assert item["previous_content_hash"] == earlier[item["url"]]["content_hash"]
        assert item["body"] == after[item["url"]]["body"]
    assert third.stat("chinanews/incremental/changed") == 2
    # every known original was due: re-checked once, most with a 304 at no extraction cost
    assert third.stat("chinanews/recheck/due") > 0
    assert third.stat("chinanews/recheck/not_modified") > 0
    assert third.stat("chinanews/incremental/unchanged") > 0
    _, _, third_requests = two_runs["requests"]
    articles = [p for p in third_requests if urlsplit(p).path in {urlsplit(u).path for u in after}]
    assert [p for p, n in Counter(articles).items() if n > 1] == []  # each checked once


def test_fresh_ignores_the_index(two_runs: dict[str, Any]) -> None:
    fresh: Crawl = two_runs["fresh"]
    after = two_runs["after"]
    assert fresh.returncode == 0, fresh.log[-3000:]
    assert fresh.stat("chinanews/incremental/skipped_known") == 0
    stories = Counter(after[item["url"]]["story_id"] for item in fresh.items)
    assert set(stories) == {a["story_id"] for a in after.values()}
    assert max(stories.values()) == 1
