"""The crawl report: what a crawl did and whether its output looks right, from its stats.

Pure functions, no engine: :class:`FieldCounter` counts, per field, the articles that have
a value (those emitted, and apart those the pipelines dropped) and those a generic fallback
rule gave it (the item's ``provenance``); :func:`build_report` turns the Scrapy stats and
those counts into the report's sections (pages by kind, articles, drops, duplicates,
coverage, fallbacks, extraction notes, HTTP errors, time), runs the quality checks (coverage
only from ``CHINANEWS_MIN_SAMPLE`` article pages) and flags a template change;
:func:`format_summary`, :func:`format_failures` and :func:`format_template_change` are its
log text. ``chinanews.extensions.CrawlReport`` wires them to a crawl; ``docs/report.md``
describes every field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from itemadapter import ItemAdapter

from chinanews.items import ARTICLE_FIELDS

STAT = "chinanews"

#: Set at the end of a crawl whose checks ran: the number of checks that failed.
#: ``scrapy crawl`` (chinanews/commands/crawl.py) exits with 3 when it is above 0.
CHECKS_FAILED_STAT = f"{STAT}/checks/failed"

#: Exit code of ``scrapy crawl`` when a quality check failed.
EXIT_CHECKS_FAILED = 3
#: ... and with 5 when an output could not store its data (``chinanews.lifecycle``).
EXIT_OUTPUT_FAILED = 5

#: The minimum coverage of the fields that tell a template change; a field not named in
#: ``CHINANEWS_MIN_COVERAGE`` keeps its default here, and 0 turns a check off.
DEFAULT_MIN_COVERAGE: dict[str, float] = {"title": 0.98, "body": 0.9, "published_at": 0.9}

#: ``CHINANEWS_MIN_SAMPLE``: the article pages a coverage check needs before it can fail. In a
#: small crawl one broken page is no sign of a template change (1 of 9 is 88.9%).
DEFAULT_MIN_SAMPLE = 50

#: A field's rule in an item's ``provenance`` that starts with this came from a generic
#: fallback, not from a template.
GENERIC_PREFIX = "generic:"
#: The fields whose generic reading tells that the templates no longer match ...
TEMPLATE_FIELDS = ("title", "published_at", "body")
#: ... when more than this share of the emitted articles (at least the sample floor of
#: them) needed a generic rule for one of them.
TEMPLATE_CHANGE_SHARE = 0.5

#: Finish reasons after which the checks apply: the crawl ran to its end or to a limit the
#: user set. After ``shutdown`` (Ctrl-C) or ``cancelled`` the output is partial on purpose.
CHECKED_FINISH_REASONS = ("finished",)
CHECKED_FINISH_PREFIX = "closespider_"

_EMPTY: tuple[Any, ...] = (None, "", [], {}, ())


class FieldCounter:
    """Counts emitted articles, per template, and per field those with a non-empty value
    (anything but ``None``, ``""`` and empty containers). Cheap: one pass over the item.

    From the item's ``provenance`` (field name → rule) it counts, per field, the articles
    whose rule is a generic fallback (``generic:…``), and the articles that needed one for
    the title, the publication time or the body. An item without ``provenance`` (or with
    one that is not a mapping) has no fallbacks."""

    def __init__(self, fields: Iterable[str] = ARTICLE_FIELDS) -> None:
        self.items = 0
        self.filled: dict[str, int] = dict.fromkeys(fields, 0)
        self.templates: dict[str, int] = {}
        #: Articles that carried a provenance.
        self.with_provenance = 0
        #: Per field, the articles a generic fallback rule gave it.
        self.fallbacks: dict[str, int] = {}
        #: Articles whose title, publication time or body came from a generic rule.
        self.generic_articles = 0

    def add(self, item: Any) -> None:
        self.items += 1
        filled = self.filled
        provenance: Any = None
        for name, value in ItemAdapter(item).items():
            if name == "provenance":
                provenance = value
            if value in _EMPTY:
                continue
            filled[name] = filled.get(name, 0) + 1
            if name == "template":
                self.templates[value] = self.templates.get(value, 0) + 1
        if isinstance(provenance, Mapping) and provenance:
            self._add_provenance(provenance)

    def _add_provenance(self, provenance: Mapping[Any, Any]) -> None:
        self.with_provenance += 1
        generic = False
        for name, rule in provenance.items():
            if isinstance(rule, str) and rule.startswith(GENERIC_PREFIX):
                field = str(name)
                self.fallbacks[field] = self.fallbacks.get(field, 0) + 1
                generic = generic or field in TEMPLATE_FIELDS
        if generic:
            self.generic_articles += 1

    def coverage(self) -> dict[str, float | None]:
        """The share of counted articles that have each field (``None`` with no articles)."""
        if not self.items:
            return dict.fromkeys(self.filled, None)
        return {name: round(n / self.items, 4) for name, n in self.filled.items()}


@dataclass
class Check:
    """One quality check: ``passed`` is ``None`` when it could not be computed or did not
    apply, and ``reason`` then says why; ``sample`` is what a coverage check measured on."""

    name: str
    value: float | int | None
    limit: float | int
    passed: bool | None
    meaning: str
    sample: int | None = None
    reason: str | None = None


#: The ``reason`` of a coverage check below the sample floor starts with this.
BELOW_FLOOR = "below the sample floor"


def min_coverage(setting: Mapping[str, Any] | None) -> dict[str, float]:
    """``CHINANEWS_MIN_COVERAGE`` over the defaults; a limit of 0 (or less) is no check."""
    limits = dict(DEFAULT_MIN_COVERAGE)
    for name, value in (setting or {}).items():
        limits[str(name)] = float(value) if value not in (None, "") else 0.0
    return {name: limit for name, limit in limits.items() if limit > 0}


def checks_apply(finish_reason: str | None) -> bool:
    reason = finish_reason or ""
    return reason in CHECKED_FINISH_REASONS or reason.startswith(CHECKED_FINISH_PREFIX)


def _group(stats: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{rest: value}`` for the stats ``<prefix><rest>`` whose rest has no further ``/``."""
    return {
        k[len(prefix) :]: v
        for k, v in sorted(stats.items())
        if k.startswith(prefix) and "/" not in k[len(prefix) :]
    }


def articles_found(stats: Mapping[str, Any]) -> int:
    """Articles emitted, plus those an incremental crawl found again unchanged or skipped as
    known: a crawl that only met known articles still found the site's articles."""
    return int(
        stats.get("item_scraped_count", 0)
        + stats.get(f"{STAT}/incremental/unchanged", 0)
        + stats.get(f"{STAT}/incremental/skipped_known", 0)
        + stats.get(f"{STAT}/recheck/not_modified", 0)
    )


def requests_made(stats: Mapping[str, Any]) -> dict[str, Any]:
    """Where the downloads went (``chinanews.recheck``): discovery (lists and feeds), new
    articles, re-checks of known ones by outcome, other (an article's later pages, pages
    rendered); and what was saved: known articles skipped as not due, those waiting for a
    later re-check, list pages not walked."""
    made = _group(stats, f"{STAT}/requests/")
    return {
        "total": sum(made.values()),
        "discovery": made.get("discovery", 0),
        "new": made.get("new", 0),
        "recheck": made.get("recheck", 0),
        "other": made.get("other", 0),
        "recheck_outcomes": {
            "not_modified": stats.get(f"{STAT}/recheck/not_modified", 0),
            "unchanged": stats.get(f"{STAT}/incremental/unchanged", 0),
            "changed": stats.get(f"{STAT}/incremental/changed", 0),
        },
        "recheck_reasons": {
            reason: stats.get(f"{STAT}/recheck/{reason}", 0)
            for reason in ("due", "listing_changed", "all")
            if stats.get(f"{STAT}/recheck/{reason}", 0)
        },
        "skipped_not_due": stats.get(f"{STAT}/recheck/not_due", 0),
        "waiting": stats.get(f"{STAT}/recheck/waiting", 0),
        "list_pages_saved": stats.get(f"{STAT}/lists/pages_saved", 0),
        "pagination_stopped": stats.get(f"{STAT}/lists/pagination_stopped", 0),
    }


def lost_for_want_of(stats: Mapping[str, Any], field: str) -> int:
    """Article pages the spider gave up on because ``field`` was missing
    (``no_article/no_<field>``: ``no_title``, ``no_body``). Without them the check could
    never see a missing title: such a page does not even become an item."""
    return int(stats.get(f"{STAT}/no_article/no_{field}", 0))


def article_pages(stats: Mapping[str, Any], counter: FieldCounter, dropped: FieldCounter) -> int:
    """The article pages this run read: the articles extracted (emitted and dropped) plus
    the pages given up for want of a field (``no_article/no_<field>``)."""
    lost = sum(lost_for_want_of(stats, field) for field in ARTICLE_FIELDS)
    return counter.items + dropped.items + lost


def run_checks(
    stats: Mapping[str, Any],
    counter: FieldCounter,
    dropped: FieldCounter,
    *,
    min_articles: int,
    coverage_limits: Mapping[str, float],
    min_sample: int = DEFAULT_MIN_SAMPLE,
) -> list[Check]:
    """The checks. A coverage check counts every article the spider extracted: those emitted
    and those the pipelines dropped (invalid ones, which lack the field more often than not,
    and duplicates or unchanged articles of an incremental crawl, which are still this run's
    reading of the site), plus the pages lost for want of the field: its ``sample``. Below
    ``min_sample`` it states the coverage and does not fail (``passed`` ``None``)."""
    checks: list[Check] = []
    if min_articles > 0:
        found = articles_found(stats)
        checks.append(
            Check(
                "articles",
                found,
                min_articles,
                found >= min_articles,
                "the crawl found no articles (or too few): the start URLs may list none, the "
                "site may be blocking us, or its list pages changed",
            )
        )
    for field, limit in coverage_limits.items():
        have = counter.filled.get(field, 0) + dropped.filled.get(field, 0)
        seen = counter.items + dropped.items + lost_for_want_of(stats, field)
        value = round(have / seen, 4) if seen else None
        passed: bool | None = None
        reason: str | None = None
        if value is None:
            reason = "no article page to measure"
        elif seen < min_sample:
            reason = (
                f"{BELOW_FLOOR}: {seen} article pages, fewer than {min_sample}"
                " (CHINANEWS_MIN_SAMPLE)"
            )
        else:
            passed = value >= limit
        checks.append(
            Check(
                f"coverage/{field}",
                value,
                limit,
                passed,
                f"articles lose their {field}: the site's article template has probably "
                f"changed; run `chinanews extract URL` on one of its pages to see what is read",
                sample=seen,
                reason=reason,
            )
        )
    return checks


def fallbacks(counter: FieldCounter) -> dict[str, Any]:
    """The ``fallbacks`` section: per field, the emitted articles a generic rule gave it."""
    return {
        "by_field": dict(sorted(counter.fallbacks.items())),
        "articles_with_provenance": counter.with_provenance,
        "articles_generic": counter.generic_articles,
        "share_generic": round(counter.generic_articles / counter.items, 4)
        if counter.items
        else None,
    }


def template_change(counter: FieldCounter, min_sample: int) -> dict[str, Any] | None:
    """The ``template_change`` flag, or ``None``: more than :data:`TEMPLATE_CHANGE_SHARE` of
    the emitted articles, at least ``min_sample`` (and at least one) of them, needed a
    generic rule for the title, the publication time or the body. Not a failed check."""
    if counter.items < max(min_sample, 1):
        return None
    share = counter.generic_articles / counter.items
    if share <= TEMPLATE_CHANGE_SHARE:
        return None
    return {
        "share": round(share, 4),
        "articles_generic": counter.generic_articles,
        "articles": counter.items,
        "threshold": TEMPLATE_CHANGE_SHARE,
        "by_field": {f: counter.fallbacks[f] for f in TEMPLATE_FIELDS if f in counter.fallbacks},
        "message": f"the templates no longer match: {share:.0%} of articles read by generic rules",
    }


def build_report(
    stats: Mapping[str, Any],
    counter: FieldCounter,
    dropped: FieldCounter | None = None,
    *,
    min_articles: int = 1,
    coverage_limits: Mapping[str, float] | None = None,
    min_sample: int = DEFAULT_MIN_SAMPLE,
) -> dict[str, Any]:
    """The report: its sections, the checks and ``ok``, and every stat under ``stats``.

    ``counter`` counted the emitted articles, ``dropped`` those the pipelines dropped.
    Coverage checks fail only from ``min_sample`` article pages; ``template_change`` is
    flagged (from the emitted articles' provenance) without failing a check.

    ``ok`` is ``True`` when every check passed, ``False`` when one failed, and ``None``
    when the checks were not applied (the crawl was stopped: ``shutdown``, ``cancelled``).
    """
    limits = min_coverage(None) if coverage_limits is None else dict(coverage_limits)
    finish_reason = stats.get("finish_reason")
    elapsed = stats.get("elapsed_time_seconds")
    dropped = dropped or FieldCounter()
    checks: list[Check] = []
    ok: bool | None = None
    if checks_apply(finish_reason):
        checks = run_checks(
            stats,
            counter,
            dropped,
            min_articles=min_articles,
            coverage_limits=limits,
            min_sample=min_sample,
        )
        ok = all(c.passed is not False for c in checks)
    failed_outputs = _group(stats, f"{STAT}/outputs/failed/")
    if failed_outputs:
        # whatever stopped the crawl: its outputs did not hold everything
        checks.append(
            Check(
                "outputs",
                sum(failed_outputs.values()),
                0,
                False,
                f"an output could not store its data ({', '.join(failed_outputs)}): the "
                "articles it lost stay unrecorded and the next run emits them again",
            )
        )
        ok = False
    return {
        "ok": ok,
        "finish_reason": finish_reason,
        "elapsed_seconds": round(elapsed, 1) if isinstance(elapsed, (int, float)) else None,
        "start_time": stats.get("start_time"),
        "finish_time": stats.get("finish_time"),
        "pages_by_kind": _group(stats, f"{STAT}/pages/"),
        "articles": {
            "emitted": stats.get("item_scraped_count", 0),
            "extracted": stats.get(f"{STAT}/articles/emitted", 0),
            "dropped": stats.get("item_dropped_count", 0),
            "by_template": dict(sorted(counter.templates.items())),
        },
        "dropped_by_reason": _group(stats, f"{STAT}/dropped/"),
        "duplicates_by_layer": _group(stats, f"{STAT}/duplicates/"),
        "incremental": _group(stats, f"{STAT}/incremental/"),
        "requests": requests_made(stats),
        "no_article_by_reason": _group(stats, f"{STAT}/no_article/"),
        "lost_pages": _group(stats, f"{STAT}/lost/"),
        "sample": {
            "article_pages": article_pages(stats, counter, dropped),
            "floor": min_sample,
        },
        "coverage": counter.coverage(),
        "fallbacks": fallbacks(counter),
        "template_change": template_change(counter, min_sample),
        "extraction_notes": _group(stats, f"{STAT}/extract/"),
        "http_errors_by_status": {
            status: count
            for status, count in _group(stats, "downloader/response_status_count/").items()
            if not status.startswith(("2", "3"))
        },
        "retries": stats.get("retry/count", 0),
        "download_errors": stats.get("downloader/exception_count", 0),
        "links_skipped": _group(stats, f"{STAT}/links/"),
        "out_of_scope_blocked": stats.get(f"{STAT}/scope/blocked", 0),
        "storage": _group(stats, f"{STAT}/storage/"),
        "run": _group(stats, f"{STAT}/run/"),
        "recovery": _group(stats, f"{STAT}/run/recovery/"),
        "outputs_failed": failed_outputs,
        "checks": [asdict(c) for c in checks],
        "stats": dict(stats),
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def format_summary(report: Mapping[str, Any]) -> str:
    """The end-of-crawl summary for the log."""
    articles = report["articles"]
    watched = {c["name"].split("/", 1)[1] for c in report["checks"] if "/" in c["name"]}
    watched |= set(DEFAULT_MIN_COVERAGE)
    coverage = ", ".join(
        f"{name} {_pct(report['coverage'].get(name))}"
        for name in sorted(watched)
        if name in report["coverage"]
    )
    if report["ok"] is None:
        verdict = "checks not applied (the crawl was stopped)"
    else:
        failed = [c["name"] for c in report["checks"] if c["passed"] is False]
        verdict = f"checks FAILED: {', '.join(failed)}" if failed else "checks passed"
        below = [c["name"] for c in report["checks"] if _below_floor(c)]
        if below:
            verdict += f"; coverage below the sample floor, not checked: {', '.join(below)}"
    sample = report.get("sample") or {}
    fell_back = report.get("fallbacks") or {}
    change = report.get("template_change")
    lines = [
        f"Crawl finished ({report['finish_reason']}): {articles['emitted']} articles emitted"
        f" in {report['elapsed_seconds']} s; {verdict}",
        f"  pages fetched by kind: {report['pages_by_kind'] or '-'}",
        f"  articles by template: {articles['by_template'] or '-'}",
        f"  dropped by reason: {report['dropped_by_reason'] or '-'}",
        f"  duplicates by layer: {report['duplicates_by_layer'] or '-'}",
        f"  pages that are not articles: {report['no_article_by_reason'] or '-'}",
        f"  pages lost (retries spent): {report.get('lost_pages') or '-'}",
        f"  coverage: {coverage or '-'}; sample: {sample.get('article_pages', '-')} article"
        f" pages (floor {sample.get('floor', '-')})",
        f"  fallbacks per field (generic rules): {fell_back.get('by_field') or '-'};"
        f" articles with a generic title, time or body: {fell_back.get('articles_generic', 0)}"
        f" of {articles['emitted']}",
        f"  extraction notes: {report.get('extraction_notes') or '-'}",
        f"  HTTP errors by status: {report['http_errors_by_status'] or '-'};"
        f" retries: {report['retries']}; download errors: {report['download_errors']}",
        f"  links not followed: {report['links_skipped'] or '-'};"
        f" out-of-scope requests blocked: {report['out_of_scope_blocked']}",
    ]
    if report["incremental"]:
        lines.append(f"  incremental: {report['incremental']}")
    made = report.get("requests")
    if made and made["total"]:
        outcomes = made["recheck_outcomes"]
        lines.append(
            f"  requests: {made['total']} (discovery {made['discovery']}, new articles"
            f" {made['new']}, re-checks {made['recheck']}: 304 {outcomes['not_modified']},"
            f" unchanged {outcomes['unchanged']}, changed {outcomes['changed']}; other"
            f" {made['other']}); known articles skipped as not due {made['skipped_not_due']},"
            f" waiting for a later re-check {made['waiting']}; list pages saved"
            f" {made['list_pages_saved']}"
        )
    run = report.get("run") or {}
    if run:
        lines.append(
            f"  checkpoints: {run.get('checkpoints', 0)}, index rows committed:"
            f" {run.get('committed', 0)}; runs recovered: {run.get('recovered_runs', 0)}"
            + (f" {report['recovery']}" if report.get("recovery") else "")
        )
    if change:
        lines.append(f"  TEMPLATE CHANGE: {change['message']}")
    if report.get("outputs_failed"):
        lines.append(f"  OUTPUTS FAILED: {report['outputs_failed']} (exit code 5)")
    storage = report.get("storage") or {}
    if storage:
        lines.append(
            f"  database {storage.get('database', '?')}: {storage.get('articles', 0)} articles"
            f" stored, {storage.get('written', 0)} records written, retries:"
            f" {storage.get('retries', 0)}, spooled: {storage.get('spooled', 0)}"
        )
    return "\n".join(lines)


def _below_floor(check: Mapping[str, Any]) -> bool:
    return check["passed"] is None and str(check.get("reason") or "").startswith(BELOW_FLOOR)


def format_template_change(report: Mapping[str, Any]) -> str | None:
    """The loud WARNING block for a template change, or ``None`` when none was flagged."""
    change = report.get("template_change")
    if not change:
        return None
    bar = "!" * 78
    return "\n".join(
        [
            bar,
            f"TEMPLATE CHANGE: {change['message']}",
            f"  {change['articles_generic']} of {change['articles']} articles needed a generic"
            f" rule for the title, publication time or body; per field: {change['by_field']}",
            "  the articles were still read; run `chinanews extract URL` on one of them to see"
            " which rules read it, and update the templates",
            bar,
        ]
    )


def format_failures(report: Mapping[str, Any]) -> str | None:
    """The loud block for failed checks, or ``None`` when none failed."""
    failed = [c for c in report["checks"] if c["passed"] is False]
    if not failed:
        return None
    bar = "!" * 78
    lines = [bar, f"CRAWL QUALITY CHECK FAILED ({len(failed)} of {len(report['checks'])})"]
    for check in failed:
        if check["name"] == "articles":
            lines.append(
                f"  articles found: {check['value']}, minimum {check['limit']}"
                " (CHINANEWS_MIN_ARTICLES)"
            )
        elif check["name"] == "outputs":
            lines.append(f"  outputs that failed: {check['value']}")
        else:
            field = check["name"].split("/", 1)[1]
            lines.append(
                f"  coverage of {field}: {_pct(check['value'])}, minimum {_pct(check['limit'])}"
                " (CHINANEWS_MIN_COVERAGE)"
            )
        lines.append(f"    meaning: {check['meaning']}")
    if report.get("template_change"):
        lines.append(f"  and {report['template_change']['message']}")
    code = EXIT_OUTPUT_FAILED if any(c["name"] == "outputs" for c in failed) else EXIT_CHECKS_FAILED
    lines += [f"  the crawl exits with code {code}", bar]
    return "\n".join(lines)
