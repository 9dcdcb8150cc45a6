"""Spider arguments: checked at start, with a message that says what to fix."""

from __future__ import annotations

from datetime import date

import pytest

from chinanews.lifecycle import default_run_id
from chinanews.spiders.china_com import DEFAULT_SEEDS, ArgumentError, ChinaComSpider, CrawlArgs


def test_defaults() -> None:
    args = CrawlArgs.parse({})
    assert args == CrawlArgs()
    assert ChinaComSpider().seeds == DEFAULT_SEEDS


def test_parses_every_argument() -> None:
    args = CrawlArgs.parse(
        {
            "start_urls": "http://127.0.0.1:8000/, http://127.0.0.1:8000/news/",
            "since": "2025-11-01",
            "channels": "military,Tech",
        }
    )
    assert args.start_urls == ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/news/")
    assert args.since == date(2025, 11, 1)
    assert args.channels == {"military", "tech"}


def test_start_urls_extend_the_scope() -> None:
    spider = ChinaComSpider(start_urls="http://127.0.0.1:8000/")
    assert spider.seeds == ("http://127.0.0.1:8000/",)
    assert spider.scope_netlocs == {"127.0.0.1:8000"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"since": "2025-13-01"}, "since: '2025-13-01' is not a date; use YYYY-MM-DD"),
        ({"since": "yesterday"}, "since: 'yesterday' is not a date"),
        (
            {"channels": "sports,tech"},
            "channels: unknown sports; choose from domestic,international,social,military,finance,tech",
        ),
        ({"start_urls": "news.china.com/"}, "start_urls: 'news.china.com/' is not an http(s) URL"),
        (
            {"start_urls": "ftp://news.china.com/"},
            "start_urls: 'ftp://news.china.com/' is not an http(s) URL",
        ),
    ],
)
def test_bad_arguments_say_what_to_fix(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ArgumentError) as info:
        CrawlArgs.parse(kwargs)
    assert message in str(info.value)


def test_run_id_is_the_scrapyd_job_when_there_is_one() -> None:
    assert default_run_id(ChinaComSpider(_job="6487ec79947edab326d6db28a2d86511")) == (
        "6487ec79947edab326d6db28a2d86511"
    )
    assert default_run_id(ChinaComSpider(_job="../../etc/x")) == "etc_x"  # path-safe
    assert default_run_id(ChinaComSpider()).endswith("Z")  # else the UTC start time
