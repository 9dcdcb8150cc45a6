"""Extensions: tell the user where the output goes, and what the crawl did.

``CrawlSummary`` logs the feed locations when the crawl opens and, when it closes, one
summary of the crawl: articles emitted (per template), pages fetched by kind, pages that
did not become articles (per reason), links left out of scope, HTTP errors and elapsed time.
The same summary, with every stat, is written as JSON beside the output
(``out.jsonl`` → ``out.report.json``), or to ``CHINANEWS_REPORT_FILE``.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

PREFIX = "chinanews/"


def _group(stats: dict[str, Any], prefix: str) -> dict[str, int]:
    return {
        k[len(prefix) :]: v
        for k, v in sorted(stats.items())
        if k.startswith(prefix) and "/" not in k[len(prefix) :]
    }


def summarise(stats: dict[str, Any]) -> dict[str, Any]:
    """The crawl's figures, grouped, from the Scrapy stats."""
    elapsed = stats.get("elapsed_time_seconds")
    return {
        "articles_emitted": stats.get(f"{PREFIX}articles/emitted", 0),
        "articles_by_template": _group(stats, f"{PREFIX}articles/template/"),
        "pages_by_kind": _group(stats, f"{PREFIX}pages/"),
        "no_article_by_reason": _group(stats, f"{PREFIX}no_article/"),
        "links_skipped": _group(stats, f"{PREFIX}links/"),
        "out_of_scope_blocked": stats.get(f"{PREFIX}scope/blocked", 0),
        "http_errors_by_status": {
            status: count
            for status, count in _group(stats, "downloader/response_status_count/").items()
            if not status.startswith(("2", "3"))
        },
        "retries": stats.get("retry/count", 0),
        "download_errors": stats.get("downloader/exception_count", 0),
        "elapsed_seconds": round(elapsed, 1) if isinstance(elapsed, (int, float)) else None,
        "finish_reason": stats.get("finish_reason"),
    }


class CrawlSummary:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlSummary:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self) -> None:
        feeds = self.crawler.settings.getdict("FEEDS")
        for uri in feeds:
            logger.info("Articles are written to %s", uri)

    def spider_closed(self, reason: str) -> None:
        assert self.crawler.stats is not None
        stats = dict(self.crawler.stats.get_stats())
        stats.setdefault("finish_reason", reason)
        summary = summarise(stats)
        lines = [
            f"Crawl finished ({reason}): {summary['articles_emitted']} articles emitted"
            f" in {summary['elapsed_seconds']} s",
            f"  articles by template: {summary['articles_by_template'] or '-'}",
            f"  pages fetched by kind: {summary['pages_by_kind'] or '-'}",
            f"  pages that are not articles: {summary['no_article_by_reason'] or '-'}",
            f"  links not followed: {summary['links_skipped'] or '-'}; out-of-scope requests blocked: {summary['out_of_scope_blocked']}",
            f"  HTTP errors by status: {summary['http_errors_by_status'] or '-'}; retries: {summary['retries']}; download errors: {summary['download_errors']}",
        ]
        logger.info("\n".join(lines))
        path = self.report_path()
        if path is not None:
            report = {"summary": summary, "stats": stats}
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
