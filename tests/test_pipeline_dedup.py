"""The deduplication layers, one by one, and the cross-run index between two crawls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from chinanews.index import ArticleIndex
from chinanews.items import Article
from chinanews.localsite import near_duplicate_pairs
from chinanews.pipelines.dedup import (
    ContentPipeline,
    Duplicate,
    IdentityPipeline,
    NearDuplicatePipeline,
    RecordPipeline,
    Unchanged,
)
from chinanews.spiders.china_com import ChinaComSpider
from tests.conftest import RUN_SETTINGS, end_run, settle

PAIRS = near_duplicate_pairs(200, seed=4)
COPY = next(p for p in PAIRS if p.is_duplicate and p.kind == "sentence")
HARD = next(p for p in PAIRS if not p.is_duplicate and p.kind == "same_cast")


def article(
    article_id: str | None, body: str, title: str = "标题", channel: str = "domestic"
) -> Article:
    url = f"https://news.china.com/{channel}/945/20251124/{article_id or 'x'}.html"
    return Article(
        url=url,
        article_id=article_id,
        title=title,
        body=body,
        published_at="2025-11-24T10:00:00+08:00",
    )


class Chain:
    """The dedup layers of one crawl, in the order of ITEM_PIPELINES."""

    def __init__(self, tmp_path: Path, fresh: bool = False, run: int = 1) -> None:
        self.out = tmp_path / f"run{run}.jsonl"
        settings = {
            "FEEDS": {str(self.out): {"format": "jsonlines"}},
            "CHINANEWS_INDEX_PATH": str(tmp_path / "index.sqlite3"),
            **RUN_SETTINGS,
        }
        self.crawler = get_crawler(ChinaComSpider, settings)
        self.crawler.spider = ChinaComSpider.from_crawler(self.crawler, fresh="1" if fresh else "0")
        self.crawler.stats.open_spider()
        self.layers = [
            cls.from_crawler(self.crawler)
            for cls in (IdentityPipeline, ContentPipeline, NearDuplicatePipeline, RecordPipeline)
        ]
        for layer in self.layers:
            layer.open_spider()
        self.tmp_path = tmp_path

    def __call__(self, item: Article) -> Article:
        try:
            for layer in self.layers:
                item = layer.process_item(item)
        finally:
            settle(self.crawler, item)  # scraped, or dropped into the duplicates output
        return item

    def stat(self, key: str) -> Any:
        return self.crawler.stats.get_value(key)

    def close(self) -> list[dict[str, Any]]:
        end_run(self.crawler)
        self.closed = True
        path = self.out.with_suffix(".duplicates.jsonl")
        return (
            [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            if path.exists()
            else []
        )


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = Chain(tmp_path)
    yield c
    if not getattr(c, "closed", False):
        c.close()


def test_new_articles_pass_with_version_1(chain: Chain) -> None:
    out = chain(article("1", COPY.body_a))
    assert out.version == 1
    assert out.content_hash
    assert chain.stat("chinanews/incremental/new") == 1


def test_id_layer_the_same_article_twice_in_one_crawl(chain: Chain) -> None:
    first = chain(article("1", COPY.body_a))
    with pytest.raises(Duplicate):
        chain(replace(article("1", COPY.body_a), url=first.url.replace("https", "http")))
    assert chain.stat("chinanews/duplicates/id") == 1
    (record,) = chain.close()
    assert (record["layer"], record["duplicate_of"]) == ("id", first.url)


def test_the_same_id_again_leaves_the_originals_index_row_alone(tmp_path: Path) -> None:
    """The original stays an original for later crawls: its row keeps no duplicate_of and
    its signature, so a copy next time is still caught by the content and near layers."""
    chain = Chain(tmp_path)
    first = chain(article("1", COPY.body_a))
    with pytest.raises(Duplicate):
        chain(replace(article("1", COPY.body_a), url=first.url.replace("https", "http")))
    chain.close()
    index = ArticleIndex(tmp_path / "index.sqlite3")
    seen = index.get("1")
    assert seen is not None and seen.duplicate_of is None and seen.url == first.url
    assert [key for key, _ in index.signatures()] == ["1"]
    index.close()
    later = Chain(tmp_path, run=2)
    with pytest.raises(Duplicate):
        later(article("2", COPY.body_b, channel="social"))  # a syndicated copy, next crawl
    assert later.stat("chinanews/duplicates/near") == 1
    later.close()


def test_url_layer_for_pages_without_an_id(chain: Chain) -> None:
    chain(article(None, COPY.body_a))
    with pytest.raises(Duplicate):
        chain(article(None, HARD.body_b))
    assert chain.stat("chinanews/duplicates/url") == 1


def test_content_layer_the_same_body_under_another_id(chain: Chain) -> None:
    first = chain(article("1", COPY.body_a))
    # the same text, typeset differently: other spaces and half-width punctuation
    retyped = COPY.body_a.replace("，", ",").replace("\n", "\n\n")
    with pytest.raises(Duplicate):
        chain(article("2", retyped, channel="social"))
    assert chain.stat("chinanews/duplicates/content") == 1
    (record,) = chain.close()
    assert (record["layer"], record["duplicate_of"]) == ("content", first.url)
    assert record["item"]["article_id"] == "2"


def test_near_layer_a_syndicated_copy_with_a_changed_sentence(chain: Chain) -> None:
    first = chain(article("1", COPY.body_a, COPY.title_a))
    with pytest.raises(Duplicate):
        chain(article("2", COPY.body_b, COPY.title_b, channel="social"))
    assert chain.stat("chinanews/duplicates/near") == 1
    (record,) = chain.close()
    assert (record["layer"], record["duplicate_of"]) == ("near", first.url)


def test_near_layer_lets_a_hard_negative_through(chain: Chain) -> None:
    chain(article("1", HARD.body_a, HARD.title_a))
    out = chain(article("2", HARD.body_b, HARD.title_b))
    assert out.article_id == "2"
    assert chain.stat("chinanews/duplicates/near") is None


def test_a_second_crawl_drops_unchanged_and_versions_changed(tmp_path: Path) -> None:
    first = Chain(tmp_path)
    a = first(article("1", COPY.body_a))
    first(article("2", HARD.body_a))
    with pytest.raises(Duplicate):
        first(article("3", COPY.body_b))  # a copy of 1
    first.close()

    second = Chain(tmp_path, run=2)
    with pytest.raises(Unchanged):
        second(article("1", COPY.body_a))
    with pytest.raises(Unchanged):
        second(article("3", COPY.body_b))  # the known copy is not reported again
    edited = second(article("2", HARD.body_a + "\n更正：本文已更新。"))
    assert edited.version == 2
    assert (
        edited.previous_content_hash is not None
        and edited.previous_content_hash != edited.content_hash
    )
    assert second.stat("chinanews/incremental/unchanged") == 2
    assert second.stat("chinanews/incremental/changed") == 1
    assert second.close() == []

    third = Chain(tmp_path, run=3)
    with pytest.raises(Unchanged):
        third(article("2", HARD.body_a + "\n更正：本文已更新。"))
    third.close()
    assert a.version == 1


def test_fresh_starts_the_index_over(tmp_path: Path) -> None:
    first = Chain(tmp_path)
    first(article("1", COPY.body_a))
    first.close()
    fresh = Chain(tmp_path, fresh=True, run=2)
    assert fresh(article("1", COPY.body_a)).version == 1
    fresh.close()
    assert (tmp_path / "index.sqlite3.previous").exists()


def test_duplicates_are_dropitems_counted_by_scrapy() -> None:
    assert issubclass(Duplicate, DropItem)
    assert issubclass(Unchanged, DropItem)
