"""Generic field rules: publication time, source, editor and author from what any news page has.

They serve every template field by field: a template that finds the title but not the time
hands the time to these rules, and the generic fallback takes every field from them.

**Publication time**, candidates in this order of trust:

1. ``<time datetime>`` (``generic:time-tag``);
2. the meta tags ``article:published_time``, ``pubdate``, ``publishdate``, ``PubDate``,
   ``og:release_date`` and a few more (``generic:meta-<name>``);
3. JSON-LD ``datePublished`` (``generic:json-ld``);
4. a printed time near the title (``generic:time-near-title``): ``2025-11-24 22:19:13``,
   ``2025/11/24 22:19``, ``2025年11月24日 22:19:13``, ``2025年11月24日22:19``, with or without
   ``发布时间：`` / ``时间：`` / ``发布于``, a time of day before a bare date;
5. a relative time near the title (``generic:relative-time``): ``刚刚``, ``N分钟前``,
   ``N小时前``, ``昨天 HH:MM``, only against a known fetch time.

Candidates inside lists, related-news blocks, rails, navigation or footers are never taken;
among the printed ones the nearest after the title wins (one before it counts four times
its distance). A time after ``fetched_at`` (or now) + 1 day or before 1997 is refused
(note ``time_rejected``). When a trusted candidate gives only a day and a less trusted one
gives a time on that same day, the time wins (same day, more precise).

**Conflicts.** The best structured time (1–3), the best printed time (4–5) and the URL's
``YYYYMMDD`` are compared; when two disagree by more than a day the extraction notes
``time_conflict``. The URL date then arbitrates: if the time chosen by trust is more than a
day away from the URL date and the other kind agrees with it, the other kind is taken (the
URL date is fixed when the CMS files the story; a meta tag is often the page's build or
modification time and a printed time can belong to a neighbouring story). Without a URL
date, or when neither agrees, trust order decides.

**Last resort.** With no candidate left the URL date is taken at midnight, Beijing time,
with provenance ``generic:url-date`` and the note ``time_from_url``: never silently.

**Source, editor, author** (``generic:source-label``, ``generic:link-after-time``,
``generic:text-after-time``, ``generic:editor-label``, ``generic:author-label``): ``来源：``
in a short line near the title, else the first link right after the printed time, else the
one word printed after the time; ``责任编辑：`` anywhere outside the page chrome; ``作者：``
or ``记者`` in a short line near the title or ``（记者 张三）`` in the body.

All of it reads one pass over the page's elements (``scan``), shared by every rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from lxml import etree

from chinanews.dates import BEIJING, now_beijing, parse_datetime
from chinanews.extract.html import HtmlElement
from chinanews.extract.templates.base import Page, http_href, marked_upwards, text_of
from chinanews.extract.text import Marks, clean, clean_or_none, editor_of
from chinanews.urls import article_ref, is_article_url

TIME_META = (
    "article:published_time",
    "og:article:published_time",
    "pubdate",
    "publishdate",
    "publish_date",
    "publish-date",
    "og:release_date",
    "datepublished",
    "sailthru.date",
    "dc.date.issued",
)
EARLIEST = datetime(1997, 1, 1, tzinfo=BEIJING)
TIME_CONFLICT = "time_conflict"
TIME_REJECTED = "time_rejected"
TIME_FROM_URL = "time_from_url"

#: Every alternative starts with a literal character, so the search skips from one of those
#: first characters to the next (``(?:19|20)\d{2}…`` as the first alternative would make it
#: try the whole alternation at every position, at twice the cost).
_INTEREST = re.compile(
    r"19\d{2}\s*[-/.年]|20\d{2}\s*[-/.年]|来源|作者|记者|责任编辑|刚刚|分钟前|小时前|昨天"
)
#: The lookahead names what a match can start with (the first character of a label, a space,
#: a colon, the first digit of the year): the search passes over every other position at
#: once instead of trying the labels and the date there (a third of the time).
_PRINTED = re.compile(
    r"(?=[发更时日\s:：12])"
    r"(?P<label>发布时间|发表时间|更新时间|时间|发布于|发表于|日期)?\s*[:：]?\s*"
    r"(?P<date>(?:19|20)\d{2}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?"
    r"(?:\s*T?\s*\d{1,2}\s*[:：]\s*\d{2}(?:\s*[:：]\s*\d{2})?)?)"
)
#: What every ``_PRINTED`` date has (a quicker test than ``_PRINTED`` itself).
_YEAR = re.compile(r"(?:19|20)\d\d")
#: A weekday right after a date: how page headers print today's date.
_WEEKDAY = re.compile(r"\s*(?:星期|周|礼拜)[一二三四五六日天]")
#: With a lookahead of the first characters, as ``_PRINTED``.
_RELATIVE = re.compile(r"(?=[刚昨\d])(?:刚刚|\d+\s*分钟前|\d+\s*小时前|昨天\s*\d{1,2}:\d{2})")
_SOURCE = re.compile(r"(?:文章)?来源\s*[:：]\s*([^\s|｜/:：]{1,30})")
_AUTHOR = re.compile(
    r"(?:作者|记者)\s*[:：]\s*([^\s|｜()（）:：]{1,20}(?:[ 、][^\s|｜()（）:：]{1,8})*)"
)
_AUTHOR_BARE = re.compile(r"(?:^|[(（\s])记者\s+([\u4e00-\u9fff·]{2,4})(?=[\s)）]|$)")
_AUTHOR_PAREN = re.compile(
    r"[(（]\s*记者\s*[:：]?\s*([\u4e00-\u9fff·]{2,4}(?:[ 、][\u4e00-\u9fff·]{2,4})*)"
)
_NOT_SOURCE = re.compile(
    r"分享|评论|微信|微博|QQ|空间|收藏|打印|字号|关闭|举报|纠错|返回|首页|更多|关注|订阅|^\d+$|[:：]"
)
_LABELS_ONLY = re.compile(r"^(?:发布时间|发表时间|时间|发布于|来源|作者|记者|编辑|[:：|｜\s·-])*$")
#: A time of day in a raw time: ``22:19``, ``22时19``, ``T22``.
_CLOCK = re.compile(r"\d[:：时]\d|T\d")
_URL_DATE = re.compile(r"/(20\d{2})(\d{2})(\d{2})/")
# Marks of blocks that are not the article: lists, related news, rails, navigation, footers.
_OFF = re.compile(
    r"relat|xgxw|recommend|tuijian|arttj|sidebar|side[_-]|[_-]side\b|aside|rail|rank|hot|"
    r"list|foot|nav|menu|comment|copyright|share|crumb|\bads?\b|\bad[_-]|banner|follow",
    re.I,
)
_OFF_TAGS = frozenset({"li", "ul", "ol", "aside", "nav", "footer", "a", "select", "option"})
_SKIP = frozenset({"script", "style", "noscript", "template", "head", "title", "textarea"})
_SHORT = 80  # characters: an info line, not prose


@dataclass
class Line:
    """A short run of page text (an element's whole text when short) outside the page chrome."""

    pos: int
    text: str
    element: HtmlElement


@dataclass
class Scan:
    title_pos: int = -1
    lines: list[Line] = field(default_factory=list)
    time_tags: list[tuple[int, HtmlElement]] = field(default_factory=list)


@dataclass
class TimeChoice:
    iso: str | None = None
    raw: str | None = None
    rule: str | None = None
    notes: tuple[str, ...] = ()
    line: Line | None = None
    """The printed line the time came from (for the source right after it)."""


@dataclass
class _Candidate:
    at: datetime
    raw: str
    rule: str
    tier: int
    distance: int = 0
    precise: bool = True
    line: Line | None = None


#: Elements of the body whose own (first) text is ``$t`` (one XPath pass in C, from the text
#: nodes up: one test per text node).
_OWN_TEXT = etree.XPath(
    "//body//text()[normalize-space() = $t]/parent::*[ancestor::body][normalize-space(text()) = $t]"
)


def title_element(page: Page, title: str | None) -> HtmlElement | None:
    """The heading that shows ``title``: the ``<h1>`` with that text, else the first ``<h1>``,
    else an ``<h2>`` with that text, else the first element of the body whose own text it is
    (a headline styled without a heading tag)."""
    want = clean(title)
    for h1 in page.h1:
        if want and clean(text_of(h1)) == want:
            return h1
    if page.h1:
        return page.h1[0]
    if want:  # a redesign may print the headline in an <h2>, or a styled <div>
        for h in page.root.iter("h2"):
            if clean(text_of(h)) == want:
                return h
        for el in _OWN_TEXT(page.root, t=want):
            if el.tag not in ("title", "a", "option") and clean(text_of(el)) == want:
                return el
    return None


_off_mark = Marks(_OFF)


def _off_marked(node: HtmlElement) -> bool:
    if node.tag in _OFF_TAGS:
        return True
    ident, cls = node.get("id"), node.get("class")
    return bool((ident and _off_mark(ident)) or (cls and _off_mark(cls)))


def _off_article(el: HtmlElement, memo: dict[Any, bool]) -> bool:
    return marked_upwards(el, _off_marked, memo)


#: In document order: headings, ``<time datetime>`` and the text nodes (one XPath pass in C;
#: which text nodes may print a time, a source, an author or an editor is sorted out in
#: Python, ``_MAYBE`` then ``_INTEREST``: a ``contains()`` per word and node costs more, and
#: so does a ``parent::`` test per node: the text of scripts and styles is left out in Python,
#: after ``_MAYBE``, and takes no position).
_SCAN = etree.XPath(
    "descendant::text() | descendant-or-self::h1 | descendant-or-self::h2"
    " | descendant-or-self::time[@datetime]"
)
#: Elements whose text ``_SCAN`` leaves out.
_CODE = frozenset({"script", "style"})
#: The text nodes that count in ``Scan`` positions.
_MAYBE = re.compile("19|20|来源|作者|记者|责任编辑|刚刚|前|昨天")


def region(title_el: HtmlElement | None, body: HtmlElement | None) -> HtmlElement | None:
    """The smallest element holding both the title and the body (the article's own column,
    without the page's header, rails and footer), or None when either is missing."""
    if title_el is None or body is None:
        return None
    above = {id(a) for a in title_el.iterancestors()}
    above.add(id(title_el))
    node: HtmlElement | None = body
    while node is not None:
        if id(node) in above:
            return node if node.tag not in ("html", "body") else None
        node = node.getparent()
    return None


def scan(page: Page, title_el: HtmlElement | None, within: HtmlElement | None = None) -> Scan:
    """One pass over the page: where the title is, the ``<time>`` tags and the short lines that
    may print a time, a source, an author or an editor, all outside the page chrome. Positions
    are ranks in that document-ordered selection. ``within`` limits the pass to one element
    (see ``region``); by default it reads the whole ``<body>``."""
    out = Scan()
    body = page.root.find("body") if within is None else None
    if body is not None:  # the whole body: the page's own pass over its nodes, cut to it
        hits = page.nodes_in(body)
    else:
        hits = _SCAN(within if within is not None else page.root)
    memo: dict[Any, bool] = {}
    seen: set[Any] = set()
    pos = -1
    for hit in hits:
        if isinstance(hit, str):
            if _MAYBE.search(hit) is None:
                continue
            owner = hit.getparent()  # type: ignore[attr-defined]
            if owner is not None and hit.is_tail:  # type: ignore[attr-defined]
                owner = owner.getparent()
            if owner is not None and owner.tag in _CODE:
                continue
            pos += 1
            if owner is None or owner in seen or not _INTEREST.search(hit):
                continue
            if owner.tag in _SKIP or _off_article(owner, memo):
                continue
            seen.add(owner)
            # the owner's whole text when short; it is never shorter than the node's own
            text = clean(hit)
            if len(text) <= _SHORT * 2:
                whole = text_of(owner)
                text = whole if len(whole) <= _SHORT * 2 else text
            out.lines.append(Line(pos, text, owner))
            continue
        pos += 1
        if hit is title_el:
            out.title_pos = pos
        elif hit.tag == "time" and not _off_article(hit, memo):
            out.time_tags.append((pos, hit))
    return out


def _distance(pos: int, title_pos: int) -> int:
    if title_pos < 0:
        return pos
    return pos - title_pos if pos >= title_pos else (title_pos - pos) * 4


def _at(raw: str | None, now: datetime | None = None) -> datetime | None:
    if not raw:
        return None
    text = raw.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is not None:
        return parsed.astimezone(BEIJING) if parsed.tzinfo else parsed.replace(tzinfo=BEIJING)
    return parse_datetime(text, now)


def _has_clock(raw: str) -> bool:
    return _CLOCK.search(raw) is not None


def url_date(url: str) -> date | None:
    """The ``YYYYMMDD`` of an article URL, if it has one and it is a real day."""
    ref = article_ref(url)
    digits = ref.date if ref is not None else None
    if digits is None:
        m = _URL_DATE.search(url)
        digits = "".join(m.groups()) if m else None
    if not digits:
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def _beside_article_link(el: HtmlElement, page: Page, other_article: dict[str, bool]) -> bool:
    """A time printed next to a link to another article is that article's time (a list item
    whose block no class name gives away). ``other_article`` caches, per URL, whether it is
    another article's (one page repeats its links)."""
    parent = el.getparent()
    small = parent is not None and len(parent) <= 6 and len(parent.text_content()) <= 160
    for box in (el, parent) if small else (el,):
        for a in box.iter("a"):
            href = page.join(a.get("href"))
            if href is None:
                continue
            other = other_article.get(href)
            if other is None:
                other = href != page.url and is_article_url(href)
                other_article[href] = other
            if other:
                return True
    return False


def _candidates(
    page: Page,
    scanned: Scan,
    meta: dict[str, str],
    ld: dict[str, Any],
    fetched_at: datetime | None,
) -> list[_Candidate]:
    found: list[_Candidate] = []
    for pos, el in scanned.time_tags:
        raw = clean(el.get("datetime"))
        at = _at(raw)
        if at is not None:
            dist = _distance(pos, scanned.title_pos)
            box = el.getparent() if el.getparent() is not None else el
            line = Line(pos, text_of(box), box)
            found.append(_Candidate(at, raw, "time-tag", 0, dist, _has_clock(raw), line))
    for key in TIME_META:
        raw = clean(meta.get(key))
        at = _at(raw)
        if at is not None:
            found.append(_Candidate(at, raw, f"meta-{key}", 1, precise=_has_clock(raw)))
            break
    value = ld.get("datePublished")
    if isinstance(value, str):
        raw = clean(value)
        at = _at(raw)
        if at is not None:
            found.append(_Candidate(at, raw, "json-ld", 2, precise=_has_clock(raw)))
    other_article: dict[str, bool] = {}
    for line in scanned.lines:
        dist = _distance(line.pos, scanned.title_pos)
        short = len(line.text) <= _SHORT
        # a date inside prose is what the story is about, not when
        printed = [
            m
            for m in (_PRINTED.finditer(line.text) if _YEAR.search(line.text) else ())
            if short or m["label"]
        ]
        ago = _RELATIVE.search(line.text) if fetched_at is not None and short else None
        if not printed and ago is None:
            continue
        if (short or "前" in line.text or "昨天" in line.text) and _beside_article_link(
            line.element, page, other_article
        ):
            continue
        for m in printed:
            raw = m["date"]
            if not _has_clock(raw) and _WEEKDAY.match(line.text, m.end()):
                continue  # "2025年11月24日 星期一": a masthead's today, not a publication time
            at = parse_datetime(raw)
            if at is not None:
                clock = _has_clock(raw)
                found.append(_Candidate(at, raw, "time-near-title", 3, dist, clock, line))
        if ago is not None:
            at = parse_datetime(ago.group(0), fetched_at)
            if at is not None:
                found.append(_Candidate(at, ago.group(0), "relative-time", 4, dist, True, line))
    return found


def _apart(a: datetime, b: datetime) -> bool:
    return abs(a - b) > timedelta(days=1)


def _off_url(at: datetime, day: date) -> bool:
    return abs((at.date() - day).days) > 1


def choose_time(
    page: Page,
    scanned: Scan,
    meta: dict[str, str],
    ld: dict[str, Any],
    *,
    fetched_at: datetime | None = None,
    given: str | None = None,
) -> TimeChoice:
    """The publication time by the rules of this module's docstring.

    ``given`` is a template's own ISO time: kept when plausible (only cross-checked against
    the URL date), refused like any other when in the future or before 1997."""
    now = (fetched_at or now_beijing()).astimezone(BEIJING)
    latest = now + timedelta(days=1)
    notes: list[str] = []
    day = url_date(page.url)
    candidates = _candidates(page, scanned, meta, ld, fetched_at)
    if given is not None:
        at = _at(given)
        if at is not None and EARLIEST <= at <= latest:
            if day is not None and _off_url(at, day):
                notes.append(TIME_CONFLICT)
            shown = next((c for c in candidates if c.line is not None and c.at == at), None)
            if shown is None:
                return TimeChoice(given, None, None, tuple(notes))
            return TimeChoice(given, shown.raw, None, tuple(notes), shown.line)
        notes.append(TIME_REJECTED)
    found = []
    for c in candidates:
        if EARLIEST <= c.at <= latest:
            found.append(c)
        elif TIME_REJECTED not in notes:
            notes.append(TIME_REJECTED)
    if not found:
        if day is None:
            return TimeChoice(notes=tuple(notes))
        at = datetime(day.year, day.month, day.day, tzinfo=BEIJING)
        if at > latest or at < EARLIEST:
            return TimeChoice(notes=tuple(notes))
        notes.append(TIME_FROM_URL)
        return TimeChoice(at.isoformat(), day.strftime("%Y%m%d"), "url-date", tuple(notes))
    found.sort(key=lambda c: (c.tier, c.distance))
    best = found[0]
    if not best.precise:  # a day only: a time on that same day from a less trusted rule
        finer = next((c for c in found if c.precise and c.at.date() == best.at.date()), None)
        best = finer or best
    structured = next((c for c in found if c.tier <= 2), None)
    printed = next((c for c in found if c.tier >= 3), None)
    kinds = [c for c in (structured, printed) if c is not None]
    conflict = bool(structured and printed and _apart(structured.at, printed.at))
    conflict = conflict or (day is not None and any(_off_url(c.at, day) for c in kinds))
    if conflict:
        notes.append(TIME_CONFLICT)
        if day is not None and _off_url(best.at, day):
            agreeing = next((c for c in kinds if not _off_url(c.at, day)), None)
            best = agreeing or best
    return TimeChoice(best.at.isoformat(), best.raw, best.rule, tuple(notes), best.line)


@dataclass
class Byline:
    source: str | None = None
    source_url: str | None = None
    author: str | None = None
    editor: str | None = None
    rules: dict[str, str] = field(default_factory=dict)


def _after(el: HtmlElement) -> list[HtmlElement]:
    """The links inside ``el`` and after it in its parent, in document order."""
    anchors = list(el.iter("a"))
    for sib in el.itersiblings():
        if isinstance(sib.tag, str):
            anchors.extend(sib.iter("a"))
    return anchors


def _source_after_time(line: Line, raw: str) -> tuple[str | None, str | None, str | None]:
    """(source, its URL, rule) from the link or word printed right after the time."""
    el = line.element
    for a in _after(el):
        text = clean(text_of(a))
        if text and len(text) <= 20 and not _NOT_SOURCE.search(text) and raw not in text:
            return text, http_href(a), "link-after-time"
    text = line.text
    parent = el.getparent()
    if parent is not None and raw in text and clean(text.split(raw, 1)[1]) == "":
        whole = text_of(parent)
        text = whole if len(whole) <= _SHORT else text
    rest = text.split(raw, 1)[1] if raw in text else ""
    words = rest.split()
    word = words[0] if words else ""
    plain = not _NOT_SOURCE.search(word) and not _PRINTED.search(word)
    if 0 < len(word) <= 12 and plain and not _LABELS_ONLY.match(word):
        return word, None, "text-after-time"
    return None, None, None


def byline(scanned: Scan, time: TimeChoice, body: HtmlElement | None) -> Byline:
    """Source, author and editor by the generic rules (see the module docstring)."""
    out = Byline()
    title_pos = scanned.title_pos
    for line in scanned.lines:
        near = line.pos >= title_pos and len(line.text) <= _SHORT
        if near and out.source is None and "来源" in line.text:
            m = _SOURCE.search(line.text)
            if m:
                out.source = clean_or_none(m.group(1))
                a = next(
                    (a for a in line.element.iter("a") if clean(text_of(a)) == out.source), None
                )
                out.source_url = http_href(a)
                out.rules["source"] = "source-label"
        if out.author is None and ("作者" in line.text or "记者" in line.text):
            m = (_AUTHOR.search(line.text) or _AUTHOR_BARE.search(line.text)) if near else None
            m = m or _AUTHOR_PAREN.search(line.text)
            if m:
                out.author = clean_or_none(m.group(1))
                out.rules["author"] = "author-label"
        if out.editor is None and "责任编辑" in line.text:
            out.editor = editor_of(line.text)
            if out.editor:
                out.rules["editor"] = "editor-label"
    if out.source is None and time.line is not None and time.raw:
        source, url, rule = _source_after_time(time.line, time.raw)
        if source and rule:
            out.source, out.source_url = source, url
            out.rules["source"] = rule
    return out
