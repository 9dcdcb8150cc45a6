"""The User-Agent: the product token and the operator's contact (``chinanews.identity``)."""

from __future__ import annotations

import logging

import pytest
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from chinanews import __version__
from chinanews.identity import PRODUCT, Identity, contact_problem
from chinanews.spiders.china_com import ChinaComSpider


def user_agent(settings: dict[str, str], priority: str = "project") -> str:
    """The User-Agent a crawl with the project's settings and ``settings`` sends."""
    crawler = get_crawler(ChinaComSpider, settings_dict=None)
    project = Settings()
    project.setmodule("chinanews.settings", priority="project")
    project.setdict(settings, priority=priority)
    Identity.from_crawler(crawler).update_settings(project)
    return str(project.get("USER_AGENT"))


def test_the_contact_goes_into_the_user_agent() -> None:
    agent = user_agent({"CHINANEWS_CONTACT": "https://data.example.com/crawler"})
    assert agent == (
        f"chinanews/{__version__} (news archive crawler; +https://data.example.com/crawler)"
    )
    assert "github.com/chinanews" not in agent


def test_without_a_contact_the_product_token_and_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="chinanews.identity"):
        agent = user_agent({})
    assert agent == PRODUCT
    warnings = [r for r in caplog.records if "CHINANEWS_CONTACT is not set" in r.getMessage()]
    assert len(warnings) == 1


def test_an_operators_own_user_agent_is_sent_as_it_is() -> None:
    assert user_agent({"USER_AGENT": "acme-news/2 (+ops@acme.example)"}, "cmdline") == (
        "acme-news/2 (+ops@acme.example)"
    )


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://data.example.com/crawler", True),
        ("http://127.0.0.1:8000/", True),
        ("ops@example.com", True),
        ("mailto:ops@example.com", True),
        ("call me", False),
        ("example.com", False),
        ("ftp://example.com/", False),
    ],
)
def test_what_a_contact_is(value: str, ok: bool) -> None:
    assert (contact_problem(value) is None) is ok
