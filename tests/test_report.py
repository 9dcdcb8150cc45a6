"""The crawl report: its figures from a stats dict and counted items, its quality checks, the
JSON beside the output, and ``scrapy crawl``'s exit code when a check fails."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from scrapy.utils.test import get_crawler

from chinanews.extensions import CrawlReport
from chinanews.items import Article
from chinanews.localsite import LocalSite, serve
from chinanews.report import (
    CHECKS_FAILED_STAT,
    DEFAULT_MIN_COVERAGE,
    DEFAULT_MIN_SAMPLE,
    TEMPLATE_CHANGE_SHARE,
    FieldCounter,
    build_report,
    format_failures,
    format_summary,
    format_template_change,
    min_coverage,
)
from tests.conftest import LOCAL_SETTINGS, ROOT, SCRAPY, outside_base, run_crawl

URL = "https://news.china.com/domestic/945/20261127/{}.html"


def article(n: int, **fields: Any) -> Article:
    values: dict[str, Any] = {
        "title": f"标题{n}",
        "body": "正文。",
        "published_at": "2026-11-27T08:00:00+08:00",
        "template": "C",
    }
    values.update(fields)
    return Article(url=URL.format(n), **values)


def with_rules(n: int, **rules: str) -> dict[str, Any]:
    """An article as a dict item with a ``provenance`` (field name → rule)."""
    item = {
        "url": URL.format(n),
        "title": f"标题{n}",
        "body": "正文。",
        "published_at": "2026-11-27T08:00:00+08:00",
        "template": "C",
    }
    return {
        **item,
        "provenance": {"title": "C:h1.article_title", "body": "C:div#chan_newsDetail", **rules},
    }


def counted(*items: Any) -> FieldCounter:
    counter = FieldCounter()
    for item in items:
        counter.add(item)
    return counter


def finished(**stats: Any) -> dict[str, Any]:
    return {"finish_reason": "finished", "elapsed_time_seconds": 12.34, **stats}


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [c for c in report["checks"] if c["name"] == name]
    return found


# -- counting fields ---------------------------------------------------------------------


def test_coverage_is_the_share_of_articles_with_a_non_empty_value() -> None:
    counter = counted(
        article(1, author="张三", keywords=["军事"]),
        article(2, author="", keywords=[]),
        article(3, author=None, published_at=None, template="D"),
        article(4, template="D"),
    )
    coverage = counter.coverage()
    assert counter.items == 4
    assert coverage["title"] == 1.0
    assert coverage["author"] == 0.25
    assert coverage["keywords"] == 0.25
    assert coverage["published_at"] == 0.75
    assert coverage["pages"] == 1.0  # an int, never empty
    assert coverage["source"] == 0.0  # every field of the item is listed
    assert counter.templates == {"C": 2, "D": 2}


def test_dict_items_and_fields_outside_the_article_are_counted() -> None:
    counter = counted({"url": "u", "title": "t", "extra": {"a": 1}}, {"url": "u", "extra": {}})
    assert counter.coverage()["extra"] == 0.5
    assert counter.coverage()["title"] == 0.5


def test_no_articles_means_no_coverage() -> None:
    assert set(FieldCounter().coverage().values()) == {None}


# -- the report's sections ---------------------------------------------------------------


def test_report_groups_the_stats_into_sections() -> None:
    stats = finished(
        item_scraped_count=2,
        item_dropped_count=3,
        **{
            "chinanews/articles/emitted": 5,
            "chinanews/pages/article": 6,
            "chinanews/pages/list": 2,
            "chinanews/dropped/missing_title": 1,
            "chinanews/duplicates/url": 1,
            "chinanews/duplicates/near": 1,
            "chinanews/incremental/new": 2,
            "chinanews/no_article/no_body": 1,
            "downloader/response_status_count/200": 8,
            "downloader/response_status_count/301": 1,
            "downloader/response_status_count/404": 2,
            "downloader/response_status_count/503": 1,
        },
    )
    report = build_report(stats, counted(article(1), article(2, template="tech")))
    assert report["pages_by_kind"] == {"article": 6, "list": 2}
    assert report["articles"] == {
        "emitted": 2,
        "extracted": 5,
        "dropped": 3,
        "by_template": {"C": 1, "tech": 1},
    }
    assert report["dropped_by_reason"] == {"missing_title": 1}
    assert report["duplicates_by_layer"] == {"near": 1, "url": 1}
    assert report["incremental"] == {"new": 2}
    assert report["no_article_by_reason"] == {"no_body": 1}
    assert report["http_errors_by_status"] == {"404": 2, "503": 1}
    assert report["elapsed_seconds"] == 12.3
    assert report["coverage"]["title"] == 1.0
    assert report["stats"] == stats


# -- the checks --------------------------------------------------------------------------


def test_a_good_crawl_passes_every_check() -> None:
    items = [article(n) for n in range(10)]
    report = build_report(finished(item_scraped_count=10), counted(*items), min_sample=0)
    assert report["ok"] is True
    assert [c["name"] for c in report["checks"]] == [
        "articles",
        "coverage/title",
        "coverage/body",
        "coverage/published_at",
    ]
    assert all(c["passed"] for c in report["checks"])
    assert format_failures(report) is None
    assert "checks passed" in format_summary(report)


def test_coverage_below_the_limit_fails_its_check() -> None:
    items = [
        article(n, published_at=None if n < 2 else "2026-11-27T08:00:00+08:00") for n in range(10)
    ]
    report = build_report(finished(item_scraped_count=10), counted(*items), min_sample=0)
    assert report["ok"] is False
    failed = check(report, "coverage/published_at")
    assert (failed["value"], failed["limit"], failed["passed"]) == (0.8, 0.9, False)
    assert check(report, "coverage/title")["passed"] is True
    loud = format_failures(report)
    assert loud is not None
    assert "coverage of published_at: 80.0%, minimum 90.0%" in loud
    assert "template has probably changed" in loud
    assert "chinanews extract URL" in loud
    assert "exits with code 3" in loud
    assert "checks FAILED: coverage/published_at" in format_summary(report)


def test_articles_lost_for_want_of_a_field_count_against_its_coverage() -> None:
    # a template change that loses titles shows as pages that are not articles, and as
    # items dropped by validation; the emitted ones all have a title
    stats = finished(
        item_scraped_count=8,
        item_dropped_count=1,
        **{"chinanews/no_article/no_title": 1, "chinanews/dropped/missing_title": 1},
    )
    report = build_report(
        stats,
        counted(*(article(n) for n in range(8))),
        counted(article(9, title=None)),
        min_sample=0,
    )
    title = check(report, "coverage/title")
    assert title["value"] == 0.8  # 8 of 8 emitted + 1 dropped + 1 page given up
    assert title["passed"] is False
    assert report["coverage"]["title"] == 1.0  # the share of emitted articles
    assert check(report, "coverage/body")["value"] == 1.0  # 9 of 9 items, no page lost


def test_a_re_crawl_counts_the_unchanged_articles_it_read() -> None:
    # an incremental crawl emits only the new and changed articles; the unchanged ones,
    # dropped by the pipelines, were read too, and the pages without a body are seen again
    stats = finished(
        item_scraped_count=2,
        item_dropped_count=20,
        **{"chinanews/incremental/unchanged": 20, "chinanews/no_article/no_body": 2},
    )
    report = build_report(
        stats, counted(article(1), article(2)), counted(*(article(n) for n in range(3, 23)))
    )
    assert check(report, "coverage/body")["value"] == round(22 / 24, 4)
    assert report["ok"] is True


def test_no_article_at_all_fails() -> None:
    report = build_report(finished(), FieldCounter())
    assert report["ok"] is False
    articles = check(report, "articles")
    assert (articles["value"], articles["limit"], articles["passed"]) == (0, 1, False)
    assert check(report, "coverage/title")["passed"] is None  # nothing to measure
    assert "articles found: 0, minimum 1" in (format_failures(report) or "")


def test_known_articles_of_an_incremental_crawl_count_as_found() -> None:
    stats = finished(
        **{"chinanews/incremental/unchanged": 3, "chinanews/incremental/skipped_known": 40}
    )
    report = build_report(stats, FieldCounter())
    assert check(report, "articles")["value"] == 43
    assert report["ok"] is True


def test_limits_come_from_the_settings() -> None:
    assert min_coverage(None) == DEFAULT_MIN_COVERAGE
    limits = min_coverage({"title": "1.01", "body": 0, "source": 0.5})
    assert limits == {"title": 1.01, "published_at": 0.9, "source": 0.5}
    report = build_report(
        finished(item_scraped_count=1),
        counted(article(1)),
        min_articles=2,
        coverage_limits=limits,
        min_sample=0,
    )
    assert [(c["name"], c["passed"]) for c in report["checks"]] == [
        ("articles", False),
        ("coverage/title", False),
        ("coverage/published_at", True),
        ("coverage/source", False),
    ]
    assert build_report(finished(), FieldCounter(), min_articles=0, coverage_limits={})["ok"]


@pytest.mark.parametrize(
    ("reason", "applied"),
    [
        ("finished", True),
        ("closespider_itemcount", True),
        ("closespider_timeout", True),
        ("shutdown", False),
        ("cancelled", False),
    ],
)
def test_checks_apply_when_the_crawl_ran_to_its_end_or_limit(reason: str, applied: bool) -> None:
    report = build_report({"finish_reason": reason}, FieldCounter())
    assert (report["ok"] is not None) == applied
    assert bool(report["checks"]) == applied
    if not applied:
        assert "checks not applied" in format_summary(report)


# -- the sample floor --------------------------------------------------------------------


def small_crawl_with_one_empty_page() -> dict[str, Any]:
    """The issue's crawl: 9 article pages, one of them empty (no title, no body)."""
    stats = finished(item_scraped_count=8, **{"chinanews/no_article/no_title": 1})
    return build_report(stats, counted(*(article(n) for n in range(8))))


def test_the_default_sample_floor_is_50() -> None:
    assert DEFAULT_MIN_SAMPLE == 50


def test_below_the_floor_a_coverage_check_does_not_fail() -> None:
    assert small_crawl_with_one_empty_page()["ok"] is True


def test_below_the_floor_the_coverage_is_still_stated() -> None:
    assert check(small_crawl_with_one_empty_page(), "coverage/title")["value"] == round(8 / 9, 4)


def test_below_the_floor_the_check_is_not_passed_nor_failed() -> None:
    assert check(small_crawl_with_one_empty_page(), "coverage/title")["passed"] is None


def test_below_the_floor_the_check_says_why() -> None:
    reason = check(small_crawl_with_one_empty_page(), "coverage/title")["reason"]
    assert reason == "below the sample floor: 9 article pages, fewer than 50 (CHINANEWS_MIN_SAMPLE)"


def test_a_coverage_check_states_its_sample() -> None:
    assert check(small_crawl_with_one_empty_page(), "coverage/title")["sample"] == 9


def test_the_report_states_the_sample_and_the_floor() -> None:
    assert small_crawl_with_one_empty_page()["sample"] == {"article_pages": 9, "floor": 50}


def test_the_summary_says_below_the_sample_floor() -> None:
    summary = format_summary(small_crawl_with_one_empty_page())
    assert "checks passed; coverage below the sample floor" in summary
    assert "sample: 9 article pages (floor 50)" in summary


def test_below_the_floor_nothing_is_logged_as_failed() -> None:
    assert format_failures(small_crawl_with_one_empty_page()) is None


def test_at_the_floor_the_coverage_check_fails_again() -> None:
    stats = finished(item_scraped_count=8, **{"chinanews/no_article/no_title": 1})
    report = build_report(stats, counted(*(article(n) for n in range(8))), min_sample=9)
    assert check(report, "coverage/title")["passed"] is False


def test_no_article_at_all_still_fails_below_the_floor() -> None:
    assert build_report(finished(), FieldCounter(), min_sample=50)["ok"] is False


# -- provenance: fallbacks per field and a template change -------------------------------


def test_fallbacks_are_counted_per_field() -> None:
    counter = counted(
        with_rules(1, published_at="generic:time-near-title"),
        with_rules(2, published_at="generic:url-date", source="generic:source-label"),
        with_rules(3, published_at="C:span.time"),
    )
    assert counter.fallbacks == {"published_at": 2, "source": 1}


def test_an_article_that_needed_a_generic_title_time_or_body_is_counted_once() -> None:
    counter = counted(
        with_rules(1, title="generic:h1", published_at="generic:meta"),
        with_rules(2, source="generic:source-label"),  # not a field that tells a template
    )
    assert counter.generic_articles == 1


def test_items_without_provenance_have_no_fallbacks() -> None:
    counter = counted(article(1), {"url": "u", "title": "t"}, {"url": "u", "provenance": None})
    assert (counter.fallbacks, counter.generic_articles, counter.with_provenance) == ({}, 0, 0)


def test_a_provenance_that_is_not_a_mapping_is_ignored() -> None:
    counter = counted({"url": "u", "provenance": "generic:everything"})
    assert counter.fallbacks == {}


def test_the_report_shows_the_fallbacks_per_field() -> None:
    items = [with_rules(1, published_at="generic:url-date"), with_rules(2)]
    report = build_report(finished(item_scraped_count=2), counted(*items))
    assert report["fallbacks"] == {
        "by_field": {"published_at": 1},
        "articles_with_provenance": 2,
        "articles_generic": 1,
        "share_generic": 0.5,
    }


def test_the_summary_shows_the_fallbacks_per_field() -> None:
    items = [with_rules(1, published_at="generic:url-date"), with_rules(2)]
    summary = format_summary(build_report(finished(item_scraped_count=2), counted(*items)))
    assert "fallbacks per field (generic rules): {'published_at': 1}" in summary


def generic_crawl(generic: int, of: int, min_sample: int = 10) -> dict[str, Any]:
    items = [
        with_rules(n, published_at="generic:time-near-title" if n < generic else "C:span.time")
        for n in range(of)
    ]
    return build_report(finished(item_scraped_count=of), counted(*items), min_sample=min_sample)


def test_most_articles_read_by_generic_rules_flag_a_template_change() -> None:
    change = generic_crawl(6, 10)["template_change"]
    assert (
        change["message"] == "the templates no longer match: 60% of articles read by generic rules"
    )


def test_the_template_change_names_the_fields_and_the_share() -> None:
    change = generic_crawl(6, 10)["template_change"]
    assert (change["share"], change["by_field"], change["threshold"]) == (
        0.6,
        {"published_at": 6},
        TEMPLATE_CHANGE_SHARE,
    )


def test_a_template_change_is_not_a_failed_check() -> None:
    assert generic_crawl(10, 10)["ok"] is True


def test_half_the_articles_read_by_generic_rules_is_no_template_change() -> None:
    assert generic_crawl(5, 10)["template_change"] is None


def test_a_template_change_needs_the_sample_floor_of_articles() -> None:
    assert generic_crawl(9, 9, min_sample=10)["template_change"] is None


def test_the_template_change_is_a_loud_block_and_a_summary_line() -> None:
    report = generic_crawl(10, 10)
    assert "TEMPLATE CHANGE: the templates no longer match: 100%" in (
        format_template_change(report) or ""
    )
    assert "TEMPLATE CHANGE: the templates no longer match" in format_summary(report)


def test_no_template_change_no_block() -> None:
    assert format_template_change(generic_crawl(0, 10)) is None


def test_extraction_notes_are_grouped() -> None:
    stats = finished(**{"chinanews/extract/time_conflict": 2, "chinanews/pages/article": 5})
    assert build_report(stats, FieldCounter())["extraction_notes"] == {"time_conflict": 2}


# -- the extension -----------------------------------------------------------------------


def test_the_extension_counts_items_and_writes_the_report(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.report.json"
    crawler = get_crawler(
        settings_dict={
            "CHINANEWS_REPORT_FILE": str(path),
            "CHINANEWS_MIN_COVERAGE": {"published_at": 0.99},
            "CHINANEWS_MIN_SAMPLE": 5,
        }
    )
    assert crawler.stats is not None
    ext = CrawlReport.from_crawler(crawler)
    for n in range(4):
        ext.item_scraped(article(n, published_at=None if n == 0 else "2026-11-27T08:00:00+08:00"))
    ext.item_dropped(article(5))  # a duplicate: read, so counted by the checks, not emitted
    crawler.stats.set_value("item_scraped_count", 4)
    crawler.stats.set_value("finish_reason", "finished")
    ext.spider_closed("finished")
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["ok"] is False
    assert report["coverage"]["published_at"] == 0.75
    assert check(report, "coverage/published_at")["value"] == 0.8
    assert check(report, "coverage/published_at")["limit"] == 0.99
    assert report["stats"]["item_scraped_count"] == 4
    assert report["stats"][CHECKS_FAILED_STAT] == 1
    assert crawler.stats.get_value(CHECKS_FAILED_STAT) == 1


def test_the_extension_reads_the_sample_floor_and_warns_of_a_template_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "out.report.json"
    crawler = get_crawler(
        settings_dict={"CHINANEWS_REPORT_FILE": str(path), "CHINANEWS_MIN_SAMPLE": 3}
    )
    assert crawler.stats is not None
    ext = CrawlReport.from_crawler(crawler)
    for n in range(3):
        ext.item_scraped(with_rules(n, title="generic:h1"))
    crawler.stats.set_value("item_scraped_count", 3)
    with caplog.at_level("WARNING", logger="chinanews.extensions"):
        ext.spider_closed("finished")
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["sample"] == {"article_pages": 3, "floor": 3}
    assert report["template_change"]["share"] == 1.0
    assert report["ok"] is True
    assert crawler.stats.get_value(CHECKS_FAILED_STAT) == 0
    assert any(
        r.levelname == "WARNING" and "TEMPLATE CHANGE" in r.getMessage() for r in caplog.records
    )


def test_a_stopped_crawl_still_writes_its_partial_report(tmp_path: Path) -> None:
    path = tmp_path / "out.report.json"
    crawler = get_crawler(settings_dict={"CHINANEWS_REPORT_FILE": str(path)})
    assert crawler.stats is not None
    ext = CrawlReport.from_crawler(crawler)
    ext.spider_closed("shutdown")
    report = json.loads(path.read_text(encoding="utf-8"))
    assert report["ok"] is None
    assert report["checks"] == []
    assert report["finish_reason"] == "shutdown"
    assert crawler.stats.get_value(CHECKS_FAILED_STAT) is None


# -- end to end: scrapy crawl's exit code ------------------------------------------------


@pytest.fixture(scope="module")
def site(sentinel: Any) -> Any:
    local = LocalSite(size=30, seed=11, outside_base=outside_base(sentinel))
    with serve(local) as server:
        yield local, server


def read_report(tmp_path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    return report


@pytest.mark.e2e
def test_a_good_crawl_exits_0_with_an_ok_report(site: Any, tmp_path: Path) -> None:
    _, server = site
    crawl = run_crawl(tmp_path, "-a", f"start_urls={server.start_url}")
    assert crawl.returncode == 0, crawl.log[-3000:]
    report = read_report(tmp_path)
    assert report["ok"] is True
    assert report["articles"]["emitted"] == len(crawl.items) > 0
    assert sum(report["articles"]["by_template"].values()) == len(crawl.items)
    assert report["pages_by_kind"]["article"] > 0
    assert report["coverage"]["title"] == 1.0
    assert {c["name"] for c in report["checks"]} >= {"articles", "coverage/title"}
    assert "checks passed" in crawl.log
    assert "CRAWL QUALITY CHECK FAILED" not in crawl.log


@pytest.mark.e2e
def test_a_coverage_below_the_limit_exits_3_loudly(site: Any, tmp_path: Path) -> None:
    _, server = site
    crawl = run_crawl(
        tmp_path,
        "-a",
        f"start_urls={server.start_url}",
        # the local site gives an author to a few articles only (a limit above 1 is refused
        # at start: tests/test_config.py); its few dozen articles are below the sample floor
        settings={"CHINANEWS_MIN_COVERAGE": '{"author": 1.0}', "CHINANEWS_MIN_SAMPLE": "0"},
    )
    assert crawl.returncode == 3, crawl.log[-3000:]
    assert "ERROR: " in crawl.log
    assert "CRAWL QUALITY CHECK FAILED" in crawl.log
    assert "coverage of author: " in crawl.log and "minimum 100.0%" in crawl.log
    assert "chinanews extract URL" in crawl.log
    report = read_report(tmp_path)
    assert report["ok"] is False
    assert check(report, "coverage/author")["passed"] is False
    assert check(report, "coverage/title")["passed"] is True
    assert crawl.items  # the articles are still written


@pytest.mark.e2e
def test_a_small_crawl_with_a_broken_page_is_below_the_floor_and_exits_0(
    site: Any, tmp_path: Path
) -> None:
    _, server = site
    crawl = run_crawl(
        tmp_path,
        "-a",
        f"start_urls={server.start_url}",
        # one body-less page would fail a limit of 100%, were the sample large enough
        settings={"CHINANEWS_MIN_COVERAGE": '{"body": 1.0}'},
    )
    assert crawl.returncode == 0, crawl.log[-3000:]
    report = read_report(tmp_path)
    assert report["no_article_by_reason"].get("no_body", 0) >= 1  # the site's broken pages
    pages = report["sample"]["article_pages"]
    assert 0 < pages < DEFAULT_MIN_SAMPLE
    assert report["sample"]["floor"] == DEFAULT_MIN_SAMPLE
    body = check(report, "coverage/body")
    assert body["value"] < 1.0
    assert body["passed"] is None
    assert body["sample"] == pages
    assert report["ok"] is True
    assert "below the sample floor" in crawl.log
    assert f"sample: {pages} article pages (floor {DEFAULT_MIN_SAMPLE})" in crawl.log
    assert "CRAWL QUALITY CHECK FAILED" not in crawl.log


@pytest.mark.e2e
def test_a_crawl_without_articles_exits_3(site: Any, tmp_path: Path) -> None:
    _, server = site
    start = server.start_url.split("/", 3)
    robots = "/".join([*start[:3], "robots.txt"])
    crawl = run_crawl(tmp_path, "-a", f"start_urls={robots}")
    assert crawl.returncode == 3, crawl.log[-3000:]
    assert "articles found: 0, minimum 1" in crawl.log
    report = read_report(tmp_path)
    assert report["ok"] is False
    assert check(report, "articles")["value"] == 0
    assert crawl.items == []


@pytest.mark.e2e
def test_ctrl_c_writes_a_partial_report_without_checks(site: Any, tmp_path: Path) -> None:
    _, server = site
    report_path = tmp_path / "report.json"
    cmd = [*SCRAPY, "crawl", "china_com", "-a", f"start_urls={server.start_url}"]
    slow = {**LOCAL_SETTINGS, "DOWNLOAD_DELAY": "0.5", "CONCURRENT_REQUESTS": "1"}
    for name, value in {**slow, "CHINANEWS_REPORT_FILE": str(report_path)}.items():
        cmd += ["-s", f"{name}={value}"]
    cmd += ["-O", str(tmp_path / "out.jsonl")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    log = []
    for line in proc.stderr:  # wait until the crawl is under way
        log.append(line)
        if "Spider opened" in line:
            break
    time.sleep(1.5)  # a SIGINT while the engine starts ends Scrapy without closing the spider
    proc.send_signal(signal.SIGINT)
    log.append(proc.communicate(timeout=60)[1])
    assert proc.returncode == 0, "".join(log)[-3000:]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["finish_reason"] == "shutdown"
    assert report["ok"] is None
    assert report["checks"] == []
    assert "quality checks not applied" in "".join(log)
