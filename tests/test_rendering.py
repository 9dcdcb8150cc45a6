"""Rendering without a browser: the render argument, finding Chromium, the add-on's settings,
the abort rule for in-browser requests, and which pages the extractors say need a script."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector

from chinanews import rendering
from chinanews.extract import extract_article, extract_list
from chinanews.extract.scripted import BODY_SCRIPTED, LIST_SCRIPTED, RELATED_EMPTY
from chinanews.localsite import LocalSite
from chinanews.rendering import (
    CHROMIUM_FLAGS,
    PLAYWRIGHT_HANDLER,
    BrowserMissing,
    BrowserRequestFilter,
    RenderAddon,
    RenderMode,
    browser_executable,
    check_render,
)
from chinanews.spiders.china_com import ArgumentError, CrawlArgs
from tests.conftest import ROOT, SCRAPY

BASE = "http://127.0.0.1:8000"


# -- the argument ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        (None, RenderMode.AUTO),
        ("auto", RenderMode.AUTO),
        ("ALWAYS", RenderMode.ALWAYS),
        (" never ", RenderMode.NEVER),
    ],
)
def test_render_argument(value: str | None, mode: RenderMode) -> None:
    kwargs = {} if value is None else {"render": value}
    assert CrawlArgs.parse(kwargs).render is mode


def test_a_bad_render_argument_says_what_to_use() -> None:
    with pytest.raises(ArgumentError, match="auto, always, never"):
        CrawlArgs.parse({"render": "sometimes"})


# -- finding the browser --------------------------------------------------------------


@pytest.fixture
def no_browser(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Neither Playwright's own Chromium nor a system one."""
    monkeypatch.setattr(rendering, "playwright_chromium", lambda: None)
    monkeypatch.setattr(rendering, "SYSTEM_CHROMIUM", str(tmp_path / "no-chromium"))


def test_a_missing_browser_fails_with_how_to_install_one(no_browser: None) -> None:
    with pytest.raises(BrowserMissing, match="apt-get install chromium") as info:
        check_render(Settings(), RenderMode.AUTO)
    assert "render=never" in str(info.value)


def test_no_browser_is_needed_when_rendering_is_off(no_browser: None) -> None:
    check_render(Settings(), RenderMode.NEVER)


def test_the_system_chromium_is_the_default_without_playwrights_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rendering, "playwright_chromium", lambda: None)
    monkeypatch.setattr(rendering, "SYSTEM_CHROMIUM", sys.executable)
    assert browser_executable(Settings()) == sys.executable


def test_playwrights_own_browser_is_used_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendering, "playwright_chromium", lambda: "/opt/ms-playwright/chrome")
    assert browser_executable(Settings()) is None


def test_a_configured_browser_path_wins_and_is_checked() -> None:
    assert (
        browser_executable(Settings({"CHINANEWS_BROWSER_PATH": sys.executable})) == sys.executable
    )
    with pytest.raises(BrowserMissing, match="CHINANEWS_BROWSER_PATH=/nowhere/chrome"):
        browser_executable(Settings({"CHINANEWS_BROWSER_PATH": "/nowhere/chrome"}))


def test_scrapy_crawl_stops_before_the_crawl_without_a_browser() -> None:
    proc = subprocess.run(
        [*SCRAPY, "crawl", "china_com", "-a", "start_urls=http://127.0.0.1:9/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CHINANEWS_BROWSER_PATH": "/nowhere/chrome"},
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: rendering needs a browser"), lines


# -- the add-on -----------------------------------------------------------------------


def _crawler(mode: RenderMode | None, netlocs: frozenset[str] = frozenset()) -> Any:
    spider = SimpleNamespace(scope_netlocs=netlocs)
    if mode is not None:
        spider.render_mode = mode
    crawler = SimpleNamespace(spider=spider, settings=Settings())
    crawler.stats = MemoryStatsCollector(crawler)  # type: ignore[arg-type]
    return crawler


def test_the_addon_changes_nothing_with_render_never() -> None:
    settings = Settings({"DOWNLOAD_HANDLERS": {}})
    RenderAddon(_crawler(RenderMode.NEVER)).update_settings(settings)
    assert settings.getdict("DOWNLOAD_HANDLERS") == {}
    assert settings.get("PLAYWRIGHT_LAUNCH_OPTIONS") is None


def test_the_addon_wires_in_playwright_and_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendering, "playwright_chromium", lambda: None)
    monkeypatch.setattr(rendering, "SYSTEM_CHROMIUM", sys.executable)
    settings = Settings({"EXTENSIONS": {"chinanews.extensions.CrawlReport": 500}})
    RenderAddon(_crawler(RenderMode.AUTO)).update_settings(settings)
    handlers = settings.getdict("DOWNLOAD_HANDLERS")
    assert handlers["http"] == handlers["https"] == PLAYWRIGHT_HANDLER
    launch = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    assert launch["headless"] is True
    assert launch["executable_path"] == sys.executable
    assert set(CHROMIUM_FLAGS) <= set(launch["args"])
    assert {"--no-sandbox", "--disable-gpu", "--blink-settings=imagesEnabled=false"} <= set(
        launch["args"]
    )
    assert settings.getint("PLAYWRIGHT_MAX_CONTEXTS") == 1
    assert settings.getint("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT") == 4
    extensions = settings.getdict("EXTENSIONS")
    assert extensions["scrapy.extensions.memusage.MemoryUsage"] is None
    assert rendering.MEMORY_EXTENSION in extensions
    assert "chinanews.extensions.CrawlReport" in extensions
    assert isinstance(settings.get("PLAYWRIGHT_ABORT_REQUEST"), BrowserRequestFilter)


def test_limits_given_on_the_command_line_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendering, "SYSTEM_CHROMIUM", sys.executable)
    monkeypatch.setattr(rendering, "playwright_chromium", lambda: None)
    settings = Settings()
    settings.set("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT", 8, "cmdline")
    RenderAddon(_crawler(RenderMode.ALWAYS)).update_settings(settings)
    assert settings.getint("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT") == 8


# -- in-browser requests --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "resource", "reason"),
    [
        (BASE + "/news/domestic/945/20251124/49000001.html", "document", None),
        (BASE + "/news/api/related.json?id=49000001", "fetch", None),
        ("https://news.china.com/static/js/article.js", "script", None),
        (BASE + "/static/ad/1234.gif", "image", "image"),
        (BASE + "/static/font.woff2", "font", "font"),
        (BASE + "/static/clip.mp4", "media", "media"),
        ("https://pos.baidu.com/s?di=1", "script", "ad_host"),
        ("https://googleads.g.doubleclick.net/pagead/ads", "script", "ad_host"),
        ("http://127.0.0.2:9000/share/widget.js", "script", "out_of_scope"),
        ("https://img1.utuku.china.com/x.js", "script", "out_of_scope"),
        ("http://127.0.0.1:8001/other-port.js", "script", "out_of_scope"),
    ],
)
def test_browser_requests_outside_the_scope_and_heavy_resources_are_aborted(
    url: str, resource: str, reason: str | None
) -> None:
    crawler = _crawler(RenderMode.AUTO, frozenset({"127.0.0.1:8000"}))
    rule = BrowserRequestFilter(crawler)
    assert rule.reason(url, resource) == reason
    assert rule(SimpleNamespace(url=url, resource_type=resource)) is (reason is not None)
    if reason is not None:
        assert crawler.stats.get_value(f"chinanews/render/aborted/{reason}") == 1


# -- which pages need a script ----------------------------------------------------------


@pytest.fixture(scope="module")
def js_site() -> LocalSite:
    return LocalSite(size=300, seed=4, js=0.06)


def test_no_page_of_a_static_site_needs_a_browser() -> None:
    site = LocalSite(size=300, seed=4)
    assert site.js_pages(BASE) == {"related": [], "body": [], "list": []}
    needs = {
        url: r.script_filled
        for url, html in site.pages(BASE)
        if (r := extract_article(url, html)).script_filled
    }
    assert needs == {}


def test_the_extractor_names_each_scripted_block(js_site: LocalSite) -> None:
    js = js_site.js_pages(BASE)
    assert js["related"] and js["body"] and js["list"] == [BASE + "/news/roll/"]
    found: dict[str, list[str]] = {RELATED_EMPTY: [], BODY_SCRIPTED: []}
    for url, html in js_site.pages(BASE):
        for reason in extract_article(url, html).script_filled:
            found[reason].append(url)
    assert sorted(found[RELATED_EMPTY]) == sorted(js["related"])
    assert sorted(found[BODY_SCRIPTED]) == sorted(js["body"])
    page = js_site.render(js["related"][0][len(BASE) :], BASE)
    assert extract_article(js["related"][0], page.body).script_filled == {
        RELATED_EMPTY: "#js-related-list a"
    }


def test_a_script_filled_body_is_no_body_without_the_browser(js_site: LocalSite) -> None:
    url = js_site.js_pages(BASE)["body"][0]
    result = extract_article(url, js_site.render(url[len(BASE) :], BASE).body)
    assert result.article is None and result.reason == "no_body"
    assert result.script_filled == {BODY_SCRIPTED: "#js_article_content p"}


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/news/",
        "/news/domestic/",
        "/finance/domestic/",
        "/finance/tuijian/",
        "/tech/articles/",
        "/military/news/",
    ],
)
def test_list_pages_with_entries_or_feeds_need_no_browser(js_site: LocalSite, path: str) -> None:
    assert extract_list(BASE + path, js_site.render(path, BASE).body).script_filled == {}


def test_a_list_filled_by_a_script_is_named(js_site: LocalSite) -> None:
    page = extract_list(BASE + "/news/roll/", js_site.render("/news/roll/", BASE).body)
    assert page.script_filled == {LIST_SCRIPTED: "#js-roll-list a"}


# -- the local site's two truths --------------------------------------------------------


def test_a_site_without_javascript_has_one_truth() -> None:
    site = LocalSite(size=200, seed=9)
    assert site.expected(BASE) == site.expected(BASE, rendered=False)
    assert site.non_articles(BASE) == site.non_articles(BASE, rendered=False)
    assert LocalSite(size=200, seed=9, js=0).expected(BASE) == site.expected(BASE)


def test_rendered_truth_reaches_more_than_static(js_site: LocalSite) -> None:
    rendered, static = js_site.expected(BASE), js_site.expected(BASE, rendered=False)
    js = js_site.js_pages(BASE)
    assert set(static) < set(rendered)
    assert not set(js["body"]) & set(static)
    assert set(js["body"]) <= set(rendered)
    for url in js["related"]:
        assert rendered[url]["related"] and static.get(url, {"related": []})["related"] == []
    non = js_site.non_articles(BASE, rendered=False)
    assert all(non[u] == "no_body" for u in js["body"])
