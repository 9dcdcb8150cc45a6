"""Decoding, parsing, URL and sanitising helpers around lxml.

Every page is decoded once (``decode``), parsed once (``parse``) and then read with
precompiled XPath; nothing here touches the network.
"""

from __future__ import annotations

import codecs
import copy
import re
from typing import Any
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HtmlProcessingInstruction, defs
from lxml_html_clean import Cleaner
from w3lib.encoding import html_body_declared_encoding, html_to_unicode, resolve_encoding


def _html_parser(**kwargs: Any) -> etree.HTMLParser:
    parser = etree.HTMLParser(remove_comments=True, remove_pis=True, recover=True, **kwargs)
    # lxml.html's own parser asks a Python function for the class of every element Python
    # touches (forms get their own classes, unused here); this lookup stays in C: all are
    # HtmlElement
    parser.set_element_class_lookup(
        etree.ElementDefaultClassLookup(
            element=HtmlElement,
            comment=HtmlComment,
            pi=HtmlProcessingInstruction,
            entity=HtmlEntity,
        )
    )
    return parser


_PARSER = _html_parser()
#: The same for pages handed over as UTF-8 bytes: libxml2 reads UTF-8 as it is, while a Python
#: string of Chinese text (held as UCS-2 or UCS-4) costs it a conversion slower than encoding
#: the string first. The given encoding wins over any ``<meta charset>``.
_UTF8_PARSER = _html_parser(encoding="utf-8")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: ``_CONTROL``'s characters as bytes: each is one byte in UTF-8, and no byte of a multi-byte
#: UTF-8 character is below 0x80, so ``bytes.translate`` counts and removes them (in C,
#: several times faster than the regular expression over the text).
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)


#: Schemes that run code or smuggle content in a link (``javascript:`` and its kin, ``data:``
#: except raster images, ``about:``), read as browsers read them: after percent- and
#: plus-decoding, without whitespace or control characters, in any case.
_SCRIPT_SCHEME = re.compile(r"(javascript|jscript|livescript|vbscript|data|about|mocha):", re.I)
_SAFE_DATA_IMAGE = re.compile(r"data:image/(?!.{0,255}?(?:xml|svg))(.{1,255}?);base64,", re.I)
_UNSAFE_DATA_IMAGE = re.compile(r"data:image/[^;,]{0,255}?(?:xml|svg)", re.I)
_LINK_NOISE = re.compile(r"[\s\x00-\x08\x0b\x0c\x0e-\x19]+")


def script_link(link: str) -> bool:
    """Whether a link is a script or content URL that ``body_html`` must not keep: each
    such scheme counts unless it opens a base64 raster image (SVG and XML images can hold
    scripts)."""
    if link.isascii() and link.isprintable() and not ("%" in link or "+" in link or " " in link):
        # nothing to decode or drop: the link reads as written (sanitise leaves most so)
        if ":" not in link:
            return False  # no scheme at all: a path, a protocol-relative URL
        if link.count(":") == 1 and link[:6].lower() in ("http:/", "https:"):
            return False  # an http(s) URL: no other scheme
        text = link
    else:
        text = _LINK_NOISE.sub("", unquote_plus(link))
    schemes = len(_SCRIPT_SCHEME.findall(text))
    if not schemes:
        return False  # not even ``data:``, which the two image patterns start with
    return (
        schemes > len(_SAFE_DATA_IMAGE.findall(text)) or _UNSAFE_DATA_IMAGE.search(text) is not None
    )


class _Cleaner(Cleaner):
    """lxml_html_clean's ``Cleaner`` with its ``javascript`` pass narrowed to what is left to
    check. That pass deletes ``on*`` attributes and blanks script URLs in every link attribute,
    ``<style>`` and ``style=``, walking the tree three times. Here only ``safe_attrs`` survive
    (no ``on*``, no ``style=``) and ``<style>`` goes whole, so one rule of ours
    (``script_link``) runs once, after cleaning, on the link attributes of ``safe_attrs``
    (``href``, ``src``)."""

    def __init__(self, *, safe_attrs: frozenset[str], **kwargs: Any) -> None:
        super().__init__(
            javascript=False,
            safe_attrs_only=True,
            safe_attrs=safe_attrs,
            style=True,
            inline_style=True,
            **kwargs,
        )
        self.link_attrs = tuple(sorted(safe_attrs & defs.link_attrs))

    def __call__(self, doc: Any) -> None:
        super().__call__(doc)
        for el in doc.iter(etree.Element):
            for name in self.link_attrs:
                link = el.get(name)
                if link is not None:
                    # as ``rewrite_links`` does: the stripped link, or "" for a script URL
                    new = "" if script_link(link) else link.strip()
                    if new != link:
                        el.set(name, new)


_CLEANER = _Cleaner(
    scripts=True,
    comments=True,
    links=True,
    meta=True,
    page_structure=False,
    processing_instructions=True,
    embedded=True,
    frames=True,
    forms=True,
    annoying_tags=True,
    # <base> would re-point every relative URL of a page that shows body_html; unknown tags
    # (<portal src>, <x:script>) are unwrapped, their text kept: none loads anything then.
    kill_tags=frozenset({"base"}),
    remove_unknown_tags=True,
    safe_attrs=frozenset(
        {"href", "src", "alt", "title", "width", "height", "colspan", "rowspan", "class", "id"}
    ),
)


def decode(html: str | bytes | None, encoding: str | None = None) -> str:
    """Text of a page: ``encoding`` (e.g. from the HTTP header), else a BOM or the
    ``<meta charset>`` / http-equiv declaration, else UTF-8, then GB18030 if UTF-8 fails.
    Undecodable bytes become U+FFFD; this never raises."""
    if html is None:
        return ""
    if isinstance(html, str):
        return html
    data = bytes(html)
    try:
        enc = resolve_encoding(encoding) if encoding else None
        if enc is not None and not _decodes(data, enc):
            # the header lies (a GBK page served as UTF-8, or the reverse): the page's own
            # declaration, if the bytes are valid in it and it is a multi-byte codec (that
            # the bytes fit a single-byte one such as Latin-1 says nothing)
            declared = html_body_declared_encoding(data[:16384])
            alt = resolve_encoding(declared) if declared else None
            if alt in _MULTIBYTE and _decodes(data, alt):
                enc = alt
        if enc is None and encoding is None:
            declared = html_body_declared_encoding(data[:16384])
            if declared is None:
                try:
                    return data.decode("utf-8")
                except UnicodeDecodeError:
                    try:
                        return data.decode("gb18030")
                    except UnicodeDecodeError:
                        pass
        header = f"text/html; charset={enc}" if enc else None
        return html_to_unicode(header, data)[1]
    except Exception:  # an unknown or broken declaration
        return data.decode("utf-8", errors="replace")


#: Multi-byte codecs, as ``resolve_encoding`` names them (GBK and GB2312 become gb18030).
_MULTIBYTE = frozenset({"utf-8", "gb18030", "big5hkscs", "cp932", "euc_jp", "cp949"})


def _decodes(data: bytes, encoding: str) -> bool:
    """``data`` is valid in ``encoding`` (an incomplete last character aside: a cut page)."""
    try:
        codecs.getincrementaldecoder(encoding)().decode(data, final=False)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def declared_charset(content_type: str | None) -> str | None:
    """The ``charset=`` of a Content-Type header value."""
    m = _CHARSET.search(content_type or "")
    return m.group(1) if m else None


_TAG_START = re.compile(r"<[A-Za-z]")
#: Attributes of one tag that reach the parser: libxml2 compares each attribute of a tag with
#: every one before it, so a tag with 100,000 of them takes half a minute.
_MAX_ATTRIBUTES = 1000
_LONG_SEGMENT = 4 * _MAX_ATTRIBUTES  # an attribute takes at least a letter and a space
#: A stretch after a ``>`` longer than ``_LONG_SEGMENT`` (the literal ``>`` first makes the
#: search skip from one ``>`` to the next).
_LONG_RUN = re.compile(f">[^>]{{{_LONG_SEGMENT + 1}}}")


def _cap_attributes(text: str) -> str:
    """``text`` with every tag cut to its first ``_MAX_ATTRIBUTES`` attributes (counted as
    whitespace-separated words; a quote left open by the cut is closed). Linear: only the
    stretches between two ``>`` long enough to hold that many are looked at."""
    first = text.find(">")
    if (first if first >= 0 else len(text)) <= _LONG_SEGMENT and not _LONG_RUN.search(text):
        return text  # no stretch long enough (one quick scan in C)
    parts = text.split(">")
    changed = False
    for k, part in enumerate(parts):
        if len(part) <= _LONG_SEGMENT:
            continue
        m = _TAG_START.search(part)
        if m is None:
            continue
        words = part[m.start() :].split(None, _MAX_ATTRIBUTES + 1)
        if len(words) <= _MAX_ATTRIBUTES + 1:
            continue
        tag = " ".join(words[: _MAX_ATTRIBUTES + 1])
        for quote in "\"'":
            if tag.count(quote) % 2:
                tag += quote
        parts[k] = part[: m.start()] + tag
        changed = True
    return ">".join(parts) if changed else text


def _controls(data: bytes) -> int:
    """How many ``_CONTROL`` characters the UTF-8 ``data`` holds."""
    return len(data) - len(data.translate(None, _CONTROL_BYTES))


#: The characters of a page ``looks_binary`` reads.
_SAMPLE = 8192


def parse(text: str) -> HtmlElement | None:
    """The document's root element, or None when there is nothing to parse."""
    return _parse(text, None)


def parse_page(text: str) -> HtmlElement | None:
    """``parse(text)``, or None when ``looks_binary(text)``. A page of up to ``_SAMPLE``
    characters (all of which ``looks_binary`` reads) is encoded to UTF-8 and its control
    characters counted once for both tests, instead of once each."""
    if len(text) > _SAMPLE:
        return None if looks_binary(text) else parse(text)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: each as it takes it
        return None if looks_binary(text) else parse(text)
    controls = _controls(data)
    if text and text.count("\ufffd") + controls > len(text) * 0.1:  # looks_binary
        return None
    return _parse(text, None if controls else data)


def _parse(text: str, encoded: bytes | None) -> HtmlElement | None:
    """``parse``; ``encoded`` (if given) is ``text`` in UTF-8, known to hold no control
    character."""
    if not text or not text.strip():
        return None
    prepared = _cap_attributes(_XML_DECL.sub("", text, count=1))
    source: str | bytes
    if encoded is not None and prepared is text:  # no declaration cut, no control to drop
        source, parser = encoded, _UTF8_PARSER
    else:
        text = prepared
        try:
            source, parser = text.encode("utf-8"), _UTF8_PARSER
        except UnicodeEncodeError:  # a lone surrogate: libxml2 is given the string as before
            source, parser = text, _PARSER
        if "\x00" in text or _controls(text[:2048].encode("utf-8", "surrogatepass")):
            source = (
                source.translate(None, _CONTROL_BYTES)
                if isinstance(source, bytes)
                else _CONTROL.sub("", source)
            )
    try:
        root = lxml.html.document_fromstring(source, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None
    return root


def looks_binary(text: str) -> bool:
    """True when the decoded text is mostly replacement or control characters."""
    sample = text[:_SAMPLE]
    if not sample:
        return False
    bad = sample.count("\ufffd") + _controls(sample.encode("utf-8", "surrogatepass"))
    return bad > len(sample) * 0.1


_PLAIN = re.compile(r"[^\s\\]*$")
_UNSEEN = object()  # not in ``UrlJoiner.cache`` (where None is an answer)


def _plain(href: str) -> bool:
    """No whitespace, backslash or dot segment: joining is string concatenation."""
    if "/." in href or "\\" in href:
        return False
    if href.isascii() and href.isprintable():  # the usual href: its only whitespace is " "
        return " " not in href
    return _PLAIN.match(href) is not None


class UrlJoiner:
    """Absolutise hrefs against a page URL (or its ``<base href>``), with a small cache."""

    __slots__ = ("base", "cache", "origin", "scheme")

    def __init__(self, base: str) -> None:
        self.base = base
        parts = urlsplit(base)
        self.scheme = parts.scheme or "https"
        self.origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None
        self.cache: dict[str, str | None] = {}

    def __call__(self, href: str | None, *, keep_fragment: bool = False) -> str | None:
        """Absolute http(s) URL without fragment, or None for ``javascript:``, ``#x``, etc."""
        if not href:
            return None
        key = href if not keep_fragment else "#" + href
        out = self.cache.get(key, _UNSEEN)
        if out is _UNSEEN:
            out = self.cache[key] = self._join(href, keep_fragment)
        return out  # type: ignore[return-value]

    def _join(self, href: str, keep_fragment: bool) -> str | None:
        href = href.strip().strip("\u200b\ufeff")
        if not href or href[0] == "#":
            return None
        # Absolute, protocol-relative and root-relative hrefs without dot segments need no
        # ``urljoin`` (most links on a page are such): the tests are written out here, as
        # this runs for every link of every page
        fast: str | None = None
        if href[0] == "/":  # a path names no scheme
            if _plain(href):
                if href[1:2] == "/":
                    fast = f"{self.scheme}:{href}" if len(href) > 2 and href[2] != "/" else None
                else:
                    fast = f"{self.origin}{href}" if self.origin else None
        else:
            low = href[:11].lower()
            if low.startswith(("javascript:", "mailto:", "tel:", "data:", "about:", "sms:")):
                return None
            if low.startswith(("http://", "https://")) and _plain(href):
                start = low.index("//") + 2
                fast = href if len(href) > 8 and href[start : start + 1] not in ("", "/") else None
        if fast is not None:
            return fast if keep_fragment or "#" not in fast else fast.split("#", 1)[0]
        try:
            url = urljoin(self.base, href)
            parts = urlsplit(url)
        except ValueError:
            return None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
        if not keep_fragment and parts.fragment:
            url = urlunsplit(parts._replace(fragment=""))
        return url


def base_url(root: HtmlElement, url: str) -> str:
    """The page URL, or its ``<base href>`` when one is given (the first ``<base>`` in a
    ``<head>`` below ``root``: ``iterfind(".//head/base")``, whose path is walked in Python,
    while ``iter`` walks in C; libxml2 makes one ``<head>`` a page, so the order is one)."""
    for base in root.iter("base"):
        head = base.getparent()
        if head is None or head.tag != "head" or head is root:
            continue
        href = base.get("href")
        if href:
            try:
                return urljoin(url, href.strip())
            except ValueError:
                return url
    return url


def _counterparts(
    container: HtmlElement, clone: HtmlElement, elements: list[HtmlElement]
) -> list[HtmlElement]:
    """The elements of ``clone`` (a deep copy of ``container``) at the places that those of
    ``elements`` inside ``container`` have in it, once each, in document order. Each place
    is read as the child indexes from ``container`` down: a few steps for each element,
    where walking both trees in step would make a proxy of every node of both."""
    paths: list[list[int]] = []
    for el in set(elements):
        path: list[int] = []
        node = el
        while node is not container:
            parent = node.getparent()
            if parent is None:
                break  # not inside ``container``
            path.append(parent.index(node))
            node = parent
        else:
            paths.append(path[::-1])
    paths.sort()  # child indexes from the top down sort in document order
    found: list[HtmlElement] = []
    for path in paths:
        node = clone
        for index in path:
            node = node[index]
        found.append(node)
    return found


def sanitise(container: HtmlElement, drop: list[HtmlElement], join: UrlJoiner) -> str:
    """The HTML of ``container`` without ``drop`` elements, scripts, styles, frames, embeds,
    forms, ``<base>``, ``<meta>``, unknown tags, event handlers and ``javascript:``/``data:``
    URLs; links and image sources made absolute."""
    clone = copy.deepcopy(container)
    if drop:  # remove the counterparts of ``drop`` from the copy
        for el in _counterparts(container, clone, drop):
            parent = el.getparent()
            if parent is None:
                continue
            tail = el.tail
            if tail and tail.strip():
                prev = el.getprevious()
                if prev is not None:
                    prev.tail = (prev.tail or "") + tail
                else:
                    parent.text = (parent.text or "") + tail
            parent.remove(el)
    for img in clone.iter("img"):
        src = img.get("data-src") or img.get("data-original") or img.get("src")
        absolute = join(src)
        if absolute:
            img.set("src", absolute)
    for a in clone.iter("a"):
        href = a.get("href")
        if href is not None:
            absolute = join(href, keep_fragment=True)
            if absolute:
                a.set("href", absolute)
    try:
        wrapper = _PARSER.makeelement("div")  # of this parser: element classes looked up in C
        wrapper.append(clone)
        _CLEANER(wrapper)
        if len(wrapper) == 0:
            return ""
        return lxml.html.tostring(wrapper[0], encoding="unicode", with_tail=False)
    except Exception:
        return ""
