"""Security properties that need no crawl: ``body_html`` is inert whatever a page holds,
spider arguments cannot move an output file out of its directory, cannot reach SQL, and
secrets do not reach a log line.

Covered elsewhere, not repeated here: the scope guard on single requests
(``tests/test_middlewares.py``), the browser's abort rule per URL
(``tests/test_rendering.py::test_browser_requests_outside_the_scope_and_heavy_resources_are_aborted``),
a few saved pages' ``body_html`` (``tests/test_extract_pages.py::test_body_html_is_clean``:
``<script``, ``onclick``), ``redact`` on two URL shapes
(``tests/test_index.py::test_redact_hides_passwords``). The crawls are in
``tests/test_e2e_security.py``.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from scrapy.extensions.feedexport import FeedExporter, apply_uri_params
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from chinanews.extract import extract_article
from chinanews.index import index_path, redact
from chinanews.lake.addon import LAKE_FILES
from chinanews.lake.feeds import uri_params
from chinanews.logredact import RedactSecrets, SecretFilter, install, secrets_of
from chinanews.outputs import beside_output, main_output, path_safe
from chinanews.spiders.china_com import ArgumentError, ChinaComSpider, CrawlArgs
from tests.conftest import RUN_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "tests" / "pages" / "c_seed.html").read_text("utf-8")
URL = "https://news.china.com/international/1000/20251124/49000001.html"
ANCHOR = "<p>　　英国首相斯塔默"  # a paragraph of the body, which must survive

# -- body_html is inert ---------------------------------------------------------------

#: Elements that run, embed, load, restyle or re-point something: none may be in body_html
#: (``<math>``, ``<source>`` may stay: stripped of their attributes they do none of that).
FORBIDDEN_TAGS = frozenset(
    {
        "script",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "param",
        "base",
        "meta",
        "link",
        "style",
        "form",
        "input",
        "button",
        "textarea",
        "select",
        "svg",
        "noscript",
        "template",
        "portal",
        "video",
        "audio",
    }
)
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "data", "poster", "srcset", "xlink:href")
_SCHEME = re.compile(r"^[\x00-\x20]*([a-z][a-z0-9+.\-]*):", re.I)


def assert_inert(body_html: str) -> None:
    """``body_html`` runs nothing when shown: no element of ``FORBIDDEN_TAGS``, no event
    handler or ``style`` attribute, no ``javascript:``/``data:``/``vbscript:`` URL."""
    root = lxml.html.fragment_fromstring(body_html, create_parent="div")
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower().rsplit("}", 1)[-1].rsplit(":", 1)[-1]
        assert tag not in FORBIDDEN_TAGS, lxml.html.tostring(el, encoding="unicode")
        for name, value in el.attrib.items():
            name = name.lower()
            assert not name.startswith("on"), (el.tag, name, value)
            assert name != "style", (el.tag, value)
            if name in URL_ATTRIBUTES:
                scheme = _SCHEME.match(re.sub(r"[\t\n\r]", "", value))
                assert scheme is None or scheme.group(1).lower() in ("http", "https"), (
                    el.tag,
                    name,
                    value,
                )
    low = body_html.lower()
    for needle in ("<script", "javascript:", "vbscript:", "expression(", "<base", "<meta"):
        assert needle not in low, needle


#: Hostile markup, each placed in the body of a real template-C page.
HOSTILE = {
    "script": "<script>alert(1)</script><SCRIPT>alert(1)</SCRIPT>",
    "iframe": '<iframe src="https://evil.example/"></iframe>'
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "frameset": '<frameset><frame src="https://evil.example/"></frameset>',
    "object_embed": '<object data="https://evil.example/x.swf"><param name="a" value="b"></object>'
    # closed: libxml2 nests what follows an unclosed <embed> inside it (the body loses it)
    '<embed src="https://evil.example/y.swf"></embed><applet code="x"></applet>',
    "event_handlers": '<p onclick="alert(1)" onmouseover="alert(2)">点击这里阅读更多内容</p>'
    '<img src="x.png" onerror="alert(3)"><details open ontoggle="alert(4)">t</details>',
    "javascript_urls": '<a href="javascript:alert(1)">一</a><a href=" JaVaScRiPt:alert(1)">二</a>'
    '<a href="java&#x09;script:alert(1)">三</a><a href="&#106;avascript:alert(1)">四</a>'
    '<a href="\tjavascript:alert(1)">五</a><a href="jav\nascript:alert(1)">六</a>'
    '<img src="javascript:alert(1)"><img data-src="javascript:alert(1)">',
    "vbscript_url": '<a href="vbscript:msgbox(1)">vb</a><img src="vbscript:alert(1)">',
    "data_urls": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">数据</a>'
    '<a href="DATA:text/html,<script>alert(1)</script>">D</a>'
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    "style_expression": '<p style="width: expression(alert(1))">样式表达式段落</p>'
    '<style>p{background:url(javascript:alert(1))} @import "https://evil.example/x.css";</style>',
    "svg_script": '<svg><script>alert(1)</script><a xlink:href="javascript:alert(1)"><text>x</text>'
    '</a></svg><svg onload="alert(1)"></svg>'
    '<svg><image href="https://evil.example/a.svg"/><animate attributeName="href" '
    'values="javascript:alert(1)"/></svg>',
    "math": '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction></math>',
    "base": '<base href="https://evil.example/"><base target="_top">',
    "meta_refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example/">'
    '<META HTTP-EQUIV="Refresh" CONTENT="0;URL=https://evil.example/">',
    "link": '<link rel="stylesheet" href="https://evil.example/x.css"><link rel="import" href="x">',
    "forms": '<form action="https://evil.example/"><input name="a"><button formaction='
    '"javascript:alert(1)">b</button></form><input type="image" src="javascript:alert(1)">'
    "<textarea autofocus onfocus=alert(1)></textarea><isindex action=javascript:alert(1)>",
    "media": '<video src="https://evil.example/v.mp4" poster="javascript:alert(1)"><source '
    'src="javascript:alert(1)"><track src="javascript:x"></video><audio src="a.mp3"></audio>',
    "srcset": '<img src="a.png" srcset="javascript:alert(1) 1x"><picture><source '
    'srcset="javascript:alert(1)"></picture>',
    "noscript_template": '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></p>'
    "</noscript><template><script>alert(1)</script></template>",
    "unknown_tags": '<portal src="https://evil.example/"></portal>'
    '<x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>',
    "attribute_break": '<p title="&quot;><script>alert(1)</script>">引号段落</p>',
}


def body_html_with(markup: str) -> str:
    """``body_html`` of the saved page with ``markup`` put in its body."""
    html = PAGE.replace(ANCHOR, markup + ANCHOR, 1)
    assert html != PAGE
    article = extract_article(URL, html).article
    assert article is not None and article.body_html and article.body
    assert "英国首相斯塔默" in article.body
    return article.body_html


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_markup_never_reaches_body_html(case: str) -> None:
    body_html = body_html_with(HOSTILE[case])
    assert_inert(body_html)
    # the article is still there, with the paragraph after the hostile markup
    assert "英国首相斯塔默" in body_html


def test_base_in_the_body_is_removed_and_links_stay_absolute() -> None:
    """A ``<base>`` inside the body would re-point every relative URL of a page showing
    ``body_html`` (it went through before the fix)."""
    body_html = body_html_with('<base href="https://evil.example/"><a href="/x/1.html">站内</a>')
    assert "<base" not in body_html
    assert '<a href="https://news.china.com/x/1.html">站内</a>' in body_html


def test_an_unknown_element_is_unwrapped_and_loads_nothing() -> None:
    """``<portal src>`` (an element that loads a page, as an iframe) went through before."""
    body_html = body_html_with('<portal src="https://evil.example/">门户文字</portal>')
    assert "evil.example" not in body_html
    assert "门户文字" in body_html


def test_ordinary_markup_is_kept() -> None:
    """The sanitiser keeps what a reader needs: paragraphs, absolute links and images."""
    markup = (
        '<p><a href="https://www.huanqiu.com/a/1.html" title="环球">环球网</a>'
        '<img src="/pic/1.jpg" alt="图" width="10"><strong>加粗</strong></p>'
        "<table><tr><td colspan=2>表格</td></tr></table><ul><li>列表</li></ul>"
    )
    html = body_html_with(markup)
    assert '<a href="https://www.huanqiu.com/a/1.html" title="环球">环球网</a>' in html
    assert '<img src="https://news.china.com/pic/1.jpg" alt="图" width="10">' in html
    assert "<strong>加粗</strong>" in html
    assert '<td colspan="2">表格</td>' in html
    assert "<li>列表</li>" in html


# -- spider arguments cannot move an output file ---------------------------------------

#: ``-a NAME=VALUE`` arguments that try to climb out of the output directory.
ESCAPES = {
    "name": "../../../escaped",
    "_job": "../x",
    "foo": "../../etc",
    "bar": "a\\..\\..\\b\x00",
}
#: Feed URI templates: the default JSONL, the lake's, and a user's with their own parameters.
TEMPLATES = (
    "jsonl/%(name)s/%(name)s-%(run_id)s.jsonl",
    LAKE_FILES.replace("%(dt)s", "2025-11-24"),
    "%(foo)s/%(bar)s/%(_job)s-%(time)s-%(batch_id)d.jsonl",
)


def spider_with(tmp_path: Path, feeds: dict[str, Any] | None = None, **arguments: str) -> Any:
    settings: dict[str, Any] = {"CHINANEWS_DATA_DIR": str(tmp_path / "data"), **RUN_SETTINGS}
    if feeds is not None:
        settings["FEEDS"] = feeds
    crawler = get_crawler(ChinaComSpider, settings)
    spider = ChinaComSpider.from_crawler(crawler, start_urls="http://127.0.0.1:8000/", **arguments)
    crawler.spider = spider
    return spider


def feed_path(base: Path, template: str, spider: Any, uri_params_function: Any) -> Path:
    """Where Scrapy's feed exporter puts ``template`` under ``base`` for ``spider``: its
    own ``_get_uri_params`` (every spider attribute, ``time``, ``batch_id``) through
    ``uri_params_function``, then ``apply_uri_params``; dot segments resolved."""
    params = FeedExporter._get_uri_params(None, spider, uri_params_function)  # type: ignore[arg-type]
    return Path(os.path.normpath(base / apply_uri_params(template, params)))


def unsafe_params(params: dict[str, Any], spider: Any) -> dict[str, Any]:
    """``uri_params`` as it was: ``%(job)s`` added, the spider's attributes as they are."""
    return {**params, "job": spider._job}


@pytest.mark.parametrize("name", ["run_id", "args", "settings", "seeds"])
def test_arguments_that_would_overwrite_the_spider_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ArgumentError, match=f"{name}: not a spider argument"):
        spider_with(tmp_path, **{name: "../../x"})
    assert re.fullmatch(r"\d{8}T\d{6}Z", spider_with(tmp_path).run_id)


@pytest.mark.parametrize("template", TEMPLATES)
def test_feed_uri_parameters_never_leave_the_feed_directory(tmp_path: Path, template: str) -> None:
    base = (tmp_path / "out").resolve()
    spider = spider_with(tmp_path, **ESCAPES)
    assert spider.name == ESCAPES["name"]  # Scrapy's Spider takes -a name as the name
    # Scrapy's own parameters (without our FEED_URI_PARAMS) let the arguments through:
    assert not feed_path(base, template, spider, unsafe_params).is_relative_to(base)
    path = feed_path(base, template, spider, uri_params)
    assert path.is_relative_to(base), path
    assert len(path.relative_to(base).parts) == template.count("/") + 1
    assert "\x00" not in str(path)


def test_uri_params_keeps_numbers_and_ordinary_values(tmp_path: Path) -> None:
    spider = spider_with(tmp_path, _job="6487ec79947edab326d6db28a2d86511e8247444")
    name = apply_uri_params(
        "%(name)s-%(job)s-%(batch_id)05d.parquet",
        FeedExporter._get_uri_params(None, spider, uri_params),  # type: ignore[arg-type]
    )
    assert name == "china_com-6487ec79947edab326d6db28a2d86511e8247444-00001.parquet"


def test_path_safe() -> None:
    assert path_safe("../../x") == "______x"
    assert path_safe("a\\b\x00c/d") == "a_b_c_d"
    assert path_safe("20261128T040000Z") == "20261128T040000Z"
    assert path_safe("2026-11-28T04-00-00+00-00") == "2026-11-28T04-00-00+00-00"
    assert path_safe(7) == 7


def test_side_outputs_stay_in_the_data_directory(tmp_path: Path) -> None:
    """The report, rejects and duplicates go beside the feed (default: under the data
    directory), whose path is filled from the same spider attributes."""
    data = (tmp_path / "data").resolve()
    crawler = spider_with(tmp_path, name="../../../escaped").crawler
    main = main_output(crawler)
    assert main is not None and main.resolve().is_relative_to(data), main
    assert beside_output(crawler, ".report.json").resolve().is_relative_to(data)
    # no local feed: <data dir>/outputs/<name>-<run id><suffix>
    s3 = {"s3://bucket/%(name)s.jsonl": {"format": "jsonlines"}}
    crawler = spider_with(tmp_path, feeds=s3, name="../../../escaped").crawler
    assert main_output(crawler) is None
    fallback = beside_output(crawler, ".rejects.jsonl").resolve()
    assert fallback.is_relative_to(data / "outputs"), fallback


def test_the_index_file_stays_in_the_data_directory(tmp_path: Path) -> None:
    spider = spider_with(tmp_path, name="../../../escaped")
    path = Path(index_path(spider.crawler)).resolve()
    assert path.is_relative_to((tmp_path / "data").resolve()), path


# -- spider arguments never reach SQL ---------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"since": "2025-01-01'; DROP TABLE articles; --"},
        {"since": "2025-01-01); DELETE FROM crawl_runs; --"},
        {"channels": "domestic'); DROP TABLE articles; --"},
        {"fresh": "1; DROP TABLE articles"},
        {"render": "never'; DROP TABLE articles; --"},
        {"start_urls": "'; DROP TABLE articles; --"},
    ],
)
def test_sql_in_an_argument_fails_its_validation(arguments: dict[str, str]) -> None:
    with pytest.raises(ArgumentError):
        CrawlArgs.parse(arguments)


# -- secrets stay out of the log --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql://u:p@ss@h:5432/db", "postgresql://u:***@h:5432/db"),  # '@' unescaped
        ("redis://user:S3cret@127.0.0.1:6379/0", "redis://user:***@127.0.0.1:6379/0"),
        ("s3://AKID:c2VjcmV0@bucket/x.jsonl", "s3://AKID:***@bucket/x.jsonl"),
        (
            "cannot use redis://:pw@h:6379/0 nor postgresql://a:b@c/d, ask x@y.org",
            "cannot use redis://:***@h:6379/0 nor postgresql://a:***@c/d, ask x@y.org",
        ),
        ("sqlite:///data/chinanews.sqlite3", "sqlite:///data/chinanews.sqlite3"),
        ("mailto:x@y.org https://h/a@b", "mailto:x@y.org https://h/a@b"),
    ],
)
def test_redact(url: str, redacted: str) -> None:
    assert redact(url) == redacted


def test_secrets_of_a_crawl() -> None:
    settings = Settings(
        {
            "AWS_SECRET_ACCESS_KEY": "aws-secret-1",
            "DATABASE_URL": "postgresql://postgres:S3cret%40Pw@127.0.0.1:5432/db",
            "REDIS_URL": "redis://:redis-pw@127.0.0.1:6379/0",
            "FEEDS": {"s3://AKID:feed-secret@bucket/%(name)s.jsonl": {"format": "jsonlines"}},
        }
    )
    environ = {"AWS_SESSION_TOKEN": "session-token", "SCRAPYD_PASSWORD": "pw"}  # "pw": short
    assert secrets_of(settings, environ) == {
        "aws-secret-1",
        "S3cret%40Pw",
        "S3cret@Pw",
        "redis-pw",
        "feed-secret",
        "session-token",
    }


def test_the_filter_hides_secrets_in_messages_arguments_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("chinanews.test_security")
    install(["aws-secret-1"], handlers=[caplog.handler])
    try:
        logger.warning("key %s at %s", "aws-secret-1", "postgresql://u:pg-pw@h/db")
        try:
            raise ValueError("connect to redis://:redis-pw@h:6379/0 failed (aws-secret-1)")
        except ValueError:
            logger.exception("failed")
    finally:
        for f in [f for f in caplog.handler.filters if isinstance(f, SecretFilter)]:
            caplog.handler.removeFilter(f)
    text = caplog.text
    for secret in ("aws-secret-1", "pg-pw", "redis-pw"):
        assert secret not in text
    assert "key *** at postgresql://u:***@h/db" in text
    assert "ValueError: connect to redis://:***@h:6379/0 failed (***)" in text


def test_the_addon_hides_what_scrapy_logs_of_the_settings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Scrapy's "Overridden settings" line prints its own settings given with ``-s``
    (``AWS_SECRET_ACCESS_KEY`` is one); with the add-on it prints ``***``."""
    secret = f"aws-{uuid.uuid4().hex}"
    settings = {"AWS_SECRET_ACCESS_KEY": secret, "LOG_LEVEL": "INFO"}
    with caplog.at_level(logging.INFO, logger="scrapy.crawler"):
        get_crawler(ChinaComSpider, settings)
    assert secret in caplog.text  # Scrapy alone logs it
    caplog.clear()
    try:
        with caplog.at_level(logging.INFO, logger="scrapy.crawler"):
            get_crawler(ChinaComSpider, {**settings, "ADDONS": {RedactSecrets: 0}})
    finally:
        install([])
    assert "Overridden settings" in caplog.text
    assert "'AWS_SECRET_ACCESS_KEY': '***'" in caplog.text
    assert secret not in caplog.text


@pytest.mark.parametrize(
    ("link", "kept"),
    [
        ("javascript:alert(1)", False),
        ("java\nscript:alert(1)", False),
        ("%6Aavascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("vbscript:msgbox(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("data:image/svg+xml;base64,PHN2Zz4=", False),
        ("about:blank", False),
        ("data:image/png;base64,iVBORw0KGgo=", True),
        ("https://news.china.com/domestic/945/20251124/49000001.html", True),
        ("/domestic/945/20251124/49000001.html", True),
        ("#top", True),
    ],
)
def test_script_links_are_recognised(link: str, kept: bool) -> None:
    from chinanews.extract.html import script_link

    assert script_link(link) is not kept
