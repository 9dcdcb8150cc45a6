"""Extraction benchmark: CPU time and accuracy per article page, chinanews against trafilatura
and GNE (GeneralNewsExtractor, made for Chinese news pages).

All three run in this one process over the same pages, so the ratios between them hold
however busy the machine is. Two sets, two Markdown tables:

- known templates: the local site's single-page articles (every template);
- unseen markup: the local site's redesign variant (``LocalSite(redesign=1.0)``), whose
  article pages carry no class or id any template knows and state their publication time
  in various places and forms; the time is scored to the second (issue 12's target: best
  on every field, the time exact on at least 95% of the pages, several times faster than
  both peers).

With ``--write`` the text replaces the extraction section of ``docs/benchmarks.md``.

    .venv/bin/python benchmarks/extraction.py --size 400 --unseen-size 220 --write
"""

from __future__ import annotations

import argparse
import inspect
import platform
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from chinanews.dates import BEIJING, parse_datetime
from chinanews.extract import extract_article
from chinanews.localsite import LocalSite
from chinanews.urls import canonical_url

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BASE = "http://127.0.0.1:8000"
#: Visible time forms of the redesign variant that read without the page's date; any other
#: form (a relative one such as ``3小时前``) needs the time the page was fetched.
ABSOLUTE_FORMS = frozenset({"dash_sec", "dash_min", "slash_min", "cn_sec", "cn_min_tight"})
#: "Several times faster": chinanews' median time at most this share of each peer's.
SPEED_SHARE = 1 / 3
#: Share of unseen pages whose publication time must be exact to the second.
TIME_EXACT_TARGET = 0.95
#: A time of day in an extractor's string (else it gave only a day).
_CLOCK = re.compile(r"\d[:：时]\s*\d{2}|刚刚|分钟前|小时前")


def char_f1(got: str | None, want: str | None) -> float:
    """F1 over the multiset of non-space characters: 1.0 for the same text."""
    if not got or not want:
        return 1.0 if not got and not want else 0.0
    g = Counter(ch for ch in got if not ch.isspace())
    w = Counter(ch for ch in want if not ch.isspace())
    common = sum((g & w).values())
    if not common:
        return 0.0
    precision, recall = common / sum(g.values()), common / sum(w.values())
    return 2 * precision * recall / (precision + recall)


def run_chinanews(url: str, html: str, **kwargs: Any) -> dict[str, Any]:
    article = extract_article(url, html, **kwargs).article
    if article is None:
        return {}
    return {
        "title": article.title,
        "date": (article.published_at or "")[:16],
        "date_raw": article.published_at,
        "body": article.body,
    }


def chinanews_runner(fetched_at: datetime | None) -> Callable[[str, str], dict[str, Any]]:
    """``run_chinanews``, given the time the page was fetched when ``extract_article`` takes
    a ``fetched_at`` keyword and there is one to give (pages with relative times)."""
    params = inspect.signature(extract_article).parameters
    if fetched_at is None or "fetched_at" not in params:
        return run_chinanews
    annotation = str(params["fetched_at"].annotation)
    value: Any = fetched_at
    if "datetime" not in annotation and "str" in annotation:
        value = fetched_at.isoformat()

    def run(url: str, html: str) -> dict[str, Any]:
        return run_chinanews(url, html, fetched_at=value)

    return run


def run_trafilatura(url: str, html: str) -> dict[str, Any]:

    import trafilatura

    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False)
    if doc is None:
        return {}
    return {
        "title": doc.title,
        "date": (doc.date or "")[:16],
        "date_raw": doc.date,
        "body": doc.text,
    }


def run_gne(url: str, html: str) -> dict[str, Any]:
    from gne import GeneralNewsExtractor

    from chinanews.dates import to_iso

    doc = GeneralNewsExtractor().extract(html)
    # GNE returns the time as the page prints it; read it the way chinanews reads dates
    raw = doc.get("publish_time") or None
    published = to_iso(raw) or ""
    return {
        "title": doc.get("title"),
        "date": published[:16],
        "date_raw": raw,
        "body": doc.get("content"),
    }


#: Passes over the pages for timing: each page's time is the fastest of these, per extractor.
ROUNDS = 5


def page_times(
    fns: dict[str, Callable[[str, str], Any]], pages: list[tuple[str, str, dict[str, Any]]]
) -> dict[str, list[float]]:
    """CPU ms per page for each extractor: the fastest of ``ROUNDS`` calls, the extractors
    taking turns page by page, so that a burst of load on a shared machine lands on all of
    them alike instead of on whichever pass it happens to meet."""
    for fn in fns.values():
        for url, html, _ in pages[:5]:  # warm-up: imports, compiled selectors
            fn(url, html)
    best: dict[str, list[float]] = {name: [] for name in fns}
    for url, html, _ in pages:
        fastest = dict.fromkeys(fns, float("inf"))
        for _ in range(ROUNDS):
            for name, fn in fns.items():
                t0 = time.process_time()
                fn(url, html)
                fastest[name] = min(fastest[name], (time.process_time() - t0) * 1000)
        for name, ms in fastest.items():
            best[name].append(ms)
    return best


def measure(
    name: str,
    fn: Callable[[str, str], dict[str, Any]],
    pages: list[tuple[str, str, dict[str, Any]]],
    times: list[float],
) -> dict[str, Any]:
    title_ok, date_ok, body_f1, body_exact = 0, 0, [], 0
    for url, html, want in pages:
        got = fn(url, html)
        title_ok += got.get("title") == want["title"]
        want_date = want["published_at"][:16].replace("T", " ")
        got_date = (got.get("date") or "").replace("T", " ")
        # trafilatura gives only the day: a matching day counts for it
        date_ok += bool(got_date) and want_date.startswith(got_date)
        body_f1.append(char_f1(got.get("body"), want["body"]))
        body_exact += got.get("body") == want["body"]
    n = len(pages)
    return {
        "name": name,
        "median_ms": statistics.median(times),
        "p90_ms": statistics.quantiles(times, n=10)[-1],
        "title": title_ok / n,
        "date": date_ok / n,
        "body_f1": statistics.mean(body_f1),
        "body_exact": body_exact / n,
    }


def best_verdict(results: list[dict[str, Any]]) -> str:
    """Whether chinanews (first) has the best accuracy of all on every field and the least time."""
    ours, others = results[0], results[1:]
    fields = ("title", "date", "body_f1")
    best = all(ours[f] >= max(o[f] for o in others) for f in fields)
    fastest = ours["median_ms"] < min(o["median_ms"] for o in others)
    return "met" if best and fastest else "**not met**"


def read_time(raw: str | None, now: datetime | None) -> tuple[datetime | None, bool]:
    """An extractor's publication time as an instant, and whether it gave only the day."""
    if not raw:
        return None, False
    found = parse_datetime(raw, now)
    return found, found is not None and not _CLOCK.search(raw)


def time_score(raw: str | None, want_iso: str, now: datetime | None) -> str:
    """``exact`` (the same instant, to the second), ``day`` (only a day was given, and it is
    the page's day in Beijing time or in UTC) or ``wrong`` (nothing, or anything else)."""
    got, day_only = read_time(raw, now)
    want = datetime.fromisoformat(want_iso)
    if got is None:
        return "wrong"
    if day_only:
        days = {want.astimezone(BEIJING).date(), want.astimezone(timezone.utc).date()}
        return "day" if got.date() in days else "wrong"
    return "exact" if got == want else "wrong"


def measure_unseen(
    name: str,
    fn: Callable[[str, str], dict[str, Any]],
    pages: list[tuple[str, str, dict[str, Any]]],
    now: datetime | None,
    times: list[float],
) -> dict[str, Any]:
    title_ok, body_f1, body_exact = 0, [], 0
    scores: Counter[str] = Counter()
    for url, html, want in pages:
        got = fn(url, html)
        title_ok += got.get("title") == want["title"]
        scores[time_score(got.get("date_raw"), want["published_at"], now)] += 1
        body_f1.append(char_f1(got.get("body"), want["body"]))
        body_exact += got.get("body") == want["body"]
    n = len(pages)
    return {
        "name": name,
        "median_ms": statistics.median(times),
        "p90_ms": statistics.quantiles(times, n=10)[-1],
        "title": title_ok / n,
        "time_exact": scores["exact"] / n,
        "time_day": scores["day"] / n,
        "body_f1": statistics.mean(body_f1),
        "body_exact": body_exact / n,
    }


def unseen_verdict(results: list[dict[str, Any]]) -> str:
    """Issue 12's target on unseen markup, criterion by criterion, for chinanews (first)."""
    ours, others = results[0], results[1:]
    checks, notes = [], []
    for field, label, fmt in (
        ("title", "title", "{:.1%}"),
        ("time_exact", "time to the second", "{:.1%}"),
        ("body_f1", "body char-F1", "{:.3f}"),
    ):
        best = max(others, key=lambda o: o[field])
        ok = ours[field] >= best[field]
        checks.append(ok)
        notes.append(
            f"best {label}: {'yes' if ok else 'no'}, {fmt.format(ours[field])} against "
            f"{best['name']}'s {fmt.format(best[field])}"
        )
    ok = ours["time_exact"] >= TIME_EXACT_TARGET
    checks.append(ok)
    notes.append(
        f"time exact on ≥ {TIME_EXACT_TARGET:.0%} of pages: {'yes' if ok else 'no'}, "
        f"{ours['time_exact']:.1%}"
    )
    for o in others:
        share = ours["median_ms"] / o["median_ms"]
        ok = share <= SPEED_SHARE
        checks.append(ok)
        notes.append(
            f"≥ {1 / SPEED_SHARE:.0f}× faster than {o['name']}: {'yes' if ok else 'no'}, "
            f"**{share:.2f}×** its median time"
        )
    return ("met" if all(checks) else "**not met**") + " (" + "; ".join(notes) + ")"


def known_pages(site: LocalSite) -> list[tuple[str, str, dict[str, Any]]]:
    """(url, html, truth) of the site's single-page articles (the first page, not the mobile
    mirror)."""
    expected = site.expected(BASE)
    pages = []
    for url, html in site.pages(BASE):
        want = expected.get(canonical_url(url))
        if want is not None and url == want["url"] and want["pages"] == 1:
            pages.append((url, html, want))
    return pages


def median_kb(pages: list[tuple[str, str, dict[str, Any]]]) -> float:
    return statistics.median(len(html.encode("utf-8")) for _, html, _ in pages) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=400, help="local site size (article pages)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--unseen-size",
        type=int,
        default=220,
        help="size of the redesigned local site for the unseen-markup set (0: skip it)",
    )
    parser.add_argument(
        "--write", action="store_true", help="rewrite the section in docs/benchmarks.md"
    )
    args = parser.parse_args(argv)

    pages = known_pages(LocalSite(size=args.size, seed=args.seed))
    kb = median_kb(pages)
    runners = {"chinanews": run_chinanews, "trafilatura": run_trafilatura, "GNE": run_gne}
    times = page_times(runners, pages)
    results = [measure(name, fn, pages, times[name]) for name, fn in runners.items()]
    ours, theirs, gne = results
    rows = [
        "| extractor | median CPU ms/page | p90 ms | title | time | body char-F1 | body exact |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['name']} | {r['median_ms']:.2f} | {r['p90_ms']:.2f} | {r['title']:.1%} | {r['date']:.1%} "
            f"| {r['body_f1']:.3f} | {r['body_exact']:.1%} |"
            for r in results
        ),
    ]
    from importlib.metadata import version

    import trafilatura

    lines = [
        f"Measured {date.today().isoformat()} on {platform.machine()} ({platform.python_version()}), "
        f"trafilatura {trafilatura.__version__}, GNE {version('gne')}, CPU time "
        f"(`time.process_time`) per page, the fastest of {ROUNDS} calls, the three "
        "extractors in the same process taking turns page by page.",
        "",
        f"**Known templates.** {len(pages)} single-page articles of the local site (size "
        f"{args.size}, seed {args.seed}, every template; median page {kb:.0f} KB).",
        "",
        *rows,
        "",
        f"chinanews takes **{ours['median_ms'] / theirs['median_ms']:.2f}×** trafilatura's time "
        f"and **{ours['median_ms'] / gne['median_ms']:.2f}×** GNE's (median "
        f"{ours['median_ms']:.2f} ms against {theirs['median_ms']:.2f} ms and "
        f"{gne['median_ms']:.2f} ms; target: the best accuracy of the three at a fraction "
        f"of the others' time: {best_verdict(results)}). "
        "trafilatura reads only the day of the publication time, which is counted as a match; "
        "GNE's time string is read with chinanews' own date parser (`chinanews.dates`). "
        "The accuracy columns measure agreement with the local site's truth, which was written "
        "from the same site notes as the extractors: they show that chinanews reads every "
        "template the notes describe, not how it fares on pages of the real site nobody has seen.",
    ]
    if args.unseen_size:
        lines += ["", *unseen_section(args.unseen_size, args.seed)]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section(DOC, "extraction", text)
    return 0


def unseen_section(size: int, seed: int) -> list[str]:
    """The unseen-markup table: the redesign variant's articles, the time to the second."""
    site = LocalSite(size=size, seed=seed, redesign=1.0)
    schemes = site.redesign_pages(BASE)
    pages = [p for p in known_pages(site) if canonical_url(p[0]) in schemes]
    if not pages:
        raise SystemExit(f"no redesigned single-page article on a site of size {size}")
    relative = any(
        s["form"] is not None and s["form"] not in ABSOLUTE_FORMS for s in schemes.values()
    )
    # the truth of relative times is read against the moment the site's pages were made
    now = datetime.fromtimestamp(site.model.now_ts, BEIJING) if relative else None
    runners = {
        "chinanews": chinanews_runner(now),
        "trafilatura": run_trafilatura,
        "GNE": run_gne,
    }
    times = page_times(runners, pages)
    results = [measure_unseen(n, fn, pages, now, times[n]) for n, fn in runners.items()]
    places = Counter("+".join(schemes[canonical_url(u)]["places"]) for u, _, _ in pages)
    seconds = sum(datetime.fromisoformat(w["published_at"]).second != 0 for _, _, w in pages)
    short = sum(schemes[canonical_url(u)]["short"] for u, _, _ in pages)
    rows = [
        "| extractor | median CPU ms/page | p90 ms | title | time exact (to the second) "
        "| time: day only | body char-F1 | body exact |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['name']} | {r['median_ms']:.2f} | {r['p90_ms']:.2f} | {r['title']:.1%} "
            f"| {r['time_exact']:.1%} | {r['time_day']:.1%} | {r['body_f1']:.3f} "
            f"| {r['body_exact']:.1%} |"
            for r in results
        ),
    ]
    return [
        f"**Unseen markup.** {len(pages)} single-page articles of the local site's redesign "
        f"variant (size {size}, seed {seed}, `redesign=1.0`: no class or id any template "
        f"knows; median page {median_kb(pages):.0f} KB; {short} short news items). Their "
        "publication time is stated in "
        + ", ".join(f"`{k}` on {v}" for k, v in sorted(places.items(), key=lambda kv: -kv[1]))
        + f" pages; {seconds} of the {len(pages)} true times have non-zero seconds"
        + (
            ", some are relative (`N分钟前`…), read against the site's generation time"
            if now
            else ""
        )
        + ".",
        "",
        *rows,
        "",
        "Time exact: the extractor's time, read with `chinanews.dates`, is the page's instant "
        "to the second (a time to the minute on a page whose time has seconds is wrong). Day "
        "only: the extractor gave a day without a time, and it is the page's day in Beijing "
        "time or in UTC; shown, not counted as exact. Target (issue 12): the best title, time "
        f"to the second and body char-F1 of the three, the time exact on at least "
        f"{TIME_EXACT_TARGET:.0%} of the pages, and at least {1 / SPEED_SHARE:.0f}× faster than each "
        f"peer (median time): {unseen_verdict(results)}.",
    ]


def replace_section(doc: Path, name: str, text: str) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``doc``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    content = doc.read_text(encoding="utf-8")
    head, _, rest = content.partition(start)
    _, _, tail = rest.partition(end)
    if not rest:
        raise SystemExit(f"{doc} has no {start} marker")
    doc.write_text(f"{head}{start}\n{text}\n{end}{tail}", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
