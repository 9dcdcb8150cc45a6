"""Links of a page, sorted by role: pager (by link *text*: the site's pager classes are
swapped), related list, recommended lists, body, and everything else including script
sources and feed URLs named in inline scripts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from chinanews.extract.html import HtmlElement, UrlJoiner
from chinanews.extract.model import ArticleLinks
from chinanews.extract.templates.base import (
    Page,
    has_class,
    in_document_order,
    text_of,
    text_parent,
)
from chinanews.extract.text import clean, date_pair, dedupe
from chinanews.urls import LinkKind, canonical_url, link_kind

_NOT_LABEL = frozenset({"script", "style", "title", "a"})


def labels(page: Page) -> list[HtmlElement]:
    """Elements whose own text names the keyword slot or the related-news heading (not a
    script, style, title or link), and links whose text names the related news, in document
    order. Read from the text nodes up (``Page.word_texts``): a link's text holds 相关新闻
    only if one of its text nodes holds the 关 of it."""
    found: list[HtmlElement] = []
    for text in page.word_texts:
        if "关" not in text:
            continue
        parent = text_parent(text)
        if parent is None:
            continue
        if ("关键词" in text or "相关新闻" in text or "相关阅读" in text) and (
            parent.tag not in _NOT_LABEL
        ):
            found.append(parent)
        if not _part_of_related(text):
            continue
        links = list(parent.iterancestors("a"))
        if parent.tag == "a":
            links.append(parent)
        for a in links:
            whole = a.text_content()
            if "相关新闻" in whole or "相关阅读" in whole:
                found.append(a)
    return in_document_order(page.root, found)


def _part_of_related(text: str) -> bool:
    """Whether a text node may hold the 关 of a 相关新闻 / 相关阅读 that runs over several
    nodes of a link's text: 相 right before that 关 or the node starting with it, and 新 or
    阅 right after it or the node ending with it."""
    return (
        "相关新" in text
        or "相关阅" in text
        or text.endswith("相关")
        or text.startswith(("关新", "关阅"))
        or text == "关"
    )


_QUOTED = re.compile(r"""["']((?:https?:)?//[^"'\s<>\\]+|/[^"'\s<>\\]+)["']""")
_FEEDISH = re.compile(r"rank(?:_all)?\.js|getNewsInfo|/p/\d|/api/")
_RECOMMENDED = re.compile(
    r"arttj|recommend|tuijian|xgtj|ranktop|hotnews|hot_news|hot-news|js-follow-right", re.I
)
#: ``_RECOMMENDED`` without IGNORECASE, for names in ASCII, lower-cased.
_RECOMMENDED_LOWER = re.compile(_RECOMMENDED.pattern)
_PAGER = re.compile(r"multipageNum|pageStyle|^pages?$|pager|pagination|page-?box", re.I)
_DIGITS = re.compile(r"\d+")
_TOTAL = re.compile(r"共\s*(\d+)\s*页")
_NOT_LIST = ("footer", "foot", "copyright")
_INLINE_LABELS = frozenset({"span", "em", "strong", "b", "label", "i", "font", "dt", "h4", "h5"})


def _inside(el: HtmlElement, container: HtmlElement | None) -> bool:
    if container is None:
        return False
    return any(anc is container for anc in el.iterancestors())


def related_box_by_heading(
    labels: list[HtmlElement], body: HtmlElement | None
) -> HtmlElement | None:
    """The list that follows a 相关新闻 / 相关阅读 heading (the heading's next sibling, or its
    wrapper's next sibling when the heading stands alone in a title bar)."""
    for el in labels:
        text = text_of(el)
        if not text.startswith(("相关新闻", "相关阅读")) or len(text) > 16 or _inside(el, body):
            continue
        node: HtmlElement | None = el
        for _ in range(3):
            if node is None:
                break
            sib = next(
                (
                    s
                    for s in node.itersiblings()
                    if isinstance(s.tag, str) and s.tag not in ("script", "style")
                ),
                None,
            )
            if sib is not None:
                marker = ((sib.get("class") or "") + " " + (sib.get("id") or "")).lower()
                if sib.tag == "footer" or any(m in marker for m in _NOT_LIST):
                    return None
                return sib
            node = node.getparent()
            if node is not None and node.tag in ("body", "html"):
                break
    return None


_SEPARATORS = re.compile(r"^[\s,，、;；|｜/:：]*$")
_KEYWORD_LABEL = re.compile(r"^\s*关键词\s*[:：]?")
_NOT_KEYWORDS = re.compile(r"time|date|source|author|share|editor|comment|info", re.I)


def _slot_items(lead: str | None, nodes: Iterable[HtmlElement]) -> list[str]:
    """Link texts that follow a 关键词 label as items of its own: the links next to it, up to
    the first thing that is not one (a time, a source, share buttons, printed text)."""
    if lead and not _SEPARATORS.match(lead):
        return []
    words: list[str] = []
    for node in nodes:
        if not isinstance(node.tag, str):
            continue
        marks = f"{node.get('class') or ''} {node.get('id') or ''}"
        if _NOT_KEYWORDS.search(marks):
            break
        if node.tag == "a":
            words.append(text_of(node))
        else:
            anchors = list(node.iter("a"))
            rest = text_of(node)
            for a in anchors:
                rest = rest.replace(text_of(a), "", 1)
            if not _SEPARATORS.match(rest):
                break
            words.extend(text_of(a) for a in anchors)
        if node.tail and not _SEPARATORS.match(node.tail):
            break
    return dedupe(words)


def keyword_slot(labels: list[HtmlElement], body: HtmlElement | None) -> list[str]:
    """Link texts of the visible 关键词 slot, only when the slot holds items of its own.

    On the current template the label can be an empty ``关键词:`` in the same info line as
    the time, the source link and the share buttons; those are never keywords, so an empty
    slot gives ``[]`` and the caller falls back to ``<meta name="keywords">``."""
    for el in labels:
        own = clean(el.text)
        if not own.startswith("关键词") or _inside(el, body):
            continue
        words = _slot_items(_KEYWORD_LABEL.sub("", own), el)
        if not words and not any(True for _ in el.iter("a")) and el.tag in _INLINE_LABELS:
            # "<span>关键词:</span><a>…</a>": the slot is what follows the label
            words = _slot_items(el.tail, el.itersiblings())
        if words:
            return words
    return []


def recommended_boxes(page: Page, body: HtmlElement | None) -> list[HtmlElement]:
    """Right-rail article lists: ``#js-arttj-med`` and lists named like it."""
    # one search over all the names first: most pages have no such list, and no word of
    # ``_RECOMMENDED`` holds the newline that parts them, so a match lies in one name; names
    # in ASCII (as names are) are lower-cased for the search without IGNORECASE, several
    # times quicker, and the same for ASCII, the words being lower-case letters, - and _
    names = "\n".join([*page.ids, *page.classes])
    if names.isascii():
        found = _RECOMMENDED_LOWER.search(names.lower())
    else:
        found = _RECOMMENDED.search(names)
    if found is None:
        return []
    boxes = [el for key, el in page.ids.items() if _RECOMMENDED.search(key)]
    for cls, els in page.classes.items():
        if _RECOMMENDED.search(cls):
            boxes.extend(els)
    if body is not None and boxes:
        around = set(body.iterancestors())
        around.add(body)
        boxes = [b for b in boxes if b not in around]
    return boxes


def related_items(box: HtmlElement | None, join: UrlJoiner) -> list[dict[str, Any]]:
    """``{url, title, published_at}`` per item of a related list; the date is the one printed
    beside the link in its ``<li>`` (or item block)."""
    if box is None:
        return []
    units: list[HtmlElement] = list(box.iter("li"))
    if not units:
        seen_units: list[HtmlElement] = []
        for a in box.iter("a"):
            unit = a
            while unit.getparent() is not None and unit.getparent() is not box:
                unit = unit.getparent()
            if unit.getparent() is None:
                unit = a
            if not seen_units or seen_units[-1] is not unit:
                seen_units.append(unit)
        units = seen_units
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for unit in units:
        anchors = [unit] if unit.tag == "a" else list(unit.iter("a"))
        chosen, title = None, None
        for a in anchors:
            url = join(a.get("href"))
            if not url:
                continue
            text = text_of(a) or clean(a.get("title"))
            if chosen is None or (not title and text):
                chosen, title = url, text or None
            if title:
                break
        if chosen is None:
            continue
        url = canonical_url(chosen)
        if url in seen:
            continue
        seen.add(url)
        published_at = date_pair(text_of(unit))[0] if unit.tag != "a" else None
        out.append({"url": url, "title": title, "published_at": published_at})
    return out


def _pager_box(page: Page, anchors: list[HtmlElement]) -> HtmlElement | None:
    for key, el in page.ids.items():
        if key.startswith("chan_multipageNum"):
            return el
    found = page.first_class("pageStyle5")
    if found is not None:
        return found
    for a in anchors:
        node = a.getparent()
        for _ in range(3):
            if node is None:
                break
            marker = (node.get("class") or "") + " " + (node.get("id") or "")
            if _PAGER.search(marker):
                return node
            node = node.getparent()
        if a.getparent() is not None:
            return a.getparent()
    return None


def page_count(box: HtmlElement | None) -> int | None:
    """The pager's total: ``span.sumPage cite``, ``共N页``, else the largest page number."""
    if box is None:
        return None
    for el in box.iter():
        if isinstance(el.tag, str) and has_class(el, "sumPage"):
            m = _DIGITS.search(text_of(el))
            if m:
                return int(m.group())
    m = _TOTAL.search(text_of(box))
    if m:
        return int(m.group(1))
    numbers = [
        int(t)
        for el in box.iter("a", "span", "em", "strong", "b")
        if (t := text_of(el)).isdigit() and len(t) < 4
    ]
    return max(numbers) if numbers else None


def script_urls(root: HtmlElement, join: UrlJoiner) -> list[str]:
    """``<script src>`` URLs, and feed URLs quoted in inline scripts."""
    out: list[str] = []
    for script in root.iter("script"):
        src = script.get("src")
        if src:
            url = join(src)
            if url:
                out.append(url)
            continue
        code = script.text
        if not code or len(code) > 500_000:
            continue
        for m in _QUOTED.finditer(code):
            if not _FEEDISH.search(m.group(1)):
                continue
            url = join(m.group(1), keep_fragment=False)
            if url and link_kind(url) is LinkKind.FEED:
                out.append(url)
    return out


def collect_links(
    page: Page,
    join: UrlJoiner,
    body: HtmlElement | None,
    related_box: HtmlElement | None,
    dropped: list[HtmlElement] | None = None,
) -> ArticleLinks:
    """Every link of an article page, by role; links inside ``dropped`` (the body's logo,
    pager, ads...) are not body links."""
    body_set = set(body.iter("a")) if body is not None else set()
    for el in dropped or ():
        body_set.difference_update(el.iter("a"))
    related_set = set(related_box.iter("a")) if related_box is not None else set()
    rec_set: set[HtmlElement] = set()
    for box in recommended_boxes(page, body):
        rec_set.update(box.iter("a"))
    links = ArticleLinks()
    pager_anchors: list[HtmlElement] = []
    related: list[str] = []
    recommended: list[str] = []
    in_body: list[str] = []
    other: list[str] = []
    for a in page.root.iter("a"):
        href = a.get("href")
        if not href:
            continue
        text = a.text
        if len(a):  # <a><span>下一页</span></a>
            text = a.text_content()
        text = text.strip(" \t\r\n\u3000\xa0") if text else ""
        if text in ("下一页", "全文", "上一页"):
            pager_anchors.append(a)
            if text == "下一页" and links.next_page is None:
                links.next_page = join(href)
                continue
            if text == "全文" and links.all_page is None:
                links.all_page = join(href)
                continue
        url = join(href)
        if url is None:
            continue
        if a in related_set:
            related.append(url)
        elif a in rec_set:
            recommended.append(url)
        elif a in body_set:
            in_body.append(url)
        else:
            other.append(url)
    if pager_anchors or any(k.startswith("chan_multipageNum") for k in page.ids):
        links.page_count = page_count(_pager_box(page, pager_anchors))
    other.extend(script_urls(page.root, join))
    links.related = dedupe(related)
    links.recommended = dedupe(recommended)
    links.body = dedupe(in_body)
    taken = set(links.related) | set(links.recommended) | set(links.body)
    taken.update(u for u in (links.next_page, links.all_page) if u)
    links.other = [u for u in dedupe(other) if u not in taken]
    return links
