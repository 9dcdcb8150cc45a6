"""A spider that emits fixed items, for driving the partitioned feeds with ``scrapy runspider``:
``-a dates=2025-11-24,,2025-11-23`` (an empty date is an item without ``published_at``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import scrapy

from chinanews.items import Article


class LakeItemsSpider(scrapy.Spider):
    name = "lake_items"
    run_id = "20261128T040000Z"

    async def start(self) -> AsyncIterator[Any]:
        for i, day in enumerate(str(getattr(self, "dates", "")).split(",")):
            yield Article(
                url=f"https://news.china.com/domestic/945/{day.replace('-', '')}/{i}.html",
                article_id=str(i),
                published_at=f"{day}T12:00:00+08:00" if day else None,
            )
