"""``scrapy crawl``, checking the spider's arguments first and the crawl's quality last.

A spider that defines ``check_arguments(kwargs)`` gets its ``-a`` arguments checked before
the crawler process even starts, and ``check_environment(settings, kwargs)`` whether what
they need is there (a browser for ``-a render=auto``); a bad one ends the command with a one-line message on
stderr and exit code 2, instead of a traceback from inside the engine.

When the crawl is over, the command reads ``chinanews/checks/failed``, which the
``CrawlReport`` extension sets after its quality checks: a failed check ends the command
with exit code 3 (Scrapy's own process would exit with 0).

While it runs, the crawl holds its article index's lock (``chinanews.runlock``): a second
crawl of the same spider on the same index stops at once with exit code 4.

Exit codes: 0 ok, 1 Scrapy could not start the crawl, 2 bad arguments or settings, 3 quality
checks failed (``docs/report.md``), 4 another run of the spider holds the lock, 5 an output
could not store its data (``chinanews.lifecycle``; the articles it lost are emitted again by
the next run).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.spiderloader import get_spider_loader

from chinanews import config
from chinanews.index import check_settings
from chinanews.lake.iceberg import check_settings as check_lake_settings
from chinanews.lease import EXIT_REDIS_LOST, REDIS_LOST_STAT
from chinanews.lifecycle import EXIT_OUTPUT_FAILED, OUTPUT_FAILED_STAT
from chinanews.report import CHECKS_FAILED_STAT, EXIT_CHECKS_FAILED
from chinanews.runlock import EXIT_LOCKED, RunLock, RunLocked, lock_path
from chinanews.storage import check_settings as check_storage_settings

if TYPE_CHECKING:
    import argparse

    from scrapy import Spider
    from scrapy.crawler import Crawler


class Command(ScrapyCrawlCommand):
    crawler: Crawler | None = None

    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if self.settings is None:
            return
        try:
            config.check_settings(self.settings)
            check_settings(self.settings)
            check_storage_settings(self.settings)
            check_lake_settings(self.settings)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        if len(args) != 1:
            return
        try:
            spidercls = get_spider_loader(self.settings).load(args[0])
        except KeyError:
            return  # Scrapy's own message for an unknown spider follows
        check = getattr(spidercls, "check_arguments", None)
        if check is None:
            return
        try:
            check(dict(opts.spargs))
            environment = getattr(spidercls, "check_environment", None)
            if environment is not None:
                environment(self.settings, dict(opts.spargs))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)

    def _create_crawler(self, spidercls: type[Spider] | str) -> Crawler:
        self.crawler = super()._create_crawler(spidercls)
        return self.crawler

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        path = lock_path(self.settings, args[0]) if self.settings and len(args) == 1 else None
        lock = RunLock(path) if path else None
        if lock is not None:
            try:
                lock.acquire()
            except RunLocked as exc:
                print(f"error: {exc}", file=sys.stderr)
                sys.exit(EXIT_LOCKED)
        try:
            super().run(args, opts)
        finally:
            if lock is not None:
                lock.release()
        if self.exitcode or self.crawler is None or self.crawler.stats is None:
            return
        if self.crawler.stats.get_value(OUTPUT_FAILED_STAT, 0):
            self.exitcode = EXIT_OUTPUT_FAILED
        elif self.crawler.stats.get_value(REDIS_LOST_STAT, 0):
            self.exitcode = EXIT_REDIS_LOST
        elif self.crawler.stats.get_value(CHECKS_FAILED_STAT, 0):
            self.exitcode = EXIT_CHECKS_FAILED
