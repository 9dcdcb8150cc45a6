"""The ``china_com`` spider: routes, never decides what a page says nor which links to skip.

Pages are routed by the shape of their URL (``chinanews.urls.classify``) to the extractors
in ``chinanews.extract``; every link they return becomes a request at the priority of its
kind, carrying its classification (``meta["link"]``) and how it was found (``meta["via"]``).
Which of those requests go on (scope, channels, ``since``, known articles, mobile mirrors,
recovery) is ``chinanews.follow.FollowRules``' decision.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.settings import BaseSettings

from chinanews import distributed
from chinanews.extract import ArticleExtraction, extract_article, extract_list, parse_feed
from chinanews.items import Article
from chinanews.recheck import RecheckMode, response_time
from chinanews.rendering import RenderMode, check_render, render_meta
from chinanews.urls import (
    CHANNELS,
    Link,
    LinkKind,
    classify,
    in_scope,
    is_mobile_mirror,
    link_kind,
    netloc,
    request_url,
)

logger = logging.getLogger(__name__)

#: The default seeds: the news home, the channel list pages, the hot-ranking feeds and the
#: finance JSON column lists (see docs/site-notes.md).
DEFAULT_SEEDS = (
    "https://news.china.com/",
    "https://news.china.com/domestic/",
    "https://news.china.com/international/",
    "https://news.china.com/social/",
    "https://military.china.com/news/",
    "https://finance.china.com/domestic/",
    "https://tech.china.com/articles/",
    "https://rank.china.com/rank/cms/news/day/rank_all.js",
    "https://rank.china.com/rank/cms/mili/day/rank_all.js",
    *(
        f"https://finance.china.com/index/getNewsInfo?page=1&column_id={column}"
        for column in ("11173294", "13003071", "11173306", "11173302", "13001906", "13003065")
    ),
)

STAT = "chinanews"


#: ``-a`` names that would overwrite what the spider itself holds (Scrapy sets every ``-a``
#: argument as a spider attribute): refused at start.
RESERVED_ARGUMENTS = frozenset(
    {"args", "crawler", "settings", "custom_settings", "run_id", "seeds", "frontier"}
)


class ArgumentError(ValueError):
    """A spider argument that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class CrawlArgs:
    """The spider's arguments, checked."""

    start_urls: tuple[str, ...] = ()
    since: date | None = None
    channels: frozenset[str] = frozenset()
    fresh: bool = False
    render: RenderMode = RenderMode.AUTO
    #: Which known articles this run fetches again; None: the setting CHINANEWS_RECHECK.
    recheck: RecheckMode | None = None

    @classmethod
    def parse(cls, kwargs: dict[str, Any]) -> CrawlArgs:
        reserved = sorted(RESERVED_ARGUMENTS & set(kwargs))
        if reserved:
            raise ArgumentError(
                f"{', '.join(reserved)}: not a spider argument (the crawl sets it); "
                "arguments are start_urls, since, channels, fresh, render and recheck"
            )
        start_urls = _split(kwargs.get("start_urls"))
        for url in start_urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ArgumentError(
                    f"start_urls: {url!r} is not an http(s) URL; "
                    "give absolute URLs, e.g. -a start_urls=http://127.0.0.1:8000/"
                )
        since = None
        if kwargs.get("since"):
            try:
                since = date.fromisoformat(str(kwargs["since"]).strip())
            except ValueError:
                raise ArgumentError(
                    f"since: {kwargs['since']!r} is not a date; use YYYY-MM-DD, e.g. -a since=2025-11-01"
                ) from None
        channels = frozenset(c.lower() for c in _split(kwargs.get("channels")))
        unknown = sorted(channels - set(CHANNELS))
        if unknown:
            raise ArgumentError(
                f"channels: unknown {', '.join(unknown)}; choose from {','.join(CHANNELS)}"
            )
        fresh_value = str(kwargs.get("fresh", "0")).strip().lower()
        if fresh_value not in _BOOLEANS:
            raise ArgumentError(
                f"fresh: {kwargs['fresh']!r} is not a yes/no value; use -a fresh=1 or -a fresh=0"
            )
        try:
            render = RenderMode.parse(kwargs.get("render"))
        except ValueError as exc:
            raise ArgumentError(str(exc)) from None
        recheck = None
        if kwargs.get("recheck") is not None:
            try:
                recheck = RecheckMode.parse(kwargs["recheck"])
            except ValueError as exc:
                raise ArgumentError(str(exc)) from None
        return cls(
            start_urls=start_urls,
            since=since,
            channels=channels,
            fresh=_BOOLEANS[fresh_value],
            render=render,
            recheck=recheck,
        )


_BOOLEANS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
    "": False,
}


def _failure_reason(exc: BaseException) -> str | None:
    """A short reason for a failed download, or None for a request refused on purpose."""
    from scrapy.exceptions import IgnoreRequest
    from scrapy.spidermiddlewares.httperror import HttpError

    if isinstance(exc, HttpError):
        return f"http_{exc.response.status}"
    if isinstance(exc, IgnoreRequest):
        return None
    name = type(exc).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()  # TimeoutError -> timeout_error


def _split(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(s.strip() for s in items if s and s.strip())


class ChinaComSpider(scrapy.Spider):
    """Crawls china.com's channel lists, feeds and the related news of every article.

    Arguments (``-a NAME=VALUE``): ``start_urls`` (comma-separated, replaces the seeds),
    ``since`` (YYYY-MM-DD: skip older articles, stop paginating past it), ``channels``
    (comma-separated subset of domestic, international, social, military, finance, tech),
    ``fresh`` (1: ignore the cross-run index), ``render`` (auto, always, never: when a page
    goes through headless Chromium; ``docs/rendering.md``), ``recheck`` (none, due, all:
    which known articles are fetched again; ``chinanews.recheck``).
    """

    name = "china_com"
    frontier: distributed.Frontier | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        parsed = CrawlArgs.parse(kwargs)
        kwargs.pop("start_urls", None)
        super().__init__(*args, **kwargs)  # every other -a NAME=VALUE becomes an attribute
        self.args = parsed
        self.seeds = self.args.start_urls or DEFAULT_SEEDS
        #: Read by ``chinanews.rendering.RenderAddon``, which wires the browser in unless never.
        self.render_mode = self.args.render
        self.render_timeout_ms = 10_000.0
        #: The host[:port] of the start URLs a user gave: in scope beside china.com's.
        self.scope_netlocs = frozenset(netloc(u) for u in self.args.start_urls)

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> ChinaComSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.render_timeout_ms = 1000 * crawler.settings.getfloat("CHINANEWS_RENDER_TIMEOUT", 10)
        #: Distributed mode (chinanews.distributed): seeds and start URLs come through Redis,
        #: and this worker's output files carry its worker id.
        spider.frontier = distributed.Frontier.of(crawler, spider)
        return spider

    @property
    def run_id(self) -> str:
        """This run's id (``%(run_id)s`` in feed URIs), which the crawl's lifecycle owns
        (``chinanews.lifecycle.CrawlRun.run_id``); AttributeError before there is one."""
        from chinanews.lifecycle import CrawlRun

        run = self.crawler.get_extension(CrawlRun)
        if run is None:
            raise AttributeError("run_id: no chinanews.lifecycle.CrawlRun in this crawl")
        return run.run_id

    @classmethod
    def check_arguments(cls, kwargs: dict[str, Any]) -> None:
        """Raise ``ArgumentError`` for arguments the spider cannot use (called by ``crawl``)."""
        CrawlArgs.parse(kwargs)

    @classmethod
    def check_environment(cls, settings: BaseSettings, kwargs: dict[str, Any]) -> None:
        """Raise ``ValueError`` when the crawl cannot run here: rendering is on (``-a render``
        is not ``never``) and there is no browser, or distributed mode without a reachable
        Redis (called by ``crawl`` before it starts)."""
        check_render(settings, CrawlArgs.parse(kwargs).render)
        distributed.check_settings(settings, kwargs)

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        if not settings.getdict("FEEDS"):
            data_dir = settings.get("CHINANEWS_DATA_DIR") or "data"
            path = os.path.join(data_dir, "jsonl", "%(name)s", "%(name)s-%(run_id)s.jsonl")
            settings.set("FEEDS", {path: {"format": "jsonlines", "encoding": "utf-8"}}, "spider")

    # -- seeds and routing ------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        if self.frontier is not None:
            async for request in self.frontier.start(self.seeds, self._seed_request):
                yield request
            return
        for url in self.seeds:
            seed = self._seed_request(url)
            if seed is not None:
                yield seed

    def _seed_request(self, url: str) -> scrapy.Request | None:
        return self.follow(url, via="seed")

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """Any page whose kind is known only from its URL (start URLs, redirects)."""
        kind = link_kind(response.url)
        if kind in (LinkKind.ARTICLE, LinkKind.ARTICLE_PAGE):
            yield from self.parse_article(response)
        elif kind is LinkKind.FEED:
            yield from self.parse_feed(response)
        else:
            yield from self.parse_list(response)

    def _callback_for(self, kind: LinkKind) -> Any:
        return {
            LinkKind.ARTICLE: self.parse_article,
            LinkKind.FEED: self.parse_feed,
            LinkKind.LIST: self.parse_list,
        }[kind]

    def follow(
        self,
        url: str,
        *,
        via: str,
        priority_bonus: int = 0,
        listed_at: str | None = None,
        listed_title: str | None = None,
        list_root: str | None = None,
        list_page: int = 1,
    ) -> scrapy.Request | None:
        """A request for ``url`` when it is a page the spider parses, else None; whether it
        is fetched is ``chinanews.follow.FollowRules``' decision. ``listed_at`` and
        ``listed_title``: what a list or feed entry shows of it; ``list_root`` and
        ``list_page``: for a list's next page, the list's first page and this page's number."""
        link = classify(url)
        if link is None:
            return None
        meta: dict[str, Any] = {"via": via, "link": link}
        if listed_at:
            meta["listed_at"] = listed_at
        if listed_title:
            meta["listed_title"] = listed_title
        if list_root:
            meta["list_root"] = list_root
            meta["list_page"] = list_page
        return scrapy.Request(
            link.url,
            callback=self._callback_for(link.kind),
            errback=self._failed,
            priority=link.kind.value + priority_bonus,
            meta=meta,
        )

    def _failed(self, failure: Any) -> None:
        """A page that could not be fetched (retries spent): counted by kind and reason
        (``chinanews/lost/<kind>/<reason>``) and logged in one line, not lost silently."""
        request = failure.request
        reason = _failure_reason(failure.value)
        if reason is None:
            return  # robots.txt or the scope: counted where they were refused
        kind = link_kind(request.url).name.lower()
        self._inc(f"{STAT}/lost/{kind}/{reason}")
        logger.warning("Lost %s page (%s): %s", kind, reason, request.url)

    # -- rendering --------------------------------------------------------------------

    @staticmethod
    def _rendered(response: Response) -> bool:
        return "playwright" in response.flags

    def _render_again(
        self, response: Response, script_filled: dict[str, str], static: Any = None
    ) -> scrapy.Request | None:
        """Decide whether this page goes (again) through the browser, and count why.

        ``script_filled`` is what the extractor found left for a script. A plain response
        with nothing missing is ``static``; with something missing it is rendered
        (``auto/<reason>``) or, with ``render=never``, kept as it is (``never/<reason>``). A
        rendered response still missing a block is counted ``still_missing/<reason>``."""
        rendered = self._rendered(response)
        if rendered:
            self._inc(f"{STAT}/render/pages")
        elif self.render_mode is RenderMode.ALWAYS:
            # Every page, once it has answered a plain request (redirects and scope already
            # settled by Scrapy); wait for the blocks known missing, else for a quiet network.
            self._inc(f"{STAT}/render/always")
            return self._through_browser(response, list(script_filled.values()) or [""], static)
        if not script_filled:
            if not rendered:
                self._inc(f"{STAT}/render/static")
            return None
        if rendered:
            for reason in sorted(script_filled):
                self._inc(f"{STAT}/render/still_missing/{reason}")
            return None
        if self.render_mode is RenderMode.NEVER:
            for reason in sorted(script_filled):
                self._inc(f"{STAT}/render/never/{reason}")
            return None
        for reason in sorted(script_filled):
            self._inc(f"{STAT}/render/auto/{reason}")
        return self._through_browser(response, list(script_filled.values()), static)

    def _through_browser(
        self, response: Response, selectors: list[str], static: Any
    ) -> scrapy.Request:
        """The request of ``response`` again, this time rendered, waiting for ``selectors``.
        The browser opens only a URL that has just answered a plain request: Playwright
        does not route a navigation's HTTP redirects, so it never meets one here."""
        self._inc(f"{STAT}/render/requested")
        request = response.request
        assert request is not None
        meta = {
            k: v
            for k, v in request.meta.items()
            if not k.startswith(("download_", "_")) and k != "link"  # followed already
        }
        meta.update(render_meta(selectors, self.render_timeout_ms))
        meta["chinanews_static"] = static
        return request.replace(meta=meta, dont_filter=True, errback=self._render_failed)

    def _render_failed(self, failure: Any) -> Iterator[Any]:
        """The browser could not render the page: keep what the plain HTML gave."""
        self._inc(f"{STAT}/render/failed")
        logger.warning(
            "Rendering failed, keeping the static page: %s (%s)", failure.request, failure.value
        )
        static = failure.request.meta.get("chinanews_static")
        if isinstance(static, ArticleExtraction):
            if static.article is not None:
                yield from self._emit(static.article, None)
            else:
                self._inc(f"{STAT}/no_article/{static.reason or 'unknown'}")

    @staticmethod
    def _link_of(response: Response) -> Link | None:
        """The classification the request carried, unless a redirect led elsewhere."""
        link = response.meta.get("link")
        if isinstance(link, Link) and link.url == response.url:
            return link
        return classify(response.url)

    def _follow_desktop(self, url: str) -> scrapy.Request | None:
        """The desktop page a mobile mirror names: it takes the id the mirror held."""
        return self.follow(url, via="canonical")

    def _in_scope(self, url: str) -> bool:
        return in_scope(url, self.scope_netlocs)

    def _follow_all(self, urls: Iterable[str], *, via: str) -> Iterator[scrapy.Request]:
        for url in urls:
            request = self.follow(url, via=via)
            if request is not None:
                yield request

    def _inc(self, key: str) -> None:
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value(key)

    def _count_page(self, kind: str) -> None:
        self._inc(f"{STAT}/pages/{kind}")

    # -- lists and feeds --------------------------------------------------------------

    def parse_list(self, response: Response) -> Iterator[Any]:
        if "chinanews_static" not in response.meta:  # a page rendered again is counted once
            self._count_page("list")
        if not isinstance(response, TextResponse):
            self._no_article("not_text", response)
            return
        page = extract_list(response.url, response.body, encoding=response.encoding)
        again = self._render_again(response, page.script_filled)
        yield from self._follow_entries(page.entries, via="list")
        yield from self._follow_all(page.links, via="nav")
        if again is not None:
            yield again
            return
        if page.next_page and not self._past_since(page.entries):
            request = self._next_page(response, page.next_page)
            if request is not None:
                yield request

    def _next_page(self, response: Response, url: str) -> scrapy.Request | None:
        """The request for a list's or feed's next page, carrying its first page's URL."""
        root = response.meta.get("list_root") or response.url
        number = int(response.meta.get("list_page") or 1) + 1
        return self.follow(url, via="pagination", list_root=root, list_page=number)

    def parse_feed(self, response: Response) -> Iterator[Any]:
        self._count_page("feed")
        page = parse_feed(response.url, response.body)
        if not page.entries:
            self._inc(f"{STAT}/feeds/empty")
        yield from self._follow_entries(page.entries, via="feed")
        if page.next_page and page.entries and not self._past_since(page.entries):
            request = self._next_page(response, page.next_page)
            if request is not None:
                yield request

    def _follow_entries(self, entries: Iterable[Any], *, via: str) -> Iterator[scrapy.Request]:
        for entry in entries:
            request = self.follow(
                entry.url, via=via, listed_at=entry.published_at, listed_title=entry.title
            )
            if request is not None:
                yield request

    def _before_since(self, published_at: str | None) -> bool:
        return bool(
            self.args.since and published_at and published_at[:10] < self.args.since.isoformat()
        )

    def _past_since(self, entries: list[Any]) -> bool:
        """True when a list page has reached articles older than ``since``: stop paginating."""
        if not self.args.since:
            return False
        dated = [e.published_at for e in entries if e.published_at]
        if not dated:
            return False
        if min(dated)[:10] < self.args.since.isoformat():
            self._inc(f"{STAT}/lists/stopped_at_since")
            return True
        return False

    # -- articles ---------------------------------------------------------------------

    def parse_article(
        self, response: Response, parts: list[Article] | None = None
    ) -> Iterator[Any]:
        """An article page: emit it, or walk to its remaining pages first."""
        if "chinanews_static" not in response.meta:  # a page rendered again is counted once
            self._count_page("article" if parts is None else "article_page")
        if not isinstance(response, TextResponse):
            self._no_article("not_text", response)
            return
        result = self._extract(response)
        yield from self._follow_article_links(result)
        link = self._link_of(response)
        ref = link.ref if link is not None else None
        if link is not None and link.mobile:
            desktop = response.css("link[rel=canonical]::attr(href)").get()
            if desktop and not is_mobile_mirror(response.urljoin(desktop)):
                # The mirror names its desktop page: emit that one, under its own URL.
                self._inc(f"{STAT}/no_article/mobile_mirror")
                request = self._follow_desktop(response.urljoin(desktop))
                if request is not None:
                    yield request
                return
        again = self._render_again(response, result.script_filled, result)
        if again is not None:
            yield again
            return
        if result.article is None:
            if parts:  # a later page failed: emit what the earlier pages gave
                yield from self._emit(self._merge(parts), response)
            else:
                self._no_article(result.reason or "unknown", response)
            return
        is_all_page = ref is not None and ref.page == "all"
        if parts is None and not is_all_page and result.links.all_page:
            # Multi-page: one request for the whole text instead of walking every page.
            yield scrapy.Request(
                request_url(result.links.all_page),
                callback=self.parse_all_page,
                errback=self._all_page_failed,
                priority=LinkKind.ARTICLE_PAGE.value,
                cb_kwargs={"first": result},
                meta={"via": "pager"},
            )
            return
        if not is_all_page and result.links.next_page and self._in_scope(result.links.next_page):
            walked = [*(parts or []), result.article]
            next_url = request_url(result.links.next_page)
            if len(walked) < 100 and next_url != request_url(response.url):
                yield scrapy.Request(
                    next_url,
                    callback=self.parse_article,
                    errback=self._page_failed,
                    priority=LinkKind.ARTICLE_PAGE.value,
                    cb_kwargs={"parts": walked},
                    meta={"via": "pager"},
                )
                return
        if parts:
            yield from self._emit(self._merge([*parts, result.article]), response)
        else:
            yield from self._emit(result.article, response)

    def _extract(self, response: Response) -> ArticleExtraction:
        """The article a page holds, read against the time the server says it answered
        (its ``Date`` header: relative times such as 3小时前 count from it), with what the
        extractor noted counted (``chinanews/extract/<note>``, e.g. ``time_conflict``)."""
        result = extract_article(
            response.url,
            response.body,
            encoding=getattr(response, "encoding", None),
            fetched_at=response_time(response),
        )
        for note in result.notes:
            self._inc(f"{STAT}/extract/{note}")
        return result

    def parse_all_page(self, response: Response, first: ArticleExtraction) -> Iterator[Any]:
        """The ``<id>_all.html`` page of a multi-page article."""
        if "chinanews_static" not in response.meta:
            self._count_page("article_page")
        result = self._extract(response)
        again = self._render_again(response, result.script_filled, result)
        if again is not None:
            yield again
            return
        if result.article is None:
            yield from self._walk_from_first(first)
            return
        if first.links.page_count and result.article.pages < first.links.page_count:
            result.article.pages = first.links.page_count
        yield from self._emit(result.article, response)

    def _page_failed(self, failure: Any) -> Iterator[Any]:
        """A later page of a multi-page article could not be fetched: emit the pages
        walked so far (``chinanews/multipage/incomplete``)."""
        self._failed(failure)
        parts: list[Article] = failure.request.cb_kwargs["parts"]
        self._inc(f"{STAT}/multipage/incomplete")
        yield from self._emit(self._merge(parts), None)

    def _all_page_failed(self, failure: Any) -> Iterator[Any]:
        first: ArticleExtraction = failure.request.cb_kwargs["first"]
        self._inc(f"{STAT}/multipage/all_page_failed")
        yield from self._walk_from_first(first)

    def _walk_from_first(self, first: ArticleExtraction) -> Iterator[Any]:
        assert first.article is not None
        if first.links.next_page and self._in_scope(first.links.next_page):
            yield scrapy.Request(
                request_url(first.links.next_page),
                callback=self.parse_article,
                errback=self._page_failed,
                priority=LinkKind.ARTICLE_PAGE.value,
                cb_kwargs={"parts": [first.article]},
                meta={"via": "pager"},
            )
        else:
            self._inc(f"{STAT}/multipage/incomplete")
            yield from self._emit(first.article, None)

    def _follow_article_links(self, result: ArticleExtraction) -> Iterator[scrapy.Request]:
        links = result.links
        yield from self._follow_all(links.related, via="related")
        yield from self._follow_all(links.recommended, via="recommended")
        yield from self._follow_all(links.body, via="body")
        yield from self._follow_all(links.other, via="nav")

    @staticmethod
    def _merge(parts: list[Article]) -> Article:
        """One article from the pages of a multi-page article, each page's text once, in order."""
        first = parts[0]
        seen_images: set[Any] = set()
        images = []
        for part in parts:
            for image in part.images:
                if image.get("url") not in seen_images:
                    seen_images.add(image.get("url"))
                    images.append(image)
        related: dict[str, dict[str, Any]] = {}
        for part in parts:
            for link in part.related:
                related.setdefault(link["url"], link)
        return dataclasses.replace(
            first,
            body="\n".join(p.body for p in parts if p.body),
            body_html="\n".join(p.body_html for p in parts if p.body_html),
            images=images,
            related=list(related.values()),
            pages=len(parts),
            editor=next((p.editor for p in reversed(parts) if p.editor), first.editor),
        )

    def _emit(self, article: Article, response: Response | None) -> Iterator[Article]:
        if self._before_since(article.published_at):
            self._inc(f"{STAT}/articles/before_since")
            return
        if self.args.channels and article.channel not in self.args.channels:
            self._inc(f"{STAT}/articles/other_channel")
            return
        article.crawled_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._inc(f"{STAT}/articles/emitted")
        self._inc(f"{STAT}/articles/template/{article.template}")
        yield article

    def _no_article(self, reason: str, response: Response) -> None:
        self._inc(f"{STAT}/no_article/{reason}")
        logger.debug("No article (%s): %s", reason, response.url)
