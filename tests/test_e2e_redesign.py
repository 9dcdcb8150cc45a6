"""End to end: ``scrapy crawl china_com -a render=never`` against the local site after a
redesign (``LocalSite(redesign=1.0)``): article pages in markup no template knows, their
publication time in ``<time datetime>``, a meta tag, JSON-LD or visible text in every common
Chinese form, and channel list pages whose structure changed.

Every article must still come out with the right title, publication time (to the second)
and body, and the crawl report must say the templates changed (issue 12).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from chinanews.localsite import LocalSite, serve
from tests.conftest import Crawl, outside_base, run_crawl

pytestmark = pytest.mark.e2e

#: Least character F1 between an emitted body and the truth's.
MIN_BODY_F1 = 0.97


@pytest.fixture(scope="module")
def site(sentinel: Any) -> Any:
    local = LocalSite(size=50, seed=21, redesign=1.0, outside_base=outside_base(sentinel))
    with serve(local) as server:
        yield local, server


@pytest.fixture(scope="module")
def crawl(site: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Crawl, dict[str, Any]]:
    _, server = site
    tmp = tmp_path_factory.mktemp("redesign")
    # 39 stories: below the default sample floor (50), under which the report would state
    # the fallbacks without calling it a template change
    result = run_crawl(
        tmp,
        "-a",
        f"start_urls={server.start_url}",
        "-a",
        "render=never",
        settings={"CHINANEWS_MIN_SAMPLE": "20"},
    )
    report_path = Path(tmp) / "report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else {}
    return result, report


def norm(text: str | None) -> str:
    return re.sub(r"\s+", "", text or "")


def char_f1(got: str | None, want: str | None) -> float:
    """F1 over the multiset of non-space characters: 1.0 for the same text."""
    g, w = Counter(norm(got)), Counter(norm(want))
    if not g or not w:
        return 1.0 if not g and not w else 0.0
    common = sum((g & w).values())
    if not common:
        return 0.0
    precision, recall = common / sum(g.values()), common / sum(w.values())
    return 2 * precision * recall / (precision + recall)


def emitted_by_story(site: Any, crawl: Crawl) -> dict[str, dict[str, Any]]:
    """Story id -> the item a crawl emitted for it (one per story: copies are deduplicated)."""
    local, server = site
    truth = local.expected(server)
    return {truth[i["url"]]["story_id"]: i for i in crawl.items if i["url"] in truth}


def test_the_site_is_redesigned(site: Any) -> None:
    local, server = site
    truth = local.expected(server)
    redesigned = local.redesign_pages(server)
    assert 30 <= len(truth) <= 60
    assert sum(u in redesigned for u in truth) >= 0.8 * len(truth)


def test_the_crawl_runs(crawl: tuple[Crawl, dict[str, Any]]) -> None:
    result, report = crawl
    assert "Traceback" not in result.log, result.log[-3000:]
    assert report, result.log[-3000:]
    assert report["finish_reason"] == "finished"
    assert result.stat("chinanews/pages/list") >= 5  # the redesigned lists are still read


def test_nothing_outside_the_scope_is_requested(sentinel: Any, crawl: Any) -> None:
    assert sentinel.hits == []


def test_every_story_is_emitted_once(site: Any, crawl: tuple[Crawl, dict[str, Any]]) -> None:
    local, server = site
    result, _ = crawl
    truth = local.expected(server)
    urls = [i["url"] for i in result.items]
    assert [u for u, n in Counter(urls).items() if n > 1] == []
    assert sorted(set(urls) - set(truth)) == []
    stories = Counter(truth[u]["story_id"] for u in urls)
    assert [s for s, n in stories.items() if n > 1] == []
    missing = {a["story_id"] for a in truth.values()} - set(stories)
    dropped = result.stats.get("item_dropped_count", 0)
    assert missing == set(), (
        f"{len(missing)} of {len(stories) + len(missing)} stories not emitted "
        f"({dropped} items dropped: {_group(result.stats, 'chinanews/dropped/')})"
    )


def _group(stats: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in stats.items() if k.startswith(prefix)}


def _wrong(site: Any, crawl: Crawl, field: str) -> list[tuple[str, Any, Any, Any]]:
    """(url, emitted, truth, how the page states its time) for each emitted article whose
    ``field`` is wrong."""
    local, server = site
    truth = local.expected(server)
    how = local.redesign_pages(server)
    wrong = []
    for item in crawl.items:
        want = truth.get(item["url"])
        if want is None:
            continue
        got = item.get(field)
        ok = char_f1(got, want[field]) >= MIN_BODY_F1 if field == "body" else got == want[field]
        if not ok:
            scheme = how.get(item["url"], {"template": want["template"]})
            wrong.append((item["url"], got, want[field], scheme))
    return wrong


@pytest.mark.parametrize("field", ["title", "published_at", "body"])
def test_every_article_has_the_right_field(
    site: Any, crawl: tuple[Crawl, dict[str, Any]], field: str
) -> None:
    result, _ = crawl
    assert result.items, "no article emitted"
    wrong = _wrong(site, result, field)
    assert wrong == [], f"{len(wrong)} of {len(result.items)} articles differ, e.g. {wrong[:3]}"


def test_the_report_says_the_templates_changed(crawl: tuple[Crawl, dict[str, Any]]) -> None:
    _, report = crawl
    assert report.get("template_change"), (
        "no template_change in the report; its keys: " + ", ".join(sorted(report))
    )
