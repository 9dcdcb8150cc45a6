"""Template A: the legacy "chan_" CMS (news, ent, tech about 2010–2019, some pages later).

``h1#chan_newsTitle``, ``div#chan_newsInfo`` (time, a source link, a comment counter),
``div#chan_newsDetail`` (body), ``div.editor`` and the related list ``#chan_xgxw``.
"""

from __future__ import annotations

import re

from chinanews.extract.templates.base import (
    Located,
    Page,
    first_in,
    heading_text,
    http_href,
    pick,
    read_info,
    text_of,
)
from chinanews.extract.text import (
    clean_or_none,
    date_pair,
    strip_author_prefix,
    strip_source_prefix,
)

_AFTER_DATE = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:来源\s*[:：]\s*)?(\S+)"
)
_NOT_SOURCE_LINK = ("chan_newsInfo_comment", "chan_newsInfo_link", "chan_newsInfo_author")


def _source_link(info):
    """The first link of the info line that is not the comment counter or a share link."""
    for a in info.iter("a"):
        skip = False
        node = a
        while node is not None and node is not info:
            cls = node.get("class") or ""
            if any(c in cls for c in _NOT_SOURCE_LINK):
                skip = True
                break
            node = node.getparent()
        text = text_of(a)
        if skip or not text or "评论" in text or "分享" in text:
            continue
        return a
    return None


def read_legacy_info(located: Located, page: Page) -> None:
    """Time, source and author from ``#chan_newsInfo`` or ``div.chan_newsInfo_source``."""
    info = page.by_id("chan_newsInfo")
    side = page.first_class("chan_newsInfo_source", tag="div")
    if side is not None:
        read_info(located, side, ".chan_newsInfo_source")
    if info is None:
        return
    try:
        _read_chan_info(located, info)
    finally:
        located.found("published_at", "#chan_newsInfo", located.published_at)
        located.found("source", "#chan_newsInfo", located.source)
        located.found("author", "#chan_newsInfo .chan_newsInfo_author", located.author)


def _read_chan_info(located: Located, info) -> None:
    info_text = text_of(info)
    if located.published_at_raw is None:
        time_el = first_in(info, "time")
        located.published_at, located.published_at_raw = date_pair(
            text_of(time_el) if time_el is not None else info_text
        )
    if located.source is None:
        span = pick(first_in(info, "chan_newsInfo_source"), first_in(info, "source"))
        if span is not None:
            a = next(span.iter("a"), None)
            located.source = strip_source_prefix(text_of(a) if a is not None else text_of(span))
            located.source_url = http_href(a) if a is not None else None
        else:
            a = _source_link(info)
            if a is not None:
                located.source = strip_source_prefix(text_of(a))
                located.source_url = http_href(a)
            else:
                m = _AFTER_DATE.search(info_text.split("参与评论")[0])
                if m:
                    located.source = clean_or_none(m.group(1))
    if located.author is None:
        author = pick(first_in(info, "chan_newsInfo_author"), first_in(info, "author"))
        if author is not None:
            located.author = strip_author_prefix(text_of(author))


def locate(page: Page, template: str = "A") -> Located | None:
    title_el = page.by_id("chan_newsTitle")
    info = page.by_id("chan_newsInfo")
    if title_el is None and info is None:
        return None
    if title_el is None:
        block = page.by_id("chan_newsBlk", "chan_mainBlk")
        title_el = next(block.iter("h1"), None) if block is not None else None
    located = Located(template, title=heading_text(title_el), body=page.by_id("chan_newsDetail"))
    located.found("title", "h1#chan_newsTitle", located.title)
    located.found("body", "#chan_newsDetail", located.body is not None)
    read_legacy_info(located, page)
    located.editor_elements = page.by_class("editor")
    located.related_box = page.by_id("chan_xgxw")
    return located
