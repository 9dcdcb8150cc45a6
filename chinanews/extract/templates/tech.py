"""tech.china.com ``/article/<YYYYMMDD>/<id>.html`` pages.

Template-A markup with ``p.editor`` inside ``#chan_newsDetail`` and trailing 免责声明 /
投诉热线 paragraphs, or the 2020 variant: ``#chan_newsTitle`` with ``div#js-article-title``
holding ``span.time`` and ``span.source``.
"""

from __future__ import annotations

from chinanews.extract.templates import legacy
from chinanews.extract.templates.base import Located, Page, first_in, heading_text, pick, read_info
from chinanews.urls import article_ref


def is_tech_url(url: str) -> bool:
    ref = article_ref(url)
    return ref is not None and ref.column_id is None


def locate(page: Page) -> Located | None:
    if not is_tech_url(page.url):
        return None
    head = page.by_id("js-article-title")
    if head is not None and head.tag != "h1" and first_in(head, "time") is not None:
        title_el = pick(page.by_id("chan_newsTitle"), next(head.iter("h1"), None))
        if title_el is None and page.h1:
            title_el = page.h1[0]
        body = page.by_id("chan_newsDetail", "js_article_content")
        located = Located("tech", title=heading_text(title_el), body=body)
        located.found("title", "#chan_newsTitle", located.title)
        located.found("body", "#chan_newsDetail", body is not None)
        read_info(located, head, "#js-article-title")
        located.editor_elements = page.by_class("editor")
        located.related_box = page.by_id("chan_xgxw")
        return located
    return legacy.locate(page, template="tech")
