"""Hostile and malformed input for the extractors: property-based (hypothesis) over prefixes
and mutations of real local-site pages, wrong encodings and binary junk, plus single huge and
deeply nested pages. The extractors never raise, never log a swallowed exception, and answer
within a bounded time. The regular tests pin the cases fuzzing found."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chinanews.extract import (
    NO_BODY,
    NO_TITLE,
    NOT_ARTICLE,
    ArticleExtraction,
    ListPage,
    extract_article,
    extract_list,
    parse_feed,
)
from chinanews.extract.html import decode, parse
from chinanews.localsite import LocalSite

BASE = "http://127.0.0.1:8000"


def _utf8_article() -> tuple[str, bytes, dict[str, object]]:
    """A plain UTF-8 article of the local site: (url, bytes, expected fields)."""
    site = LocalSite(size=60, seed=7)
    expected = site.expected(BASE)
    for url in site.article_urls(BASE):
        r = site.render(url[len(BASE) :], BASE)
        if r.charset == "utf-8" and url in expected and expected[url]["pages"] == 1:
            return url, r.body, expected[url]
    raise AssertionError("no plain UTF-8 article")


# -- found by the faulty server (tests/test_e2e_faults.py): a header that lies ---------------


def test_gbk_page_served_as_utf8_is_read_by_its_meta() -> None:
    url, body, want = _utf8_article()
    text = body.decode().replace('<meta charset="utf-8">', '<meta charset="gbk">')
    gbk = text.encode("gbk", errors="xmlcharrefreplace")
    article = extract_article(url, gbk, encoding="utf-8").article
    assert article is not None
    assert article.title == want["title"]
    assert article.body == want["body"]


def test_utf8_page_served_as_gbk_is_read_by_its_meta() -> None:
    url, body, want = _utf8_article()
    article = extract_article(url, body, encoding="gbk").article
    assert article is not None
    assert article.title == want["title"]
    assert article.body == want["body"]


def test_a_header_that_decodes_still_wins_over_the_meta() -> None:
    # GBK bytes, valid as GBK, with a Latin-1 <meta>: the header is right and is kept
    page = '<html><head><meta charset="iso-8859-1"></head><body>中文</body></html>'
    assert "中文" in decode(page.encode("gbk"), "gbk")


def test_a_meta_codec_that_takes_any_byte_does_not_replace_the_header() -> None:
    # UTF-8 with one broken byte and a Latin-1 <meta>: still UTF-8 (one U+FFFD), not mojibake
    page = '<html><head><meta charset="iso-8859-1"></head><body>中文\xff</body></html>'
    data = page.encode("utf-8").replace(b"\xc3\xbf", b"\xff")
    text = decode(data, "utf-8")
    assert "中文" in text and "\ufffd" in text


def test_a_page_cut_inside_a_character_keeps_its_header() -> None:
    data = '<html><head><meta charset="gbk"></head><body>中文内容'.encode()[:-1]
    assert "中文内" in decode(data, "utf-8")


# -- the harness -------------------------------------------------------------------------------

#: Wall-time bounds per call, generous for a loaded 2-core machine: a normal page takes 10 to
#: 50 ms, a 10 MB one up to 3 s (160,000 links to list); what these catch is a quadratic path
#: (the hangs found took from 20 s to minutes).
NORMAL_SECONDS = 2.0
HUGE_SECONDS = 10.0
MB = 1_000_000

FUZZ = settings(
    max_examples=60,
    deadline=None,  # time is checked explicitly, per call
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ARTICLE_URL = "https://news.china.com/domestic/945/20251124/49000001.html"
LIST_URL = "https://news.china.com/domestic/"
FEED_URL = "https://finance.china.com/index/getNewsInfo?page=1&column_id=11173294"


class _Errors(logging.Handler):
    """Collects the ERROR records of the extractors (their catch-all logs a swallowed
    exception there: for these tests, that is a crash)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _no_swallowed_errors() -> Iterator[None]:
    handler = _Errors()
    logger = logging.getLogger("chinanews.extract")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    failures = [
        f"{r.getMessage()}: {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
        for r in handler.records
    ]
    assert failures == []


Extractor = Callable[..., Any]


def run(
    fn: Extractor, url: str, data: str | bytes, bound: float = NORMAL_SECONDS, **kw: Any
) -> Any:
    """``fn(url, data, **kw)``: it returns its result type, logs no error, and is quick."""
    with _no_swallowed_errors():
        start = time.perf_counter()
        result = fn(url, data, **kw)
        elapsed = time.perf_counter() - start
    assert elapsed < bound, f"{fn.__name__} took {elapsed:.2f} s on {len(data):,} chars/bytes"
    if fn is extract_article:
        assert isinstance(result, ArticleExtraction)
        assert (result.article is None) == (result.reason is not None)
        assert result.reason in (None, NOT_ARTICLE, NO_TITLE, NO_BODY)
    else:
        assert isinstance(result, ListPage)
    return result


def run_all(data: str | bytes, bound: float = NORMAL_SECONDS, **kw: Any) -> None:
    """Every extractor on ``data`` (a crawler may hand any page to any of them)."""
    run(extract_article, ARTICLE_URL, data, bound, **kw)
    run(extract_list, LIST_URL, data, bound, **kw)
    run(parse_feed, FEED_URL, data, bound)


# -- the corpus: real pages of the local site --------------------------------------------------

LIST_PATHS = (
    "/",
    "/news/domestic/",
    "/military/news/",
    "/tech/articles/",
    "/finance/tuijian/",
    "/finance/domestic/",
    "/ent/news/",
)
FEED_PATHS = (
    "/rank/rank/cms/news/day/rank_all.js",
    "/finance/index/getNewsInfo?page=1&column_id=11173294",
    "/finance/tuijian/p/1",
)


@cache
def corpus() -> tuple[tuple[str, str, bytes, str | None], ...]:
    """(kind, url, body, header charset) of article pages of every template and case, list
    pages and feeds of the local site."""
    site = LocalSite(size=60, seed=7)
    out = []
    seen_features: set[tuple[str, str]] = set()
    for url in site.article_urls(BASE):
        path = url[len(BASE) :]
        i = site.model.by_aid.get(path.rsplit("/", 1)[1].split(".")[0].split("_")[0])
        a = site.model.arts[i] if i is not None else None
        key = (a.section.template, a.feature) if a is not None else ("", path)
        if key in seen_features:  # one page per template and special case
            continue
        seen_features.add(key)
        r = site.render(path, BASE)
        out.append(("article", url, r.body, r.charset))
    for kind, paths in (("list", LIST_PATHS), ("feed", FEED_PATHS)):
        for path in paths:
            r = site.render(path, BASE)
            assert r.status == 200, path
            out.append((kind, BASE + path, r.body, r.charset))
    return tuple(out)


def extractor_for(kind: str) -> Extractor:
    return {"article": extract_article, "list": extract_list, "feed": parse_feed}[kind]


def test_the_corpus_covers_every_template_and_kind() -> None:
    pages = corpus()
    assert {k for k, *_ in pages} == {"article", "list", "feed"}
    templates = set()
    for kind, url, body, charset in pages:
        if kind == "article":
            result = run(extract_article, url, body, encoding=charset)
            if result.article is not None:
                templates.add(result.article.template)
    assert templates >= {"A", "B", "C", "D", "tech", "generic"}


Page = tuple[str, str, bytes, "str | None"]
real_pages = st.deferred(lambda: st.sampled_from(corpus()))


# -- properties --------------------------------------------------------------------------------


@FUZZ
@given(page=real_pages, cut=st.floats(min_value=0, max_value=1))
def test_any_prefix_of_a_real_page(page: Page, cut: float) -> None:
    kind, url, body, charset = page
    prefix = body[: int(len(body) * cut)]  # may end inside a tag, an entity or a character
    kw = {"encoding": charset} if kind != "feed" else {}
    run(extractor_for(kind), url, prefix, **kw)
    run_all(prefix)


NASTY = (
    "<",
    ">",
    "</div>",
    "<div",
    '<div class="article_content">',
    "<!--",
    "-->",
    "<![CDATA[",
    "<script>",
    "</script>",
    "<style>",
    "<textarea>",
    "<plaintext>",
    "<xmp>",
    "<template>",
    "<noscript>",
    "<svg><math>",
    "<frameset>",
    "<table><tr><td>",
    "<select>",
    '"',
    "'",
    "&",
    "&#x110000;",
    "&#99999999999999999999;",
    "&#0;",
    "&nbsp",
    "\x00",
    "\x0b",
    "\ufeff",
    "\u200b",
    "\ud800",  # a lone surrogate
    "<?xml version='1.0'?>",
    "<!DOCTYPE html>",
    '<meta charset="x-no-such-charset">',
    '<meta http-equiv="Content-Type" content="text/html; charset=utf-16">',
    "<base href='javascript:alert(1)'>",
    "<base href='http://[::1'>",
    "<a href='http://[::1/x.html'>x</a>",
    "<a href='http://a:99999999/news/domestic/945/20251124/1.html'>x</a>",
    "<a href='//'>x</a>",
    "<a href='\\\\evil\\x'>x</a>",
    "<img src='data:image/png;base64,AAAA' data-src=''>",
    "<p>2025-02-30 25:61:00</p>",
    "<span class='time'>9999-99-99</span>",
    "<div class='pages'><a>下一页</a><span>共<cite>999999999999</cite>页</span></div>",
    "<h1></h1>",
    "<title>" + "长" * 5000 + "</title>",
    "var day_top = {",
    '{"url": null, "title": [], "createTime": 1e309}',
    '{"url": "http://x/1.html", "createTime": 99999999999999}',
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str, str]:
    """A real page's text with a few slices deleted or repeated and nasty tokens inserted."""
    kind, url, body, charset = draw(real_pages)
    text = body.decode(charset or "utf-8")
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        op = draw(st.sampled_from(["insert", "insert", "delete", "repeat"]))
        if op == "insert":
            token = draw(st.sampled_from(NASTY) | st.text(max_size=20))
            text = text[:at] + token + text[at:]
        else:
            span = draw(st.integers(min_value=1, max_value=2000))
            piece = text[at : at + span]
            text = text[:at] + (piece * 2 if op == "repeat" else "") + text[at + span :]
    return kind, url, text


@FUZZ
@given(page=mutated())
def test_malformed_pages(page: tuple[str, str, str]) -> None:
    kind, url, text = page
    run(extractor_for(kind), url, text)
    run(extractor_for(kind), url, text.encode("utf-8", errors="surrogatepass"))
    run_all(text)


ENCODINGS = ("utf-8", "gbk", "gb18030", "big5", "utf-16", "utf-16-le", "latin-1", "shift_jis")
DECLARED = (None, "utf-8", "gbk", "gb2312", "iso-8859-1", "utf-16", "x-bogus", "", "utf-8; junk")


@FUZZ
@given(
    page=real_pages,
    encoding=st.sampled_from(ENCODINGS),
    declared=st.sampled_from(DECLARED),
    meta=st.sampled_from([None, "utf-8", "gbk", "utf-16", "x-bogus"]),
    junk=st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=8)), max_size=6),
)
def test_wrong_encodings(
    page: Page,
    encoding: str,
    declared: str | None,
    meta: str | None,
    junk: list[tuple[float, bytes]],
) -> None:
    """A page in one encoding, its <meta> and the header claiming others, with invalid
    bytes spliced in."""
    kind, url, body, charset = page
    text = body.decode(charset or "utf-8")
    if meta is not None:
        text = text.replace('<meta charset="utf-8">', f'<meta charset="{meta}">', 1)
        text = text.replace('<meta charset="gb2312">', f'<meta charset="{meta}">', 1)
    data = text.encode(encoding, errors="xmlcharrefreplace")
    for where, blob in junk:
        at = int(len(data) * where)
        data = data[:at] + blob + data[at:]
    kw = {"encoding": declared} if kind != "feed" else {}
    run(extractor_for(kind), url, data, **kw)
    run(extract_article, ARTICLE_URL, data, encoding=declared)
    run(extract_list, LIST_URL, data, encoding=declared)


@FUZZ
@given(
    prefix=st.sampled_from(
        [b"", b"<html>", b"\xef\xbb\xbf", b"\xff\xfe", b"\x1f\x8b", b"%PDF-1.4"]
    ),
    blob=st.binary(max_size=20_000),
)
def test_binary_junk(prefix: bytes, blob: bytes) -> None:
    run_all(prefix + blob)
    run_all(prefix + blob, encoding="utf-8")


html_soup = st.lists(
    st.sampled_from(NASTY)
    | st.sampled_from(["<p>", "</p>", "<a href='/news/domestic/945/20251124/49000002.html'>"])
    | st.text(max_size=30),
    max_size=200,
).map("".join)


@FUZZ
@given(soup=html_soup)
def test_tag_soup(soup: str) -> None:
    run_all(soup)
    run_all("<html><head><title>标题</title></head><body>" + soup)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["url", "title", "createTime", "list", "content", "data", "x"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=40,
)


@FUZZ
@given(
    value=json_values,
    wrapper=st.sampled_from(["{}", "var day_top = {};", "day_top['305']={}", "cb({})", "x={}"]),
    cut=st.floats(0, 1),
)
def test_feeds_of_any_shape(value: Any, wrapper: str, cut: float) -> None:
    body = wrapper.replace("{}", json.dumps(value, ensure_ascii=False), 1)
    run(parse_feed, FEED_URL, body)
    run(parse_feed, FEED_URL, body[: int(len(body) * cut)])
    run(parse_feed, "https://finance.china.com/tuijian/p/3", body.encode())


# -- single huge and deeply nested pages (one example each: each costs up to a second) ---------


def _seed_page() -> str:
    return (Path(__file__).parent / "pages" / "c_seed.html").read_text("utf-8")


def _ten_mb_article(encoding: str = "utf-8") -> str:
    """The seed article with its first paragraph repeated until the page is 10 MB in
    ``encoding``."""
    page = _seed_page()
    start = page.index("<p>")
    end = page.index("</p>", start) + len("</p>")
    paragraph = page[start:end] + "\n"
    copies = 10 * MB // len(paragraph.encode(encoding))
    return page[:end] + paragraph * copies + page[end:]


def _nested(open_tag: str, close_tag: str, depth: int, inner: str = "文本") -> str:
    return f"<html><body>{open_tag * depth}{inner}{close_tag * depth}</body></html>"


HUGE: dict[str, Callable[[], str | bytes]] = {
    "10 MB article": _ten_mb_article,
    "10 MB text node": lambda: "<html><body><p>" + "新" * (10 * MB // 3) + "</p></body></html>",
    "10 MB of one word": lambda: "a" * (10 * MB),
    "10 MB of '<'": lambda: "<" * (10 * MB),
    "10 MB of '<a'": lambda: "<a" * (5 * MB),
    "10 MB of links": lambda: (
        "<html><body>"
        + "".join(
            f'<a href="/news/domestic/945/20251124/{49_000_000 + i}.html">标题{i}</a>\n'
            for i in range(160_000)
        )
        + "</body></html>"
    ),
    "10 MB of binary junk": lambda: random.Random(7).randbytes(10 * MB),
    "10 MB of GBK declared UTF-8": lambda: (
        _ten_mb_article("gbk")
        .replace('<meta charset="utf-8">', '<meta charset="gbk">')
        .encode("gbk", errors="xmlcharrefreplace")
    ),
}

DEEP: dict[str, Callable[[], str]] = {
    "100,000 nested <div>": lambda: _nested("<div>", "</div>", 100_000),
    "100,000 unclosed <div>": lambda: "<html><body>" + "<div>" * 100_000 + "文本",
    "100,000 nested <b> in the body container": lambda: _seed_page().replace(
        "<p>", "<p>" + "<b>" * 100_000, 1
    ),
    "50,000 nested <div> around the body": lambda: _seed_page().replace(
        "<p>", "<div>" * 50_000 + "<p>", 1
    ),
    "30,000 nested tables": lambda: _nested("<table><tr><td>", "</td></tr></table>", 30_000),
    "100,000 attributes": lambda: (
        "<html><body><div "
        + " ".join(f'a{i}="{i}"' for i in range(100_000))
        + ">x</div></body></html>"
    ),
    "100,000 bare attributes": lambda: (
        "<html><body><div " + " ".join(f"a{i}" for i in range(100_000)) + ">x</div></body></html>"
    ),
    "100,000 attributes holding '<'": lambda: (
        "<html><body><div "
        + " ".join(f'a{i}="<"' for i in range(100_000))
        + ">x</div></body></html>"
    ),
    "100,000 nested JSON arrays": lambda: "[" * 100_000 + "]" * 100_000,
    "100,000 nested JSON objects": lambda: '{"a":' * 100_000 + "1" + "}" * 100_000,
    "100,000 nested in an assignment": lambda: "var day_top = " + "[" * 100_000,
    "50,000 assignments that are not JSON": lambda: "var a = {" * 50_000,
    "500,000 unquoted keys": lambda: "{" + "url:" * 500_000 + "}",
}


@pytest.mark.parametrize("name", sorted(HUGE))
def test_huge_pages(name: str) -> None:
    data = HUGE[name]()
    assert len(data if isinstance(data, bytes) else data.encode()) >= 10 * MB
    run_all(data, bound=HUGE_SECONDS)


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deeply_nested_pages(name: str) -> None:
    run_all(DEEP[name](), bound=NORMAL_SECONDS)


def test_a_10_mb_article_is_still_read() -> None:
    result = run(extract_article, ARTICLE_URL, _ten_mb_article(), bound=HUGE_SECONDS)
    assert result.article is not None
    assert result.article.title == "美乌首轮会谈结束 多国相继发声 进展与挑战并存"


# -- what fuzzing found: hangs, pinned -----------------------------------------------------------


def test_a_tag_with_100000_attributes_is_cut_and_the_article_still_read() -> None:
    """libxml2 compares each attribute of a tag with every earlier one: 100,000 took 20 s.
    The parser now gets the first 1,000; the rest of the page is untouched."""
    junk = "<div " + " ".join(f"a{i}" for i in range(100_000)) + ' title="x y">junk</div>'
    page = _seed_page().replace("<body>", "<body>" + junk, 1)
    start = time.perf_counter()
    result = extract_article(ARTICLE_URL, page)
    assert time.perf_counter() - start < NORMAL_SECONDS
    assert result.article is not None
    assert result.article.title == "美乌首轮会谈结束 多国相继发声 进展与挑战并存"
    root = parse(page)
    assert root is not None
    div = root.find(".//body/div")
    assert div is not None and len(div.attrib) == 1000 and div.text == "junk"


def test_a_tag_cut_inside_a_quoted_value_does_not_swallow_the_page() -> None:
    tag = "<div " + " ".join(f'a{i}="v"' for i in range(999)) + ' title="one two three">'
    root = parse(f"<html><body>{tag}inside</div><p>after</p></body></html>")
    assert root is not None
    assert root.findtext(".//p") == "after"


def test_a_feed_body_that_is_one_long_word_is_read_in_linear_time() -> None:
    """The assignment pattern tried an identifier at every character of a word: 10 MB of
    word characters never finished."""
    start = time.perf_counter()
    page = parse_feed(FEED_URL, "a" * (10 * MB))
    assert time.perf_counter() - start < HUGE_SECONDS
    assert page.entries == []


def test_a_feed_nested_too_deep_for_json_gives_no_entries_and_no_error() -> None:
    """``json`` raises RecursionError (not ValueError) past about 1,000 levels; it reached
    the catch-all, which logged it as a failure."""
    page = run(parse_feed, FEED_URL, "[" * 100_000 + "]" * 100_000)
    assert page.entries == []


def test_assignments_after_many_that_are_not_json_are_not_tried() -> None:
    """Each failed JSON decode costs a scan of the text before it: 50,000 of them took
    seconds. After 100 failures the rest is left; a feed's data comes first."""
    feed = 'var day_top = {"list": [{"url": "https://news.china.com/a/1/20251124/1.html"}]};'
    page = run(parse_feed, FEED_URL, feed + "var a = {" * 50_000)
    assert [e.url for e in page.entries] == ["https://news.china.com/a/1/20251124/1.html"]
