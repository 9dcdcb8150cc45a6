"""Extensions: tell the user where the output goes, what the crawl did, and whether it worked.

``CrawlReport`` logs the feed locations when the crawl opens, counts per field the articles
emitted (``item_scraped``) and dropped (``item_dropped``), and the emitted ones a generic
fallback rule read (their ``provenance``), and, when the crawl closes, builds the crawl
report (``chinanews.report``): logs its summary, runs the quality checks
(``CHINANEWS_MIN_ARTICLES``, ``CHINANEWS_MIN_COVERAGE`` from ``CHINANEWS_MIN_SAMPLE`` article
pages) and logs a loud ERROR block for any that failed, a loud WARNING block when most
articles needed generic rules (a template change, which does not fail the crawl), sets
``chinanews/checks/failed`` for ``scrapy crawl``'s exit code, and writes the report as JSON
beside the output (``out.jsonl`` → ``out.report.json``) or to ``CHINANEWS_REPORT_FILE``.
See ``docs/report.md``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals

from chinanews.outputs import beside_output
from chinanews.report import (
    CHECKS_FAILED_STAT,
    DEFAULT_MIN_SAMPLE,
    FieldCounter,
    build_report,
    format_failures,
    format_summary,
    format_template_change,
    min_coverage,
)
from chinanews.signals import crawl_report

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class CrawlReport:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.counter = FieldCounter()
        self.dropped = FieldCounter()
        self.min_articles = crawler.settings.getint("CHINANEWS_MIN_ARTICLES", 1)
        self.coverage_limits = min_coverage(crawler.settings.getdict("CHINANEWS_MIN_COVERAGE"))
        self.min_sample = crawler.settings.getint("CHINANEWS_MIN_SAMPLE", DEFAULT_MIN_SAMPLE)
        self.report: dict[str, Any] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlReport:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self) -> None:
        feeds = self.crawler.settings.getdict("FEEDS")
        for uri in feeds:
            logger.info("Articles are written to %s", uri)

    def item_scraped(self, item: Any) -> None:
        self.counter.add(item)

    def item_dropped(self, item: Any) -> None:
        self.dropped.add(item)

    def spider_closed(self, reason: str) -> None:
        stats_collector = self.crawler.stats
        assert stats_collector is not None
        stats = dict(stats_collector.get_stats())
        stats.setdefault("finish_reason", reason)
        report = build_report(
            stats,
            self.counter,
            self.dropped,
            min_articles=self.min_articles,
            coverage_limits=self.coverage_limits,
            min_sample=self.min_sample,
        )
        if report["ok"] is not None:
            failed = sum(1 for c in report["checks"] if c["passed"] is False)
            stats_collector.set_value(CHECKS_FAILED_STAT, failed)
            report["stats"][CHECKS_FAILED_STAT] = failed
        self.report = report
        logger.info(format_summary(report))
        change = format_template_change(report)
        if change:
            logger.warning(change)
        failures = format_failures(report)
        if failures:
            logger.error(failures)
        elif report["ok"] is None:
            logger.warning(
                "The crawl was stopped (%s): quality checks not applied; the report is partial",
                reason,
            )
        path = self.report_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
        )
        logger.info("Crawl report written to %s", path)
        self.crawler.signals.send_catch_log(signal=crawl_report, report=report)

    def report_path(self) -> Path:
        """``CHINANEWS_REPORT_FILE``, else beside the main output (``out.report.json``)."""
        explicit = self.crawler.settings.get("CHINANEWS_REPORT_FILE")
        return Path(explicit) if explicit else beside_output(self.crawler, ".report.json")
