"""What the extractors return: plain dataclasses the spider reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from chinanews.items import Article


@dataclass
class ArticleLinks:
    """The links of an article page, sorted by the role they play on it."""

    next_page: str | None = None
    """The pager link whose text is 下一页."""
    all_page: str | None = None
    """The pager link whose text is 全文, without its ``#page_N`` fragment."""
    page_count: int | None = None
    """The pager's total, None when the page has no pager."""
    related: list[str] = field(default_factory=list)
    recommended: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    """Every other link, ``<script src>`` and feed-looking URL in inline scripts."""


@dataclass
class ArticleExtraction:
    article: Article | None
    reason: str | None
    """None with an article; else ``not_article``, ``no_title`` or ``no_body``."""
    links: ArticleLinks = field(default_factory=ArticleLinks)
    script_filled: dict[str, str] = field(default_factory=dict)
    """Needed blocks the static HTML leaves empty for a script: reason (``related_empty``,
    ``body_scripted``) -> CSS selector that matches once the block is filled ("" when none
    names it). Empty when the page needs no browser (``chinanews.extract.scripted``)."""
    notes: tuple[str, ...] = ()
    """Anomalies the extraction met, for the spider to count: ``time_conflict`` (the
    candidate publication times disagree by more than a day), ``time_rejected`` (a time in
    the future or before 1997 was refused), ``time_from_url`` (only the URL's date was left)."""


@dataclass
class ListEntry:
    url: str
    title: str | None = None
    published_at: str | None = None
    published_at_raw: str | None = None


@dataclass
class ListPage:
    entries: list[ListEntry] = field(default_factory=list)
    next_page: str | None = None
    links: list[str] = field(default_factory=list)
    """Every other absolute link, script source and feed URL named in an inline script."""
    script_filled: dict[str, str] = field(default_factory=dict)
    """``{"list_scripted": selector}`` when the page lists nothing and a script fills its
    list, else empty (``chinanews.extract.scripted``)."""
