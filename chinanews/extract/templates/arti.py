"""Template D: other sub-sites (older finance/jiu, auto): ``.arti-title`` / ``h1#arti-title``,
``.arti-info .time`` / ``.source``, body ``#js-main .arti-detail`` or ``#js-arti-detail``."""

from __future__ import annotations

from chinanews.extract.templates.base import (
    Located,
    Page,
    first_in,
    heading_text,
    pick,
    read_info,
)


def locate(page: Page) -> Located | None:
    title_el = pick(page.by_id("arti-title"), page.first_class("arti-title"))
    main = page.by_id("js-main")
    body = pick(
        page.by_id("js-arti-detail"), first_in(main, "arti-detail"), page.first_class("arti-detail")
    )
    if title_el is None and body is None:
        return None
    located = Located("D", title=heading_text(title_el), body=body)
    located.found("title", "#arti-title", located.title)
    located.found("body", ".arti-detail", body is not None)
    read_info(located, page.first_class("arti-info"), ".arti-info")
    if located.published_at_raw is None and main is not None:
        read_info(located, first_in(main, "time"), "#js-main")
    located.editor_elements = page.by_class("editor")
    return located
