"""Deduplication benchmark: near-duplicate accuracy on labelled pairs, and cost as the index grows.

(a) Precision, recall and F1 over a sweep of thresholds on labelled pairs from the local site
    generator (``LocalSite.near_duplicate_pairs``: syndicated copies with every edit kind and
    combination, hard negatives with the same topic and people, random pairs), for MinHash
    LSH over 8- and 5-character shingles and for 64-bit SimHash; then the chosen index, filled
    with every first article, queried with every second one.
(b) Signature time per article, and insert + query time per article (median, p99) at 10k,
    100k and 1M indexed articles with memory per indexed article (RSS delta), against the
    exact layer (a dict of content hashes) measured in the same process.

Prints a Markdown section; with ``--write`` it replaces the dedup section of
``docs/benchmarks.md``.

    .venv/bin/python benchmarks/dedup.py --write
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extraction import DOC, replace_section

from chinanews.dedup import THRESHOLD, MinHashIndex, content_hash
from chinanews.dedup.fingerprint import hamming64, simhash64
from chinanews.dedup.near import BANDS, NUM_PERM, SHINGLE
from chinanews.localsite import LabelledPair, near_duplicate_pairs
from chinanews.localsite.pairs import HARD_NEGATIVE_KINDS, NEGATIVE_KINDS

THRESHOLDS = (0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9)
SIMHASH_K = (3, 6, 9, 12, 15, 18, 21)


def prf(decisions: Sequence[bool], labels: Sequence[bool]) -> tuple[float, float, float]:
    tp = sum(d and y for d, y in zip(decisions, labels, strict=True))
    fp = sum(d and not y for d, y in zip(decisions, labels, strict=True))
    fn = sum(y and not d for d, y in zip(decisions, labels, strict=True))
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


# --------------------------------------------------------------------------- accuracy
def minhash_scores(pairs: list[LabelledPair], shingle: int) -> list[tuple[bool, float]]:
    """(LSH candidate?, estimated Jaccard) per pair, as a one-entry index would see it."""
    ix = MinHashIndex(shingle=shingle)
    out = []
    for p in pairs:
        a, b = ix.signature(p.body_a), ix.signature(p.body_b)
        cand = bool(set(ix.band_keys(a)) & set(ix.band_keys(b)))
        out.append((cand, ix.similarity(a, b)))
    return out


def accuracy(pairs: list[LabelledPair]) -> tuple[list[str], dict[str, float]]:
    labels = [p.is_duplicate for p in pairs]
    lines: list[str] = []
    chosen: dict[str, float] = {}
    rows = []
    for shingle in (SHINGLE, 5):
        scores = minhash_scores(pairs, shingle)
        for t in THRESHOLDS:
            p, r, f = prf([c and s >= t for c, s in scores], labels)
            rows.append((f"MinHash LSH, {shingle}-grams", f"J ≥ {t:.2f}", p, r, f))
            if shingle == SHINGLE and abs(t - THRESHOLD) < 1e-9:
                chosen = {"precision": p, "recall": r, "f1": f}
        neg = [s for (c, s), y in zip(scores, labels, strict=True) if not y]
        pos = [s for (c, s), y in zip(scores, labels, strict=True) if y]
        chosen[f"max_neg_{shingle}"] = max(neg)
        chosen[f"min_pos_{shingle}"] = min(pos)
    for shingle in (SHINGLE, 5):
        dist = [
            hamming64(simhash64(p.body_a, shingle), simhash64(p.body_b, shingle)) for p in pairs
        ]
        for k in SIMHASH_K:
            p, r, f = prf([d <= k for d in dist], labels)
            rows.append((f"SimHash-64, {shingle}-grams", f"Hamming ≤ {k}", p, r, f))
        chosen[f"simhash_pos_p95_{shingle}"] = pct(
            [d for d, y in zip(dist, labels, strict=True) if y], 95
        )
    lines.append("| technique | decision | precision | recall | F1 |")
    lines.append("|---|---|---|---|---|")
    for name, dec, p, r, f in rows:
        mark = (
            "**"
            if name.startswith(f"MinHash LSH, {SHINGLE}") and dec.endswith(f"{THRESHOLD:.2f}")
            else ""
        )
        lines.append(f"| {mark}{name}{mark} | {mark}{dec}{mark} | {p:.3f} | {r:.3f} | {f:.3f} |")
    return lines, chosen


def index_run(pairs: list[LabelledPair]) -> tuple[list[str], dict[str, float]]:
    """Every first article in one index; every second one queried against all of them."""
    ix = MinHashIndex()
    for k, p in enumerate(pairs):
        ix.add(f"a{k}", ix.signature(p.body_a))
    by_kind: dict[str, list[bool]] = defaultdict(list)
    decisions, labels, cands = [], [], []
    for k, p in enumerate(pairs):
        sig = ix.signature(p.body_b)
        got = ix.find(sig)
        cands.append(len(ix.candidates(sig)))
        hit = got == f"a{k}" if p.is_duplicate else got is not None
        by_kind[p.kind].append(hit)
        decisions.append(got is not None and (got == f"a{k}" or not p.is_duplicate))
        labels.append(p.is_duplicate)
    prec, rec, f1 = prf(decisions, labels)
    lines = ["| kind | pairs | found (duplicates) / wrongly matched (negatives) |", "|---|---|---|"]
    for kind, hits in by_kind.items():
        lines.append(f"| {kind} | {len(hits)} | {sum(hits) / len(hits):.1%} |")
    return lines, {
        "precision": prec,
        "recall": rec,
        "f1": f1,
        "cand_mean": statistics.mean(cands),
        "indexed": len(ix),
    }


# --------------------------------------------------------------------------- cost
def time_each(fn: Callable[[int], object], n: int) -> list[float]:
    out = []
    for k in range(n):
        t0 = time.perf_counter_ns()
        fn(k)
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def signature_cost(pairs: list[LabelledPair]) -> dict[str, float]:
    ix = MinHashIndex()
    bodies = [p.body_a for p in pairs[:2000]]
    long = "\n".join(bodies)[:2000]
    for b in bodies[:20]:
        ix.signature(b)
    per = time_each(lambda k: ix.signature(bodies[k]), len(bodies))
    long_t = time_each(lambda k: ix.signature(long), 500)
    hash_t = time_each(lambda k: content_hash(bodies[k]), len(bodies))
    return {
        "sig_median": statistics.median(per),
        "sig_p99": pct(per, 99),
        "sig_2000": statistics.median(long_t),
        "hash_median": statistics.median(hash_t),
        "chars": statistics.median(len(b) for b in bodies),
    }


def synthetic_sigs(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**32 - 1, size=(n, NUM_PERM), dtype=np.uint32)


def scale(
    sizes: Sequence[int], queries: int, real_10k: list[np.ndarray] | None
) -> list[dict[str, float]]:
    """Grow one index (and one exact-hash dict) through ``sizes``; at each, time ``queries``
    find+add per article, half of them near-duplicates of indexed ones."""
    rng = np.random.default_rng(7)
    out = []
    # the exact layer first, kept alive so that its memory is not counted as the index's:
    # content-hash hex digests (32 characters) -> key, probed and inserted per article
    exact: dict[str, str] = {}
    t_exact: dict[int, list[float]] = {}
    for size in sizes:
        exact.update((f"{k:032x}", f"k{k}") for k in range(len(exact), size))
        hashes = [f"{size + k:032x}x" for k in range(queries)]

        def exact_op(k: int, hashes: list[str] = hashes) -> None:
            h = hashes[k]
            if h not in exact:
                exact[h] = h

        t_exact[size] = time_each(exact_op, queries)
    gc.collect()
    base_rss = rss_bytes()
    ix = MinHashIndex()
    filled = 0
    for size in sizes:
        while filled < size:
            chunk = synthetic_sigs(rng, min(50_000, size - filled))
            for sig in chunk:
                key = f"k{filled}"
                ix.add(key, sig)
                filled += 1
        gc.collect()
        mem = rss_bytes() - base_rss
        qs = synthetic_sigs(rng, queries)
        near = rng.integers(0, filled, size=queries // 2)
        for k, row in enumerate(near):  # a copy of an indexed one with ~15% positions changed
            qs[k] = ix._sigs[row]
            flip = rng.random(NUM_PERM) < 0.15
            qs[k][flip] = rng.integers(0, 2**32 - 1, size=int(flip.sum()), dtype=np.uint32)
        found = 0

        def near_op(k: int, qs: np.ndarray = qs, size: int = size) -> None:
            nonlocal found
            got = ix.find(qs[k])
            found += got is not None
            ix.add(f"q{size}-{k}", qs[k])

        t_near = time_each(near_op, queries)
        out.append(
            {
                "size": size,
                "median": statistics.median(t_near),
                "p99": pct(t_near, 99),
                "exact_median": statistics.median(t_exact[size]),
                "exact_p99": pct(t_exact[size], 99),
                "mem_per": mem / filled,
                "found": found / (queries // 2),
            }
        )
        print(f"  {size:>9,}: {out[-1]}", file=sys.stderr)
    if real_10k is not None:  # the generator's templated text: more band collisions
        ix = MinHashIndex()
        for k, sig in enumerate(real_10k[:-queries]):
            ix.add(f"r{k}", sig)
        cands: list[int] = []

        def real_op(k: int) -> None:
            sig = real_10k[-queries + k]
            cands.append(len(ix.candidates(sig)))
            ix.find(sig)
            ix.add(f"rq{k}", sig)

        t_real = time_each(real_op, queries)
        out.append(
            {
                "size": len(ix) - queries,
                "real": 1,
                "median": statistics.median(t_real),
                "p99": pct(t_real, 99),
                "cands": statistics.mean(cands),
            }
        )
    return out


def real_signatures(n: int, seed: int) -> list[np.ndarray]:
    ix = MinHashIndex()
    pairs = near_duplicate_pairs(n // 2 + 1, seed)
    bodies = [b for p in pairs if p.kind in NEGATIVE_KINDS for b in (p.body_a, p.body_b)]
    while len(bodies) < n:
        more = near_duplicate_pairs(n, seed + len(bodies))
        bodies += [b for p in more if p.kind in NEGATIVE_KINDS for b in (p.body_a, p.body_b)]
    return [ix.signature(b) for b in bodies[:n]]


# --------------------------------------------------------------------------- report
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--no-real", action="store_true", help="skip the 10k index of generator text")
    ap.add_argument("--write", action="store_true", help=f"replace the dedup section of {DOC}")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    pairs = near_duplicate_pairs(args.pairs, args.seed)
    n_pos = sum(p.is_duplicate for p in pairs)
    n_hard = sum(p.kind in HARD_NEGATIVE_KINDS for p in pairs)
    print(f"{len(pairs)} pairs ({n_pos} duplicates, {n_hard} hard negatives)", file=sys.stderr)
    sweep, chosen = accuracy(pairs)
    kinds, run = index_run(pairs)
    print(f"accuracy done in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    sig = signature_cost(pairs)
    real = None if args.no_real else real_signatures(10_000 + args.queries, args.seed + 100)
    sizes = [int(s) for s in args.sizes.split(",")]
    grow = scale(sizes, args.queries, real)

    L: list[str] = []
    L.append(
        f"Measured {date.today().isoformat()} on {platform.machine()} ({platform.python_version()}), "
        f"numpy {np.__version__}. Technique: MinHash, {NUM_PERM} × 32-bit, over the distinct "
        f"{SHINGLE}-character shingles of the normalised body (no whitespace, punctuation of "
        f"either width or zero-width characters), LSH with {BANDS} bands of {NUM_PERM // BANDS} "
        f"rows for candidates, then the candidates' estimated Jaccard ≥ {THRESHOLD} "
        "(`chinanews.dedup.near.THRESHOLD`)."
    )
    L.append("")
    L.append(
        f"**Accuracy.** {len(pairs):,} labelled pairs from `LocalSite.near_duplicate_pairs("
        f"{args.pairs}, seed={args.seed})`: {n_pos:,} syndicated copies (a changed sentence, an "
        "appended source line, a different title, and every combination; a fifth re-typeset "
        f"with half-width punctuation), {n_hard:,} hard negatives (same topic; same topic and the "
        "same people, places and organisations; a follow-up by the same cast that repeats the "
        f"old lead sentence) and {len(pairs) - n_pos - n_hard:,} random pairs. Each pair is "
        "decided as a one-entry index would decide it (band collision and similarity)."
    )
    L.append("")
    L += sweep
    L.append("")
    L.append(
        f"Chosen: MinHash LSH over {SHINGLE}-grams at J ≥ {THRESHOLD}: precision "
        f"**{chosen['precision']:.3f}**, recall **{chosen['recall']:.3f}** (targets ≥ 0.99, ≥ 0.95). "
        f"Estimated similarity of the duplicates is at least {chosen[f'min_pos_{SHINGLE}']:.3f}, of "
        f"the negatives at most {chosen[f'max_neg_{SHINGLE}']:.3f} (5-grams: "
        f"{chosen['min_pos_5']:.3f} / {chosen['max_neg_5']:.3f}); the threshold sits in the gap, "
        f"which is wider with 8-grams because the generator's sentence templates share long "
        "fixed phrases, and 8-grams also make fewer LSH candidates of unrelated articles. "
        "SimHash-64 reaches recall 0.95 only at a Hamming radius of "
        f"{chosen[f'simhash_pos_p95_{SHINGLE}']:.0f} bits on these short bodies (the targets at "
        "12–15 bits): a banded lookup for radius k needs k + 1 exact-match blocks of 64/(k + 1) "
        "bits, 4–5 bits at k = 12–15, so each lookup would return 1/16–1/32 of the index "
        "(30,000–60,000 candidates at 1M), a brute-force scan in disguise. MinHash LSH separates "
        "the classes with a sharp threshold and a cheap lookup."
    )
    L.append("")
    L.append(
        f"All {run['indexed']:,} first articles in one index, every second article queried "
        f"against all of them (a duplicate counts only if its own original is returned): "
        f"precision **{run['precision']:.3f}**, recall **{run['recall']:.3f}**, F1 {run['f1']:.3f}; "
        f"{run['cand_mean']:.1f} LSH candidates per query on average."
    )
    L.append("")
    L += kinds
    L.append("")
    L.append(
        f"**Signature cost** (per item in the pipeline): median {sig['sig_median']:.0f} µs, "
        f"p99 {sig['sig_p99']:.0f} µs over 2,000 bodies (median {sig['chars']:.0f} characters); "
        f"{sig['sig_2000']:.0f} µs for a 2,000-character body. The exact layer's "
        f"`content_hash` takes {sig['hash_median']:.0f} µs."
    )
    L.append("")
    L.append(
        f"**Index cost as it grows** (in-memory `MinHashIndex`). The index is filled with "
        f"synthetic signatures (random 32-bit values: generating and hashing a million texts "
        f"would take about 20 minutes), then {args.queries:,} articles are queried and inserted "
        "one by one (`find` then `add`), half of them near-duplicates of indexed ones so that "
        "verification runs. Baseline: the exact layer, a dict of content-hash hex digests, "
        "probed and inserted in the same process. Memory: RSS growth while filling, per "
        "indexed article (signature row, key string, 32 band-table entries)."
    )
    L.append("")
    L.append(
        "| indexed articles | find + add median µs | p99 µs | exact dict median µs | ratio | memory per article |"
    )
    L.append("|---|---|---|---|---|---|")
    for g in grow:
        if g.get("real"):
            continue
        L.append(
            f"| {int(g['size']):,} | {g['median']:.1f} | {g['p99']:.0f} | {g['exact_median']:.2f} | "
            f"{g['median'] / g['exact_median']:.0f}× | {g['mem_per'] / 1024:.2f} KiB |"
        )
    for g in grow:
        if g.get("real"):
            L.append("")
            L.append(
                f"With {int(g['size']):,} signatures of the generator's own text instead (templated "
                f"sentences, so unrelated bodies share more shingles than real news): find + add "
                f"median {g['median']:.1f} µs, p99 {g['p99']:.1f} µs, {g['cands']:.2f} LSH candidates "
                "per query."
            )
    big = [g for g in grow if not g.get("real")][-1]
    L.append("")
    L.append(
        f"At {int(big['size']):,} indexed articles one find + add costs {big['median']:.0f} µs "
        f"(median; target < 1 ms) and the index holds {big['mem_per'] / 1024:.2f} KiB per article "
        f"({big['mem_per'] * big['size'] / 2**30:.2f} GiB for the whole index: 32 band keys of "
        "8 bytes and their 4-byte rows in sorted numpy arrays, the signature's low 16 bits, "
        "the article key; it was 3.08 KiB with one dict per band, 2026-11-28). The occasional "
        "slow insert is the merge of the recent rows into the sorted arrays (every 8,192 "
        "rows, a linear merge). Per item, the signature dominates the index work."
    )
    text = "\n".join(L)
    print(text)
    if args.write:
        replace_section(DOC, "dedup", text)
        print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
