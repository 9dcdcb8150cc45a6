"""The crawl policy table: link kinds, ids, canonical URLs, channels and scope."""

from __future__ import annotations

import pytest

from chinanews.urls import (
    LinkKind,
    article_page_url,
    article_ref,
    canonical_url,
    channel_of,
    in_scope,
    link_kind,
)

LOCAL = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://news.china.com/domestic/945/20220330/41811858.html", LinkKind.ARTICLE),
        ("http://news.china.com/zh_cn/social/1007/20151014/20561471.html", LinkKind.ARTICLE),
        (
            "https://military.china.com/jswh/figure/11163298/20190608/36354564.html",
            LinkKind.ARTICLE,
        ),
        ("https://tech.china.com/article/20190906/kejiyuan0129362060.html", LinkKind.ARTICLE),
        ("https://3g.china.com/act/news/10000169/20240624/46741208.html", LinkKind.ARTICLE),
        (
            "https://news.china.com/socialgd/10000169/20220327/41785167_1.html",
            LinkKind.ARTICLE_PAGE,
        ),
        (
            "https://news.china.com/socialgd/10000169/20220327/41785167_all.html#page_3",
            LinkKind.ARTICLE_PAGE,
        ),
        (f"{LOCAL}/news/domestic/945/20251124/49000001.html", LinkKind.ARTICLE),
        (f"{LOCAL}/tech/article/20251124/202511241848337_all.html", LinkKind.ARTICLE_PAGE),
        ("https://rank.china.com/rank/cms/news/day/rank_all.js", LinkKind.FEED),
        (f"{LOCAL}/rank/rank/cms/mili/day/rank_all.js", LinkKind.FEED),
        ("https://finance.china.com/index/getNewsInfo?page=2&column_id=11173294", LinkKind.FEED),
        ("https://jiu.china.com/jydt/p/2", LinkKind.FEED),
        ("https://news.china.com/", LinkKind.LIST),
        ("https://news.china.com/domestic/", LinkKind.LIST),
        ("https://tech.china.com/articles/index_3.html", LinkKind.LIST),
        (f"{LOCAL}/", LinkKind.LIST),
        ("https://img1.utuku.china.com/a/b.jpg", LinkKind.OTHER),
        ("https://news.china.com/static/site.css", LinkKind.OTHER),
        ("javascript:void(0)", LinkKind.OTHER),
        ("mailto:news@china.com", LinkKind.OTHER),
    ],
)
def test_link_kind(url: str, kind: LinkKind) -> None:
    assert link_kind(url) is kind


def test_priorities_put_articles_before_navigation() -> None:
    assert (
        LinkKind.ARTICLE_PAGE.value
        > LinkKind.ARTICLE.value
        > LinkKind.FEED.value
        > LinkKind.LIST.value
    )


def test_article_ref_parts() -> None:
    ref = article_ref("https://news.china.com/socialgd/10000169/20220327/41785167_2.html")
    assert ref is not None
    assert (ref.article_id, ref.column_id, ref.date, ref.page) == (
        "41785167",
        "10000169",
        "20220327",
        "2",
    )
    tech = article_ref("https://tech.china.com/article/20260416/202604161848337.html")
    assert tech is not None
    assert (tech.article_id, tech.column_id, tech.page) == ("202604161848337", None, None)
    assert article_ref("https://news.china.com/domestic/") is None


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "http://news.china.com/domestic/945/20220330/41811858.html",
            "https://news.china.com/domestic/945/20220330/41811858.html",
        ),
        (
            "https://news.china.com/socialgd/10000169/20220327/41785167_all.html#page_3",
            "https://news.china.com/socialgd/10000169/20220327/41785167.html",
        ),
        (
            "https://news.china.com/socialgd/10000169/20220327/41785167_1.html?utm_source=x",
            "https://news.china.com/socialgd/10000169/20220327/41785167.html",
        ),
        (
            "HTTP://NEWS.CHINA.COM:80/domestic/945/20220330/41811858.html",
            "https://news.china.com/domestic/945/20220330/41811858.html",
        ),
        (
            f"{LOCAL}/news/domestic/945/20251124/49000001_2.html",
            f"{LOCAL}/news/domestic/945/20251124/49000001.html",
        ),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_article_page_url() -> None:
    first = f"{LOCAL}/news/socialgd/10000169/20251124/49000001.html"
    assert article_page_url(first, "1") == first
    assert (
        article_page_url(first, "2") == f"{LOCAL}/news/socialgd/10000169/20251124/49000001_1.html"
    )
    assert (
        article_page_url(first, "all")
        == f"{LOCAL}/news/socialgd/10000169/20251124/49000001_all.html"
    )
    assert (
        article_page_url(f"{LOCAL}/news/socialgd/10000169/20251124/49000001_2.html", "1") == first
    )


@pytest.mark.parametrize(
    ("url", "channel"),
    [
        ("https://news.china.com/domestic/945/20220330/41811858.html", "domestic"),
        ("https://news.china.com/domesticgd/10000159/20170313/30324046.html", "domestic"),
        ("https://news.china.com/international/1000/20161215/30080244.html", "international"),
        ("https://news.china.com/socialgd/10000169/20220327/41785167.html", "social"),
        ("https://news.china.com/news100/11038989/20170716/30974415.html", None),
        ("https://military.china.com/news/568/20190609/36357095.html", "military"),
        ("https://finance.china.com/cydt/20000860/20190128/25347802.html", "finance"),
        ("https://economy.china.com/industrial/11173306/20190612/36386194.html", "finance"),
        ("https://tech.china.com/article/20260416/202604161848337.html", "tech"),
        ("https://ent.china.com/movie/tv/11015529/20190612/36382362.html", "ent"),
        ("https://3g.china.com/act/news/10000169/20240624/46741208.html", "social"),
        (f"{LOCAL}/news/domestic/945/20251124/49000001.html", "domestic"),
        (f"{LOCAL}/finance/domestic/11173294/20251124/49000002.html", "finance"),
        (f"{LOCAL}/military/news/", "military"),
        (f"{LOCAL}/news/", None),
    ],
)
def test_channel_of(url: str, channel: str | None) -> None:
    assert channel_of(url) == channel


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://news.china.com/domestic/945/20220330/41811858.html", True),
        ("https://rank.china.com/rank/cms/news/day/rank_all.js", True),
        ("https://china.com/", True),
        ("https://ad.china.com/click?id=1", False),
        ("https://img1.utuku.china.com/a.jpg", False),
        ("https://www.huanqiu.com/article/1.html", False),
        ("https://news.china.com.evil.example/domestic/945/20220330/41811858.html", False),
        ("ftp://news.china.com/x", False),
        (f"{LOCAL}/news/", True),
        ("http://127.0.0.1:8001/news/", False),
        ("http://localhost:8000/news/", False),
    ],
)
def test_in_scope(url: str, expected: bool) -> None:
    assert in_scope(url, {"127.0.0.1:8000"}) is expected
