"""The article body: paragraph lines, images and the elements that are not body.

One walk over the body container yields the text lines (one per paragraph or ``<br>``-ended
run), the images, the editor note and the list of boilerplate elements (logo, editor note,
pager, share box, ads, related lists, scripts) that ``sanitise`` removes from ``body_html``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from chinanews.extract.html import HtmlElement, UrlJoiner
from chinanews.extract.templates.base import text_of
from chinanews.extract.text import (
    clean,
    clean_or_none,
    editor_of,
    is_boilerplate_line,
    remove_editor,
)

BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "aside",
        "nav",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "figure",
        "figcaption",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
        "caption",
        "center",
        "pre",
        "hr",
        "address",
        "details",
        "summary",
        "fieldset",
    }
)
SKIP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "iframe",
        "object",
        "embed",
        "template",
        "button",
        "input",
        "select",
        "textarea",
        "form",
        "svg",
        "canvas",
        "video",
        "audio",
        "map",
        "link",
        "meta",
        "head",
        "title",
    }
)
_EXCLUDE_TOKEN = re.compile(
    r"^(?:artiLogo|editor|editor_author|pageStyle\d*|pages?|pager|pagination|page-?box|"
    r"chan_multipageNum\w*|share\w*|bdshare\w*|social-share|ad|ads|adv|advert\w*|ad[_-]\w+|"
    r"gg|gg[_-]\w+|related\w*|xgxw|chan_xgxw|recommend\w*|arttj\w*|js-arttj\w*|"
    r"statement|disclaimer|copyright|comment\w*|hidden|[\w-]*(?:promo|sponsor)[\w-]*)$",
    re.I,
)
_EDITOR_TOKEN = re.compile(r"^(?:editor|editor_author)$", re.I)
_SECTION_ID = re.compile(r"^page_?\d+$")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)

_exclusion_cache: dict[str, bool] = {}


def is_excluded(el: HtmlElement) -> bool:
    """True for elements whose class or id marks them as not body (logo, pager, share, ads...)."""
    key = (el.get("class") or "") + "#" + (el.get("id") or "")
    if key == "#":
        style = el.get("style")
        return bool(style and _HIDDEN_STYLE.search(style))
    cached = _exclusion_cache.get(key)
    if cached is None:
        cached = any(_EXCLUDE_TOKEN.match(t) for t in key.replace("#", " ").split())
        if len(_exclusion_cache) < 4096:
            _exclusion_cache[key] = cached
    if cached:
        return True
    style = el.get("style")
    return bool(style and _HIDDEN_STYLE.search(style))


def _is_editor(el: HtmlElement) -> bool:
    tokens = ((el.get("class") or "") + " " + (el.get("id") or "")).split()
    return any(_EDITOR_TOKEN.match(t) for t in tokens)


@dataclass
class Body:
    lines: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    editor: str | None = None
    dropped: list[HtmlElement] = field(default_factory=list)
    sections: int = 0
    """``page_N`` anchors seen (the sections of an ``_all`` page)."""


class _Walker:
    def __init__(self, join: UrlJoiner, skip: Collection[HtmlElement] = ()) -> None:
        self.join = join
        self.skip = skip
        self.body = Body()
        self.buf: list[str] = []
        self.boilerplate = 0  # lines dropped as boilerplate so far

    def flush(self) -> None:
        if not self.buf:
            return
        raw = "".join(self.buf)
        self.buf = []
        if raw.isspace():  # the line breaks between two blocks: what ``clean`` leaves empty
            return
        if "责任编辑" in raw:
            editor = editor_of(raw)
            if editor and self.body.editor is None:
                self.body.editor = editor
            raw = remove_editor(raw)
            if not clean(raw):
                self.boilerplate += 1
        line = clean(raw)
        if line:
            if is_boilerplate_line(line):
                self.boilerplate += 1
            else:
                self.body.lines.append(line)

    def image(self, img: HtmlElement) -> None:
        src = img.get("data-src") or img.get("data-original") or img.get("src")
        url = self.join(src)
        if url:
            self.body.images.append({"url": url, "caption": clean_or_none(img.get("alt"))})

    def walk(self, el: HtmlElement) -> None:
        if el.text:
            self.buf.append(el.text)
        for child in el:
            tag = child.tag
            if isinstance(tag, str):
                ident = child.get("id") or child.get("name")
                if ident and _SECTION_ID.match(ident):
                    self.body.sections += 1
                if tag in SKIP_TAGS or is_excluded(child) or (self.skip and child in self.skip):
                    self.drop(child)
                elif tag == "br":
                    self.flush()
                elif tag == "img":
                    self.image(child)
                elif tag in BLOCK_TAGS:
                    self.flush()
                    marks = (len(self.body.lines), len(self.body.images), self.boilerplate)
                    self.walk(child)
                    self.flush()
                    if (
                        self.boilerplate > marks[2]
                        and len(self.body.lines) == marks[0]
                        and len(self.body.images) == marks[1]
                    ):  # a disclaimer or editor paragraph: not body_html either
                        self.body.dropped.append(child)
                else:
                    self.walk(child)
            if child.tail:
                self.buf.append(child.tail)

    def drop(self, el: HtmlElement) -> None:
        self.body.dropped.append(el)
        if _is_editor(el) and self.body.editor is None:
            self.body.editor = editor_of(text_of(el))


def read_body(container: HtmlElement, join: UrlJoiner, skip: Collection[HtmlElement] = ()) -> Body:
    """Lines, images, editor and non-body elements of a body container (``skip``: elements
    inside it already known not to be body)."""
    walker = _Walker(join, skip)
    walker.walk(container)
    walker.flush()
    return walker.body
