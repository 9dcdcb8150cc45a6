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


# -- classify: each URL split and matched once ------------------------------------------

from dataclasses import FrozenInstanceError  # noqa: E402

from chinanews.urls import Link, classify, is_mobile_mirror, request_url  # noqa: E402


@pytest.mark.parametrize(
    "url",
    [
        "mailto:news@china.com",
        "javascript:void(0)",
        "ftp://news.china.com/domestic/945/20251124/49000001.html",
        "//news.china.com/domestic/945/20251124/49000001.html",  # the spider joins it first
        "https://news.china.com/static/site.css",
        "https://news.china.com/static/app.js",
        "https://img1.utuku.china.com/a/b.jpg",
        f"{LOCAL}/static/ad/banner.png",
        "https://news.china.com/download/report.pdf",
        "https://www.huanqiu.com/article/1.html",
        "https://news.china.com/domestic/about.html",
    ],
)
def test_classify_none_for_what_the_crawl_never_fetches(url: str) -> None:
    assert link_kind(url) is LinkKind.OTHER
    assert classify(url) is None


@pytest.mark.parametrize(
    ("later", "first"),
    [
        (
            "https://news.china.com/domestic/945/20251124/49000001_1.html",
            "https://news.china.com/domestic/945/20251124/49000001.html",
        ),
        (
            "https://news.china.com/socialgd/10000169/20220327/41785167_2.html",
            "https://news.china.com/socialgd/10000169/20220327/41785167.html",
        ),
        (
            "https://news.china.com/socialgd/10000169/20220327/41785167_all.html#page_3",
            "https://news.china.com/socialgd/10000169/20220327/41785167.html",
        ),
        (
            "https://NEWS.china.com/socialgd/10000169/20220327/41785167_all.html",
            "https://news.china.com/socialgd/10000169/20220327/41785167.html",
        ),
        (
            "https://tech.china.com/article/20251124/202511241848337_all.html",
            "https://tech.china.com/article/20251124/202511241848337.html",
        ),
        (
            "https://3g.china.com/act/news/945/20251124/49000001_1.html",
            "https://3g.china.com/act/news/945/20251124/49000001.html",
        ),
        (
            f"{LOCAL}/news/domestic/945/20251124/49000001_2.html",
            f"{LOCAL}/news/domestic/945/20251124/49000001.html",
        ),
        (
            f"{LOCAL}/news/domestic/945/20251124/49000001_all.html#page_2",
            f"{LOCAL}/news/domestic/945/20251124/49000001.html",
        ),
        (
            f"{LOCAL}/tech/article/20251124/202511241848337_1.html",
            f"{LOCAL}/tech/article/20251124/202511241848337.html",
        ),
        pytest.param(
            # the first page on the link's own scheme, as its own link would be
            "http://news.china.com/zh_cn/social/1007/20151014/20561471_2.html",
            "http://news.china.com/zh_cn/social/1007/20151014/20561471.html",
            id="http-china.com",
        ),
    ],
)
def test_classify_a_later_page_as_its_first_page(later: str, first: str) -> None:
    link = classify(later)
    assert link is not None
    assert link.kind is LinkKind.ARTICLE
    assert link.ref is not None and link.ref.page is None
    assert link.url == request_url(first)
    assert link == classify(first)


@pytest.mark.parametrize(
    ("url", "kind", "article_id", "channel", "host", "china_com", "mobile"),
    [
        (
            "https://news.china.com/domestic/945/20251124/49000001.html",
            LinkKind.ARTICLE,
            "49000001",
            "domestic",
            "news.china.com",
            True,
            False,
        ),
        (
            "https://3g.china.com/act/news/10000169/20240624/46741208.html",
            LinkKind.ARTICLE,
            "46741208",
            "social",
            "3g.china.com",
            True,
            True,
        ),
        (
            "https://military.china.com/jswh/figure/11163298/20190608/36354564.html",
            LinkKind.ARTICLE,
            "36354564",
            "military",
            "military.china.com",
            True,
            False,
        ),
        (
            "https://tech.china.com/article/20260416/202604161848337.html",
            LinkKind.ARTICLE,
            "202604161848337",
            "tech",
            "tech.china.com",
            True,
            False,
        ),
        (
            "https://news.china.com/news100/11038989/20170716/30974415.html",
            LinkKind.ARTICLE,
            "30974415",
            None,
            "news.china.com",
            True,
            False,
        ),
        (
            f"{LOCAL}/news/domestic/945/20251124/49000001.html",
            LinkKind.ARTICLE,
            "49000001",
            "domestic",
            "127.0.0.1:8000",
            False,
            False,
        ),
        (
            f"{LOCAL}/3g/act/military/568/20251124/49000001.html",
            LinkKind.ARTICLE,
            "49000001",
            "military",
            "127.0.0.1:8000",
            False,
            True,
        ),
        (
            "HTTP://NEWS.CHINA.COM:80/domestic/945/20220330/41811858.html",
            LinkKind.ARTICLE,
            "41811858",
            "domestic",
            "news.china.com:80",
            True,
            False,
        ),
        (
            "https://rank.china.com/rank/cms/mili/day/rank_all.js",
            LinkKind.FEED,
            None,
            "military",
            "rank.china.com",
            True,
            False,
        ),
        (
            f"{LOCAL}/finance/index/getNewsInfo?page=2&column_id=11173294",
            LinkKind.FEED,
            None,
            "finance",
            "127.0.0.1:8000",
            False,
            False,
        ),
        ("https://news.china.com/", LinkKind.LIST, None, None, "news.china.com", True, False),
        (
            "https://military.china.com/news/",
            LinkKind.LIST,
            None,
            "military",
            "military.china.com",
            True,
            False,
        ),
        (
            "https://tech.china.com/articles/index_3.html",
            LinkKind.LIST,
            None,
            "tech",
            "tech.china.com",
            True,
            False,
        ),
        # Classified all the same; the follow rules refuse them (out of scope).
        ("https://ad.china.com/", LinkKind.LIST, None, None, "ad.china.com", False, False),
        (
            "https://news.china.com.evil.example/domestic/945/20251124/49000001.html",
            LinkKind.ARTICLE,
            "49000001",
            "domestic",
            "news.china.com.evil.example",
            False,
            False,
        ),
    ],
)
def test_classify_parts(
    url: str,
    kind: LinkKind,
    article_id: str | None,
    channel: str | None,
    host: str,
    china_com: bool,
    mobile: bool,
) -> None:
    link = classify(url)
    assert link is not None
    assert (link.kind, link.channel, link.netloc, link.china_com, link.mobile) == (
        kind,
        channel,
        host,
        china_com,
        mobile,
    )
    assert (link.ref.article_id if link.ref else None) == article_id
    assert link.ref == article_ref(url)
    assert link.url == request_url(url)
    # What the one-question helpers answer for the same URL.
    assert link.kind is link_kind(url)
    assert link.channel == channel_of(url)
    assert link.mobile is is_mobile_mirror(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://finance.china.com/index/getNewsInfo?page=1&column_id=11173294",
        "https://news.china.com/domestic/945/20251124/49000001.html?b=2&a=1#comments",
        f"{LOCAL}/news/domestic/#top",
        "https://jiu.china.com/jydt/p/2",
    ],
)
def test_classify_url_is_the_request_url(url: str) -> None:
    """Query kept (sorted: feeds need it), fragment dropped."""
    link = classify(url)
    assert link is not None
    assert link.url == request_url(url)
    assert "#" not in link.url


@pytest.mark.parametrize(
    "url",
    [
        "https://news.china.com/domestic/945/20251124/49000001_2.html",
        "https://news.china.com/socialgd/10000169/20220327/41785167_all.html#page_3",
        "http://news.china.com/zh_cn/social/1007/20151014/20561471_1.html",
        f"{LOCAL}/news/socialgd/10000169/20251124/49000001_all.html",
        f"{LOCAL}/tech/article/20251124/202511241848337_3.html",
    ],
)
def test_classify_url_of_a_later_page_is_the_request_url_of_its_first_page(url: str) -> None:
    link = classify(url)
    assert link is not None
    first = url.split("#")[0].replace("_all.html", ".html")
    first = first.rsplit("_", 1)[0] + ".html" if first.rsplit("_", 1)[-1][:-5].isdigit() else first
    assert link.url == request_url(first)  # on the link's own scheme and host
    assert link.ref == article_ref(article_page_url(url, "1"))


@pytest.mark.parametrize(
    "url",
    [
        "https://news.china.com/domestic/945/20220330/41811858.html",
        "https://rank.china.com/rank/cms/news/day/rank_all.js",
        "https://china.com/",
        "https://ad.china.com/",
        "https://www.huanqiu.com/",
        "https://news.china.com.evil.example/domestic/945/20220330/41811858.html",
        f"{LOCAL}/news/",
        "http://127.0.0.1:8001/news/",
        "http://localhost:8000/news/",
    ],
)
def test_link_in_scope_is_in_scope(url: str) -> None:
    link = classify(url)
    assert link is not None
    assert link.in_scope({"127.0.0.1:8000"}) is in_scope(url, {"127.0.0.1:8000"})
    assert link.in_scope() is in_scope(url)


def test_a_link_is_frozen_and_hashable() -> None:
    link = classify("https://news.china.com/domestic/945/20251124/49000001.html")
    assert isinstance(link, Link)
    with pytest.raises(FrozenInstanceError):
        link.url = "https://news.china.com/"  # type: ignore[misc]
    assert {link, classify(link.url)} == {link}
