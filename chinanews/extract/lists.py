"""Channel and list pages: the article entries they list, their next page and other links.

Selectors, tried together: ``.item_list li`` (``h3.item_title a`` / ``h3 a``, ``.item_time``,
``.item_source``), ``.focus_side > h3 > a``, ``.item-con-inner .tit > a``, ``h3.tit a``,
``#left_side .con_item``; when none match, every link whose URL is an article.
"""

from __future__ import annotations

import logging
from datetime import datetime

from chinanews.dates import find_date_text, to_iso
from chinanews.extract.html import HtmlElement, UrlJoiner, decode, parse_page
from chinanews.extract.links import script_urls
from chinanews.extract.model import ListEntry, ListPage
from chinanews.extract.scripted import LIST_SCRIPTED, inline_scripts, scripted_lists
from chinanews.extract.templates.base import Page, first_in, iter_class, pick, text_of
from chinanews.extract.text import clean, clean_or_none, dedupe
from chinanews.urls import LinkKind, link_kind

logger = logging.getLogger(__name__)

_ARTICLE_KINDS = (LinkKind.ARTICLE, LinkKind.ARTICLE_PAGE)
_TIME_CLASSES = ("item_time", "time", "date", "item-time", "pubtime")


def _time_of(item: HtmlElement, now: datetime | None) -> tuple[str | None, str | None]:
    """(ISO, raw) of the time printed in a list item."""
    el = None
    for cls in _TIME_CLASSES:
        el = first_in(item, cls)
        if el is not None:
            break
    raw = clean_or_none(text_of(el)) if el is not None else find_date_text(text_of(item))
    return (to_iso(raw, now), raw) if raw else (None, None)


class _Collector:
    def __init__(self, join: UrlJoiner, now: datetime | None) -> None:
        self.join = join
        self.now = now
        self.entries: list[ListEntry] = []
        self.by_url: dict[str, ListEntry] = {}
        self.anchors: set[HtmlElement] = set()

    def add(self, a: HtmlElement | None, item: HtmlElement | None = None) -> None:
        if a is None:
            return
        url = self.join(a.get("href"))
        if not url:
            return
        self.anchors.add(a)
        title = text_of(a) or clean(a.get("title")) or None
        iso, raw = _time_of(item, self.now) if item is not None else (None, None)
        known = self.by_url.get(url)
        if known is not None:
            known.title = known.title or title
            if known.published_at_raw is None and raw:
                known.published_at, known.published_at_raw = iso, raw
            return
        entry = ListEntry(url=url, title=title, published_at=iso, published_at_raw=raw)
        self.by_url[url] = entry
        self.entries.append(entry)


def _headline(item: HtmlElement) -> HtmlElement | None:
    """The title link of a list item: ``h3.item_title a``, ``h3 a``, ``.tit a``, else its first
    article link, else its first link."""
    for h in item.iter("h3", "h2", "h4"):
        a = next(h.iter("a"), None)
        if a is not None:
            return a
    a = pick(first_in(item, "item_title"), first_in(item, "tit"), first_in(item, "title"))
    if a is not None and a.tag != "a":
        a = next(a.iter("a"), None)
    if a is not None:
        return a
    anchors = [x for x in item.iter("a") if x.get("href")]
    for x in anchors:
        if text_of(x) and link_kind(x.get("href") or "") in _ARTICLE_KINDS:
            return x
    return next((x for x in anchors if text_of(x)), anchors[0] if anchors else None)


def extract_list(
    url: str, html: str | bytes, *, encoding: str | None = None, now: datetime | None = None
) -> ListPage:
    """Entries, next page and other links of a list page; ``now`` pins relative dates."""
    try:
        return _extract(url, html, encoding, now)
    except Exception:
        logger.exception("list extraction failed for %s", url)
        return ListPage()


def _extract(url: str, html: str | bytes, encoding: str | None, now: datetime | None) -> ListPage:
    text = decode(html, encoding)
    root = parse_page(text) if text.strip() else None  # None: binary, or nothing to parse
    if root is None:
        return ListPage()
    page = Page(root, url)
    join = page.join
    found = _Collector(join, now)
    for box in page.by_class("item_list"):
        for li in box.iter("li"):
            found.add(_headline(li), li)
    for side in page.by_class("focus_side"):
        for h3 in side.iterchildren("h3"):
            for a in h3.iterchildren("a"):
                found.add(a, h3)
    for inner in page.by_class("item-con-inner"):
        for tit in iter_class(inner, "tit"):
            for a in tit.iterchildren("a"):
                found.add(a, inner)
    for h3 in page.by_class("tit", tag="h3"):
        parent = h3.getparent()
        for a in h3.iter("a"):
            found.add(a, parent if parent is not None else h3)
    left = page.by_id("left_side")
    for item in iter_class(left, "con_item"):
        found.add(_headline(item), item)
    listed = bool(found.entries)  # before the fallback, which also takes the rails' links
    if not found.entries:
        for a in root.iter("a"):
            href = join(a.get("href"))
            if href and link_kind(href) in _ARTICLE_KINDS:
                parent = a.getparent()
                found.add(
                    a, parent if parent is not None and parent.tag in ("li", "dd", "p") else None
                )
    next_page = None
    links: list[str] = []
    for a in root.iter("a"):
        if a in found.anchors:
            continue
        href = a.get("href")
        if not href:
            continue
        if next_page is None and a.text_content().strip() == "下一页":
            next_page = join(href)
            continue
        absolute = join(href)
        if absolute:
            links.append(absolute)
    links.extend(script_urls(root, join))
    taken = set(found.by_url)
    if next_page:
        taken.add(next_page)
    script_filled: dict[str, str] = {}
    if not listed:
        waiting = scripted_lists(page, inline_scripts(root))
        if waiting is not None:
            script_filled[LIST_SCRIPTED] = waiting
    return ListPage(
        entries=found.entries,
        next_page=next_page,
        links=[u for u in dedupe(links) if u not in taken],
        script_filled=script_filled,
    )


__all__ = ["extract_list"]
