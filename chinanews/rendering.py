"""JavaScript rendering: scrapy-playwright behind one add-on, used only for pages that need it.

``-a render=auto|always|never`` (default ``auto``). In ``auto`` every page is fetched with a
plain request; when its HTML shows a needed block left for a script
(``chinanews.extract.scripted``), the spider fetches it once more through headless Chromium,
waits for that block and parses the rendered page with the same extractors. ``always`` sends
every article and list page through the browser; ``never`` runs no browser at all.

``RenderAddon`` wires scrapy-playwright in only when rendering can happen: its download
handlers, Chromium with server flags (the system Chromium when Playwright's own browsers are
absent, or ``CHINANEWS_BROWSER_PATH``), limits on contexts and pages, the abort rule for
in-browser requests (images, fonts, media, ad hosts, anything outside the crawl's scope) and
scrapy-playwright's memory extension. See ``docs/rendering.md``.
"""

from __future__ import annotations

import enum
import glob
import logging
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chinanews.urls import in_scope

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

STAT = "chinanews/render"

#: Flags for a headless Chromium on a server: we run as root, without a GPU, offline; and it
#: loads no image at all (not even asks for one: the extractors read none, and each request
#: the abort rule stops still costs a round trip through Playwright's route).
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
    "--blink-settings=imagesEnabled=false",
)
SYSTEM_CHROMIUM = "/usr/bin/chromium"
#: Resource types the browser never fetches: the extractors read none of them (images are
#: not even requested with ``--blink-settings=imagesEnabled=false``; the rule stays for a
#: launch without it).
ABORTED_RESOURCES = frozenset({"image", "font", "media"})
#: Ad and statistics hosts (and their sub-domains) the browser never contacts.
AD_HOSTS = (
    "doubleclick.net",
    "googlesyndication.com",
    "googleadservices.com",
    "google-analytics.com",
    "googletagmanager.com",
    "googletagservices.com",
    "hm.baidu.com",
    "pos.baidu.com",
    "cpro.baidustatic.com",
    "cnzz.com",
    "51.la",
    "ad.china.com",
    "adx.china.com",
    "stat.china.com",
)

PLAYWRIGHT_HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
MEMORY_EXTENSION = "scrapy_playwright.memusage.ScrapyPlaywrightMemoryUsageExtension"


class RenderMode(str, enum.Enum):
    """When a page goes through the browser."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"

    @classmethod
    def parse(cls, value: Any) -> RenderMode:
        text = str(value if value is not None else "auto").strip().lower() or "auto"
        try:
            return cls(text)
        except ValueError:
            raise ValueError(
                f"render: {value!r} is not one of auto, always, never; e.g. -a render=never"
            ) from None


class BrowserMissing(ValueError):
    """Rendering is on and there is no browser to render with; the message says what to do."""


def playwright_chromium() -> str | None:
    """The Chromium Playwright downloaded itself (``playwright install chromium``), if any."""
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or os.path.expanduser(
        "~/.cache/ms-playwright"
    )
    for pattern in (
        "chromium-*/chrome-linux*/chrome",
        "chromium_headless_shell-*/chrome-*/headless_shell",
    ):
        for path in sorted(glob.glob(os.path.join(root, pattern)), reverse=True):
            if os.access(path, os.X_OK):
                return path
    return None


def _install_hint() -> str:
    return (
        "install one (apt-get install chromium, or playwright install chromium), "
        "point CHINANEWS_BROWSER_PATH at a Chromium binary, or crawl with -a render=never"
    )


def browser_executable(settings: BaseSettings) -> str | None:
    """The Chromium to launch: ``CHINANEWS_BROWSER_PATH`` (or ``executable_path`` in
    ``PLAYWRIGHT_LAUNCH_OPTIONS``) when set; else None (Playwright's own browser) when it is
    installed; else the system Chromium. Raises ``BrowserMissing`` when there is none."""
    configured = settings.get("CHINANEWS_BROWSER_PATH") or (
        settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS").get("executable_path")
    )
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return str(configured)
        raise BrowserMissing(
            f"rendering needs a browser: CHINANEWS_BROWSER_PATH={configured} is not an "
            f"executable file; {_install_hint()}"
        )
    if playwright_chromium():
        return None
    if os.access(SYSTEM_CHROMIUM, os.X_OK):
        return SYSTEM_CHROMIUM
    raise BrowserMissing(
        f"rendering needs a browser: no Chromium at {SYSTEM_CHROMIUM} and none of "
        f"Playwright's own; {_install_hint()}"
    )


def check_render(settings: BaseSettings, mode: RenderMode) -> None:
    """Raise ``BrowserMissing`` when ``mode`` may render and the browser or scrapy-playwright
    is missing (called by ``scrapy crawl`` before the crawl starts)."""
    if mode is RenderMode.NEVER:
        return
    try:
        import scrapy_playwright  # noqa: F401
    except ImportError:
        raise BrowserMissing(
            f"render={mode.value} needs scrapy-playwright: pip install 'chinanews[render]', "
            "or crawl with -a render=never"
        ) from None
    browser_executable(settings)


def _matches_host(host: str, suffixes: Iterable[str]) -> bool:
    return any(host == s or host.endswith("." + s) for s in suffixes)


class BrowserRequestFilter:
    """``PLAYWRIGHT_ABORT_REQUEST``: True (abort) for images, fonts and media, for ad hosts,
    and for any request outside the crawl's scope (``chinanews.urls.in_scope`` with the
    spider's ``scope_netlocs``), which the ``ScopeMiddleware`` cannot see since the browser
    makes it. Counted under ``chinanews/render/aborted/<reason>``."""

    def __init__(self, crawler: Crawler, ad_hosts: Iterable[str] = AD_HOSTS) -> None:
        self.crawler = crawler
        self.ad_hosts = tuple(h.lower().lstrip(".") for h in ad_hosts)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} ad_hosts={len(self.ad_hosts)}>"

    def reason(self, url: str, resource_type: str) -> str | None:
        """Why a browser request for ``url`` is aborted, or None to let it through."""
        if resource_type in ABORTED_RESOURCES:
            return resource_type
        host = (urlsplit(url).hostname or "").lower()
        if _matches_host(host, self.ad_hosts):
            return "ad_host"
        scope: frozenset[str] = getattr(self.crawler.spider, "scope_netlocs", frozenset())
        if not in_scope(url, scope):
            return "out_of_scope"
        return None

    def __call__(self, request: Any) -> bool:
        why = self.reason(request.url, request.resource_type)
        if why is None:
            return False
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"{STAT}/aborted/{why}")
        if why == "out_of_scope":
            logger.debug("Browser request out of scope, aborted: %s", request.url)
        return True


async def wait_for_blocks(page: Any, selectors: list[str], timeout_ms: float) -> bool:
    """Wait until every selector matches (the blocks the static HTML lacked are filled);
    an empty selector waits for the network to settle. False when the time runs out: the
    page is parsed as it stands and the spider counts what is still missing."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        for selector in selectors:
            if selector:
                await page.wait_for_selector(selector, state="attached", timeout=timeout_ms)
            else:
                await page.wait_for_load_state("networkidle", timeout=timeout_ms)
    except PlaywrightTimeout:
        return False
    return True


async def refuse_web_sockets(page: Any, request: Any) -> None:
    """``playwright_page_init_callback``: a page's web sockets connect to nothing.

    Playwright routes only HTTP through ``PLAYWRIGHT_ABORT_REQUEST``; a socket opened by a
    script would reach any host. Routed here, it is closed on the page's side and never
    connected to its server (``route_web_socket`` connects only when asked to)."""

    async def close(socket: Any) -> None:
        await socket.close(code=1008, reason="chinanews: no web sockets")

    await page.route_web_socket(re.compile(".*"), close)


def render_meta(selectors: Iterable[str], timeout_ms: float) -> dict[str, Any]:
    """Request meta that sends a request through the browser and waits for ``selectors``."""
    from scrapy_playwright.page import PageMethod

    return {
        "playwright": True,
        "playwright_page_init_callback": "chinanews.rendering.refuse_web_sockets",
        "playwright_page_methods": [PageMethod(wait_for_blocks, list(selectors), timeout_ms)],
    }


def _merge(settings: BaseSettings, name: str, values: dict[str, Any]) -> None:
    """Add ``values`` to the dict setting ``name``, at add-on priority or the setting's own."""
    current = settings.getdict(name)
    priority = max(settings.getpriority(name) or 0, 15)  # 15: "addon"
    settings.set(name, {**current, **values}, priority)


class RenderAddon:
    """Browser rendering as one group of settings, applied only when the spider may render.

    Reads the spider's ``render_mode`` (from ``-a render``); with ``never`` (or a spider
    without one) it changes nothing, so plain crawls need neither Playwright nor a browser.
    Otherwise it sets scrapy-playwright's download handlers (requests without
    ``meta["playwright"]`` still go through Scrapy's own HTTP client), the launch options,
    ``PLAYWRIGHT_MAX_CONTEXTS`` = 1 and ``PLAYWRIGHT_MAX_PAGES_PER_CONTEXT`` = 4 unless
    given, the request filter, and swaps Scrapy's ``MemoryUsage`` for scrapy-playwright's,
    which counts the browser's processes too (``MEMUSAGE_*`` settings apply to the sum).
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RenderAddon:
        return cls(crawler)

    def update_settings(self, settings: BaseSettings) -> None:
        mode = getattr(self.crawler.spider, "render_mode", None)
        if mode is None or mode is RenderMode.NEVER:
            return
        check_render(settings, mode)
        executable = browser_executable(settings)
        _merge(
            settings, "DOWNLOAD_HANDLERS", {"http": PLAYWRIGHT_HANDLER, "https": PLAYWRIGHT_HANDLER}
        )
        launch = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
        launch.setdefault("headless", True)
        launch["args"] = [
            *CHROMIUM_FLAGS,
            *(a for a in launch.get("args", ()) if a not in CHROMIUM_FLAGS),
        ]
        if executable:
            launch["executable_path"] = executable
        settings.set(
            "PLAYWRIGHT_LAUNCH_OPTIONS",
            launch,
            max(settings.getpriority("PLAYWRIGHT_LAUNCH_OPTIONS") or 0, 15),
        )
        settings.set("PLAYWRIGHT_BROWSER_TYPE", "chromium", "addon")
        settings.set("PLAYWRIGHT_MAX_CONTEXTS", 1, "addon")
        settings.set("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT", 4, "addon")
        settings.set("PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT", 30_000, "addon")
        settings.set(
            "PLAYWRIGHT_ABORT_REQUEST",
            BrowserRequestFilter(
                self.crawler, settings.getlist("CHINANEWS_RENDER_AD_HOSTS") or AD_HOSTS
            ),
            "addon",
        )
        _merge(
            settings,
            "EXTENSIONS",
            {"scrapy.extensions.memusage.MemoryUsage": None, MEMORY_EXTENSION: 0},
        )
        logger.info(
            "Rendering: render=%s with %s", mode.value, executable or "Playwright's Chromium"
        )
