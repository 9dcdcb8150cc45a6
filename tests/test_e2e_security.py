"""End to end: ``scrapy crawl china_com`` against a small hand-written hostile site, as a
user runs it, for the security properties of ``docs/architecture.md`` (Security).

The site (``HostileSite``, served on 127.0.0.1) reaches for the outside host (the
``sentinel`` on 127.0.0.2, which records every request) in every way a page can: a link,
an HTTP 301 and 302, a meta refresh, entries of the ranking feed (``rank_all.js``) and of
the finance JSON list (``getNewsInfo``), and, once rendered, scripts, images, frames,
stylesheets, ``fetch``, XHR, beacons, event streams and web sockets. Its one real article
carries hostile markup in its body. Crawls pass secrets every way a user can (``-s``, the
environment) and a spider argument that tries SQL; the tests read back the log, the crawl
report, the JSONL, the lake and the database.

A rendered page's web sockets are refused (``chinanews.rendering.refuse_web_sockets``), and
an ``AWS_*`` secret given with ``-s`` is redacted from Scrapy's own settings line
(``chinanews.logredact.RedactSecrets`` in ``ADDONS``).

What is covered elsewhere and not repeated here: the scope guard per request
(``tests/test_middlewares.py``), the local site's off-site redirect
(``tests/test_e2e_crawl.py::test_nothing_outside_the_scope_is_requested``), the rendered
share widget (``tests/test_e2e_render.py::test_the_browser_stays_in_scope_and_skips_heavy_resources``),
S3 keys in the lake crawl's log (``tests/test_e2e_lake.py::test_credentials_are_never_logged``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Crawl, outside_base, run_crawl
from tests.test_security import assert_inert

pytestmark = pytest.mark.e2e

ARTICLE = "/news/domestic/945/20251124/{id}.html"
GOOD, MOVED, FOUND, REFRESH, LINKED, RANKED, LISTED, RENDERED = (
    49000001,
    49000002,
    49000003,
    49000004,
    49000005,
    49000006,
    49000007,
    49000009,
)
RANK = "/rank/rank/cms/news/day/rank_all.js"
FINANCE = "/finance/index/getNewsInfo?page=1&column_id=11173294"
#: Hostile markup inside the article body: none of it may reach ``body_html``.
HOSTILE_BODY = (
    "<script>alert('body')</script>"
    '<p onclick="alert(1)">　　点击事件处理器不应留在正文里，正文这一段本身应当保留下来。</p>'
    '<img src="x.png" onerror="alert(2)">'
    '<a href="javascript:alert(3)">脚本链接</a><a href="data:text/html,<b>x</b>">数据链接</a>'
    '<iframe src="{out}frame.html"></iframe><object data="{out}x.swf"></object>'
    '<embed src="{out}y.swf"></embed><svg onload="alert(4)"><script>alert(5)</script></svg>'
    '<p style="width: expression(alert(6))">　　样式表达式不应留下，这一段的文字应当保留。</p>'
    '<base href="{out}">'
    # (no meta refresh: Scrapy follows one anywhere in a page's first 4 KiB, and the
    # scope guard then drops the page; tests/test_security.py has it in a body)
)


def article_page(article_id: int, title: str, body: str, extra: str = "") -> str:
    """A page of the current (C) template, with a related list so it needs no browser."""
    paragraphs = "".join(
        f"<p>　　{title}第{n}段：各地有关部门持续推进相关工作，取得了积极进展，群众反映良好。</p>"
        for n in range(1, 5)
    )
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{title}_新闻频道_中华网</title>"
        f'<meta property="og:title" content="{title}">{extra}</head><body>'
        '<div class="wp"><div class="article_wrap_left">'
        f'<h1 class="article_title" id="js-article-title">{title}</h1>'
        '<div class="article_info"><span class="time">2025-11-24 10:00:00</span>'
        '&nbsp;&nbsp;<span class="source">中华网</span></div>'
        f'<div class="article_content" id="js_article_content">{paragraphs}{body}</div>'
        '<div class="related_news"><h3 class="related_tit">相关新闻</h3>'
        '<ul class="related_list" id="js-related-list">'
        f'<li><a href="{ARTICLE.format(id=article_id)}">{title}</a></li></ul></div>'
        "</div></div></body></html>"
    )


def list_page(links: list[str], extra: str = "") -> str:
    items = "".join(f'<li><a href="{href}">新闻标题{n}</a></li>' for n, href in enumerate(links))
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>国内新闻_中华网</title>'
        f'{extra}</head><body><ul class="item_list">{items}</ul></body></html>'
    )


class HostileSite:
    """The pages: path -> (status, headers, body). ``out`` is the outside host's base URL."""

    def __init__(self, out: str, socket_out: str) -> None:
        out_ws = "ws://" + socket_out.removeprefix("http://")
        self.out = out
        sub = f"{out}sub/"
        reaching = (  # every way a rendered page reaches another host
            f'<link rel="stylesheet" href="{sub}style.css">'
            f'<link rel="preload" as="fetch" href="{sub}preload">'
            f'<script src="{sub}widget.js"></script>'
            "<script>"
            f'fetch("{sub}fetch").catch(function(){{}});'
            f'var x = new XMLHttpRequest(); x.open("GET", "{sub}xhr"); x.send();'
            f'navigator.sendBeacon("{sub}beacon", "x");'
            f'try {{ new EventSource("{sub}events"); }} catch (e) {{}}'
            f'try {{ new WebSocket("{out_ws}sub/ws"); }} catch (e) {{}}'
            f'new Image().src = "{sub}js-image.gif";'
            "</script>"
        )
        in_body = f'<img src="{sub}pixel.gif"><iframe src="{sub}frame.html"></iframe>'
        home = list_page(
            [
                ARTICLE.format(id=GOOD),
                ARTICLE.format(id=MOVED),
                ARTICLE.format(id=FOUND),
                ARTICLE.format(id=REFRESH),
                f"{out}news/domestic/945/20251124/{LINKED}.html",
            ]
        )
        outside_article = f"{out}news/domestic/945/20251124/{{id}}.html"
        rank = (
            "var day_top="
            + json.dumps(
                {
                    "name": "news",
                    "list": [
                        {
                            "title": "站外排行",
                            "url": outside_article.format(id=RANKED),
                            "createTime": "1763949600",
                        },
                        {
                            "title": "站内排行",
                            "url": ARTICLE.format(id=GOOD),
                            "createTime": "1763949600",
                        },
                    ],
                },
                ensure_ascii=False,
            )
            + ";"
        )
        finance = json.dumps(
            {
                "code": 0,
                "content": [
                    {
                        "url": outside_article.format(id=LISTED),
                        "title": "站外财经",
                        "delivery_time": "2025-11-24 10:00:00",
                    },
                ],
            },
            ensure_ascii=False,
        )
        good_body = HOSTILE_BODY.format(out=out) + (
            f'<p>　　见<a href="{outside_article.format(id=49000010)}">站外报道</a>。</p>'
        )
        html = "text/html; charset=utf-8"
        self.pages: dict[str, tuple[int, list[tuple[str, str]], str]] = {
            "/": (200, [("Content-Type", html)], home),
            ARTICLE.format(id=GOOD): (
                200,
                [("Content-Type", html)],
                article_page(GOOD, "正文里的恶意标记被清除", good_body),
            ),
            ARTICLE.format(id=MOVED): (301, [("Location", outside_article.format(id=MOVED))], ""),
            ARTICLE.format(id=FOUND): (302, [("Location", outside_article.format(id=FOUND))], ""),
            ARTICLE.format(id=REFRESH): (
                200,
                [("Content-Type", html)],
                '<html><head><meta http-equiv="refresh" '
                f'content="0;url={outside_article.format(id=REFRESH)}"></head><body></body></html>',
            ),
            RANK.split("?")[0]: (200, [("Content-Type", "application/javascript")], rank),
            FINANCE.split("?")[0]: (200, [("Content-Type", "application/json")], finance),
            "/render/": (
                200,
                [("Content-Type", html)],
                list_page([ARTICLE.format(id=RENDERED)], extra=reaching),
            ),
            ARTICLE.format(id=RENDERED): (
                200,
                [("Content-Type", html)],
                article_page(RENDERED, "渲染页面不访问站外", in_body, extra=reaching),
            ),
        }


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        site: HostileSite = self.server.site  # type: ignore[attr-defined]
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        path, _, query = self.path.partition("?")
        if "page=" in query and "page=1" not in query.split("&"):
            path = ""  # the finance list has one page: the next is not found
        status, headers, body = site.pages.get(path, (404, [], "not found"))
        data = body.encode("utf-8")
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serving(host: str, site: HostileSite) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, 0), _Handler)
    server.site = site  # type: ignore[attr-defined]
    server.requests = []  # type: ignore[attr-defined]
    server.base = f"http://{host}:{server.server_address[1]}"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def sockets() -> Iterator[Any]:
    """Another outside host (127.0.0.2, another port) for the web sockets alone, whose
    hits (a known hole, below) must not reach the shared sentinel other modules check."""
    server = serving("127.0.0.2", HostileSite("http://127.0.0.2:9/", "http://127.0.0.2:9/"))
    server.site.pages.clear()  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def site(sentinel: Any, sockets: Any) -> Iterator[Any]:
    """The hostile site on 127.0.0.1; its ``base`` and the requests it got."""
    server = serving("127.0.0.1", HostileSite(outside_base(sentinel), sockets.base + "/"))
    yield server
    server.shutdown()
    server.server_close()


def hits_from(sentinel: Any, site: Any) -> list[str]:
    """The sentinel's requests that this module's site caused (its paths)."""
    ours = [f"/{n}.html" for n in range(49000001, 49000011)]
    return [h for h in sentinel.hits if h.startswith("/sub/") or h.endswith(tuple(ours))]


def outside(sentinel: Any) -> str:
    return f"127.0.0.2:{sentinel.server_address[1]}"


#: Secrets a crawl is given; none may reach a file the crawl writes or its log.
SECRETS = {
    "database": f"PgPw-{uuid.uuid4().hex}",
    "redis": f"RdPw-{uuid.uuid4().hex}",
    "aws_key_id": f"AKIA{uuid.uuid4().hex[:16].upper()}",
    "aws_secret": f"AwsSecret-{uuid.uuid4().hex}",
}


def hostile_start(site: Any) -> str:
    """A start URL that passes validation and carries SQL: stored as it is, run never."""
    return f"{site.base}/?q=');DROP TABLE articles;--"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def crawled(
    request: pytest.FixtureRequest,
    site: Any,
    redis_client_module: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    """One crawl of the hostile site (no browser) with every secret given: the database
    URL (PostgreSQL's with a password; trust auth accepts any) and the Redis URL with
    ``-s``, the AWS keys in the environment, a local lake, the index in Redis."""
    tmp = tmp_path_factory.mktemp(f"secure-{request.param}")
    if request.param == "postgresql":
        plain = request.getfixturevalue("postgres_url_module")
        database = plain.replace("postgres@", f"postgres:{SECRETS['database']}@", 1)
        assert SECRETS["database"] in database
    else:
        database = f"sqlite:///{tmp / 'articles.sqlite3'}"
    prefix = f"chinanews-security-{uuid.uuid4().hex[:8]}"
    starts = [hostile_start(site), site.base + RANK, site.base + FINANCE]
    crawl = run_crawl(
        tmp,
        "-a",
        "start_urls=" + ",".join(starts),
        "-a",
        "render=never",
        settings={
            "DATABASE_URL": database,
            "CHINANEWS_INDEX_BACKEND": "redis",
            "REDIS_URL": f"redis://:{SECRETS['redis']}@127.0.0.1:6379/0",
            "CHINANEWS_REDIS_PREFIX": prefix,
            "CHINANEWS_LAKE": str(tmp / "lake"),
            "CHINANEWS_LAKE_FORMAT": "parquet",
        },
        env={
            "AWS_ACCESS_KEY_ID": SECRETS["aws_key_id"],
            "AWS_SECRET_ACCESS_KEY": SECRETS["aws_secret"],
        },
    )
    yield {
        "kind": request.param,
        "crawl": crawl,
        "tmp": tmp,
        "database": database,
        "starts": starts,
    }
    for key in redis_client_module.scan_iter(match=f"{prefix}:*"):
        redis_client_module.delete(key)


def test_the_crawl_succeeds(crawled: dict[str, Any]) -> None:
    crawl: Crawl = crawled["crawl"]
    assert crawl.returncode == 0, crawl.log[-3000:]
    assert [item["article_id"] for item in crawl.items] == [str(GOOD)]


def test_no_way_out_of_the_scope_is_taken_and_each_is_counted(
    site: Any, sentinel: Any, crawled: dict[str, Any]
) -> None:
    crawl: Crawl = crawled["crawl"]
    assert hits_from(sentinel, site) == []
    # the 301, the 302 and the meta refresh: requests made, then dropped by the guard
    assert crawl.stat(f"chinanews/scope/blocked/{outside(sentinel)}") == 3
    assert crawl.stat("chinanews/scope/blocked") == 3
    # links never made into requests: the list's, the two feeds' entries, the body's
    assert crawl.stat("chinanews/links/out_of_scope") == 4
    assert crawl.stat("chinanews/pages/feed") == 2
    requested = {r.split("?")[0] for r in site.requests}
    for article_id in (MOVED, FOUND, REFRESH):
        assert ARTICLE.format(id=article_id) in requested  # reached, and not followed out


def test_body_html_is_inert_after_a_crawl(crawled: dict[str, Any]) -> None:
    (item,) = crawled["crawl"].items
    assert_inert(item["body_html"])
    assert "点击事件处理器不应留在正文里" in item["body_html"]
    assert "样式表达式不应留下" in item["body_html"]
    assert "alert" not in item["body"]


def rows(crawled: dict[str, Any], sql: str) -> list[tuple[Any, ...]]:
    if crawled["kind"] == "sqlite":
        with sqlite3.connect(crawled["database"].removeprefix("sqlite:///")) as conn:
            return list(conn.execute(sql).fetchall())
    import psycopg

    with psycopg.connect(crawled["database"]) as conn:
        return list(conn.execute(sql).fetchall())


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_an_argument_carrying_sql_is_stored_verbatim_and_runs_nothing(
    crawled: dict[str, Any],
) -> None:
    ((args,),) = rows(crawled, "SELECT args FROM crawl_runs")
    assert as_json(args)["start_urls"] == crawled["starts"]
    assert as_json(args)["start_urls"][0].endswith("?q=');DROP TABLE articles;--")
    assert rows(crawled, "SELECT article_id FROM articles") == [(str(GOOD),)]
    for table in ("related_links", "duplicates", "rejects", "schema_version"):
        assert rows(crawled, f"SELECT count(*) FROM {table}")[0][0] >= 0  # still there


def test_no_secret_reaches_the_log_or_any_file_the_crawl_wrote(crawled: dict[str, Any]) -> None:
    crawl: Crawl = crawled["crawl"]
    written = [p for p in crawled["tmp"].rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {"out.jsonl", "report.json"} <= names
    assert any(p.suffix == ".parquet" for p in written)
    ((report,),) = rows(crawled, "SELECT report FROM crawl_runs")
    ((args,),) = rows(crawled, "SELECT args FROM crawl_runs")
    texts = {
        "log": crawl.log,
        "crawl_runs.report": json.dumps(as_json(report)),
        "crawl_runs.args": json.dumps(as_json(args)),
    }
    texts.update({str(p): p.read_bytes().decode("latin-1") for p in written})
    for where, text in texts.items():
        for name, secret in SECRETS.items():
            assert secret not in text, f"{name} in {where}"
    if crawled["kind"] == "postgresql":  # the URL is shown, without its password
        assert crawl.stat("chinanews/storage/database").startswith("postgresql://postgres:***@")


@pytest.fixture(scope="module")
def rendered(
    request: pytest.FixtureRequest, site: Any, tmp_path_factory: pytest.TempPathFactory
) -> Crawl:
    """``render=always`` over the pages that reach out from the browser."""
    request.getfixturevalue("chromium")  # a browser, or a failure in CI and a skip elsewhere
    return run_crawl(
        tmp_path_factory.mktemp("secure-render"),
        "-a",
        f"start_urls={site.base}/render/",
        "-a",
        "render=always",
        settings={"DATABASE_URL": "none", "CHINANEWS_INDEX_PATH": ":memory:"},
    )


def test_the_browser_requests_nothing_outside_the_scope(
    site: Any, sentinel: Any, rendered: Crawl
) -> None:
    assert rendered.returncode == 0, rendered.log[-3000:]
    assert [item["article_id"] for item in rendered.items] == [str(RENDERED)]
    assert rendered.stat("chinanews/render/pages") == 2  # the list page and the article
    assert hits_from(sentinel, site) == []
    # per page: the stylesheet, the preload, the script, fetch, XHR, the beacon and the
    # event stream; and the article's frame (images are never asked for)
    assert rendered.stat("chinanews/render/aborted/out_of_scope") == 2 * 7 + 1
    assert rendered.stat("playwright/request_count/resource_type/image") == 0


def test_the_browser_opens_no_web_socket_outside_the_scope(sockets: Any, rendered: Crawl) -> None:
    assert sockets.requests == []


def test_a_secret_scrapy_setting_given_with_s_is_not_logged(site: Any, tmp_path: Path) -> None:
    secret = f"AwsSecret-{uuid.uuid4().hex}"
    crawl = run_crawl(
        tmp_path,
        "-a",
        f"start_urls={site.base}/",
        "-a",
        "render=never",
        settings={
            "AWS_SECRET_ACCESS_KEY": secret,
            "DATABASE_URL": "none",
            "CHINANEWS_INDEX_PATH": ":memory:",
        },
    )
    assert crawl.returncode == 0, crawl.log[-3000:]
    assert "'AWS_SECRET_ACCESS_KEY': '***'" in crawl.log
    assert secret not in crawl.log


def test_spider_arguments_cannot_write_outside_the_output_directories(
    site: Any, tmp_path: Path
) -> None:
    """``-a name``, ``-a _job`` and a user's own ``%(foo)s`` with ``..``: every file the
    crawl writes (feed, lake, report, rejects, database, index) stays under ``root``
    (``-a run_id`` is refused at start: tests/test_security.py)."""
    root = tmp_path / "a" / "b" / "c"
    feed = f"{root}/out/%(foo)s/%(name)s-%(run_id)s-%(_job)s.jsonl"
    crawl = run_crawl(
        root,
        "-a",
        f"start_urls={site.base}/",
        "-a",
        "render=never",
        "-a",
        "name=../../../../escaped",
        "-a",
        "_job=../../../../job",
        "-a",
        "foo=../../../../etc",
        settings={
            "FEEDS": json.dumps({feed: {"format": "jsonlines"}}),
            "CHINANEWS_LAKE": f"{root}/out/lake",
            "CHINANEWS_LAKE_FORMAT": "parquet",
            "CHINANEWS_DATA_DIR": f"{root}/data",
        },
        output=None,
    )
    assert crawl.returncode == 0, crawl.log[-3000:]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p for p in written if not p.is_relative_to(root)] == []
    feeds = [p for p in written if p.suffix == ".jsonl" and p.parent.parent == root / "out"]
    assert len(feeds) == 1 and feeds[0].stat().st_size > 0, written
    assert any(p.suffix == ".parquet" for p in written)
