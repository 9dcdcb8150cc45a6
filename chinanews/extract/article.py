"""Article pages: decode, parse once, find the template, and read every field.

``extract_article(url, html)`` tries the known templates in turn (tech, A, B, C, D), then the
generic rules, and returns the article with the page's links sorted by role. It never raises:
a page that cannot become an article comes back with ``article=None`` and a stable reason.

Each field falls back on its own: what the template does not give (the time, the source, the
editor, the author) comes from the generic field rules (``chinanews.extract.fields``), and the
article's ``provenance`` names the rule behind each field (``"C:h1.article_title"``,
``"generic:time-near-title"``, ``"generic:url-date"``). Anomalies met on the way
(``time_conflict``, ``time_rejected``, ``time_from_url``) are in ``ArticleExtraction.notes``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from chinanews.extract.body import Body, read_body
from chinanews.extract.fields import (
    Scan,
    TimeChoice,
    byline,
    choose_time,
    region,
    scan,
    title_element,
)
from chinanews.extract.html import decode, parse_page, sanitise
from chinanews.extract.links import (
    collect_links,
    keyword_slot,
    labels,
    related_box_by_heading,
    related_items,
)
from chinanews.extract.model import ArticleExtraction, ArticleLinks
from chinanews.extract.scripted import (
    BODY_SCRIPTED,
    RELATED_EMPTY,
    empty_related,
    inline_scripts,
    scripted_body,
)
from chinanews.extract.templates import CASCADE, generic
from chinanews.extract.templates.base import Located, Page, text_of
from chinanews.extract.text import editor_of, language_of, split_keywords
from chinanews.items import Article
from chinanews.urls import LinkKind, article_ref, canonical_url, channel_of, link_kind

logger = logging.getLogger(__name__)

NOT_ARTICLE = "not_article"
NO_TITLE = "no_title"
NO_BODY = "no_body"
#: The fields whose rule the article's ``provenance`` names.
PROVENANCE_FIELDS = ("title", "published_at", "source", "author", "editor", "keywords", "body")


def read_meta(page: Page) -> dict[str, str]:
    """``<meta>`` contents by lower-cased ``name`` / ``property`` / ``itemprop`` (first wins)."""
    meta: dict[str, str] = {}
    for el in page.root.iter("meta"):
        key = el.get("name") or el.get("property") or el.get("itemprop")
        content = el.get("content")
        if key and content is not None:
            meta.setdefault(key.strip().lower(), content)
    return meta


def locate(page: Page) -> Located | None:
    """The first template that recognises the page, or None."""
    for find in CASCADE:
        located = find(page)
        if located is not None:
            return located
    return None


def _cut_short(page: Page, url: str) -> bool:
    """An article URL whose page stops before its body (a truncated download)."""
    if link_kind(url) not in (LinkKind.ARTICLE, LinkKind.ARTICLE_PAGE):
        return False
    body = page.root.find("body")
    return body is None or not text_of(body)


def extract_article(
    url: str,
    html: str | bytes,
    *,
    encoding: str | None = None,
    fetched_at: datetime | None = None,
) -> ArticleExtraction:
    """Read an article page. ``encoding`` is the HTTP header's charset, if any; ``fetched_at``
    is when the page was fetched, against which relative times (``3小时前``) are read and
    future times refused (None: relative times are not read, now is the limit)."""
    try:
        return _extract(url, html, encoding, fetched_at)
    except Exception:  # never let one odd page stop a crawl
        logger.exception("article extraction failed for %s", url)
        return ArticleExtraction(None, NOT_ARTICLE, ArticleLinks())


def _extract(
    url: str, html: str | bytes, encoding: str | None, fetched_at: datetime | None
) -> ArticleExtraction:
    text = decode(html, encoding)
    root = parse_page(text) if text.strip() else None  # None: binary, or nothing to parse
    if root is None:
        return ArticleExtraction(None, NOT_ARTICLE, ArticleLinks())
    page = Page(root, url)
    join = page.join
    meta = read_meta(page)
    ld = generic.ld_article(page)
    located = locate(page)
    scanned: Scan | None = None
    timing: TimeChoice | None = None
    if located is None:
        title_el = title_element(page, None)
        if title_el is not None:  # a heading and a printed time make a short item an article
            scanned = scan(page, title_el)
            timing = choose_time(page, scanned, meta, ld, fetched_at=fetched_at)
        timed = timing is not None and timing.rule not in (None, "url-date")
        located = generic.locate(page, meta, ld, timed=timed)
    if located is not None and located.body is None and located.template != "generic":
        block, size, left_out = generic.densest_block(page)
        if size >= 120:  # a known template whose body container moved
            located.body, located.body_skip = block, left_out
            located.rules["body"] = "generic:densest-block"
    body_el = located.body if located is not None else None
    found_labels = labels(page)
    related_box = located.related_box if located is not None else None
    if related_box is None:
        related_box = related_box_by_heading(found_labels, body_el)
    if located is not None and body_el is not None:
        skip = set(located.body_skip)
        if timing is not None and timing.line is not None and len(timing.line.text) <= 80:
            skip.add(timing.line.element)
        body = read_body(body_el, join, skip)
    else:
        body = Body(lines=located.body_lines or [] if located is not None else [])
    links = collect_links(page, join, body_el, related_box, body.dropped)
    if located is None:
        if _cut_short(page, url):
            return ArticleExtraction(None, NO_BODY, links)
        return ArticleExtraction(None, NOT_ARTICLE, links)
    template = located.template
    rules = {
        k: v if v.startswith("generic:") else f"{template}:{v}" for k, v in located.rules.items()
    }
    title = located.title
    if not title:
        title, rule = generic.title_fallback(page, meta)
        rules["title"] = f"generic:{rule}"
    if not title:
        return ArticleExtraction(None, NO_TITLE, links)
    script_filled: dict[str, str] = {}
    waiting = empty_related(related_box)
    if waiting is not None:
        script_filled[RELATED_EMPTY] = waiting
    if not body.lines and not body.images:  # one page of a gallery may hold just a picture
        waiting = scripted_body(body_el, inline_scripts(root))
        if waiting is not None:
            script_filled[BODY_SCRIPTED] = waiting
        return ArticleExtraction(None, NO_BODY, links, script_filled)

    if scanned is None or located.template != "generic":
        title_el = title_element(page, title)
        scanned = scan(page, title_el, region(title_el, body_el))
    if timing is None or located.template != "generic":
        given = located.published_at if "published_at" in located.rules else None
        timing = choose_time(page, scanned, meta, ld, fetched_at=fetched_at, given=given)
    if timing.rule is None and timing.iso is not None:  # the template's own time, kept
        published_at, published_raw = located.published_at, located.published_at_raw
    else:
        published_at, published_raw = timing.iso, timing.raw
        rules.pop("published_at", None)
        if timing.rule:
            rules["published_at"] = f"generic:{timing.rule}"
    found = byline(scanned, timing, body_el)

    editor = None
    for el in located.editor_elements:
        editor = editor_of(text_of(el))
        if editor:
            rules["editor"] = f"{template}:.editor"
            break
    if not editor and body.editor:
        editor = body.editor
        rules["editor"] = f"{template}:body-editor-note"
    if not editor and found.editor:
        editor = found.editor
        rules["editor"] = f"generic:{found.rules['editor']}"

    source, source_url, author = located.source, located.source_url, located.author
    if not source and found.source:
        source, source_url = found.source, found.source_url
        rules["source"] = f"generic:{found.rules['source']}"
    if not author and found.author:
        author = found.author
        rules["author"] = f"generic:{found.rules['author']}"

    keywords = keyword_slot(found_labels, body_el)
    if keywords:
        rules["keywords"] = f"{template}:keyword-slot"
    else:
        keywords = split_keywords(meta.get("keywords"))
        if keywords:
            rules["keywords"] = f"{template}:meta-keywords"
        elif located.keywords:
            keywords = located.keywords
            rules["keywords"] = "generic:json-ld-keywords"

    pages = links.page_count or (body.sections if body.sections > 1 else 1)
    ref = article_ref(url)
    body_text = "\n".join(body.lines)
    provenance = {k: rules[k] for k in PROVENANCE_FIELDS if k in rules}
    article = Article(
        url=canonical_url(url),
        article_id=ref.article_id if ref else None,
        channel=channel_of(url),
        column_id=ref.column_id if ref else None,
        title=title,
        published_at=published_at,
        published_at_raw=published_raw,
        source=source,
        source_url=source_url,
        author=author,
        editor=editor,
        keywords=keywords,
        summary=(meta.get("description") or "").strip() or None,
        body=body_text,
        body_html=sanitise(body_el, body.dropped, join) if body_el is not None else None,
        images=body.images,
        related=related_items(related_box, join),
        pages=pages,
        template=located.template,
        provenance=provenance,
        language=language_of(title + "\n" + body_text),
    )
    return ArticleExtraction(article, None, links, script_filled, timing.notes)
