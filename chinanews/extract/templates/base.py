"""What a template module finds on a page, and the lookups they share.

A template module exposes ``locate(page) -> Located | None``: None when the page is not in
that template, else the elements and strings it found. Everything that is the same for
every template (body text, images, pager, related lists, meta tags) is read afterwards by
``chinanews.extract.article`` from these parts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from chinanews.extract.html import HtmlElement, UrlJoiner, base_url
from chinanews.extract.text import (
    clean,
    clean_or_none,
    date_pair,
    strip_author_prefix,
    strip_source_prefix,
)

#: Every ``id`` and ``class`` attribute in one XPath call (libxml2 walks the tree once per
#: side of the union): their elements are the attributes' parents. ``//@id | //@class``
#: selects the same, at about a sixth more instructions.
_MARKS = etree.XPath("descendant-or-self::*/@class | descendant-or-self::*/@id")
#: In document order: headings, ``<time datetime>`` and every text node (``Page.nodes``).
#: The same node-set as ``//h1 | //h2 | //time[@datetime] | //text()``, a sixth quicker in
#: libxml2: ``descendant::`` steps (no child step from every node), the text nodes first
#: (the few elements are merged into them, not they into the elements).
_NODES = etree.XPath(
    "descendant::text() | descendant::h1 | descendant::h2 | descendant::time[@datetime]"
)
_IN_ORDER = etree.XPath("$nodes/self::*")


def _index(root: HtmlElement) -> tuple[dict[str, HtmlElement], dict[str, list[HtmlElement]]]:
    """The elements by id and by class token (``Page.ids``, ``Page.classes``)."""
    ids: dict[str, HtmlElement] = {}
    classes: dict[str, list[HtmlElement]] = {}
    for value in _MARKS(root):
        el = value.getparent()
        if value.attrname == "id":
            ids.setdefault(value.strip(), el)
        else:
            for token in value.split():
                classes.setdefault(token, []).append(el)
    return ids, classes


class Page:
    """One parsed page and an index of its ids and class tokens, built in one XPath pass,
    with the joiner that makes its links absolute (``join``, one cache for every reader)."""

    __slots__ = ("_classes", "_h1", "_ids", "_join", "_nodes", "_word_texts", "root", "url")

    def __init__(self, root: HtmlElement, url: str) -> None:
        self.root = root
        self.url = url
        self._ids: dict[str, HtmlElement] | None = None
        self._classes: dict[str, list[HtmlElement]] | None = None
        self._h1: list[HtmlElement] | None = None
        self._join: UrlJoiner | None = None
        self._nodes: list[HtmlElement | str] | None = None
        self._word_texts: list[str] | None = None

    @property
    def join(self) -> UrlJoiner:
        """Absolutises hrefs against the page URL or its ``<base href>``."""
        if self._join is None:
            self._join = UrlJoiner(base_url(self.root, self.url))
        return self._join

    @property
    def ids(self) -> dict[str, HtmlElement]:
        """The first element of each ``id`` (stripped), in document order."""
        if self._ids is None:
            self._ids, self._classes = _index(self.root)
        return self._ids

    @property
    def classes(self) -> dict[str, list[HtmlElement]]:
        """The elements carrying each class token, in document order."""
        if self._classes is None:
            self._ids, self._classes = _index(self.root)
        return self._classes

    def by_id(self, *ids: str, tag: str | None = None) -> HtmlElement | None:
        """The first element with one of ``ids`` (and tag ``tag``, if given)."""
        for i in ids:
            el = self.ids.get(i)
            if el is not None and (tag is None or el.tag == tag):
                return el
        return None

    def by_class(self, cls: str, tag: str | None = None) -> list[HtmlElement]:
        found = self.classes.get(cls, [])
        return [el for el in found if el.tag == tag] if tag else found

    def first_class(self, *classes: str, tag: str | None = None) -> HtmlElement | None:
        for cls in classes:
            found = self.by_class(cls, tag)
            if found:
                return found[0]
        return None

    @property
    def h1(self) -> list[HtmlElement]:
        """Every ``<h1>`` of the page, in document order (``iter``: in C, where an XPath
        ``//h1`` takes several times as long, a child step from every node)."""
        if self._h1 is None:
            self._h1 = list(self.root.iter("h1"))
        return self._h1

    @property
    def nodes(self) -> list[HtmlElement | str]:
        """In document order, every ``<h1>``, ``<h2>``, ``<time datetime>`` and text node
        (lxml's string results: ``text_parent`` tells their element) of the page: one pass
        that serves ``word_texts`` and the scan of the body (``chinanews.extract.fields``).
        Which text nodes are wanted is sorted out in Python: a ``contains()`` or ``parent::``
        test per node in the XPath costs more than ``in`` on each string."""
        if self._nodes is None:
            self._nodes = _NODES(self.root)
        return self._nodes

    @property
    def word_texts(self) -> list[str]:
        """The text nodes of ``nodes`` that hold 来源 (the source label, ``generic``) or 关
        (关键词, 相关新闻, 相关阅读: ``chinanews.extract.links.labels``)."""
        if self._word_texts is None:
            self._word_texts = [
                t for t in self.nodes if isinstance(t, str) and ("关" in t or "来源" in t)
            ]
        return self._word_texts

    def nodes_in(self, el: HtmlElement) -> list[HtmlElement | str]:
        """The part of ``nodes`` inside ``el`` (``el`` itself included): one run of them, as
        an element's descendants follow one another in document order."""
        nodes = self.nodes
        start, end = 0, len(nodes)
        while start < end and not _inside(nodes[start], el):
            start += 1
        while end > start and not _inside(nodes[end - 1], el):
            end -= 1
        return nodes[start:end]


def _inside(node: HtmlElement | str, el: HtmlElement) -> bool:
    """Whether ``el`` is a text node's element or one of its ancestors, or an element's self
    or ancestor."""
    up = text_parent(node) if isinstance(node, str) else node
    while up is not None:
        if up is el:
            return True
        up = up.getparent()
    return False


def text_parent(text: str) -> HtmlElement | None:
    """The element a text node of an XPath result is in (a tail's is its owner's parent)."""
    owner = text.getparent()  # type: ignore[attr-defined]
    if owner is not None and text.is_tail:  # type: ignore[attr-defined]
        owner = owner.getparent()
    return owner


def in_document_order(root: HtmlElement, elements: list[HtmlElement]) -> list[HtmlElement]:
    """``elements`` once each, in document order (as an XPath step returns them)."""
    return _IN_ORDER(root, nodes=elements) if len(elements) > 1 else list(elements)


@dataclass
class Located:
    """The parts of an article page one template found."""

    template: str
    title: str | None = None
    body: HtmlElement | None = None
    published_at: str | None = None
    published_at_raw: str | None = None
    source: str | None = None
    source_url: str | None = None
    author: str | None = None
    editor_elements: list[HtmlElement] = field(default_factory=list)
    related_box: HtmlElement | None = None
    # generic pages only
    keywords: list[str] = field(default_factory=list)
    body_lines: list[str] | None = None
    """Body text when no container holds it (JSON-LD ``articleBody``)."""
    body_skip: list[HtmlElement] = field(default_factory=list)
    """Elements inside the body container that are not body (generic pages)."""
    rules: dict[str, str] = field(default_factory=dict)
    """Field -> the template's own rule that gave it (``"title": "h1.article_title"``);
    ``chinanews.extract.article`` prefixes the template name to make the provenance."""

    def found(self, name: str, rule: str, value: object) -> None:
        """Record ``rule`` for field ``name`` when ``value`` is set and no rule is recorded."""
        if value and name not in self.rules:
            self.rules[name] = rule


def has_class(el: HtmlElement, cls: str) -> bool:
    value = el.get("class")
    return bool(value) and cls in value.split()


def iter_class(el: HtmlElement | None, cls: str, tag: str | None = None) -> Iterator[HtmlElement]:
    """Descendants of ``el`` (itself included) carrying class ``cls``."""
    if el is None:
        return
    for d in el.iter(tag) if tag else el.iter():
        if isinstance(d.tag, str) and has_class(d, cls):
            yield d


def first_in(el: HtmlElement | None, cls: str, tag: str | None = None) -> HtmlElement | None:
    return next(iter_class(el, cls, tag), None)


_NO_TEXT = frozenset({"script", "style", "noscript", "template", "textarea", "select"})


def _collect(el: HtmlElement, parts: list[str]) -> None:
    if el.text:
        parts.append(el.text)
    for child in el:
        tag = child.tag
        if isinstance(tag, str) and tag not in _NO_TEXT:
            if tag == "br":
                parts.append(" ")
            else:
                _collect(child, parts)
        if child.tail:
            parts.append(child.tail)


def text_of(el: HtmlElement | None) -> str:
    """Whitespace-clean text of an element (scripts and styles left out)."""
    if el is None:
        return ""
    if not len(el):  # a leaf (most links and labels): its own text is all of it
        return clean(el.text)
    parts: list[str] = []
    _collect(el, parts)
    return clean("".join(parts))


def string_value(el: HtmlElement) -> str:
    """All the text inside ``el`` (``text_content()``, XPath ``string()``), without the XPath
    call when ``el`` has no child node: then its own text is all of it."""
    return el.text_content() if len(el) else el.text or ""


def marked_upwards(
    el: HtmlElement | None, marked: Callable[[HtmlElement], bool], memo: dict[HtmlElement, bool]
) -> bool:
    """Whether ``el`` or one of its ancestors is ``marked``. ``memo`` keeps the verdict of
    every element passed on the way up, for the next element of the same page."""
    chain = []
    verdict = False
    node = el
    while node is not None:
        known = memo.get(node)
        if known is not None:
            verdict = known
            break
        chain.append(node)
        if marked(node):
            verdict = True
            break
        node = node.getparent()
    for n in chain:
        memo[n] = verdict
    return verdict


def link_of(el: HtmlElement | None) -> HtmlElement | None:
    if el is None:
        return None
    if el.tag == "a":
        return el
    return next(el.iter("a"), None)


def http_href(a: HtmlElement | None) -> str | None:
    """The link's href when it is an absolute http(s) URL (protocol-relative ones too)."""
    if a is None:
        return None
    href = (a.get("href") or "").strip()
    if href.startswith("//"):
        href = "https:" + href
    return href if href.startswith(("http://", "https://")) else None


def read_info(located: Located, box: HtmlElement | None, where: str = ".info") -> None:
    """Fill time, source and author from an info line holding ``.time``, ``.source``, ``.author``.

    ``where`` names the info line in the provenance (``".article_info .time"``)."""
    if box is None:
        return
    try:
        _read_info(located, box)
    finally:
        located.found("published_at", f"{where} .time", located.published_at)
        located.found("source", f"{where} .source", located.source)
        located.found("author", f"{where} .author", located.author)


def _read_info(located: Located, box: HtmlElement) -> None:
    if located.published_at_raw is None:
        time_el = first_in(box, "time")
        iso, raw = date_pair(text_of(time_el) if time_el is not None else text_of(box))
        if raw is None and time_el is not None:
            raw = clean_or_none(text_of(time_el))
        located.published_at, located.published_at_raw = iso, raw
    if located.source is None:
        src_el = first_in(box, "source")
        if src_el is not None:
            a = link_of(src_el)
            located.source = strip_source_prefix(text_of(a) if a is not None else text_of(src_el))
            if a is not None and located.source:
                located.source_url = http_href(a)
            if not located.source:  # "来源：<a></a>" with text outside the link
                located.source = strip_source_prefix(text_of(src_el))
    if located.author is None:
        author_el = first_in(box, "author")
        if author_el is not None:
            located.author = strip_author_prefix(text_of(author_el))


def heading_text(el: HtmlElement | None) -> str | None:
    return clean_or_none(text_of(el)) if el is not None else None


def pick(*elements: HtmlElement | None) -> HtmlElement | None:
    """The first element that is not None (``or`` would test an element's child count)."""
    for el in elements:
        if el is not None:
            return el
    return None
