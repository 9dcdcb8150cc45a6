"""``scrapy crawl``, checking the spider's arguments first.

A spider that defines ``check_arguments(kwargs)`` gets its ``-a`` arguments checked before
the crawler process even starts; a bad one ends the command with a one-line message on
stderr and exit code 2, instead of a traceback from inside the engine.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.spiderloader import get_spider_loader

if TYPE_CHECKING:
    import argparse


class Command(ScrapyCrawlCommand):
    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if len(args) != 1 or self.settings is None:
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
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
