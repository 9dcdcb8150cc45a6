"""Extensions: tell the user where the output goes, what the crawl did, and whether it worked.

``CrawlReport`` logs the feed locations when the crawl opens, counts per field the articles
emitted (``item_scraped``) and dropped (``item_dropped``) and, when the crawl closes, builds the crawl report
(``chinanews.report``): logs its summary, runs the quality checks (``CHINANEWS_MIN_ARTICLES``,
``CHINANEWS_MIN_COVERAGE``) and logs a loud ERROR block for any that failed, sets
``chinanews/checks/failed`` for ``scrapy crawl``'s exit code, and writes the report as JSON
beside the output (``out.jsonl`` → ``out.report.json``) or to ``CHINANEWS_REPORT_FILE``.
See ``docs/report.md``.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals

from chinanews.report import (
    CHECKS_FAILED_STAT,
    FieldCounter,
    build_report,
    format_failures,
    format_summary,
    min_coverage,
)

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
        )
        if report["ok"] is not None:
            failed = sum(1 for c in report["checks"] if c["passed"] is False)
            stats_collector.set_value(CHECKS_FAILED_STAT, failed)
            report["stats"][CHECKS_FAILED_STAT] = failed
        self.report = report
        logger.info(format_summary(report))
        failures = format_failures(report)
        if failures:
            logger.error(failures)
        elif report["ok"] is None:
            logger.warning(
                "The crawl was stopped (%s): quality checks not applied; the report is partial",
                reason,
            )
        path = self.report_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
            )
            logger.info("Crawl report written to %s", path)

    def report_path(self) -> Path | None:
        """``CHINANEWS_REPORT_FILE``, else ``<first local feed file>.report.json``."""
        explicit = self.crawler.settings.get("CHINANEWS_REPORT_FILE")
        if explicit:
            return Path(explicit)
        spider = self.crawler.spider
        params = _SpiderParams(spider)
        for uri in self.crawler.settings.getdict("FEEDS"):
            uri = str(uri)
            if "://" in uri and not uri.startswith("file://"):
                continue
            try:
                local = uri.removeprefix("file://") % params
            except (KeyError, ValueError, TypeError):
                continue
            return Path(os.path.splitext(local)[0] + ".report.json")
        return None


class _SpiderParams(dict[str, Any]):
    """Feed URI parameters (``%(name)s``, ``%(time)s``) looked up on the spider on demand."""

    def __init__(self, spider: Any) -> None:
        super().__init__()
        self.spider = spider

    def __missing__(self, key: str) -> Any:
        if key == "time":
            return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace(":", "-")
        return getattr(self.spider, key)
