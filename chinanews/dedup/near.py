"""Near-duplicate indexes: find an indexed article whose body is nearly the same as a new one.

Technique: MinHash (128 × 32-bit) of the set of character 8-grams of the normalised body,
banded LSH (32 bands of 4 rows) to find candidates, then the candidates' estimated Jaccard
similarity against :data:`THRESHOLD`. The choice (MinHash over 64-bit SimHash, 8-grams over
5-grams, the threshold) was measured on labelled pairs from the local site generator:
``benchmarks/dedup.py``, figures in ``docs/benchmarks.md``.

The pipeline uses the :class:`NearDuplicateIndex` interface only::

    sig = index.signature(item.body)        # once per article
    key = index.find(sig)                    # key of an indexed near-duplicate, or None
    index.add(item_key, sig)
    blob = index.dump_signature(sig)         # persist; index.load_signature(blob) at open

:class:`MinHashIndex` keeps everything in memory (the default); :class:`RedisNearDuplicateIndex`
keeps the bands and signatures in Redis, so several crawl processes share one index.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from .fingerprint import MinHasher, normalise_text, shingle_hashes

#: Estimated Jaccard similarity (fraction of equal MinHash positions) at or above which two
#: bodies are near-duplicates. Measured by ``benchmarks/dedup.py`` on 3,000 labelled pairs of
#: the local site generator (seed 1): syndicated copies (a changed sentence, a source line, a
#: new title, combined) score at least 0.67, the hardest negatives (same topic and people, a
#: follow-up repeating the lead) at most 0.35; precision and recall are 1.000 at every
#: threshold from 0.35 to 0.65, and 0.5 is the middle of that gap (docs/benchmarks.md).
THRESHOLD = 0.5
NUM_PERM = 128
BANDS = 32
SHINGLE = 8
#: Bodies with fewer distinct shingles than this are neither indexed nor matched: a caption
#: or one sentence says too little to call two articles the same story.
MIN_SHINGLES = 20

Sig = npt.NDArray[np.uint32]
S = TypeVar("S")

_MAGIC = b"MH1"
_HEADER = struct.Struct("<3sBHHI")  # magic, shingle, num_perm, bands, seed


class NearDuplicateIndex(Protocol[S]):
    """What the dedup pipeline needs from a near-duplicate index (signature type ``S``)."""

    def signature(self, text: str) -> S: ...

    def find(self, sig: S) -> str | None: ...

    def add(self, key: str, sig: S) -> None: ...

    def claim(self, key: str, sig: S) -> str | None: ...

    def dump_signature(self, sig: S) -> bytes: ...

    def load_signature(self, data: bytes) -> S: ...


class _MinHashLSH:
    """Signatures, band keys, serialisation and verification shared by the indexes."""

    def __init__(
        self,
        *,
        threshold: float = THRESHOLD,
        num_perm: int = NUM_PERM,
        bands: int = BANDS,
        shingle: int = SHINGLE,
        seed: int = 1,
        min_shingles: int = MIN_SHINGLES,
    ) -> None:
        if num_perm % bands:
            raise ValueError(f"num_perm ({num_perm}) must be a multiple of bands ({bands})")
        self.threshold = threshold
        self.num_perm = num_perm
        self.bands = bands
        self.rows = num_perm // bands
        self.shingle = shingle
        self.seed = seed
        self.min_shingles = min_shingles
        self._hasher = MinHasher(num_perm, shingle, seed)
        self._header = _HEADER.pack(_MAGIC, shingle, num_perm, bands, seed)
        # multipliers that fold a band's rows into one 64-bit key, one salt per band
        self._fold = np.array(
            [0x9E3779B97F4A7C15 ** (k + 1) % 2**64 for k in range(self.rows)], dtype=np.uint64
        )
        # band number in bits 52-59: keys stay below 2**60, Python's smallest large int
        self._salt = np.arange(bands, dtype=np.uint64) << np.uint64(52)

    def signature(self, text: str) -> Sig:
        """MinHash of the body's shingles; an empty signature (all 0xFFFFFFFF) when the body
        has fewer than ``min_shingles`` distinct shingles."""
        hashes = shingle_hashes(normalise_text(text), self.shingle, normalised=True)
        if len(hashes) < self.min_shingles:
            hashes = hashes[:0]
        return self._hasher.from_hashes(hashes)

    def dump_signature(self, sig: Sig) -> bytes:
        return self._header + np.asarray(sig, dtype="<u4").tobytes()

    def load_signature(self, data: bytes) -> Sig:
        """The signature ``dump_signature`` wrote; ``ValueError`` if it was made with other
        parameters (recompute it from the body then)."""
        head = data[: _HEADER.size]
        if head != self._header:
            raise ValueError("signature made with other MinHash parameters")
        body = data[_HEADER.size :]
        if len(body) != 4 * self.num_perm:
            raise ValueError(f"signature has {len(body)} bytes, expected {4 * self.num_perm}")
        return np.frombuffer(body, dtype="<u4").astype(np.uint32)

    @staticmethod
    def is_empty(sig: Sig) -> bool:
        return bool(sig[0] == 0xFFFFFFFF and (sig == 0xFFFFFFFF).all())

    def band_keys(self, sig: Sig) -> list[int]:
        """One key per band (below 2**60; the band number is part of the key)."""
        keys: list[int] = self.band_matrix(sig[None, :])[0].tolist()
        return keys

    def band_matrix(self, sigs: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint64]:
        """The band keys of each row of ``sigs`` (n × num_perm): n × bands."""
        rows = sigs.reshape(len(sigs), self.bands, self.rows).astype(np.uint64)
        folded = (rows * self._fold[None, None, :]).sum(axis=2, dtype=np.uint64)
        folded ^= folded >> np.uint64(29)
        result: npt.NDArray[np.uint64] = (folded >> np.uint64(12)) ^ self._salt[None, :]
        return result

    def add(self, key: str, sig: Sig) -> None:
        raise NotImplementedError

    def add_many(self, items: Iterable[tuple[str, Sig]]) -> None:
        for key, sig in items:
            self.add(key, sig)

    def similarity(self, a: Sig, b: Sig) -> float:
        return float(np.count_nonzero(a == b)) / self.num_perm

    def _best(self, sig: Sig, candidates: npt.NDArray[np.uint32]) -> tuple[int, float]:
        """Index and estimated Jaccard of the most similar row of ``candidates``."""
        sims = np.count_nonzero(candidates == sig[None, :], axis=1)
        k = int(sims.argmax())
        return k, float(sims[k]) / self.num_perm


class MinHashIndex(_MinHashLSH):
    """In-memory MinHash LSH index in flat numpy arrays, about 0.7 KiB per article.

    - Signatures: one growing matrix, keeping the low 16 bits of each MinHash value (b-bit
      MinHash): two different values agree by chance once in 65,536 positions, which moves an
      estimated similarity by 0.002% on average; the full 32-bit signature is what
      ``dump_signature`` persists.
    - Band keys: one sorted ``uint64`` array of every band key of every merged row (the band
      number is part of the key) beside the row each belongs to, searched with
      ``np.searchsorted``; rows added since the last merge sit in a small dict, merged into the
      arrays every ``merge_every`` rows (a linear merge, not a sort).

    No Python object per entry: the garbage collector has nothing to walk, and 1,000,000
    articles take about 0.7 GiB instead of the 2.9 GiB that one dict per band took.
    """

    def __init__(self, merge_every: int = 8192, **params: Any) -> None:
        super().__init__(**params)
        self.merge_every = merge_every
        self._keys: list[str] = []
        self._sigs = np.empty((1024, self.num_perm), dtype=np.uint16)
        self._band_keys = np.empty(0, dtype=np.uint64)  # sorted
        self._band_rows = np.empty(0, dtype=np.uint32)
        #: Band key -> first row, for the rows added since the last merge (ints only: nothing
        #: for the garbage collector to track); the rare further rows of a key apart.
        self._recent: dict[int, int] = {}
        self._recent_more: dict[int, list[int]] = {}
        self._recent_rows = 0

    def __len__(self) -> int:
        return len(self._keys)

    def _grow(self, rows: int) -> None:
        if rows > len(self._sigs):
            grown = np.empty((max(rows, 2 * len(self._sigs)), self.num_perm), dtype=np.uint16)
            grown[: len(self._keys)] = self._sigs[: len(self._keys)]
            self._sigs = grown

    def add(self, key: str, sig: Sig) -> None:
        """Index ``sig`` under ``key`` (an empty signature is not indexed)."""
        if self.is_empty(sig):
            return
        row = len(self._keys)
        self._grow(row + 1)
        self._sigs[row] = sig  # the low 16 bits
        self._keys.append(key)
        for bk in self.band_keys(sig):
            if self._recent.setdefault(bk, row) != row:
                self._recent_more.setdefault(bk, []).append(row)
        self._recent_rows += 1
        if self._recent_rows >= self.merge_every:
            self._merge()

    def add_many(self, items: Iterable[tuple[str, Sig]], chunk: int = 65_536) -> None:
        """Index many signatures at once (opening a crawl's index): signatures copied in
        chunks, band keys computed chunk by chunk, one merge at the end."""
        self._merge()
        first = len(self._keys)
        band_keys: list[npt.NDArray[np.uint64]] = []
        batch: list[Sig] = []

        def flush() -> None:
            start = len(self._keys) - len(batch)
            matrix = np.stack(batch)
            self._sigs[start : start + len(batch)] = matrix
            band_keys.append(self.band_matrix(matrix).ravel())
            batch.clear()

        for key, sig in items:
            if self.is_empty(sig):
                continue
            self._grow(len(self._keys) + 1)
            self._keys.append(key)
            batch.append(sig)
            if len(batch) >= chunk:
                flush()
        if batch:
            flush()
        if band_keys:
            rows = np.repeat(np.arange(first, len(self._keys), dtype=np.uint32), self.bands)
            self._insert(np.concatenate(band_keys), rows)

    def _merge(self) -> None:
        if not self._recent:
            return
        more = [(bk, row) for bk, rows in self._recent_more.items() for row in rows]
        keys = np.fromiter(itertools.chain(self._recent, (bk for bk, _ in more)), dtype=np.uint64)
        rows = np.fromiter(
            itertools.chain(self._recent.values(), (row for _, row in more)), dtype=np.uint32
        )
        self._recent = {}
        self._recent_more = {}
        self._recent_rows = 0
        self._insert(keys, rows)

    def _insert(self, keys: npt.NDArray[np.uint64], rows: npt.NDArray[np.uint32]) -> None:
        """Merge ``keys`` (any order) and their rows into the sorted arrays: one sort of the
        new keys, then a linear merge."""
        order = np.argsort(keys)
        keys, rows = keys[order], rows[order]
        old_keys, old_rows = self._band_keys, self._band_rows
        # where each new key lands in the merged array
        at = np.searchsorted(old_keys, keys, side="right") + np.arange(len(keys))
        is_new = np.zeros(len(old_keys) + len(keys), dtype=bool)
        is_new[at] = True
        merged_keys = np.empty(len(is_new), dtype=np.uint64)
        merged_rows = np.empty(len(is_new), dtype=np.uint32)
        merged_keys[at], merged_rows[at] = keys, rows
        merged_keys[~is_new], merged_rows[~is_new] = old_keys, old_rows
        self._band_keys, self._band_rows = merged_keys, merged_rows

    def candidates(self, sig: Sig) -> set[int]:
        found: set[int] = set()
        query = self.band_keys(sig)
        keys = self._band_keys
        if len(keys):
            q = np.asarray(query, dtype=np.uint64)
            # One binary search per band key; a hit is the start of its (short) run.
            at = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
            for start in at[keys[at] == q].tolist():
                end = start + 1
                while end < len(keys) and keys[end] == keys[start]:
                    end += 1
                found.update(self._band_rows[start:end].tolist())
        if self._recent:
            for bk in query:
                row = self._recent.get(bk)
                if row is not None:
                    found.add(row)
                    more = self._recent_more.get(bk)
                    if more:
                        found.update(more)
        return found

    def claim(self, key: str, sig: Sig) -> str | None:
        """Add ``key`` unless a near duplicate is indexed (its key is returned then). One
        crawl uses this index: ``find`` and ``add`` cannot interleave with another's."""
        match = self.find(sig)
        if match is not None:
            return None if match == key else match  # itself: indexed already
        self.add(key, sig)
        return None

    def find(self, sig: Sig) -> str | None:
        """Key of the indexed signature most similar to ``sig`` if its estimated Jaccard is
        at least ``threshold``, else None."""
        if self.is_empty(sig):
            return None
        rows = self.candidates(sig)
        if not rows:
            return None
        order = np.fromiter(rows, dtype=np.int64, count=len(rows))
        low = sig.astype(np.uint16)  # compared as stored: the low 16 bits
        sims = np.count_nonzero(self._sigs[order] == low[None, :], axis=1)
        k = int(sims.argmax())
        if float(sims[k]) / self.num_perm < self.threshold:
            return None
        return self._keys[int(order[k])]


class RedisNearDuplicateIndex(_MinHashLSH):
    """The same index in Redis: a set per band bucket (``{prefix}:b:<hex key>``) and a hash of
    signatures (``{prefix}:sig``); two round trips per ``find``, one per ``add``.

    ``redis_client`` is a ``redis.Redis`` (bytes responses; ``decode_responses=False``)."""

    def __init__(self, redis_client: Any, prefix: str = "chinanews:dedup", **params: Any) -> None:
        super().__init__(**params)
        self.redis = redis_client
        self.prefix = prefix
        self._sig_key = f"{prefix}:sig"
        self._claim_script: Any = None

    def _bucket(self, bk: int) -> str:
        return f"{self.prefix}:b:{bk:016x}"

    def __len__(self) -> int:
        return int(self.redis.hlen(self._sig_key))

    def add(self, key: str, sig: Sig) -> None:
        if self.is_empty(sig):
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self._sig_key, key, self.dump_signature(sig))
        for bk in self.band_keys(sig):
            pipe.sadd(self._bucket(bk), key)
        pipe.execute()

    def find(self, sig: Sig) -> str | None:
        return self._find(sig)[0]

    def _find(self, sig: Sig) -> tuple[str | None, list[tuple[str, int]]]:
        """The near duplicate's key (or None), and each band bucket with the number of keys
        it held when read (what ``claim`` checks has not changed)."""
        if self.is_empty(sig):
            return None, []
        buckets = [self._bucket(bk) for bk in self.band_keys(sig)]
        pipe = self.redis.pipeline(transaction=False)
        for bucket in buckets:
            pipe.smembers(bucket)
        members = pipe.execute()
        sizes = [(b, len(m)) for b, m in zip(buckets, members, strict=True)]
        keys = sorted({k for m in members for k in m})
        if not keys:
            return None, sizes
        blobs = self.redis.hmget(self._sig_key, keys)
        found = [(k, b) for k, b in zip(keys, blobs, strict=True) if b is not None]
        if not found:
            return None, sizes
        sigs = np.stack([self.load_signature(b) for _, b in found])
        k, sim = self._best(sig, sigs)
        if sim < self.threshold:
            return None, sizes
        key = found[k][0]
        return (key.decode() if isinstance(key, bytes) else str(key)), sizes

    #: Add a signature unless a band bucket it goes into changed since it was read: the
    #: buckets only grow, so an unchanged size means unchanged members (compare and set).
    _CLAIM = """
for i = 2, #KEYS do
  if redis.call('SCARD', KEYS[i]) ~= tonumber(ARGV[i + 1]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 2, #KEYS do redis.call('SADD', KEYS[i], ARGV[1]) end
return 1
"""

    def claim(self, key: str, sig: Sig, attempts: int = 50) -> str | None:
        """Add ``key`` unless a near duplicate is indexed, atomically across the workers of
        a distributed crawl: None when ``key`` was added, else the duplicate's key. The
        buckets are read, the candidates compared here, and the signature added by one Lua
        script only if no bucket gained a key meanwhile; otherwise it reads again. Two
        workers that see a copy and its original at the same instant share a bucket (that
        is how a copy is found), so the second reads the first's signature."""
        if self.is_empty(sig):
            return None
        if self._claim_script is None:
            self._claim_script = self.redis.register_script(self._CLAIM)
        for _ in range(attempts):
            match, sizes = self._find(sig)
            if match is not None:
                return None if match == key else match  # itself: indexed already
            keys = [self._sig_key, *(b for b, _ in sizes)]
            args = [key, self.dump_signature(sig), *(n for _, n in sizes)]
            if self._claim_script(keys=keys, args=args):
                return None
        raise RuntimeError(f"near-duplicate claim for {key}: buckets kept changing")

    def clear(self) -> None:
        """Delete every key under the prefix (tests, and a rebuild from the SQLite table)."""
        batch: list[Any] = []
        for name in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000):
            batch.append(name)
            if len(batch) >= 1000:
                self.redis.delete(*batch)
                batch = []
        if batch:
            self.redis.delete(*batch)
