"""Deduplicate, in layers, each counted under ``chinanews/duplicates/<layer>``.

The layers share the crawl's ``CrawlState`` (``chinanews.index``), which the crawl's
lifecycle owns (``chinanews.lifecycle.CrawlRun``): the cross-run index of seen articles, the
near-duplicate index and the duplicates output. What a layer records in the index is
committed only once the item has reached the outputs (the lifecycle's checkpoints). A duplicate is dropped
from the main output and written, with the URL of the article it duplicates
(``duplicate_of``) and the layer that caught it, to ``out.duplicates.jsonl``.
"""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from chinanews.dedup.fingerprint import content_hash
from chinanews.index import CrawlState
from chinanews.lifecycle import crawl_run


class Duplicate(DropItem):
    """The item repeats an article already emitted."""


class Unchanged(DropItem):
    """An earlier crawl emitted this article with the same content: nothing new to emit."""


def article_key(adapter: ItemAdapter) -> str:
    """china.com's article id, or the canonical URL when a page has none."""
    return str(adapter.get("article_id") or adapter["url"])


class _Layer:
    """Shared plumbing: the crawl state, stats and the way a duplicate is dropped."""

    layer = ""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._state: CrawlState | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        return cls(crawler)

    @property
    def state(self) -> CrawlState:
        if self._state is None:
            self._state = crawl_run(self.crawler).state
        return self._state

    def open_spider(self) -> None:
        self.state  # noqa: B018 - the index opens before the first item, not during it

    def inc(self, key: str) -> None:
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value(key)

    def duplicate(
        self,
        adapter: ItemAdapter,
        duplicate_of: str,
        layer: str | None = None,
        *,
        record: bool = True,
    ) -> DropItem:
        layer = layer or self.layer
        state = self.state
        state.write_duplicate(adapter.asdict(), duplicate_of=duplicate_of, layer=layer)
        if record:
            self._record_duplicate(adapter, duplicate_of)
        self.inc(f"chinanews/duplicates/{layer}")
        return Duplicate(
            f"duplicate ({layer}) of {duplicate_of}: {adapter['url']}", log_level="DEBUG"
        )

    def _record_duplicate(self, adapter: ItemAdapter, duplicate_of: str) -> None:
        self.state.record(
            adapter.item,
            article_key(adapter),
            url=adapter["url"],
            content_hash=adapter.get("content_hash"),
            version=adapter.get("version") or 1,
            duplicate_of=duplicate_of,
            published_at=adapter.get("published_at"),
        )


class IdentityPipeline(_Layer):
    """Layer ``id`` (``url`` for pages without an id): the same article again in this crawl
    (``_all``, ``_N`` and mobile variants fold into one key). Across crawls: an article the
    index knows with the same content is dropped as ``Unchanged``; with other content it is
    emitted again with ``version`` + 1 and its ``previous_content_hash``. In a distributed
    crawl the worker emits an article only with the index's claim on its version
    (``claim``): two workers that find the same article at once never both emit it."""

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        key = article_key(adapter)
        adapter["content_hash"] = content_hash(adapter.get("body") or "")
        state = self.state
        layer = "id" if adapter.get("article_id") else "url"
        if key in state.emitted_this_run:
            # The same key as the article emitted: its index row is the record, and must not
            # be overwritten with a duplicate_of pointing at itself.
            raise self.duplicate(adapter, state.emitted_this_run[key], layer, record=False)
        previous = state.index.get(key)
        if previous is not None and previous.content_hash == adapter["content_hash"]:
            # Known from an earlier crawl and unchanged (an original, or a copy already
            # recorded as a duplicate). A fresh crawl starts with an empty index.
            self.inc("chinanews/incremental/unchanged")
            state.unchanged(key)
            raise Unchanged(
                f"unchanged since an earlier crawl: {adapter['url']}", log_level="DEBUG"
            )
        version = 1 if previous is None else previous.version + 1
        winner = state.index.claim(key, version, adapter["url"])
        if winner is not None:
            # Another worker of a distributed crawl is emitting this very version: the index
            # keeps its record, not ours.
            self.inc("chinanews/duplicates/claimed_by_other_worker")
            raise self.duplicate(adapter, winner, layer, record=False)
        if previous is None:
            self.inc("chinanews/incremental/new")
            return item
        adapter["version"] = previous.version + 1
        adapter["previous_content_hash"] = previous.content_hash
        self.inc("chinanews/incremental/changed")
        return item


class ContentPipeline(_Layer):
    """Layer ``content``: the same normalised body under another article id."""

    layer = "content"

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        original = self.state.index.original_with_hash(
            adapter["content_hash"], article_key(adapter)
        )
        if original is not None:
            raise self.duplicate(adapter, original)
        return item


class NearDuplicatePipeline(_Layer):
    """Layer ``near``: a syndicated copy with small edits (a changed sentence, an appended
    source line, another title), found by its body's signature (see ``chinanews.dedup``)."""

    layer = "near"

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        state = self.state
        key = article_key(adapter)
        signature = state.near.signature(adapter.get("body") or "")
        match = state.near.find(signature)
        if match is not None and match != key:
            raise self.duplicate(adapter, state.index.url_of(match) or match)
        state.pending_signatures[key] = signature
        return item


class RecordPipeline(_Layer):
    """Remembers every article that passed the layers, in this crawl and for later ones.
    It first claims the article's place among the originals, atomically across the workers
    of a distributed crawl: its near-duplicate signature (``claim``: a near copy another
    worker added since is found, and this one is dropped as a ``near`` duplicate of it),
    then its body (``claim_content``: the same body recorded under another id meanwhile
    drops it as a ``content`` duplicate)."""

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        state = self.state
        key = article_key(adapter)
        signature = state.pending_signatures.pop(key, None)
        if signature is not None:
            # Atomic across workers: a near copy another worker claimed since this one's
            # near layer looked makes this a duplicate of it.
            match = state.near.claim(key, signature)
            if match is not None:
                self.inc("chinanews/duplicates/claimed_by_other_worker")
                raise self.duplicate(adapter, state.index.url_of(match) or match, "near")
        if adapter.get("content_hash"):
            original = state.index.claim_content(adapter["content_hash"], key, adapter["url"])
            if original is not None:
                self.inc("chinanews/duplicates/claimed_by_other_worker")
                raise self.duplicate(adapter, original, "content")
        state.record(
            item,
            key,
            url=adapter["url"],
            content_hash=adapter.get("content_hash"),
            version=adapter.get("version") or 1,
            signature=state.near.dump_signature(signature) if signature is not None else None,
            published_at=adapter.get("published_at"),
        )
        state.emitted_this_run[key] = adapter["url"]
        return item
