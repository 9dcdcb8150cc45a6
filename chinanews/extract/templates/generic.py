"""Generic fallback for templates nobody has seen yet.

Title from ``og:title`` (``property=`` or ``name=``), JSON-LD ``headline`` or ``<title>`` without
the ``_…频道_中华网`` / ``_中华网`` suffix; author, publisher and keywords from JSON-LD and meta
tags; the body is the densest block of paragraph text (``densest_block``). The publication time
and whatever else is missing come from ``chinanews.extract.fields``. A page with no article
signal (no JSON-LD article, no ``og:type=article``, no publication time meta, no substantial
paragraph block, no printed time under an ``<h1>``) is not an article.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from lxml import etree

from chinanews.dates import BEIJING, to_iso
from chinanews.extract.templates.base import (
    Located,
    Page,
    http_href,
    in_document_order,
    marked_upwards,
    string_value,
    text_of,
    text_parent,
)
from chinanews.extract.text import (
    Marks,
    clean,
    clean_or_none,
    split_keywords,
    strip_author_prefix,
    strip_source_prefix,
    strip_title_suffix,
)

_TITLE = etree.XPath("//title")
#: The ``type`` of a JSON-LD script (the scripts are found with ``iter``: in C, and fewer
#: of them than every element an XPath ``//`` walks).
_JSON_LD_TYPES = ("application/ld+json", "application/json+ld")
_ARTICLE_TYPES = {"article", "newsarticle", "reportagenewsarticle", "blogposting", "report"}
_DATE_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish_date",
    "publish-date",
    "og:release_date",
    "sailthru.date",
    "dc.date.issued",
    "dc.date",
    "date",
)
_MIN_BLOCK = 120  # characters of paragraph text a page needs to count as an article
_MIN_SHORT = 40  # ... or a page with a heading and a printed publication time
# Page chrome whose paragraphs are never an article body (footers, navigation, rails).
_CHROME = re.compile(r"foot|copyright|nav|header|menu|sidebar|side_|rail|comment|share|\bad", re.I)


_chrome_mark = Marks(_CHROME)


def _chrome(node: Any) -> bool:
    marks = f"{node.get('id', '')} {node.get('class', '')}"
    return node.tag in ("footer", "nav", "header", "aside") or bool(
        marks.strip() and _chrome_mark(marks)
    )


def _in_chrome(element: Any, memo: dict[Any, bool]) -> bool:
    """Whether an ancestor of ``element`` is page chrome (``memo``: see ``marked_upwards``)."""
    return marked_upwards(element.getparent(), _chrome, memo)


def _source_labels(page: Page) -> list[Any]:
    """Elements whose own text has 来源, but scripts and styles, in document order (read
    from the text nodes up, ``Page.word_texts``)."""
    found = []
    for text in page.word_texts:
        if "来源" in text:
            parent = text_parent(text)
            if parent is not None and parent.tag not in ("script", "style"):
                found.append(parent)
    return in_document_order(page.root, found)


def read_json_ld(page: Page) -> list[dict[str, Any]]:
    """Every JSON-LD object on the page (``@graph`` members flattened)."""
    out: list[dict[str, Any]] = []
    for script in page.root.iter("script"):
        if script.get("type") not in _JSON_LD_TYPES:
            continue
        try:
            data = json.loads(script.text or "", strict=False)
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop(0)
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                out.append(item)
                if isinstance(item.get("@graph"), list):
                    stack.extend(item["@graph"])
    return out


def _ld_article(objects: list[dict[str, Any]]) -> dict[str, Any] | None:
    for obj in objects:
        kind = obj.get("@type")
        kinds = kind if isinstance(kind, list) else [kind]
        if any(isinstance(k, str) and k.lower() in _ARTICLE_TYPES for k in kinds):
            return obj
    return None


def _name(value: Any) -> str | None:
    """A person or organisation name from a JSON-LD value (string, object or list)."""
    if isinstance(value, str):
        return clean_or_none(value)
    if isinstance(value, dict):
        return _name(value.get("name"))
    if isinstance(value, list):
        names = [n for n in (_name(v) for v in value) if n]
        return "、".join(names) if names else None
    return None


def iso_from_any(raw: str | None) -> str | None:
    """ISO 8601 (+08:00) from a printed date or an ISO timestamp with any offset."""
    if not raw:
        return None
    text = raw.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:
        return parsed.astimezone(BEIJING).isoformat()
    return to_iso(text)


def largest_block(page: Page) -> tuple[Any, int]:
    """The element whose ``<p>`` children hold the most text, and that amount."""
    block, size, _ = densest_block(page)
    return block, size


_LIST_HEADINGS = frozenset({"相关新闻", "相关阅读", "相关推荐", "延伸阅读", "推荐阅读", "热门推荐"})


_LOOSE_TAGS = ("div", "section", "article", "main", "td")
_INLINE = frozenset({"span", "strong", "b", "em", "i", "font", "u"})


def _loose_text_block(page: Page, chrome: dict[Any, bool]) -> tuple[Any, int, list[Any]]:
    """The element holding the most text of its own, not in ``<p>`` (text runs split by
    ``<br>``, inline tags): a short item written without paragraphs."""
    best, size = None, 0
    for el in page.root.iter(*_LOOSE_TAGS):
        own = len(clean(el.text))
        for child in el:
            if isinstance(child.tag, str) and child.tag in _INLINE:
                own += len(clean(string_value(child)))
            own += len(clean(child.tail))
        if own > size and not _in_chrome(el, chrome):
            best, size = el, own
    return best, size, []


def densest_block(page: Page) -> tuple[Any, int, list[Any]]:
    """The densest block of paragraph text, its size, and the elements inside it that are not
    body (to leave out when reading it).

    The block is the element whose ``<p>`` children hold the most text outside the page
    chrome. When its paragraphs are only one group of several under one parent (a redesign
    that wraps the body in sections, an inline ad or image between two of them), the parent
    is taken so that the body stays whole, and the parent's children that hold no paragraph
    and no image (the heading, the info line, an ad) are left out. Lists of links and
    related-news headings inside the block are left out too."""
    scores: dict[Any, int] = {}
    chrome: dict[Any, bool] = {}
    for p in page.root.iter("p"):  # in C, as an XPath // would walk every node
        parent = p.getparent()
        if parent is None:
            continue
        in_chrome = chrome.get(parent)  # known for the paragraphs after a block's first
        if in_chrome is None:
            in_chrome = _in_chrome(p, chrome)
        if in_chrome:
            continue
        size = len(string_value(p).strip())
        if size:
            scores[parent] = scores.get(parent, 0) + size
    if not scores:
        return _loose_text_block(page, chrome)
    best = max(scores, key=scores.__getitem__)
    size = scores[best]
    if size < _MIN_BLOCK:
        loose = _loose_text_block(page, chrome)
        if loose[1] > size:
            return loose
    skip: list[Any] = []
    outer = best.getparent()
    if outer is not None and outer.tag not in ("body", "html"):
        groups = [c for c in outer if c in scores]
        total = sum(scores[c] for c in groups) + scores.get(outer, 0)
        if len(groups) >= 2 and total >= size * 1.2:
            best, size = outer, total
            for child in outer:
                if not isinstance(child.tag, str) or child in scores or child.tag == "p":
                    continue
                if next(child.iter("img"), None) is None and not any(
                    len(string_value(p).strip()) > 0 for p in child.iter("p")
                ):
                    skip.append(child)
    for el in best.iter("ul", "ol", "h2", "h3", "h4", "div"):
        if el.tag in ("ul", "ol"):
            text = len(string_value(el).strip())
            linked = sum(len(string_value(a).strip()) for a in el.iter("a"))
            if text and linked * 2 >= text:
                skip.append(el)
        elif len(el) <= 1 and clean(string_value(el)) in _LIST_HEADINGS:
            skip.append(el)
    return best, size, skip


def ld_article(page: Page) -> dict[str, Any]:
    """The page's JSON-LD article object, or an empty dict."""
    return _ld_article(read_json_ld(page)) or {}


def locate(
    page: Page, meta: dict[str, str], ld: dict[str, Any] | None = None, *, timed: bool = False
) -> Located | None:
    """The generic reading of a page, or None when nothing says it is an article.

    ``timed`` says the page prints a publication time near an ``<h1>`` (see
    ``chinanews.extract.fields``): with it, a short news item of two or three sentences is an
    article too. The time itself is left to ``chinanews.extract.fields``."""
    if ld is None:
        ld = ld_article(page)
    title, title_rule = clean_or_none(meta.get("og:title")), "og:title"
    if not title:
        title, title_rule = _name(ld.get("headline")), "json-ld-headline"
    if not title:
        titles = _TITLE(page.root)
        title, title_rule = (
            (strip_title_suffix(text_of(titles[0])) if titles else None),
            "title-tag",
        )
    if not title and page.h1:
        title, title_rule = clean_or_none(text_of(page.h1[0])), "h1"
    body, size, skip = densest_block(page)
    ld_body = ld.get("articleBody") if isinstance(ld.get("articleBody"), str) else None
    date_raw = ld.get("datePublished") if isinstance(ld.get("datePublished"), str) else None
    if not date_raw:
        date_raw = next((meta[k] for k in _DATE_META if meta.get(k)), None)
    signals = bool(ld) or "article" in meta.get("og:type", "").lower() or bool(date_raw)
    signals = signals or (timed and size >= _MIN_SHORT)
    if not signals and (size < _MIN_BLOCK or not title):
        return None
    located = Located("generic", title=title, body=body if size else None)
    located.body_skip = skip
    located.found("title", title_rule, title)
    located.found("body", "densest-block", located.body is not None)
    if located.body is None and ld_body:
        located.body_lines = [line for line in (clean(x) for x in ld_body.splitlines()) if line]
        located.found("body", "json-ld-articleBody", located.body_lines)
    located.author = _name(ld.get("author"))
    located.found("author", "json-ld-author", located.author)
    located.author = located.author or strip_author_prefix(meta.get("author"))
    located.found("author", "meta-author", located.author)
    for label in _source_labels(page):
        a = next(label.iter("a"), None)
        text = text_of(label)
        if text.startswith(("来源", "文章来源")) and len(text) < 60:
            located.source = strip_source_prefix(text_of(a) if a is not None else text)
            located.source_url = http_href(a) if a is not None else None
            if located.source:
                located.found("source", "source-label", located.source)
                break
    if not located.source:
        publisher = _name(ld.get("publisher"))
        if publisher and ("中华网" in publisher or "china.com" in publisher.lower()):
            publisher = None  # the site itself, not the outlet a story comes from
        located.found("source", "json-ld-publisher", publisher)
        located.source = publisher or clean_or_none(
            meta.get("source") or meta.get("article:source")
        )
        located.found("source", "meta-source", located.source)
    keywords = ld.get("keywords")
    if isinstance(keywords, list):
        located.keywords = [k for k in (clean(str(x)) for x in keywords) if k]
    elif isinstance(keywords, str):
        located.keywords = split_keywords(keywords)
    return located


def title_fallback(page: Page, meta: dict[str, str]) -> tuple[str | None, str]:
    """A title for a page whose template heading is missing, and the rule that gave it:
    og:title, then ``<title>``."""
    title = clean_or_none(meta.get("og:title"))
    if title:
        return title, "og:title"
    titles = _TITLE(page.root)
    return (strip_title_suffix(text_of(titles[0])) if titles else None), "title-tag"
