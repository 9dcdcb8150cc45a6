"""Deduplication: exact (hash of the normalised body) and near-duplicate (MinHash LSH) layers.

``content_hash(body)`` keys exact duplicates; a :class:`NearDuplicateIndex` finds syndicated
copies with small edits. See ``chinanews.dedup.near`` for the technique and its measurement.
"""

from __future__ import annotations

from .fingerprint import content_hash, normalise_text, shingle_hashes
from .near import (
    THRESHOLD,
    MinHashIndex,
    NearDuplicateIndex,
    RedisNearDuplicateIndex,
    Sig,
)

__all__ = [
    "THRESHOLD",
    "MinHashIndex",
    "NearDuplicateIndex",
    "RedisNearDuplicateIndex",
    "Sig",
    "content_hash",
    "normalise_text",
    "shingle_hashes",
]
