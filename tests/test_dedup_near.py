"""Near-duplicate detection on the local site's labelled pairs; the memory and Redis indexes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from chinanews.dedup import (
    THRESHOLD,
    MinHashIndex,
    RedisNearDuplicateIndex,
    content_hash,
    normalise_text,
)
from chinanews.dedup.near import BANDS, NUM_PERM, SHINGLE
from chinanews.localsite import LocalSite, near_duplicate_pairs
from chinanews.localsite.pairs import HARD_NEGATIVE_KINDS, POSITIVE_KINDS
from tests.conftest import REDIS_URL


@pytest.fixture(scope="module")
def pairs():
    return near_duplicate_pairs(400, seed=5)


# ----------------------------------------------------------------------------- fingerprints
def test_normalise_drops_whitespace_punctuation_of_both_widths_and_zero_width():
    assert normalise_text("\u3000\u3000据报道，ＡＢＣ１２３ 公司\u200b“发布”了. 新品！\n") == (
        "据报道ABC123公司发布了新品"
    )


def test_content_hash_ignores_layout_not_words():
    assert content_hash("今天，天气很好。\n明天下雨。") == content_hash("今天,天气很好.明天 下雨")
    assert content_hash("今天天气很好") != content_hash("今天天气不好")
    assert len(content_hash("x")) == 32


# ----------------------------------------------------------------------------- threshold
def test_threshold_is_the_measured_constant():
    # chosen by benchmarks/dedup.py on 3,000 labelled pairs (docs/benchmarks.md): duplicates
    # score at least ~0.67 estimated Jaccard of 8-gram sets, negatives at most ~0.35
    assert THRESHOLD == 0.5
    assert (NUM_PERM, BANDS, SHINGLE) == (128, 32, 8)


def test_pairs_cover_every_kind_with_labels(pairs):
    kinds = {p.kind for p in pairs}
    assert set(POSITIVE_KINDS) | set(HARD_NEGATIVE_KINDS) | {"random"} == kinds
    assert all(p.is_duplicate == (p.kind in POSITIVE_KINDS) for p in pairs)
    title_only = [p for p in pairs if p.kind == "title"]
    assert all(p.title_a != p.title_b for p in title_only)
    assert all(normalise_text(p.body_a) == normalise_text(p.body_b) for p in title_only)
    assert all(p.body_b.endswith("中华网综合整理）") for p in pairs if p.kind == "source_line")


def test_pairs_are_reproducible_and_offered_by_the_site():
    site = LocalSite(size=30, seed=3)
    assert site.near_duplicate_pairs(20) == near_duplicate_pairs(20, 3)
    assert site.near_duplicate_pairs(20, seed=4) != near_duplicate_pairs(20, 3)


# ----------------------------------------------------------------------------- detection
def test_syndicated_copies_found_and_hard_negatives_not(pairs):
    index = MinHashIndex()
    for k, p in enumerate(pairs):
        index.add(f"a{k}", index.signature(p.body_a))
    for k, p in enumerate(pairs):
        got = index.find(index.signature(p.body_b))
        if p.is_duplicate:
            assert got == f"a{k}", p.kind
        else:
            assert got is None, (p.kind, got)


def test_site_syndicated_copies_match_their_original():
    site = LocalSite(size=300, seed=2)
    truth = site.expected("http://127.0.0.1:8000")
    index = MinHashIndex()
    for url, item in sorted(truth.items(), key=lambda kv: kv[1]["published_at"]):
        sig = index.signature(item["body"])
        got = index.find(sig)
        assert got == item["duplicate_of"] or (got is None and item["duplicate_of"] not in truth)
        index.add(url, sig)
    assert any(item["duplicate_of"] for item in truth.values())


@pytest.mark.parametrize("merge_every", [1, 7, 10_000])
def test_merged_and_recent_rows_are_found_alike(pairs, merge_every):
    """Rows in the sorted band arrays (merged every ``merge_every``) and rows still in the
    recent dict are candidates alike; bulk loading finds the same as adding one by one."""
    originals = [(f"a{k}", p) for k, p in enumerate(pairs) if p.is_duplicate][:40]
    one_by_one = MinHashIndex(merge_every=merge_every)
    for key, p in originals:
        one_by_one.add(key, one_by_one.signature(p.body_a))
    bulk = MinHashIndex(merge_every=merge_every)
    bulk.add_many((key, bulk.signature(p.body_a)) for key, p in originals)
    assert len(one_by_one) == len(bulk) == len(originals)
    for index in (one_by_one, bulk):
        for key, p in originals:
            assert index.find(index.signature(p.body_b)) == key


def test_identical_bodies_share_band_keys_and_both_are_candidates(pairs):
    index = MinHashIndex(merge_every=2)
    sig = index.signature(pairs[0].body_a)
    for key in ("x", "y", "z"):
        index.add(key, sig)
    assert index.candidates(sig) == {0, 1, 2}
    assert index.find(sig) == "x"


def test_short_and_empty_bodies_are_neither_indexed_nor_matched():
    index = MinHashIndex()
    for text in ("", "短讯。", "图为活动现场"):
        sig = index.signature(text)
        index.add(text, sig)
        assert index.find(sig) is None
    assert len(index) == 0


def test_signature_round_trips_through_bytes(pairs):
    index = MinHashIndex()
    dup = next(p for p in pairs if p.is_duplicate)
    sig = index.signature(dup.body_a)
    blob = index.dump_signature(sig)
    assert isinstance(blob, bytes)
    back = index.load_signature(blob)
    assert back.dtype == np.uint32
    assert np.array_equal(back, sig)
    # another index computes the same bytes (no per-process hash seeds)
    assert MinHashIndex().dump_signature(MinHashIndex().signature(dup.body_a)) == blob
    # an index reloaded from stored signatures finds what the first one would
    reloaded = MinHashIndex()
    reloaded.add("a0", reloaded.load_signature(blob))
    assert reloaded.find(reloaded.signature(dup.body_b)) == "a0"


def test_signature_from_other_parameters_is_refused(pairs):
    blob = MinHashIndex(shingle=5).dump_signature(MinHashIndex(shingle=5).signature("x" * 40))
    with pytest.raises(ValueError):
        MinHashIndex().load_signature(blob)
    with pytest.raises(ValueError):
        MinHashIndex().load_signature(MinHashIndex().dump_signature(np.zeros(3, np.uint32)))


# ----------------------------------------------------------------------------- Redis
@pytest.fixture
def redis_index(redis_client: Any) -> Iterator[RedisNearDuplicateIndex]:
    client = redis_client
    index = RedisNearDuplicateIndex(client, prefix=f"test:dedup:{uuid.uuid4().hex}")
    try:
        yield index
    finally:
        index.clear()
        assert not list(client.scan_iter(match=f"{index.prefix}:*"))
        client.close()


def test_redis_index_behaves_like_the_memory_one(redis_index, pairs):
    memory = MinHashIndex()
    sample = pairs[:120]
    for k, p in enumerate(sample):
        for idx in (memory, redis_index):
            idx.add(f"a{k}", idx.signature(p.body_a))
    assert len(redis_index) == len(memory) == len(sample)
    for p in sample:
        sig = memory.signature(p.body_b)
        assert redis_index.find(sig) == memory.find(sig)
    assert any(memory.find(memory.signature(p.body_b)) for p in sample)
    assert redis_index.find(redis_index.signature("")) is None


def test_redis_index_survives_a_new_client(redis_index, pairs):
    import redis

    p = next(p for p in pairs if p.is_duplicate)
    redis_index.add("orig", redis_index.signature(p.body_a))
    other = RedisNearDuplicateIndex(redis.Redis.from_url(REDIS_URL), prefix=redis_index.prefix)
    assert other.find(other.signature(p.body_b)) == "orig"


def test_two_workers_claiming_a_copy_and_its_original_at_once_claim_one(redis_index, pairs):
    """A syndicated copy and its original reach two workers at the same instant, many times
    over: each time exactly one of them is claimed as an original, the other is told it is
    a duplicate of it."""
    import threading

    import redis

    duplicates = [p for p in pairs if p.is_duplicate][:60]
    workers = [
        RedisNearDuplicateIndex(redis.Redis.from_url(REDIS_URL), prefix=redis_index.prefix)
        for _ in range(2)
    ]
    start = threading.Barrier(2)
    for n, p in enumerate(duplicates):
        keys = (f"orig{n}", f"copy{n}")
        bodies = (p.body_a, p.body_b)
        results: list[str | None] = [None, None]

        def work(i: int, keys: tuple[str, str], bodies: tuple[str, str], out: list) -> None:
            sig = workers[i].signature(bodies[i])
            start.wait()
            out[i] = workers[i].claim(keys[i], sig)

        threads = [threading.Thread(target=work, args=(i, keys, bodies, results)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        claimed = [k for k, r in zip(keys, results, strict=True) if r is None]
        assert len(claimed) == 1, (n, p.kind, results)
        loser = 1 - keys.index(claimed[0])
        assert results[loser] == claimed[0]
    for worker in workers:
        worker.redis.close()


def test_claim_adds_once_and_answers_the_duplicate(redis_index, pairs):
    p = next(p for p in pairs if p.is_duplicate)
    memory = MinHashIndex()
    for index in (memory, redis_index):
        assert index.claim("orig", index.signature(p.body_a)) is None
        assert index.claim("copy", index.signature(p.body_b)) == "orig"
        assert index.claim("orig", index.signature(p.body_a)) is None  # itself: no duplicate
        assert len(index) == 1
