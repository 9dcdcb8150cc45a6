"""Signals of our own, for stores that keep more than the articles.

Connect with ``crawler.signals.connect(handler, signal=chinanews.signals.article_duplicate)``.
"""

from __future__ import annotations

#: A duplicate was dropped. Arguments: ``record`` = ``{"duplicate_of", "layer", "item"}``.
article_duplicate = object()
#: An invalid item was dropped. Arguments: ``record`` = ``{"reason", "errors", "item"}``.
article_rejected = object()
#: The crawl report is ready (at ``spider_closed``). Arguments: ``report`` (the JSON report).
crawl_report = object()
