"""Hostile and malformed input for the extractors: property-based (hypothesis) over prefixes
and mutations of real local-site pages, wrong encodings and binary junk, plus single huge and
deeply nested pages. The extractors never raise, never log a swallowed exception, and answer
within a bounded time. The regular tests pin the cases fuzzing found."""

from __future__ import annotations

from chinanews.extract import extract_article
from chinanews.extract.html import decode
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
