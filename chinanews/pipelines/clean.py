"""Clean: every field in one normal form, whatever template or extractor produced it.

Idempotent: an item that is already clean passes unchanged. Drops nothing.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone
from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from w3lib.url import canonicalize_url, url_query_cleaner

from chinanews.dates import BEIJING, parse_datetime
from chinanews.extract.text import (
    editor_of,
    split_keywords,
    strip_author_prefix,
    strip_source_prefix,
    strip_title_suffix,
)
from chinanews.urls import article_ref, canonical_url

#: Query parameters that only track where a click came from.
TRACKING_PARAMS = (
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "utm_id",
    "spm", "from", "fromid", "source", "share_token", "share", "isappinstalled", "wx_ref",
    "_t", "timestamp", "gclid", "fbclid",
)  # fmt: skip
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"[ \t\f\v\r\u00a0\u3000\u2000-\u200a\u202f\u205f]+")
_BLANK_LINES = re.compile(r"\n{2,}")
_ISO_BEIJING = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$")


def normalise_text(text: str | None) -> str | None:
    """NFC, no zero-width characters, every kind of space run as one space, stripped."""
    if text is None:
        return None
    text = _ZERO_WIDTH.sub("", unicodedata.normalize("NFC", text))
    return _SPACES.sub(" ", text).strip(" \n")


def normalise_body(body: str | None) -> str | None:
    """One paragraph per line: each line normalised, blank lines and runs of them dropped."""
    if body is None:
        return None
    lines = (normalise_text(line) for line in body.replace("\r\n", "\n").split("\n"))
    return _BLANK_LINES.sub("\n", "\n".join(line for line in lines if line)).strip("\n")


def clean_url(url: str | None) -> str | None:
    """Article URLs to their canonical form; any other URL without tracking parameters
    and fragment."""
    if not url:
        return url
    url = url.strip()
    if not url.startswith(("http://", "https://")):
        return url
    if article_ref(url) is not None:
        return canonical_url(url)
    return canonicalize_url(
        url_query_cleaner(url, TRACKING_PARAMS, remove=True, keep_fragments=False)
    )


def clean_datetime(value: str | None, raw: str | None, now: datetime) -> str | None:
    """``published_at`` as ISO 8601 ``+08:00``, from the value or else from the raw string."""
    if value and _ISO_BEIJING.match(value):
        return value
    for candidate in (value, raw):
        found = parse_datetime(candidate, now) if candidate else None
        if found is not None:
            return found.astimezone(BEIJING).replace(microsecond=0).isoformat()
    return None


class CleanPipeline:
    """Normalises text, dates and URLs of every article. Drops nothing."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CleanPipeline:
        return cls()

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        crawled_at = adapter.get("crawled_at")
        now = _parse_utc(crawled_at) or datetime.now(timezone.utc)
        if not crawled_at:
            adapter["crawled_at"] = now.isoformat(timespec="seconds")

        for name in (
            "title",
            "source",
            "author",
            "editor",
            "summary",
            "published_at_raw",
            "channel",
        ):
            if name in adapter:
                adapter[name] = normalise_text(adapter.get(name)) or None
        if adapter.get("title"):
            adapter["title"] = strip_title_suffix(adapter["title"]) or adapter["title"]
        if adapter.get("source"):
            adapter["source"] = strip_source_prefix(adapter["source"]) or None
        if adapter.get("author"):
            adapter["author"] = strip_author_prefix(adapter["author"]) or None
        if adapter.get("editor") and "责任编辑" in adapter["editor"]:
            adapter["editor"] = editor_of(adapter["editor"])
        if "body" in adapter:
            adapter["body"] = normalise_body(adapter.get("body"))
        if "keywords" in adapter:
            adapter["keywords"] = clean_keywords(adapter.get("keywords"))

        if "published_at" in adapter:
            adapter["published_at"] = clean_datetime(
                adapter.get("published_at"),
                adapter.get("published_at_raw"),
                now.astimezone(BEIJING),
            )
        for name in ("url", "source_url"):
            if name in adapter:
                adapter[name] = clean_url(adapter.get(name))
        if adapter.get("images"):
            adapter["images"] = [
                {
                    **image,
                    "url": clean_url(image.get("url")),
                    "caption": normalise_text(image.get("caption")) or None,
                }
                for image in adapter["images"]
            ]
        if adapter.get("related"):
            adapter["related"] = self._related(adapter["related"], now)
        return item

    @staticmethod
    def _related(related: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        out, seen = [], set()
        for link in related:
            url = clean_url(link.get("url"))
            if not url or url in seen:
                continue
            seen.add(url)
            published = link.get("published_at")
            out.append(
                {
                    **link,
                    "url": url,
                    "title": normalise_text(link.get("title")) or None,
                    "published_at": clean_datetime(published, published, now.astimezone(BEIJING)),
                }
            )
        return out


def clean_keywords(value: Any) -> list[str]:
    """Keywords split on every separator the site uses, de-duplicated in order."""
    if not value:
        return []
    parts = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for part in parts:
        for keyword in split_keywords(normalise_text(str(part))):
            if keyword not in out:
                out.append(keyword)
    return out


def _parse_utc(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
