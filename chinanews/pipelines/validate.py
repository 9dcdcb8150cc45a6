"""Validate: every article against the published JSON Schema (``docs/article.schema.json``).

An invalid item is dropped (``Rejected``) with its reason counted under
``chinanews/dropped/<reason>`` and written, with every error, to the rejects output
beside the main one (``out.rejects.jsonl``): nothing malformed reaches the lake, and
nothing disappears.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources
from typing import Any

from itemadapter import ItemAdapter
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from chinanews.lifecycle import crawl_run
from chinanews.outputs import JsonLines, beside_output, resumed
from chinanews.signals import article_rejected

logger = logging.getLogger(__name__)


class Rejected(DropItem):
    """The item does not satisfy the article schema."""


@cache
def article_schema() -> dict[str, Any]:
    """The article JSON Schema shipped in the package (the one published in docs/)."""
    text = resources.files("chinanews.schemas").joinpath("article.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def reason_of(error: ValidationError) -> str:
    """A short, stable stats key for one schema error: ``missing_title``, ``invalid_url``."""
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "field"
        return f"missing_{missing}"
    path = list(error.absolute_path)
    field = str(path[0]) if path else "item"
    top_level = len(path) == 1
    if top_level and error.instance in ("", None) and error.validator in ("minLength", "type"):
        return f"missing_{field}"
    return f"invalid_{field}"


class ValidatePipeline:
    """Drops items that fail the article schema; writes them to the rejects output."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.validator = Draft202012Validator(article_schema())
        self.rejects: JsonLines | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        self.rejects = JsonLines(
            beside_output(self.crawler, ".rejects.jsonl"), append=resumed(self.crawler)
        )
        crawl_run(self.crawler).register("rejects", self.rejects.sync)

    def close_spider(self) -> None:
        if self.rejects is not None:
            if self.rejects.count:
                logger.warning(
                    "%d invalid articles written to %s", self.rejects.count, self.rejects.path
                )
            self.rejects.close()

    def process_item(self, item: Any) -> Any:
        record = ItemAdapter(item).asdict()
        errors = sorted(
            self.validator.iter_errors(record), key=lambda e: (list(e.absolute_path), e.message)
        )
        if not errors:
            return item
        reasons = sorted({reason_of(e) for e in errors})
        stats = self.crawler.stats
        assert stats is not None
        for reason in reasons:
            stats.inc_value(f"chinanews/dropped/{reason}")
        assert self.rejects is not None
        entry = {
            "reason": reasons[0],
            "errors": [
                f"{'/'.join(map(str, e.absolute_path)) or '(item)'}: {e.message}" for e in errors
            ],
            "item": record,
        }
        self.rejects.write(entry)
        self.crawler.signals.send_catch_log(signal=article_rejected, record=entry)
        raise Rejected(
            f"invalid article ({', '.join(reasons)}): {record.get('url')}", log_level="INFO"
        )
