"""Article pages: decode, parse once, find the template, and read every field.

``extract_article(url, html)`` tries the known templates in turn (tech, A, B, C, D), then the
generic rules, and returns the article with the page's links sorted by role. It never raises:
a page that cannot become an article comes back with ``article=None`` and a stable reason.
"""

from __future__ import annotations

import logging

from chinanews.extract.body import Body, read_body
from chinanews.extract.html import UrlJoiner, base_url, decode, looks_binary, parse, sanitise
from chinanews.extract.links import (
    LABELS,
    collect_links,
    keyword_slot,
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


def read_meta(page: Page) -> dict[str, str]:
    """``<meta>`` contents by lower-cased ``name`` / ``property`` / ``itemprop`` (first wins)."""
    meta: dict[str, str] = {}
    for el in page.root.iter("meta"):
        key = el.get("name") or el.get("property") or el.get("itemprop")
        content = el.get("content")
        if key and content is not None:
            meta.setdefault(key.strip().lower(), content)
    return meta


def locate(page: Page, meta: dict[str, str]) -> Located | None:
    """The first template that recognises the page, else the generic rules, else None."""
    for find in CASCADE:
        located = find(page)
        if located is not None:
            return located
    return generic.locate(page, meta)


def _cut_short(page: Page, url: str) -> bool:
    """An article URL whose page stops before its body (a truncated download)."""
    if link_kind(url) not in (LinkKind.ARTICLE, LinkKind.ARTICLE_PAGE):
        return False
    body = page.root.find("body")
    return body is None or not text_of(body)


def extract_article(
    url: str, html: str | bytes, *, encoding: str | None = None
) -> ArticleExtraction:
    """Read an article page. ``encoding`` is the HTTP header's charset, if any."""
    try:
        return _extract(url, html, encoding)
    except Exception:  # never let one odd page stop a crawl
        logger.exception("article extraction failed for %s", url)
        return ArticleExtraction(None, NOT_ARTICLE, ArticleLinks())


def _extract(url: str, html: str | bytes, encoding: str | None) -> ArticleExtraction:
    text = decode(html, encoding)
    if not text.strip() or looks_binary(text):
        return ArticleExtraction(None, NOT_ARTICLE, ArticleLinks())
    root = parse(text)
    if root is None:
        return ArticleExtraction(None, NOT_ARTICLE, ArticleLinks())
    page = Page(root, url)
    join = UrlJoiner(base_url(root, url))
    meta = read_meta(page)
    located = locate(page, meta)
    if located is not None and located.body is None and located.template != "generic":
        block, size = generic.largest_block(page)
        if size >= 120:  # a known template whose body container moved
            located.body = block
    body_el = located.body if located is not None else None
    labels = LABELS(root)
    related_box = located.related_box if located is not None else None
    if related_box is None:
        related_box = related_box_by_heading(labels, body_el)
    if located is not None and body_el is not None:
        body = read_body(body_el, join)
    else:
        body = Body(lines=located.body_lines or [] if located is not None else [])
    links = collect_links(page, join, body_el, related_box, body.dropped)
    if located is None:
        if _cut_short(page, url):
            return ArticleExtraction(None, NO_BODY, links)
        return ArticleExtraction(None, NOT_ARTICLE, links)
    title = located.title or generic.title_fallback(page, meta)
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

    editor = None
    for el in located.editor_elements:
        editor = editor_of(text_of(el))
        if editor:
            break
    editor = editor or body.editor

    published_at, published_raw = located.published_at, located.published_at_raw
    if published_raw is None:
        raw = next((meta[k] for k in generic._DATE_META if meta.get(k)), None)
        if raw:
            published_at, published_raw = generic.iso_from_any(raw), raw.strip()

    keywords = keyword_slot(labels, body_el) or split_keywords(meta.get("keywords"))
    keywords = keywords or located.keywords

    pages = links.page_count or (body.sections if body.sections > 1 else 1)
    ref = article_ref(url)
    body_text = "\n".join(body.lines)
    article = Article(
        url=canonical_url(url),
        article_id=ref.article_id if ref else None,
        channel=channel_of(url),
        column_id=ref.column_id if ref else None,
        title=title,
        published_at=published_at,
        published_at_raw=published_raw,
        source=located.source,
        source_url=located.source_url,
        author=located.author,
        editor=editor,
        keywords=keywords,
        summary=(meta.get("description") or "").strip() or None,
        body=body_text,
        body_html=sanitise(body_el, body.dropped, join) if body_el is not None else None,
        images=body.images,
        related=related_items(related_box, join),
        pages=pages,
        template=located.template,
        language=language_of(title + "\n" + body_text),
    )
    return ArticleExtraction(article, None, links, script_filled)
