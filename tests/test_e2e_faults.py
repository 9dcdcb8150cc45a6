"""End to end against a faulty server: ``scrapy crawl`` of the local site while it answers
500 and 503, resets connections, stalls past the download timeout, truncates bodies and
mislabels charsets (``chinanews.localsite.faults``).

Nothing the faults leave reachable may be lost: every such story is emitted exactly once,
field for field as the generator says; the failures are retried and counted; nothing crashes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any, NamedTuple

import pytest

from chinanews.localsite import LocalSite, serve
from chinanews.localsite.faults import KINDS_LABEL, KINDS_TRANSPORT, FaultPlan
from tests.conftest import COMPARED_FIELDS, Crawl, outside_base, run_crawl

pytestmark = pytest.mark.e2e

PLAN = FaultPlan(seed=6, articles=0.2, lists=0.25, permanent=0.15, max_failures=2)
SETTINGS = {
    "RETRY_TIMES": str(PLAN.max_failures + 1),
    "DOWNLOAD_TIMEOUT": "2",  # a stall (3 s) outlasts it
    "CONCURRENT_REQUESTS": "32",
}


class Run(NamedTuple):
    crawl: Crawl
    site: LocalSite
    base: str
    report: dict[str, Any]


@pytest.fixture(scope="module")
def faulty(sentinel: Any, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The crawl of a 300-article site with faults, the site, its base URL and the report."""
    assert PLAN.stall_seconds > float(SETTINGS["DOWNLOAD_TIMEOUT"])
    local = LocalSite(size=300, seed=13, outside_base=outside_base(sentinel), faults=PLAN)
    directory = tmp_path_factory.mktemp("faults")
    with serve(local) as base:
        crawl = run_crawl(
            directory, "-a", f"start_urls={base.start_url}", "-a", "render=never", settings=SETTINGS
        )
    report = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    assert local.faults is not None
    print(f"faults injected (requests): {dict(sorted(local.faults.injected.items()))}")
    print(f"retries: {crawl.stat('retry/count')}; {_retry_reasons(crawl)}")
    return Run(crawl, local, base, report)


def _retry_reasons(crawl: Crawl) -> dict[str, int]:
    prefix = "retry/reason_count/"
    return {k[len(prefix) :]: v for k, v in crawl.stats.items() if k.startswith(prefix)}


def _faulted_targets(local: LocalSite) -> dict[str, Any]:
    """Target -> fault, for every target the server saw that has one."""
    assert local.faults is not None
    return {t: f for t in local.faults.hits if (f := local.faults.fault_for(t)) is not None}


def _records(log: str) -> list[str]:
    """The log split into records (a record's continuation lines stay with it)."""
    return re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[)", log)


def test_the_crawl_ends_normally(faulty: Run) -> None:
    crawl, local, base = faulty.crawl, faulty.site, faulty.base
    assert crawl.returncode == 0, crawl.log[-3000:]
    assert "Crawl finished (finished)" in crawl.log
    assert [k for k in crawl.stats if k.startswith("spider_exceptions")] == []
    assert "checks passed" in crawl.log
    # The only tracebacks are Scrapy's own "Error downloading" of a page whose connection
    # never stops failing (it logs the exception's chain once the retries are spent).
    failing = {
        u for u, r in local.non_articles(base, rendered=False).items() if r.startswith("fault_")
    }
    tracebacks = [r for r in _records(crawl.log) if "Traceback" in r]
    for record in tracebacks:
        head = record.splitlines()[0]
        assert "[scrapy.core.scraper] ERROR: Error downloading <GET " in head, record[:3000]
        assert head.split("<GET ", 1)[1].rstrip(">") in failing, head


def test_every_kind_of_fault_was_injected_transient_and_permanent(faulty: Run) -> None:
    local = faulty.site
    faults = _faulted_targets(local)
    kinds = Counter(f.kind for f in faults.values())
    assert set(kinds) == set(PLAN.kinds), kinds
    # every transport fault also once for good, on a page the crawl meets
    assert {f.kind for f in faults.values() if not f.transient} == set(KINDS_TRANSPORT)
    # lists and feeds fail too (transiently), not only articles
    assert [t for t in faults if not re.search(r"/[a-z]*\d+\.html$", t)]
    assert set(local.faults.injected) == set(PLAN.kinds)


def test_every_story_still_reachable_is_emitted_once(faulty: Run) -> None:
    crawl, local, base = faulty.crawl, faulty.site, faulty.base
    expected = local.expected(base, rendered=False)
    urls = [item["url"] for item in crawl.items]
    assert [u for u, n in Counter(urls).items() if n > 1] == []
    assert sorted(set(urls) - set(expected)) == []
    stories = Counter(expected[u]["story_id"] for u in urls)
    assert [s for s, n in stories.items() if n > 1] == []
    assert set(stories) == {a["story_id"] for a in expected.values()}


def test_the_truth_leaves_out_only_what_permanent_faults_hide(faulty: Run) -> None:
    local, base = faulty.site, faulty.base
    healthy = LocalSite(size=300, seed=13, outside_base=local.outside_base)
    lost = set(healthy.expected(base, rendered=False)) - set(local.expected(base, rendered=False))
    failing = {
        u for u, r in local.non_articles(base, rendered=False).items() if r.startswith("fault_")
    }
    assert failing and failing <= lost
    # what else is lost was linked only from the failing pages: a handful, not a channel
    assert len(lost) < 3 * len(failing)


@pytest.mark.parametrize("field", COMPARED_FIELDS)
def test_every_field_matches_the_generator(faulty: Run, field: str) -> None:
    crawl, local, base = faulty.crawl, faulty.site, faulty.base
    expected = local.expected(base, rendered=False)
    wrong = {
        item["url"]: (item.get(field), expected[item["url"]][field])
        for item in crawl.items
        if item["url"] in expected and item.get(field) != expected[item["url"]][field]
    }
    assert wrong == {}


def test_mislabelled_pages_are_read_right(faulty: Run) -> None:
    crawl, local, base = faulty.crawl, faulty.site, faulty.base
    emitted = {item["url"]: item for item in crawl.items}
    expected = local.expected(base, rendered=False)
    by_kind: dict[str, int] = Counter()
    for target, fault in _faulted_targets(local).items():
        url = base + target
        if fault.kind in KINDS_LABEL and url in expected and url in emitted:
            assert emitted[url]["title"] == expected[url]["title"], (fault.kind, url)
            assert emitted[url]["body"] == expected[url]["body"], (fault.kind, url)
            by_kind[fault.kind] += 1
    assert set(by_kind) == set(KINDS_LABEL)


def test_failures_are_retried_and_counted(faulty: Run) -> None:
    crawl, local, report = faulty.crawl, faulty.site, faulty.report
    injected = local.faults.injected
    reasons = _retry_reasons(crawl)
    faults = _faulted_targets(local)
    permanent = Counter(f.kind for f in faults.values() if not f.transient)
    # a status is one answer per attempt: every 503 but the last of a page that never heals
    # is retried
    assert reasons.get("503 Service Unavailable", 0) == injected["http503"] - permanent["http503"]
    assert reasons.get("500 Internal Server Error", 0) >= injected["http500"] - permanent["http500"]
    # transport faults: at least one retry for each kind (Twisted may itself retry an idle
    # connection that was reset once, so the server can count more than Scrapy sees)
    assert reasons.get("scrapy.exceptions.DownloadTimeoutError", 0) >= 1
    assert reasons.get("scrapy.exceptions.ResponseDataLossError", 0) >= 1
    resets = sum(v for k, v in reasons.items() if "Connection" in k or "DownloadFailed" in k)
    assert resets >= 1, reasons
    transport = sum(injected[k] for k in KINDS_TRANSPORT)
    assert crawl.stat("retry/count") == sum(reasons.values())
    assert crawl.stat("retry/count") >= transport // 2
    # pages that never heal are given up on, once each
    assert crawl.stat("retry/max_reached") >= sum(permanent.values())
    # the crawl report shows them
    assert report["http_errors_by_status"].get("503", 0) >= injected["http503"]
    assert report["http_errors_by_status"].get("500", 0) >= injected["http500"]
    assert report["retries"] == crawl.stat("retry/count")
    assert report["download_errors"] >= injected["stall"] + injected["truncate"]


def test_pages_that_never_heal_are_logged_not_lost_silently(faulty: Run) -> None:
    crawl, local, base = faulty.crawl, faulty.site, faulty.base
    failing = [
        u for u, r in local.non_articles(base, rendered=False).items() if r.startswith("fault_")
    ]
    errors = [line for line in crawl.log.splitlines() if " ERROR: " in line]
    for url in failing:
        assert any(url in line for line in errors), url
