"""What the crawl follows: one spider middleware between the spider's callbacks and the
scheduler.

The spider routes: each link it finds becomes a request whose meta carries the link's
classification (``meta["link"]``, a ``chinanews.urls.Link``: kind, article parts, channel,
host, mobile mirror) and how it was found (``meta["via"]``). ``FollowRules`` decides, from
that, whether the request goes on, in this order (a refused link is counted under
``chinanews/links/<rule>`` or the stat named):

1. scope: a china.com host or a start URL's (``out_of_scope``);
2. ``-a channels``: articles of the chosen channels; lists and feeds of those or of none
   (``other_channel``);
3. ``-a since``: articles dated before it, by their URL or the time their list entry shows
   (``meta["listed_at"]``) (``before_since``);
4. once per article id in a run (another link to an article already requested);
5. a resumed ``JOBDIR`` run: articles this run already recorded
   (``chinanews/jobdir/skipped_this_run``);
6. articles the index knows (``chinanews.recheck``): fetched again only when a list or
   feed entry shows them with another title or time than before, when they are due for a
   re-check by their age (``-a recheck``, ``CHINANEWS_RECHECK_AFTER``), or when the run
   fetches known articles again (``-a fresh=1``, ``-a recheck=all``, the recovery of a run
   whose queue was lost); otherwise skipped (``chinanews/recheck/not_due``, each article
   once; ``chinanews/incremental/skipped_known`` counts every link so refused). A re-check
   carries ``meta["recheck"]`` (the article's key) and becomes a conditional request;
7. mobile-mirror articles wait until the crawl idles: the desktop page of the same id is
   usually found meanwhile, and is the one to emit;
8. lists and feeds: once per URL in a run; the next page of a list or paged feed only
   when this page brought something new (an entry the index does not know, shown with
   another title or time than before, or newer than the newest the list's last walk saw)
   (``chinanews/lists/pagination_stopped``; ``chinanews/lists/pages_saved`` counts the
   pages the last full walk went further). A list walked before is walked page by page:
   the links of its pager to later pages are not followed (``chinanews/lists/pager_links_skipped``).

Requests without ``meta["link"]`` (an article's later pages, a page rendered again) pass.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider

from chinanews.index import FetchState, ListMark
from chinanews.lifecycle import crawl_run
from chinanews.recheck import RecheckMode, due, listing, next_due, parse_schedule, response_time
from chinanews.urls import CHANNELS, Link, LinkKind, list_key

logger = logging.getLogger(__name__)

STAT = "chinanews"
#: Links through which a known article is fetched again only when it is due.
SKIP_KNOWN_VIA = frozenset({"related", "recommended", "body", "nav"})
#: How a list or feed entry reaches an article.
LISTED_VIA = frozenset({"list", "feed"})


@dataclass
class _Context:
    """The page whose links go through: when it was served, and for a list or feed page,
    what its entries said."""

    now: datetime
    root: str | None = None
    number: int = 1
    mark: ListMark | None = None
    entries: int = 0
    new: int = 0
    newest: str | None = None
    seen: set[str] = field(default_factory=set)


class FollowRules:
    """Spider middleware: the crawl's follow rules (module docstring)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        #: A resumed JOBDIR run (``chinanews.jobdir``): articles recorded since then are done.
        self.recovering_since: str | None = settings.get("CHINANEWS_RECOVERING_SINCE") or None
        self._refetch_known = settings.getbool("CHINANEWS_REFETCH_KNOWN")
        self.scheduled_ids: set[str] = set()
        self.requested: set[str] = set()
        #: Mobile-mirror requests held back, by article id.
        self.held: dict[str, Request] = {}
        self.schedule = parse_schedule(settings.get("CHINANEWS_RECHECK_AFTER"))
        self._mode = RecheckMode.parse(settings.get("CHINANEWS_RECHECK"), "CHINANEWS_RECHECK")
        #: The list marks of earlier walks, read once per list (this run's own marks are
        #: written at checkpoints, for the next run).
        self._marks: dict[str, ListMark | None] = {}
        #: This run's walk of each list: the newest entry shown and the pages walked.
        self._walks: dict[str, tuple[str | None, int]] = {}
        #: Known articles reached by a link and not fetched this run.
        self.skipped_ids: set[str] = set()
        self._swept = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FollowRules:
        rules = cls(crawler)
        crawler.signals.connect(rules.spider_idle, signal=signals.spider_idle)
        return rules

    # -- the spider's arguments -------------------------------------------------------

    @property
    def _args(self) -> Any:
        return getattr(self.crawler.spider, "args", None)

    @property
    def mode(self) -> RecheckMode:
        """Which known articles this run fetches again: ``-a recheck``, else the setting."""
        return getattr(self._args, "recheck", None) or self._mode

    def _inc(self, key: str, count: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(key, count)

    # -- the middleware ---------------------------------------------------------------

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for output in start:
            if not isinstance(output, Request) or self.allows(output):
                yield output

    def process_spider_output(self, response: Any, result: Iterable[Any]) -> Iterator[Any]:
        page = self._enter(response)
        for output in result:
            if not isinstance(output, Request) or self.allows(output, page):
                yield output
        self._leave(page)
        yield from self._sweep(response, page)

    async def process_spider_output_async(
        self, response: Any, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        page = self._enter(response)
        async for output in result:
            if not isinstance(output, Request) or self.allows(output, page):
                yield output
        self._leave(page)
        for request in self._sweep(response, page):
            yield request

    def _enter(self, response: Any) -> _Context:
        """A callback's output starts: the time of its page, and for a list or feed page,
        what the list's last walk saw."""
        page = _Context(response_time(response))
        link = response.meta.get("link") if response is not None else None
        if isinstance(link, Link) and link.kind in (LinkKind.LIST, LinkKind.FEED):
            page.root = root = str(response.meta.get("list_root") or link.url)
            if root not in self._marks:
                self._marks[root] = crawl_run(self.crawler).state.index.list_mark(root)
            page.number = int(response.meta.get("list_page") or 1)
            page.mark = self._marks[root]
        return page

    def _sweep(self, response: Any, page: _Context) -> Iterator[Request]:
        """Once, after the first page the server dated (its ``Date`` header gives the
        schedule's clock): the known articles due for a re-check, wherever they are listed
        (``chinanews/recheck/due``), and a count of those whose next re-check is still ahead
        (``chinanews/recheck/waiting``). ``-a recheck=all``: every known article."""
        if self._swept or response is None or not response.headers.get(b"Date"):
            return
        self._swept = True
        mode = self.mode
        if mode is RecheckMode.NONE or not self.skips_known():
            return
        spider: Any = self.crawler.spider
        index = crawl_run(self.crawler).state.index
        waiting = due_now = 0
        for key, url, first, last in index.originals():
            state = FetchState(first, last, None, None, None, 0, frozenset())
            if mode is RecheckMode.DUE and not due(state, page.now, self.schedule):
                if next_due(state, page.now, self.schedule) is not None:
                    waiting += 1
                continue
            request = spider.follow(url, via="due")
            if request is None or key in self.scheduled_ids:
                continue
            request.meta["recheck"] = key
            if self.allows(request, page):
                due_now += 1
                yield request
        self._inc(f"{STAT}/recheck/{'all' if mode is RecheckMode.ALL else 'due'}", due_now)
        self._inc(f"{STAT}/recheck/waiting", waiting)
        logger.info(
            "Re-checks: %d known articles %s, %d waiting for a later one",
            due_now,
            "fetched again (-a recheck=all)" if mode is RecheckMode.ALL else "due now",
            waiting,
        )

    def _leave(self, page: _Context) -> None:
        """A list or feed page's output is through: note what this walk of the list saw."""
        if page.root is None or not page.entries:
            return
        newest, pages = self._walks.get(page.root, (None, 0))
        if page.newest and (newest is None or page.newest > newest):
            newest = page.newest
        pages = max(pages, page.number, page.mark.pages if page.mark else 0)
        self._walks[page.root] = (newest, pages)
        earlier = page.mark.newest_at if page.mark is not None else None
        if earlier and (newest is None or earlier > newest):
            newest = earlier
        stamp = page.now.isoformat(timespec="seconds")
        crawl_run(self.crawler).state.index.note_list(ListMark(page.root, newest, pages, stamp))

    # -- the rules ----------------------------------------------------------------------

    def allows(self, request: Request, page: _Context | None = None) -> bool:
        """Whether ``request``, found on ``page``, goes on (module docstring), counting a
        refusal."""
        page = page or _Context(response_time(None))
        link = request.meta.get("link")
        if not isinstance(link, Link):
            return True
        via = str(request.meta.get("via") or "")
        spider: Any = self.crawler.spider
        if not link.in_scope(getattr(spider, "scope_netlocs", frozenset())):
            self._inc(f"{STAT}/links/out_of_scope")
            return False
        if not self._channel_allowed(link):
            self._inc(f"{STAT}/links/other_channel")
            return False
        if link.kind is LinkKind.ARTICLE:
            return self._allows_article(request, link, via, page)
        if via == "pagination" and not self._next_page_allowed(page):
            return False
        if via == "nav" and self._skips_pager_link(link, page):
            self._inc(f"{STAT}/lists/pager_links_skipped")
            return False
        if link.url in self.requested:
            # Every page links the home and channel lists again: one request per URL, not
            # one per link for the dupefilter to drop (it still guards resumed crawls).
            return False
        self.requested.add(link.url)
        return True

    def _channel_allowed(self, link: Link) -> bool:
        channels = getattr(self._args, "channels", None)
        if not channels:
            return True
        if link.kind is LinkKind.ARTICLE:
            return link.channel in channels
        # Lists and feeds of a chosen channel, or of none in particular (home pages, rankings).
        return link.channel in channels or link.channel not in CHANNELS

    def _allows_article(self, request: Request, link: Link, via: str, page: _Context) -> bool:
        ref = link.ref
        assert ref is not None
        since = getattr(self._args, "since", None)
        listed_at = str(request.meta.get("listed_at") or "")
        if since is not None and (
            ref.date < since.strftime("%Y%m%d")
            or (listed_at and listed_at[:10] < since.isoformat())
        ):
            self._inc(f"{STAT}/links/before_since")
            return False
        article_id = ref.article_id
        known = self._known(article_id)
        listed_again = via in LISTED_VIA and self._listed(request, article_id, known, page)
        # The desktop page a mobile mirror names takes the id the mirror held.
        if article_id in self.scheduled_ids and via != "canonical":
            return False
        if self.recovering_since and self._seen_since(article_id, self.recovering_since):
            self._inc(f"{STAT}/jobdir/skipped_this_run")
            return False
        if known and not self._fetch_known(request, article_id, via, listed_again, page.now):
            self._inc(f"{STAT}/incremental/skipped_known")
            return False
        if link.mobile and via != "mobile":
            self.held.setdefault(article_id, request)
            return False
        self.scheduled_ids.add(article_id)
        return True

    def _listed(self, request: Request, article_id: str, known: bool, page: _Context) -> bool:
        """A list or feed entry for the article: note what it shows, and say whether it
        shows something new (an unknown article, another title or time than before, a time
        newer than the list's last walk saw), which keeps the list's pagination going.
        True when a known article's entry changed."""
        shown = str(request.meta.get("listed_at") or "")
        prints = listing(request.meta.get("listed_title"), shown or None)
        index = crawl_run(self.crawler).state.index
        for fingerprint in prints:
            index.note_listing(article_id, fingerprint)  # written once its fetch is committed
        changed = known and not set(prints) <= index.fetch_state(article_id).listings
        if page.root is None or article_id in page.seen:
            return changed
        page.seen.add(article_id)
        page.entries += 1
        if shown and (page.newest is None or shown > page.newest):
            page.newest = shown
        mark = page.mark
        newer = bool(shown) and (mark is None or not mark.newest_at or shown > mark.newest_at)
        if not known or changed or mark is None or newer:
            page.new += 1
        return changed

    def _next_page_allowed(self, page: _Context) -> bool:
        """Whether a list's next page is fetched: unless this page brought nothing new."""
        if page.root is None or not page.entries or page.new or not self.skips_known():
            return True
        if self.mode is RecheckMode.ALL:
            return True
        self._inc(f"{STAT}/lists/pagination_stopped")
        if page.mark is not None and page.mark.pages > page.number:
            self._inc(f"{STAT}/lists/pages_saved", page.mark.pages - page.number)
        logger.debug("Nothing new on page %d of %s: not paginating further", page.number, page.root)
        return False

    def _skips_pager_link(self, link: Link, page: _Context) -> bool:
        """A list page's link to another page of the same list (its pager: 3, 4, 5 … 21): a
        list walked before is walked page by page, as far as its pages bring news."""
        if page.root is None or page.mark is None or not self.skips_known():
            return False
        if self.mode is RecheckMode.ALL:
            return False
        return list_key(link.url) == list_key(page.root)

    def _fetch_known(
        self, request: Request, article_id: str, via: str, listed_again: bool, now: datetime
    ) -> bool:
        """Whether a known article is fetched again (module docstring, rule 6); a re-check
        is marked ``meta["recheck"]`` for ``chinanews.recheck.Revalidate``."""
        if not self.skips_known():
            return True  # fresh, or walking known articles again: a plain fetch
        if via not in SKIP_KNOWN_VIA and via not in LISTED_VIA:
            # due by the schedule (the sweep), a start URL, a mirror's desktop page
            request.meta["recheck"] = article_id
            return True
        mode = self.mode
        reason = None
        if listed_again:
            reason = "listing_changed"
        elif mode is RecheckMode.ALL:
            reason = "all"
        elif mode is RecheckMode.DUE:
            index = crawl_run(self.crawler).state.index
            seen = index.get(article_id)
            # the schedule re-checks originals; a copy recorded as a duplicate is not news
            original = seen is None or seen.duplicate_of is None
            if original and due(index.fetch_state(article_id), now, self.schedule):
                reason = "due"
        if reason is not None:
            if article_id not in self.scheduled_ids:
                self._inc(f"{STAT}/recheck/{reason}")
            request.meta["recheck"] = article_id
            return True
        if article_id not in self.skipped_ids:
            self.skipped_ids.add(article_id)
            self._inc(f"{STAT}/recheck/not_due")
        return False

    def skips_known(self) -> bool:
        """Whether links to known articles are skipped: not with ``fresh=1``, nor when the
        run must walk known articles again (a JOBDIR attempt that died before its first
        checkpoint; the recovery of a run whose queue was lost)."""
        if getattr(self._args, "fresh", False) or self._refetch_known:
            return False
        return not crawl_run(self.crawler).refetch_known

    def _known(self, article_id: str) -> bool:
        return bool(crawl_run(self.crawler).state.index.knows(article_id))

    def _seen_since(self, article_id: str, since: str) -> bool:
        last = crawl_run(self.crawler).state.index.last_seen(article_id)
        return last is not None and last >= since

    # -- mobile mirrors ---------------------------------------------------------------

    def held_links(self) -> dict[str, str]:
        """The mobile-mirror links held back, by article id (for the JOBDIR journal)."""
        return {article_id: request.url for article_id, request in self.held.items()}

    def hold(self, links: dict[str, str]) -> None:
        """Hold back these mobile-mirror links again (a resumed JOBDIR run)."""
        spider: Any = self.crawler.spider
        for article_id, url in links.items():
            request = spider.follow(url, via="mobile")
            if request is not None:
                self.held.setdefault(article_id, request)

    def spider_idle(self) -> None:
        """Fetch the mobile-mirror articles whose desktop page never turned up."""
        pending = [r for i, r in self.held.items() if i not in self.scheduled_ids]
        self.held.clear()
        scheduled = False
        for request in pending:
            request = request.replace(meta={**request.meta, "via": "mobile"})
            if self.allows(request):
                assert self.crawler.engine is not None
                self.crawler.engine.crawl(request)
                scheduled = True
        if scheduled:
            raise DontCloseSpider
