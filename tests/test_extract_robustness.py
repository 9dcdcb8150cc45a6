"""Inputs a crawl meets that no fixture shows well: odd encodings, broken bytes, odd URLs.
None of them may raise."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from chinanews.extract import extract_article, extract_list, parse_feed

PAGES = Path(__file__).parent / "pages"
URL = "https://news.china.com/domestic/945/20251124/49000001.html"


def _seed_page() -> str:
    return (PAGES / "c_seed.html").read_text("utf-8")


def test_undeclared_gbk_bytes_fall_back_to_gb18030() -> None:
    html = _seed_page().replace('<meta charset="utf-8">', "").encode("gb18030")
    article = extract_article(URL, html).article
    assert article is not None and article.title == "美乌首轮会谈结束 多国相继发声 进展与挑战并存"


def test_header_charset_wins_over_meta() -> None:
    html = (
        _seed_page()
        .replace('<meta charset="utf-8">', '<meta charset="iso-8859-1">')
        .encode("gbk", errors="replace")
    )
    article = extract_article(URL, html, encoding="GBK").article
    assert article is not None and article.source == "环球网"


def test_unknown_encoding_name_does_not_raise() -> None:
    result = extract_article(URL, _seed_page().encode("utf-8"), encoding="x-no-such-charset")
    assert result.article is not None


def test_str_with_xml_declaration_and_nul() -> None:
    html = '<?xml version="1.0" encoding="utf-8"?>\n' + _seed_page().replace("关键词", "关键词\x00")
    assert extract_article(URL, html).article is not None


def test_undecodable_bytes_are_replaced() -> None:
    html = _seed_page().encode("utf-8").replace("德国总理".encode(), b"\xff\xfe\xfd")
    article = extract_article(URL, html).article
    assert article is not None and "\ufffd" in (article.body or "")


@pytest.mark.parametrize("cut", [1, 10, 100, 500, 2000, 5000])
def test_truncated_anywhere(cut: int) -> None:
    data = _seed_page().encode("utf-8")[:cut]
    result = extract_article(URL, data)
    assert result.reason in (None, "not_article", "no_title", "no_body")


def test_random_bytes_never_raise() -> None:
    rng = random.Random(7)
    for _ in range(50):
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 3000)))
        assert extract_article(URL, blob).article is None
        assert extract_list(URL, blob).entries == []
        assert parse_feed("https://finance.china.com/index/getNewsInfo?page=1", blob).entries == []


@pytest.mark.parametrize("url", ["", "not a url", "ftp://x/y", "https://example.com/"])
def test_odd_page_urls(url: str) -> None:
    result = extract_article(url, _seed_page())
    assert result.article is not None
    assert result.article.article_id is None or url.startswith("https://news")


def test_pager_link_text_in_a_span() -> None:
    html = _seed_page().replace(
        '<div class="article_close">',
        '<div class="pages"><a href="49000001_1.html"><span>下一页</span></a>'
        '<span class="sumPage">共<cite>2</cite>页</span></div><div class="article_close">',
    )
    links = extract_article(URL, html).links
    assert links.next_page == URL.replace(".html", "_1.html")
    assert links.page_count == 2
