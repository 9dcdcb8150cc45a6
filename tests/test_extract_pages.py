"""Hand-written pages (tests/pages/*.html) against the values written beside them (*.json).

Each ``.json`` names the page's URL, its kind (article, list or feed), the HTTP charset if any,
the fetch time if the page needs one (``fetched_at``, for relative times), and the expected
values; every expected field is its own test, and so are the extraction's ``notes``.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from chinanews.extract import extract_article, extract_list, parse_feed

PAGES = Path(__file__).parent / "pages"
SPECS = sorted(PAGES.glob("*.json"))


def _spec(name: str) -> dict[str, Any]:
    return json.loads((PAGES / f"{name}.json").read_text("utf-8"))


def _body(name: str, spec: dict[str, Any]) -> bytes:
    return (PAGES / spec.get("file", f"{name}.html")).read_bytes()


@cache
def _result(name: str) -> Any:
    spec = _spec(name)
    body = _body(name, spec)
    kind = spec.get("kind", "article")
    if kind == "article":
        fetched = spec.get("fetched_at")
        return extract_article(
            spec["url"],
            body,
            encoding=spec.get("encoding"),
            fetched_at=datetime.fromisoformat(fetched) if fetched else None,
        )
    if kind == "list":
        return extract_list(spec["url"], body, encoding=spec.get("encoding"))
    return parse_feed(spec["url"], body)


def _cases(section: str) -> list[Any]:
    out = []
    for path in SPECS:
        spec = json.loads(path.read_text("utf-8"))
        for key in spec.get(section) or {}:
            out.append(pytest.param(path.stem, key, id=f"{path.stem}-{key}"))
    return out


ARTICLE_SPECS = [
    p.stem for p in SPECS if json.loads(p.read_text("utf-8")).get("kind", "article") == "article"
]


@pytest.mark.parametrize("name", ARTICLE_SPECS)
def test_reason(name: str) -> None:
    result = _result(name)
    assert result.reason == _spec(name).get("reason")
    assert (result.article is None) == (result.reason is not None)


@pytest.mark.parametrize(("name", "field"), _cases("article"))
def test_article_field(name: str, field: str) -> None:
    article = _result(name).article
    assert article is not None
    assert getattr(article, field) == _spec(name)["article"][field]


@pytest.mark.parametrize(
    "name", [p.stem for p in SPECS if "notes" in json.loads(p.read_text("utf-8"))]
)
def test_notes(name: str) -> None:
    assert list(_result(name).notes) == _spec(name)["notes"]


@pytest.mark.parametrize(("name", "key"), _cases("links"))
def test_links(name: str, key: str) -> None:
    links = _result(name).links
    want = _spec(name)["links"][key]
    if key == "other_includes":
        assert set(want) <= set(links.other)
    elif key == "other_excludes":
        assert not set(want) & set(links.other)
    elif key == "recommended_count":
        assert len(links.recommended) == want
    else:
        assert getattr(links, key) == want


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        pytest.param(p.stem, n, id=f"{p.stem}-{n}")
        for p in SPECS
        for n in json.loads(p.read_text("utf-8")).get("body_html_excludes", [])
    ],
)
def test_body_html_is_clean(name: str, needle: str) -> None:
    article = _result(name).article
    assert article is not None and article.body_html
    assert needle not in article.body_html


@pytest.mark.parametrize(("name", "key"), _cases("list"))
def test_list(name: str, key: str) -> None:
    page = _result(name)
    want = _spec(name)["list"][key]
    if key == "entries":
        assert [dataclasses.asdict(e) for e in page.entries] == want
    elif key == "entry_urls":
        assert [e.url for e in page.entries] == want
    elif key == "links_include":
        assert set(want) <= set(page.links)
    elif key == "links_exclude":
        assert not set(want) & set(page.links)
    else:
        assert getattr(page, key) == want
