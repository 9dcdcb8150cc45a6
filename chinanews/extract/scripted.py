"""Blocks of a page that its static HTML leaves for a script to fill.

A plain request gets the HTML as served; some blocks of china.com arrive only when the page's
scripts run (ref §0, §3): the current template's 相关新闻 list, and, on the local site's
JavaScript variants, an injected body or a list page filled from a JSON endpoint. These
functions say, from the parsed page alone, which needed block is empty and which CSS selector
shows it filled, so that the spider can send just those pages through a browser
(``docs/rendering.md``). Blocks whose data the crawler reads directly (the rank feeds behind
``#js-ranktop``, the finance JSON lists) are not reported: they need no browser.
"""

from __future__ import annotations

from chinanews.extract.html import HtmlElement
from chinanews.extract.links import recommended_boxes
from chinanews.extract.templates.base import Page

#: The related-news container is on the page, and empty.
RELATED_EMPTY = "related_empty"
#: The body container of a recognised article is empty and a script writes into it.
BODY_SCRIPTED = "body_scripted"
#: A list page with no entries, whose empty list container a script fills.
LIST_SCRIPTED = "list_scripted"

_LIST_TAGS = frozenset({"ul", "ol", "div", "dl", "section", "tbody"})


def inline_scripts(root: HtmlElement) -> str:
    """The code of every inline ``<script>``, joined."""
    return "\n".join(s.text for s in root.iter("script") if not s.get("src") and s.text)


def _plain_name(name: str) -> bool:
    return bool(name) and name.replace("-", "").replace("_", "").isalnum()


def selector_of(el: HtmlElement) -> str | None:
    """A CSS selector for ``el``: its id, else its tag and classes, else its parent's id or
    classes and its tag; None when nothing names it."""

    def own(node: HtmlElement) -> str | None:
        ident = (node.get("id") or "").strip()
        if _plain_name(ident):
            return f"#{ident}"
        classes = [c for c in (node.get("class") or "").split() if _plain_name(c)]
        if classes:
            return node.tag + "".join(f".{c}" for c in classes)
        return None

    found = own(el)
    if found:
        return found
    parent = el.getparent()
    if parent is not None:
        named = own(parent)
        if named:
            return f"{named} > {el.tag}"
    return None


def _has_links(el: HtmlElement) -> bool:
    return any(a.get("href") for a in el.iter("a"))


def _filled(selector: str | None, inner: str) -> str | None:
    return f"{selector} {inner}" if selector else None


def empty_related(related_box: HtmlElement | None) -> str | None:
    """The selector to wait for when the related container is present but holds no link
    (``""`` when it cannot be named: wait for the page to settle); None when not empty."""
    if related_box is None or _has_links(related_box):
        return None
    return _filled(selector_of(related_box), "a") or ""


def scripted_body(body: HtmlElement | None, scripts: str) -> str | None:
    """The selector to wait for when ``body`` is empty and a script fills it (the container
    holds a script, or an inline script names its id); else None."""
    if body is None:
        return None
    if any(True for _ in body.iter("script")):
        return _filled(selector_of(body), "p") or ""
    ident = (body.get("id") or "").strip()
    if _plain_name(ident) and (f"'{ident}'" in scripts or f'"{ident}"' in scripts):
        return f"#{ident} p"
    return None


def scripted_lists(page: Page, scripts: str) -> str | None:
    """The selector to wait for on a list page whose list a script fills: an empty container
    named by id in an inline script, outside the rank and recommendation rails."""
    rails = recommended_boxes(page, None)
    for ident, el in page.ids.items():
        if el.tag not in _LIST_TAGS or not _plain_name(ident) or _has_links(el):
            continue
        if f"'{ident}'" not in scripts and f'"{ident}"' not in scripts:
            continue
        if any(el is box or any(a is box for a in el.iterancestors()) for box in rails):
            continue
        return f"#{ident} a"
    return None
