"""Page extractors: pure functions from ``(url, html)`` to what the page says.

- ``extract_article``: an article page (templates A, B, C, D, tech, then generic rules);
- ``extract_list``: a channel or list page (entries, next page, other links);
- ``parse_feed``: the site's JSON / JavaScript feeds (rank.js, getNewsInfo, ``/p/N``, api).

No Scrapy engine and no network: the spider hands a response's URL and body to these.
"""

from __future__ import annotations

from chinanews.extract.article import NO_BODY, NO_TITLE, NOT_ARTICLE, extract_article
from chinanews.extract.feeds import parse_feed
from chinanews.extract.lists import extract_list
from chinanews.extract.model import ArticleExtraction, ArticleLinks, ListEntry, ListPage

__all__ = [
    "NOT_ARTICLE",
    "NO_BODY",
    "NO_TITLE",
    "ArticleExtraction",
    "ArticleLinks",
    "ListEntry",
    "ListPage",
    "extract_article",
    "extract_list",
    "parse_feed",
]
