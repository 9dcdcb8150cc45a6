"""Template C: the current news / finance template (about 2020 on).

``h1.article_title``, ``div.article_info > span.time`` / ``span.source`` (sometimes without a
``来源：`` prefix), body ``div.article_content#js_article_content``, ``.editor`` (which page
JavaScript may move into the last paragraph as ``span.editor_author``), a visible 关键词 slot and
a 相关新闻 heading followed by a list (found by its text, see ``chinanews.extract.article``).
"""

from __future__ import annotations

from chinanews.extract.templates.base import (
    Located,
    Page,
    has_class,
    heading_text,
    pick,
    read_info,
)


def locate(page: Page) -> Located | None:
    title_el = page.first_class("article_title")
    if title_el is None:
        candidate = page.by_id("js-article-title")
        if candidate is not None and candidate.tag == "h1":
            title_el = candidate
    body = pick(page.by_id("js_article_content"), page.first_class("article_content"))
    if title_el is None and body is None:
        return None
    located = Located("C", title=heading_text(title_el), body=body)
    located.found(
        "title",
        f"{title_el.tag}.article_title"
        if title_el is not None and has_class(title_el, "article_title")
        else "h1#js-article-title",
        located.title,
    )
    located.found(
        "body",
        "#js_article_content"
        if body is not None and body.get("id") == "js_article_content"
        else ".article_content",
        body is not None,
    )
    read_info(located, page.first_class("article_info"), ".article_info")
    located.editor_elements = page.by_class("editor") + page.by_class("editor_author")
    return located
