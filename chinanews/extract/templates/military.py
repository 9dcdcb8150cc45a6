"""Template B: military.china.com 2019 ("article-main-title").

``h1.article-main-title``, ``div.time-source > span.time`` and ``span.source > a``, body
``div#chan_newsDetail``.
"""

from __future__ import annotations

from chinanews.extract.templates.base import Located, Page, heading_text, pick, read_info


def locate(page: Page) -> Located | None:
    title_el = page.first_class("article-main-title")
    if title_el is None:
        return None
    body = pick(page.by_id("chan_newsDetail"), page.first_class("article-main-content"))
    located = Located("B", title=heading_text(title_el), body=body)
    located.found("title", "h1.article-main-title", located.title)
    located.found("body", "#chan_newsDetail", body is not None)
    read_info(located, page.first_class("time-source"), ".time-source")
    located.editor_elements = page.by_class("editor")
    located.related_box = page.by_id("chan_xgxw")
    return located
