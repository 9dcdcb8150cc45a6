"""``LocalSite``: the public face of the local china.com (routing, truth, page iteration)."""

from __future__ import annotations

import hashlib
import re
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chinanews.dates import to_iso
from chinanews.urls import canonical_url

from . import render
from .faults import FaultPlan, Faults
from .model import _LRU, BASE, EXPECTED_FEATURES, LISTS, SiteModel
from .pairs import LabelledPair, near_duplicate_pairs

_ART_RE = re.compile(r"^(?P<stem>/.+/20\d{6}/(?P<aid>[a-z]*\d+))(?:_(?P<page>\d+|all))?\.html$")
_LIST_RE = re.compile(r"^(?P<dir>/.+/)(?:index(?:_(?P<n>\d+))?\.html)?$")
_TUIJIAN_RE = re.compile(r"^/finance/tuijian/p/(?P<n>\d+)/?$")
_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_LIST_DIRS = {v[0]: k for k, v in LISTS.items()}


@dataclass
class Response:
    """What the server sends for one path."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    charset: str | None = "utf-8"


class LocalSite:
    """A deterministic synthetic china.com.

    ``size`` is about the number of article pages, ``seed`` fixes every byte, ``outside_base``
    is where source links, ad links and the off-site redirect point. ``js`` (0 to 1, default
    0) is the share of article pages made JavaScript variants (``docs/local-site.md``).
    ``faults`` makes the server fail some requests (``chinanews.localsite.faults``); the
    pages rendered stay the same, and the truth leaves out what a permanent fault hides.
    ``redesign`` (0 to 1, default 0) is the share of the well-formed single-page articles
    rendered in markup no template knows, with the channel list pages redesigned too
    (``chinanews.localsite.redesign``; ``redesign_pages`` says how each states its time).

    The site has a clock (``now()``): it stamps the server's ``Date`` header, runs on in
    real time, and ``advance(minutes=…)`` moves it on. Article pages carry validators as
    CDNs vary: an ``ETag`` and a ``Last-Modified``, only one of them, or neither
    (``validators_of``), both changing when the article is edited; the server answers a
    conditional request for an unchanged page with 304. ``quirks`` makes the validators
    misbehave, as some servers do: ``etag_per_response`` (a new ETag on every answer),
    ``bad_last_modified`` (a ``Last-Modified`` that is not a date), ``always_304`` (a 304 to
    any request for an article with validators, conditional or not).
    """

    #: What ``quirks`` may name.
    QUIRKS = frozenset({"etag_per_response", "bad_last_modified", "always_304"})
    #: The one start URL path a crawler needs.
    start_path = "/"
    #: Seconds the slow article waits before answering.
    slow_delay = 1.5

    def __init__(
        self,
        size: int = 50,
        seed: int = 1,
        outside_base: str = "http://localhost:9/",
        js: float = 0.0,
        faults: FaultPlan | None = None,
        redesign: float = 0.0,
        quirks: frozenset[str] | set[str] = frozenset(),
    ) -> None:
        unknown = set(quirks) - self.QUIRKS
        if unknown:
            raise ValueError(
                f"quirks: unknown {sorted(unknown)}; choose from {sorted(self.QUIRKS)}"
            )
        self.quirks = frozenset(quirks)
        if not 0.0 <= redesign <= 1.0:
            raise ValueError(f"redesign: {redesign!r} is not a share between 0 and 1")
        self.model = SiteModel(
            size=size, seed=seed, outside_base=outside_base, js=js, redesign=redesign
        )
        #: The faults the server injects (None: a server that never fails).
        self.faults = Faults(faults, self.model) if faults is not None else None
        self._cache: _LRU = _LRU(512)
        self._lock = threading.Lock()  # the caches are shared by the server's threads
        self._clock_set = time.monotonic()  # when the model's clock was last moved
        self._carried = 0.0  # real seconds that ran before that
        self._answers = 0  # for the etag_per_response quirk

    # ------------------------------------------------------------------ the clock
    def now(self) -> float:
        """The site's time (Unix seconds): the model's clock, running on in real time."""
        return self.model.now_ts + self._carried + (time.monotonic() - self._clock_set)

    def http_date(self) -> str:
        """``now()`` as an HTTP date, for the ``Date`` header."""
        return formatdate(self.now(), usegmt=True)

    def validators_of(self, i: int, page: str = "1") -> list[tuple[str, str]]:
        """The validators of article ``i``'s page ``page``: ETag and Last-Modified on a
        quarter of the articles each, one of them on a quarter each, none on the rest."""
        a = self.model.arts[i]
        kind = zlib.crc32(a.aid.encode()) % 4
        headers = []
        if kind in (0, 1):
            tag = hashlib.sha1(f"{a.aid}:{a.revision}:{page}".encode()).hexdigest()[:16]
            headers.append(("ETag", f'"{tag}"'))
        if kind in (0, 2):
            headers.append(("Last-Modified", formatdate(a.modified, usegmt=True)))
        return headers

    def answer_validators(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """``headers`` as this answer sends them, misbehaving as ``quirks`` say."""
        if not self.quirks & {"etag_per_response", "bad_last_modified"}:
            return headers
        out = []
        for name, value in headers:
            if name == "ETag" and "etag_per_response" in self.quirks:
                with self._lock:
                    self._answers += 1
                    value = f'"{value.strip(chr(34))}-{self._answers}"'
            elif name == "Last-Modified" and "bad_last_modified" in self.quirks:
                value = "yesterday, around noon"
            out.append((name, value))
        return out

    # ------------------------------------------------------------------ serving
    @property
    def outside_base(self) -> str:
        return self.model.outside

    def render(self, target: str, base: str = "http://127.0.0.1") -> Response:
        """The response to ``GET target`` (path plus optional query) for a site at ``base``."""
        parts = urlsplit(target)
        path = parts.path or "/"
        key = (path, parts.query)
        with self._lock:
            got = self._cache.get(key)
            if got is None:
                got = self._cache.put(key, self._route(path, parts.query))
        status, text, ctype, charset, delay, extra = got
        base = base.rstrip("/")
        body = (
            text.replace(BASE, base).encode(charset or "utf-8", errors="xmlcharrefreplace")
            if isinstance(text, str)
            else text
        )
        headers = [("Content-Type", ctype), *extra]
        return Response(status, body, headers, delay, charset)

    def _route(
        self, path: str, query: str
    ) -> tuple[int, str | bytes, str, str | None, float, list[tuple[str, str]]]:
        m = self.model
        html_t = "text/html; charset=utf-8"
        if path == "/":
            return 200, render.portal(m), html_t, "utf-8", 0.0, []
        if path == "/robots.txt":
            return 200, render.robots_txt(), "text/plain; charset=utf-8", "utf-8", 0.0, []
        if path in ("/news/", "/news/index.html"):
            return 200, render.news_home(m), html_t, "utf-8", 0.0, []
        if m.roll and path in ("/news/roll/", "/news/roll/index.html"):
            return 200, render.roll_page(m), html_t, "utf-8", 0.0, []
        if m.roll and path == "/news/api/roll.json":
            return 200, render.roll_json(m), "application/json; charset=utf-8", "utf-8", 0.0, []
        if path == "/news/api/related.json":
            i = m.by_aid.get(parse_qs(query).get("id", [""])[0])
            if i is None or m.js.get(i) != "related":
                return self._not_found()
            return (
                200,
                render.related_json(m, i),
                "application/json; charset=utf-8",
                "utf-8",
                0.0,
                [],
            )
        if path.startswith("/static/"):
            if path.endswith(".gif") or path.endswith(".png"):
                return 200, _GIF, "image/gif", None, 0.0, []
            ctype = "text/css" if path.endswith(".css") else "application/javascript"
            return 200, "/* static */\n", f"{ctype}; charset=utf-8", "utf-8", 0.0, []
        if path in ("/rank/rank/cms/news/day/rank_all.js", "/rank/rank/cms/mili/day/rank_all.js"):
            feed = "news" if "/news/" in path else "mili"
            return (
                200,
                render.rank_js(m, feed),
                "application/javascript; charset=utf-8",
                "utf-8",
                0.0,
                [],
            )
        if path == "/finance/index/getNewsInfo":
            q = parse_qs(query)
            try:
                page = int(q.get("page", ["1"])[0])
            except ValueError:
                page = 1
            column = q.get("column_id", [""])[0]
            return (
                200,
                render.finance_json(m, page, column),
                "application/json; charset=utf-8",
                "utf-8",
                0.0,
                [],
            )
        if path in ("/finance/domestic/", "/finance/domestic/index.html"):
            return 200, render.finance_shell(m), html_t, "utf-8", 0.0, []
        t = _TUIJIAN_RE.match(path)
        if t:
            return (
                200,
                render.tuijian_json(m, int(t["n"])),
                "application/json; charset=utf-8",
                "utf-8",
                0.0,
                [],
            )
        lm = _LIST_RE.match(path)
        if lm and lm["dir"] in _LIST_DIRS and _LIST_DIRS[lm["dir"]] != "finjson":
            page = int(lm["n"]) if lm["n"] else 1
            if lm["n"] and page < 2:
                return self._not_found()
            text = render.list_page(m, _LIST_DIRS[lm["dir"]], page)
            if text is not None:
                return 200, text, html_t, "utf-8", 0.0, []
            return self._not_found()
        am = _ART_RE.match(path)
        if am:
            return self._article(path, am)
        return self._not_found()

    def _not_found(self) -> tuple[int, str, str, str, float, list[tuple[str, str]]]:
        return 404, render.error_page(404), "text/html; charset=utf-8", "utf-8", 0.0, []

    def _article(
        self, path: str, am: re.Match[str]
    ) -> tuple[int, str, str, str | None, float, list[tuple[str, str]]]:
        m = self.model
        i = m.by_aid.get(am["aid"])
        if i is None:
            return self._not_found()
        a = m.arts[i]
        if path.startswith("/3g/act/"):
            if i in m.mobile and path == m.mobile_path(i):
                return 200, render.mobile(m, i), "text/html; charset=utf-8", "utf-8", 0.0, []
            return self._not_found()
        if am["stem"] + ".html" != m.path_of(i):
            return self._not_found()
        pages = m.pages_of(i)
        page = am["page"]
        if page is None:
            pg = "1"
        elif page == "all":
            if pages == 1 or a.feature == "multi_noall":
                return self._not_found()
            pg = "all"
        else:
            if not 2 <= int(page) + 1 <= pages:
                return self._not_found()
            pg = str(int(page) + 1)
        f = a.feature
        if f == "http500":
            return 500, render.error_page(500), "text/html; charset=utf-8", "utf-8", 0.0, []
        if f == "redirect":
            return (
                302,
                "",
                "text/html; charset=utf-8",
                "utf-8",
                0.0,
                [("Location", f"{m.outside}news/{a.aid}.html")],
            )
        if f == "notart":
            return 200, render.topic_page(m, i), "text/html; charset=utf-8", "utf-8", 0.0, []
        delay = self.slow_delay if f == "slow" else 0.0
        if f == "gbk_header":
            html_gbk = render.article(m, i, pg, "gbk")
            return 200, html_gbk, "text/html; charset=GBK", "gbk", delay, self.validators_of(i, pg)
        if f == "gbk_meta":
            return 200, render.article(m, i, pg, "gb2312"), "text/html", "gbk", delay, []
        validators = self.validators_of(i, pg)
        return (
            200,
            render.article(m, i, pg),
            "text/html; charset=utf-8",
            "utf-8",
            delay,
            validators,
        )

    # ------------------------------------------------------------------ truth
    def expected(self, base_url: str, rendered: bool = True) -> dict[str, dict[str, Any]]:
        """Canonical URL -> expected article fields, for every article reachable from ``/``.

        ``rendered=True`` (default): what a reader of the rendered pages reaches, which a crawl
        in ``render=auto`` or ``always`` emits; ``rendered=False``: what the HTML as served
        yields, which ``render=never`` emits. They differ only on a site with ``js`` > 0."""
        m = self.model
        with self._lock:
            seen, _ = m.reachable(rendered, self._blocked())
        base = base_url.rstrip("/")
        out = {}
        for i in sorted(seen):
            if m.arts[i].feature in EXPECTED_FEATURES:
                if not rendered and m.js.get(i) == "body":
                    continue
                item = m.expected_article(i, base, rendered)
                out[item["url"]] = item
        return out

    def non_articles(self, base_url: str, rendered: bool = True) -> dict[str, str]:
        """Served (or linked) URLs a crawler meets that must not become articles -> reason.
        With ``rendered=False`` the script-injected bodies are ``no_body``; with faults, the
        pages that always fail are ``fault_<kind>``."""
        _, non = self.model.reachable(rendered, self._blocked())
        base = base_url.rstrip("/")
        return {base + p: r for p, r in sorted(non.items())}

    def _blocked(self) -> dict[int, str]:
        """Article -> ``fault_<kind>`` for the pages a permanent fault keeps from every request."""
        if self.faults is None:
            return {}
        return {i: f"fault_{f.kind}" for i, f in self.faults.permanent_articles().items()}

    def js_pages(self, base_url: str) -> dict[str, list[str]]:
        """The JavaScript variants by kind: ``related`` (related list filled by a script),
        ``body`` (body injected by a script), ``list`` (``/news/roll/``); empty when js=0."""
        m = self.model
        base = base_url.rstrip("/")
        out: dict[str, list[str]] = {"related": [], "body": [], "list": []}
        for i, kind in sorted(m.js.items()):
            out[kind].append(base + m.path_of(i))
        if m.roll:
            out["list"].append(base + "/news/roll/")
        return out

    def redesign_pages(self, base_url: str) -> dict[str, dict[str, Any]]:
        """Canonical URL -> how a redesigned article page states its publication time:
        ``places`` (of ``text``, ``time``, ``meta``, ``jsonld``), ``form`` and ``label`` of
        the visible time (None when none is shown), ``meta`` (the meta tag's name),
        ``published_at`` (the instant the page claims, to the second when any place has
        seconds), ``title_tag`` (``h1`` or ``div``) and ``short`` (a two- or
        three-sentence item). Empty when ``redesign`` is 0."""
        m = self.model
        base = base_url.rstrip("/")
        out = {}
        for i in sorted(m.redesign):
            rd = m.content(i).flags["rd"]
            out[canonical_url(base + m.path_of(i))] = {
                "places": list(rd["places"]),
                "form": rd["form"],
                "label": rd["label"],
                "meta": rd["meta"],
                "published_at": to_iso(rd["time_raw"]),
                "title_tag": rd["title_tag"],
                "short": rd["short"],
            }
        return out

    def article_urls(self, base_url: str) -> list[str]:
        """Every article page URL the site serves with 200 (all pages of multi-page ones)."""
        m = self.model
        base = base_url.rstrip("/")
        out = []
        for a in m.arts:
            if a.feature in ("http500", "redirect", "notart"):
                continue
            n = m.pages_of(a.idx)
            out.append(base + m.path_of(a.idx))
            out += [base + m.path_of(a.idx, str(k)) for k in range(2, n + 1)]
            if n > 1 and a.feature != "multi_noall":
                out.append(base + m.path_of(a.idx, "all"))
            if a.idx in m.mobile:
                out.append(base + m.mobile_path(a.idx))
        return out

    def pages(self, base_url: str = "http://127.0.0.1:8000") -> Iterator[tuple[str, str]]:
        """(url, html) of every article page the site serves, decoded; for extractor benchmarks.
        Look the truth up with ``expected(base_url)[canonical_url(url)]`` (absent: not an
        expected article, or a page of one that only makes sense with the others)."""
        for url in self.article_urls(base_url):
            r = self.render(urlsplit(url).path, base_url)
            yield url, r.body.decode(r.charset or "utf-8")

    def canonical(self, base_url: str, path: str) -> str:
        return canonical_url(base_url.rstrip("/") + path)

    def advance(self, new: int = 0, edit: int = 0, minutes: float = 0, spacing: int = 120) -> None:
        """Publish ``new`` articles newer than all others, ``spacing`` seconds apart, move
        the clock on by ``minutes`` (and by the time the new articles took), and change the
        bodies of ``edit`` existing ones (deterministically from the seed and the number of
        earlier advances)."""
        with self._lock:
            # The real time that ran meanwhile stays on the clock (which never goes back);
            # the model, and so every page, stays a function of the seed and the advances.
            now = time.monotonic()
            self._carried += now - self._clock_set
            self._clock_set = now
            self.model.advance(new=new, edit=edit, minutes=minutes, spacing=spacing)
            self._cache.clear()

    def near_duplicate_pairs(self, n: int = 3000, seed: int | None = None) -> list[LabelledPair]:
        """``n`` labelled (article, article, is_duplicate, kind) pairs for measuring
        near-duplicate detection: syndicated copies with every edit the site makes, and hard
        negatives (same topic, same people, different story). ``seed`` defaults to the site's;
        the site's own pages do not change. See ``chinanews.localsite.pairs``."""
        return near_duplicate_pairs(n, self.model.seed if seed is None else seed)

    def __len__(self) -> int:
        return len(self.model.arts)
