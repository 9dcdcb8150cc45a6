"""Crawl policy as data: what kind of page a URL points to, and whether it is in scope.

Link kinds are recognised from the *path shape* only, so the same rules hold on the
real hosts (``https://news.china.com/domestic/945/20251124/49000001.html``) and on
the local copy of the site, which serves every sub-site under a first path segment
named after it (``http://127.0.0.1:8000/news/domestic/945/20251124/49000001.html``).
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

#: Sub-domains of china.com that serve articles, lists or feeds. Anything else under
#: china.com (ad, stat, image and CDN hosts) is out of scope.
CHINA_COM_HOSTS = frozenset(
    {
        "china.com",
        "www",
        "news",
        "military",
        "junshi",
        "finance",
        "economy",
        "money",
        "jiu",
        "tech",
        "ent",
        "culture",
        "travel",
        "game",
        "auto",
        "edu",
        "shouyi",
        "sports",
        "health",
        "rank",
        "3g",
        "m",
        "fashion",
        "history",
    }
)

#: The channels a user can pick with ``-a channels=``.
CHANNELS = ("domestic", "international", "social", "military", "finance", "tech")

# Sub-sites whose host (or, on the local copy, first path segment) alone names the channel.
_SUBSITE_CHANNEL = {
    "military": "military",
    "junshi": "military",
    "mili": "military",
    "finance": "finance",
    "economy": "finance",
    "money": "finance",
    "jiu": "finance",
    "tech": "tech",
}
# Path segments of news.china.com that name a channel.
_PATH_CHANNEL = {
    "domestic": "domestic",
    "domesticgd": "domestic",
    "china": "domestic",
    "international": "international",
    "internationalgd": "international",
    "world": "international",
    "social": "social",
    "socialgd": "social",
}
# Numeric CMS columns with a known channel (from the site notes).
COLUMN_CHANNEL = {
    "945": "domestic",
    "10000159": "domestic",
    "1000": "international",
    "1007": "social",
    "10000169": "social",
    "568": "military",
    "11132797": "military",
    "11163298": "military",
    "11172988": "military",
    "11173294": "finance",
    "11173306": "finance",
    "11173302": "finance",
    "11173292": "finance",
    "13003071": "finance",
    "13001906": "finance",
    "13003065": "finance",
    "13003105": "finance",
    "20000860": "finance",
    "13004692": "finance",
}


class LinkKind(enum.Enum):
    """What a URL points to. The value is the scheduling priority (higher goes first):
    pages of an article already under way, then articles, then feeds, then lists."""

    ARTICLE_PAGE = 40
    ARTICLE = 30
    FEED = 20
    LIST = 10
    OTHER = 0


_ARTICLE_RE = re.compile(
    r"/(?:[A-Za-z0-9_\-]+/)+?(?P<column>\d+)/(?P<date>20\d{6})/(?P<id>\d+)(?:_(?P<page>\d+|all))?\.html?$"
)
_TECH_RE = re.compile(
    r"/article/(?P<date>20\d{6})/(?P<id>[a-z]*\d+)(?:_(?P<page>\d+|all))?\.html?$"
)
_FEED_RES = (
    re.compile(r"/rank/cms/[\w-]+/day/rank(?:_all)?\.js$"),
    re.compile(r"/getNewsInfo$"),
    re.compile(r"/p/\d+/?$"),
    re.compile(r"/api/(?:artical|article|oneArtical)$"),
)
_LIST_RE = re.compile(r"(?:^|/)(?:index(?:_\d+)?\.s?html?)?$")
_ASSET_RE = re.compile(
    r"\.(?:css|js|json|png|jpe?g|gif|webp|svg|ico|mp4|mp3|woff2?|ttf|pdf|zip|swf)$", re.I
)


@dataclass(frozen=True)
class ArticleRef:
    """The parts of an article URL."""

    article_id: str
    column_id: str | None
    date: str  # YYYYMMDD
    page: str | None  # None for page 1, "N" for ``_N``, "all" for ``_all``


def article_ref(url: str) -> ArticleRef | None:
    """Parse an article URL (any page of it), or return None if it is not one."""
    return _ref_of_path(urlsplit(url).path)


@functools.lru_cache(maxsize=8_192)
def _ref_of_path(path: str) -> ArticleRef | None:
    """Cached: one page asks about its own URL several times (its date, id, channel,
    canonical form), and pages link the same articles again; an ``ArticleRef`` never
    changes."""
    m = _ARTICLE_RE.search(path)
    if m:
        return ArticleRef(m["id"], m["column"], m["date"], m["page"])
    m = _TECH_RE.search(path)
    if m:
        return ArticleRef(m["id"], None, m["date"], m["page"])
    return None


#: The ``_N`` or ``_all`` of a later page of an article.
_PAGE_SUFFIX = re.compile(r"_(?:\d+|all)(\.html?)$")

_MOBILE_RE = re.compile(r"(?:^|/)act/[A-Za-z0-9_]+/\d+/20\d{6}/\d+\.html?$")


def is_mobile_mirror(url: str) -> bool:
    """True for the mobile mirror's article URLs (``3g.china.com/act/<channel>/...``), which
    carry the same id as a desktop article."""
    return bool(_MOBILE_RE.search(urlsplit(url).path))


def link_kind(url: str) -> LinkKind:
    """Classify a URL by its path shape."""
    parts = urlsplit(url)
    return _kind(parts, _ref_of_path(parts.path))


def is_article_url(url: str) -> bool:
    """``link_kind(url)`` is ``ARTICLE`` or ``ARTICLE_PAGE``: an http(s) article URL (the
    feed, asset and list tests ``link_kind`` goes on to make for other URLs are left out)."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and _ref_of_path(parts.path) is not None


def _kind(parts: SplitResult, ref: ArticleRef | None) -> LinkKind:
    if parts.scheme not in ("http", "https"):
        return LinkKind.OTHER
    if ref is not None:
        return LinkKind.ARTICLE if ref.page is None else LinkKind.ARTICLE_PAGE
    path = parts.path or "/"
    if any(r.search(path) for r in _FEED_RES):
        return LinkKind.FEED
    if _ASSET_RE.search(path):
        return LinkKind.OTHER
    if _LIST_RE.search(path):
        return LinkKind.LIST
    return LinkKind.OTHER


def is_china_com(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "china.com":
        return True
    if not host.endswith(".china.com"):
        return False
    return host[: -len(".china.com")] in CHINA_COM_HOSTS


def netloc(url: str) -> str:
    """Host and port, lower-case, without credentials (``127.0.0.1:8000``)."""
    return _netloc(urlsplit(url))


def _netloc(parts: SplitResult) -> str:
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def in_scope(url: str, extra_netlocs: frozenset[str] | set[str] = frozenset()) -> bool:
    """True for http(s) URLs on a china.com article host or on one of ``extra_netlocs``
    (the host[:port] of the start URLs a user gave)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False
    return _netloc(parts) in extra_netlocs or is_china_com(parts.hostname or "")


@functools.lru_cache(maxsize=8_192)
def canonical_url(url: str) -> str:
    """The article's canonical URL: https on china.com hosts, no ``_N``/``_all`` suffix,
    no query, no fragment. Non-article URLs are only stripped of query and fragment.

    The path's article test (``_ref_of_path``) is cached: a page's own URL and the articles
    its lists link are asked about again."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    china = is_china_com(host)
    scheme = "https" if china else parts.scheme.lower()
    loc = host if china or not parts.port else f"{host}:{parts.port}"
    path = _PAGE_SUFFIX.sub(r"\1", parts.path) if _ref_of_path(parts.path) else parts.path
    return urlunsplit((scheme, loc, path, "", ""))


def article_page_url(url: str, page: str) -> str:
    """The URL of one page of an article: ``page`` is "1" (first), "N" (``_{N-1}``) or "all"."""
    parts = urlsplit(canonical_url(url) if is_china_com(urlsplit(url).hostname or "") else url)
    base = _PAGE_SUFFIX.sub(r"\1", parts.path)
    if page != "1":
        suffix = "all" if page == "all" else str(int(page) - 1)
        base = re.sub(r"(\.html?)$", rf"_{suffix}\1", base)
    return urlunsplit((parts.scheme, parts.netloc, base, "", ""))


def request_url(url: str) -> str:
    """A normalised URL to request: fragment dropped, query kept (feeds need it)."""
    return canonicalize_url(url, keep_fragments=False)


def channel_of(url: str) -> str | None:
    """The channel (``domestic``, ``military``, ...) an article or list URL belongs to.

    Reads the host's sub-domain, then the path segments up to the CMS column id, then the
    column id itself; on the local copy the first path segment stands for the sub-domain.
    Returns the sub-site name (``ent``, ``culture``) for other china.com sections, and
    None when nothing names a channel.
    """
    parts = urlsplit(url)
    return _channel(parts, _ref_of_path(parts.path))


def _channel(parts: SplitResult, ref: ArticleRef | None) -> str | None:
    host = (parts.hostname or "").lower()
    labels: list[str] = []
    if host.endswith(".china.com"):
        labels.append(host[: -len(".china.com")])
    segments = [s for s in parts.path.split("/") if s]
    for seg in segments[:-1] if ref else segments:
        if ref and seg == ref.column_id:
            break
        labels.append(seg.lower())
    for label in labels:
        if label in _SUBSITE_CHANNEL:
            return _SUBSITE_CHANNEL[label]
    for label in labels:
        if label in _PATH_CHANNEL:
            return _PATH_CHANNEL[label]
    if ref and ref.column_id in COLUMN_CHANNEL:
        return COLUMN_CHANNEL[ref.column_id]
    for label in labels:
        if label in CHINA_COM_HOSTS and label not in ("www", "news", "3g", "m", "act", "china.com"):
            return label
    return None


@dataclass(frozen=True)
class Link:
    """A URL classified once, with all the crawl policy asks of it (``classify``)."""

    #: The URL to request (``request_url``); a link into a multi-page article is its first page.
    url: str
    #: ``ARTICLE``, ``FEED`` or ``LIST`` (a later page of an article counts as the article).
    kind: LinkKind
    #: The article's parts, for an article.
    ref: ArticleRef | None
    #: The channel (``channel_of``).
    channel: str | None
    #: Host[:port], lower-case; and whether the host is one of china.com's.
    netloc: str
    china_com: bool
    #: A page of the mobile mirror (``is_mobile_mirror``).
    mobile: bool

    def in_scope(self, extra_netlocs: frozenset[str] | set[str] = frozenset()) -> bool:
        """``in_scope`` for this link."""
        return self.china_com or self.netloc in extra_netlocs


_PAGER_PATH = re.compile(r"(?:/index(?:_\d+)?\.html?|/p/\d+/?)$")
_PAGER_QUERY = re.compile(r"^(?:page|p|pageno|pn)$", re.IGNORECASE)


@functools.lru_cache(maxsize=8_192)
def list_key(url: str) -> str:
    """One list's pages share this key: ``url`` without its page marker (``index.html``,
    ``index_N.html``, ``/p/N``, a ``page=N`` parameter), scheme or fragment, so that a pager's
    links can be told from other lists."""
    parts = urlsplit(url)
    path = _PAGER_PATH.sub("/", parts.path or "/")
    query = "&".join(
        sorted(
            q for q in parts.query.split("&") if q and not _PAGER_QUERY.match(q.split("=", 1)[0])
        )
    )
    return f"{_netloc(parts)}{path}?{query}"


@functools.lru_cache(maxsize=32_768)
def classify(url: str) -> Link | None:
    """``url`` split and matched once: its kind, article parts, channel, host and whether
    it is a mobile mirror; None for what the crawl never fetches (``LinkKind.OTHER``).

    Cached: every page links the same home, channel and hot articles again, and a ``Link``
    never changes."""
    parts = urlsplit(url)
    ref = _ref_of_path(parts.path)
    kind = _kind(parts, ref)
    if kind is LinkKind.OTHER:
        return None
    if kind is LinkKind.ARTICLE_PAGE:
        # its first page, on the same scheme and host as the link (as a link to the first
        # page itself would be classified)
        parts = parts._replace(path=_PAGE_SUFFIX.sub(r"\1", parts.path), fragment="")
        url = urlunsplit(parts)
        ref = _ref_of_path(parts.path)
        kind = LinkKind.ARTICLE
    return Link(
        url=request_url(url),
        kind=kind,
        ref=ref,
        channel=_channel(parts, ref),
        netloc=_netloc(parts),
        china_com=is_china_com(parts.hostname or ""),
        mobile=bool(_MOBILE_RE.search(parts.path)),
    )
