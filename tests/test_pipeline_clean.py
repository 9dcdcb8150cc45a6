"""CleanPipeline: one normal form for every field, with the clock pinned."""

from __future__ import annotations

from typing import Any

import pytest

from chinanews.items import Article
from chinanews.pipelines.clean import CleanPipeline, clean_keywords, clean_url, normalise_body

CRAWLED_AT = "2025-11-24T14:30:00+00:00"  # 22:30 in Beijing
URL = "https://news.china.com/domestic/945/20251124/49000001.html"


def cleaned(**fields: Any) -> Article:
    article = Article(url=fields.pop("url", URL), crawled_at=CRAWLED_AT, **fields)
    out = CleanPipeline().process_item(article)
    assert isinstance(out, Article)
    return out


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("2025-11-24 22:19:13", "2025-11-24T22:19:13+08:00"),
        ("2025-11-24 22:19", "2025-11-24T22:19:00+08:00"),
        ("2025年11月24日 22:19", "2025-11-24T22:19:00+08:00"),
        ("2025/11/24", "2025-11-24T00:00:00+08:00"),
        ("11-24 22:19", "2025-11-24T22:19:00+08:00"),
        ("12-25 09:00", "2024-12-25T09:00:00+08:00"),  # never in the future
        ("刚刚", "2025-11-24T22:30:00+08:00"),
        ("25分钟前", "2025-11-24T22:05:00+08:00"),
        ("3小时前", "2025-11-24T19:30:00+08:00"),
        ("昨天 08:15", "2025-11-23T08:15:00+08:00"),
        ("前天", "2025-11-22T00:00:00+08:00"),
    ],
)
def test_every_date_form_becomes_iso_in_beijing_time(raw: str, iso: str) -> None:
    article = cleaned(published_at_raw=raw)
    assert article.published_at == iso
    assert article.published_at_raw == raw


def test_an_iso_date_is_kept_and_a_utc_one_converted() -> None:
    assert (
        cleaned(published_at="2025-11-24T22:19:13+08:00").published_at
        == "2025-11-24T22:19:13+08:00"
    )
    assert cleaned(published_at="2025-11-24T14:19:13Z").published_at == "2025-11-24T22:19:13+08:00"


def test_unreadable_date_is_none_and_raw_kept() -> None:
    article = cleaned(published_at_raw="参与评论")
    assert article.published_at is None
    assert article.published_at_raw == "参与评论"


@pytest.mark.parametrize(
    ("title", "clean"),
    [
        ("美乌首轮会谈结束_新闻频道_中华网", "美乌首轮会谈结束"),
        ("AGI实现引争议_科技频道_中华网", "AGI实现引争议"),
        ("AGI实现引争议_中华网", "AGI实现引争议"),
        ("\u3000美乌首轮会谈\u200b结束\xa0 ", "美乌首轮会谈结束"),
    ],
)
def test_titles(title: str, clean: str) -> None:
    assert cleaned(title=title).title == clean


def test_prefixes_and_editor() -> None:
    article = cleaned(source="来源：环球网", author="作者：张三", editor="(责任编辑：0764)")
    assert (article.source, article.author, article.editor) == ("环球网", "张三", "0764")
    assert cleaned(source="来源: 环球网").source == "环球网"
    assert cleaned(editor="（责任编辑:王五）").editor == "王五"


def test_body_whitespace_and_blank_lines() -> None:
    body = "\u3000\u3000第一段\xa0内容\u200b\n\n\n  \n第二段　内容 \r\n\u3000\n第三段"
    assert normalise_body(body) == "第一段 内容\n第二段 内容\n第三段"
    assert cleaned(body=body).body == "第一段 内容\n第二段 内容\n第三段"


@pytest.mark.parametrize(
    ("value", "keywords"),
    [
        (
            "美乌会谈,日内瓦，乌克兰、和平计划;美乌会谈",
            ["美乌会谈", "日内瓦", "乌克兰", "和平计划"],
        ),
        (["美乌会谈 日内瓦", "日内瓦", "乌克兰｜和平"], ["美乌会谈", "日内瓦", "乌克兰｜和平"]),
        ("", []),
        (None, []),
    ],
)
def test_keywords(value: Any, keywords: list[str]) -> None:
    assert clean_keywords(value) == keywords


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("http://news.china.com/domestic/945/20251124/49000001_all.html#page_2", URL),
        (f"{URL}?utm_source=weibo&utm_medium=social", URL),
        ("https://news.china.com/domestic/945/20251124/49000001_3.html", URL),
        (
            "https://www.huanqiu.com/a/1.html?utm_source=x&id=5#top",
            "https://www.huanqiu.com/a/1.html?id=5",
        ),
        ("https://www.huanqiu.com/a/", "https://www.huanqiu.com/a/"),
    ],
)
def test_urls(url: str, clean: str) -> None:
    assert clean_url(url) == clean


def test_item_urls_images_and_related() -> None:
    article = cleaned(
        url="http://news.china.com/domestic/945/20251124/49000001_1.html?utm_campaign=x",
        source_url="https://www.huanqiu.com/a/1.html?spm=abc",
        images=[
            {"url": "https://img1.utuku.china.com/a.jpg?utm_source=x", "caption": "\u3000图说 "}
        ],
        related=[
            {
                "url": "http://news.china.com/domestic/945/20251123/48999999_all.html",
                "title": " 旧闻 ",
                "published_at": "2025-11-23 10:00",
            },
            {
                "url": "https://news.china.com/domestic/945/20251123/48999999.html",
                "title": "旧闻",
                "published_at": None,
            },
        ],
    )
    assert article.url == URL
    assert article.source_url == "https://www.huanqiu.com/a/1.html"
    assert article.images == [{"url": "https://img1.utuku.china.com/a.jpg", "caption": "图说"}]
    assert article.related == [
        {
            "url": "https://news.china.com/domestic/945/20251123/48999999.html",
            "title": "旧闻",
            "published_at": "2025-11-23T10:00:00+08:00",
        }
    ]


def test_cleaning_is_idempotent() -> None:
    first = cleaned(
        title="标题_中华网", body="\u3000段落\n\n段落二", published_at_raw="3小时前", keywords="a,b"
    )
    again = CleanPipeline().process_item(Article(**vars(first)))
    assert vars(again) == vars(first)


def test_crawled_at_is_set_when_missing() -> None:
    article = CleanPipeline().process_item(Article(url=URL))
    assert article.crawled_at is not None
    assert article.crawled_at.endswith("+00:00")
