"""Every article page the local site generator serves, extracted and compared field by field
with what the generator says the page shows (``LocalSite.expected``).

Page 1 of a multi-page article shows only part of the body (and the editor note is on the
last page), so those fields are compared on the ``_all`` page, or skipped for the variant
without one; ``_N`` pages are only checked to extract at all.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import pytest

from chinanews import localsite
from chinanews.extract import extract_article
from chinanews.extract.html import declared_charset
from chinanews.urls import article_ref, canonical_url
from tests.conftest import COMPARED_FIELDS as FIELDS

BASE = "http://127.0.0.1:8000"
WHOLE_ARTICLE_FIELDS = ("body", "images", "editor", "related")
#: Reasons the spider gives from the URL or the crawl, not from the page's markup.
SPIDER_REASONS = {"mobile_mirror", "robots", "http_404", "http_500", "offsite_redirect"}


@cache
def _crawl(size: int = 300, seed: int = 1) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    site = localsite.LocalSite(size=size, seed=seed, outside_base="http://outside.test/")
    results = {}
    for url in site.article_urls(BASE):
        response = site.render(urlsplit(url).path, BASE)
        charset = declared_charset(dict(response.headers).get("Content-Type"))
        results[url] = extract_article(url, response.body, encoding=charset)
    return results, site.expected(BASE), site.non_articles(BASE)


@pytest.mark.parametrize("field", FIELDS)
def test_field_matches_generator(field: str) -> None:
    results, expected, non_articles = _crawl()
    wrong = []
    for url, result in results.items():
        want = expected.get(canonical_url(url))
        ref = article_ref(url)
        if want is None or url in non_articles or ref is None or ref.page not in (None, "all"):
            continue
        if want["pages"] > 1 and ref.page is None and field in WHOLE_ARTICLE_FIELDS:
            continue
        got = dataclasses.asdict(result.article)[field] if result.article else result.reason
        if got != want[field]:
            wrong.append((url, got, want[field]))
    assert not wrong, f"{len(wrong)} pages differ, e.g. {wrong[:3]}"


def test_every_expected_article_is_extracted() -> None:
    results, expected, _ = _crawl()
    found = {canonical_url(u) for u, r in results.items() if r.article is not None}
    assert set(expected) <= found


def test_non_articles_have_the_generators_reason() -> None:
    results, _, non_articles = _crawl()
    wrong = {
        url: (results[url].reason, reason)
        for url, reason in non_articles.items()
        if url in results and reason not in SPIDER_REASONS and results[url].reason != reason
    }
    assert not wrong


def test_other_pages_of_an_article_extract() -> None:
    results, expected, _ = _crawl()
    for url, result in results.items():
        ref = article_ref(url)
        if ref is not None and ref.page not in (None, "all") and canonical_url(url) in expected:
            assert result.article is not None, url
            assert result.article.url == canonical_url(url)
