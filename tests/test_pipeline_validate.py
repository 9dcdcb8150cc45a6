"""ValidatePipeline: the published schema, rejects with their reasons, nothing lost."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from scrapy import Spider
from scrapy.utils.test import get_crawler

from chinanews.items import Article
from chinanews.pipelines.validate import Rejected, ValidatePipeline, article_schema
from tests.conftest import RUN_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
GOOD = Article(
    url="https://news.china.com/domestic/945/20251124/49000001.html",
    article_id="49000001",
    channel="domestic",
    column_id="945",
    title="美乌首轮会谈结束 多国相继发声",
    published_at="2025-11-24T22:19:13+08:00",
    published_at_raw="2025-11-24 22:19:13",
    source="环球网",
    editor="0764",
    keywords=["乌克兰"],
    body="第一段\n第二段",
    images=[{"url": "https://img1.utuku.china.com/a.jpg", "caption": None}],
    related=[
        {
            "url": "https://news.china.com/domestic/945/20251123/48999999.html",
            "title": "旧闻",
            "published_at": None,
        }
    ],
    template="C",
    provenance={"title": "C:h1.article_title", "published_at": "generic:url-date"},
    crawled_at="2025-11-24T14:30:00+00:00",
    language="zh",
)


@pytest.fixture
def pipeline(tmp_path: Path) -> ValidatePipeline:
    crawler = get_crawler(
        Spider, {"FEEDS": {str(tmp_path / "out.jsonl"): {"format": "jsonlines"}}, **RUN_SETTINGS}
    )
    crawler.spider = Spider(name="t")
    crawler.stats.open_spider()
    pipe = ValidatePipeline.from_crawler(crawler)
    pipe.open_spider()
    return pipe


def test_the_docs_publish_the_schema_used_at_run_time() -> None:
    published = json.loads((ROOT / "docs" / "article.schema.json").read_text(encoding="utf-8"))
    assert published == article_schema()


def test_a_valid_article_passes(pipeline: ValidatePipeline) -> None:
    assert pipeline.process_item(GOOD) is GOOD


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"title": None}, "missing_title"),
        ({"title": ""}, "missing_title"),
        ({"body": ""}, "missing_body"),
        ({"published_at": None}, "missing_published_at"),
        ({"published_at": "2025-11-24 22:19"}, "invalid_published_at"),
        ({"url": "news.china.com/x.html"}, "invalid_url"),
        ({"url": "https://news.china.com/x.html?utm_source=a"}, "invalid_url"),
        ({"article_id": None}, "missing_article_id"),
        ({"template": "Z"}, "invalid_template"),
        ({"images": [{"url": "/relative.jpg", "caption": None}]}, "invalid_images"),
        ({"keywords": [""]}, "invalid_keywords"),
        ({"provenance": {"title": 1}}, "invalid_provenance"),
        ({"provenance": {"title": ""}}, "invalid_provenance"),
        ({"provenance": {"title": "h1"}}, "invalid_provenance"),
        ({"provenance": {"Title field": "C:h1"}}, "invalid_provenance"),
        ({"provenance": ["title"]}, "invalid_provenance"),
    ],
)
def test_invalid_articles_are_dropped_with_their_reason(
    pipeline: ValidatePipeline, tmp_path: Path, change: dict[str, object], reason: str
) -> None:
    bad = replace(GOOD, **change)
    with pytest.raises(Rejected):
        pipeline.process_item(bad)
    pipeline.close_spider()
    assert pipeline.crawler.stats.get_value(f"chinanews/dropped/{reason}") == 1
    (line,) = (tmp_path / "out.rejects.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["reason"] == reason
    assert record["errors"]
    assert record["item"]["url"] == bad.url  # the whole item is kept


def test_no_rejects_file_when_nothing_is_rejected(
    pipeline: ValidatePipeline, tmp_path: Path
) -> None:
    pipeline.process_item(GOOD)
    pipeline.close_spider()
    assert not (tmp_path / "out.rejects.jsonl").exists()


@pytest.mark.parametrize("provenance", [{}, {"body": "generic:densest-block"}])
def test_provenance_is_optional(pipeline: ValidatePipeline, provenance: dict[str, str]) -> None:
    item = replace(GOOD, provenance=provenance)
    assert pipeline.process_item(item) is item
    record = {k: v for k, v in GOOD.__dict__.items() if k != "provenance"}
    assert pipeline.process_item(record) is record  # an item from before the field
