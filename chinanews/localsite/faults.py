"""Fault injection for the local site: a server that fails the way real ones do.

``LocalSite(..., faults=FaultPlan(seed=1))`` (or ``serve --faults``) makes the server fail
some requests: a :class:`FaultPlan` says how often and how; :class:`Faults` is that plan
applied to one site, deciding for each request target, from the seed and the target alone,
whether it fails and how, and counting what it injected.

Transport faults (``KINDS_TRANSPORT``) fail the first ``failures`` requests of a target and
then let it answer normally (*transient*: a crawler that retries enough still gets the page),
or every request (*permanent*, ``failures`` is None; only ever article pages):

- ``http500`` / ``http503``: an error page with that status;
- ``reset``: the connection is closed without a response (an RST);
- ``stall``: nothing is sent for ``stall_seconds`` (past the client's timeout), then the
  connection is dropped;
- ``truncate``: the headers announce the whole body, half of it is sent, the connection closes.

Mislabelled pages (``KINDS_LABEL``, article pages only) answer every request with the right
page under wrong headers: ``gbk_as_utf8`` (GBK bytes with a GBK ``<meta charset>``, the
header says UTF-8), ``utf8_as_gbk`` (UTF-8 bytes and ``<meta>``, the header says GBK) and
``text_plain`` (GBK bytes with their ``<meta>``, served as ``text/plain`` with no charset).
The article is still expected from them.

Lists and feeds get transient transport faults only. ``/``, ``robots.txt``, static files,
pages after the first of an article and the site's own special cases (the always-500 page,
the slow page, the redirect, ...) never get a fault. ``site.expected()`` leaves out the
articles a permanent fault makes unreachable; ``site.non_articles()`` names the permanently
failing pages (reason ``fault_<kind>``).
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass

from .model import EXPECTED_FEATURES, LISTS, SiteModel

KINDS_TRANSPORT = ("http500", "http503", "reset", "stall", "truncate")
KINDS_LABEL = ("gbk_as_utf8", "utf8_as_gbk", "text_plain")
KINDS = KINDS_TRANSPORT + KINDS_LABEL

_ART_RE = re.compile(r"^/.+/20\d{6}/[a-z]*\d+\.html$")  # first pages only (no _N, no _all)
_LIST_RE = re.compile(r"^(?P<dir>/.+/)(?:index(?:_\d+)?\.html)?$")
_FEED_PATHS = (
    "/finance/index/getNewsInfo",
    "/rank/rank/cms/news/day/rank_all.js",
    "/rank/rank/cms/mili/day/rank_all.js",
)
_TUIJIAN_RE = re.compile(r"^/finance/tuijian/p/\d+/?$")
_LIST_DIRS = frozenset(v[0] for v in LISTS.values())
#: Article features that may get a fault: expected ones, but not the slow page.
_ELIGIBLE = EXPECTED_FEATURES - {"slow"}


@dataclass(frozen=True)
class FaultPlan:
    """How a faulty server fails; every decision follows from ``seed`` and the target.

    ``articles``: share of article first pages with a fault; ``lists``: share of list pages
    and feeds with a (transient) one; ``permanent``: share of the articles' transport faults
    that never heal; ``max_failures``: a transient fault fails 1 to this many requests (a
    crawl needs at least this many retries); ``stall_seconds``: how long a stall lasts (more
    than the crawl's ``DOWNLOAD_TIMEOUT``); ``kinds``: the kinds to draw from."""

    seed: int = 1
    articles: float = 0.2
    lists: float = 0.2
    permanent: float = 0.1
    max_failures: int = 2
    stall_seconds: float = 3.0
    kinds: tuple[str, ...] = KINDS

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}; choose from {KINDS}")
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")


@dataclass(frozen=True)
class Fault:
    """The fault of one target: its kind and how many requests fail (None: all of them)."""

    kind: str
    failures: int | None

    @property
    def transient(self) -> bool:
        """The page is served after ``failures`` failed requests (a mislabelled page is
        served every time)."""
        return self.failures is not None or self.kind in KINDS_LABEL


class Faults:
    """A :class:`FaultPlan` applied to one site: the fault of every target, and a
    thread-safe record of the faults injected (``injected``: kind -> requests failed or
    mislabelled; ``hits``: target -> requests seen)."""

    def __init__(self, plan: FaultPlan, model: SiteModel) -> None:
        self.plan = plan
        self.model = model
        self.hits: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()

    # -- decisions (pure: seed and target) --------------------------------------------------

    def fault_for(self, target: str) -> Fault | None:
        """The fault of ``target`` (path plus query), or None."""
        plan = self.plan
        r = random.Random(f"faults/{plan.seed}/{target}")
        path = target.split("?", 1)[0]
        transport = [k for k in plan.kinds if k in KINDS_TRANSPORT]
        if self._is_list(path):
            if not transport or r.random() >= plan.lists:
                return None
            return Fault(r.choice(transport), r.randint(1, plan.max_failures))
        feature = self._article_feature(path)
        if feature is None or r.random() >= plan.articles:
            return None
        kinds = [k for k in plan.kinds if k in transport or not feature.startswith("gbk")]
        if not kinds:
            return None
        kind = r.choice(kinds)
        if kind in KINDS_LABEL:
            return Fault(kind, None)
        if r.random() < plan.permanent:
            return Fault(kind, None)
        return Fault(kind, r.randint(1, plan.max_failures))

    def _is_list(self, path: str) -> bool:
        if path in _FEED_PATHS or _TUIJIAN_RE.match(path):
            return True
        m = _LIST_RE.match(path)
        return m is not None and m["dir"] in _LIST_DIRS

    def _article_feature(self, path: str) -> str | None:
        """The feature of the article whose first page is ``path`` if it may get a fault."""
        if not _ART_RE.match(path) or path.startswith("/3g/"):
            return None
        m = self.model
        aid = path.rsplit("/", 1)[1][: -len(".html")]
        i = m.by_aid.get(aid)
        if i is None or m.path_of(i) != path:
            return None
        feature: str = m.arts[i].feature
        return feature if feature in _ELIGIBLE else None

    def permanent_articles(self) -> dict[int, Fault]:
        """Article index -> its permanent transport fault (the page is never served)."""
        m = self.model
        out = {}
        for a in m.arts:
            fault = self.fault_for(m.path_of(a.idx))
            if fault is not None and not fault.transient:
                out[a.idx] = fault
        return out

    def all_faults(self, targets: list[str]) -> dict[str, Fault]:
        """The faults among ``targets``."""
        return {t: f for t in targets if (f := self.fault_for(t)) is not None}

    # -- serving ----------------------------------------------------------------------------

    def on_request(self, target: str) -> str | None:
        """Count a request for ``target``; the fault kind to inject into its answer, or None."""
        fault = self.fault_for(target)
        with self._lock:
            self.hits[target] += 1
            n = self.hits[target]
            if fault is None:
                return None
            if fault.kind in KINDS_LABEL or fault.failures is None or n <= fault.failures:
                self.injected[fault.kind] += 1
                return fault.kind
        return None


def relabel(kind: str, body: bytes) -> tuple[bytes, str]:
    """A UTF-8 article page (body, Content-Type) as the mislabelled fault ``kind`` serves it."""
    if kind == "utf8_as_gbk":
        return body, "text/html; charset=GBK"
    text = body.decode("utf-8").replace('<meta charset="utf-8">', '<meta charset="gbk">', 1)
    gbk = text.encode("gbk", errors="xmlcharrefreplace")
    return gbk, ("text/html; charset=utf-8" if kind == "gbk_as_utf8" else "text/plain")
