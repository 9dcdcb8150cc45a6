"""``chinanews extract``: one page in, the article JSON out."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chinanews.cli import main, provenance_lines
from chinanews.items import ARTICLE_FIELDS
from chinanews.localsite import LocalSite, serve

PAGES = Path(__file__).parent / "pages"
CLI = [sys.executable, "-m", "chinanews.cli"]
SEED_URL = "https://news.china.com/international/1000/20251124/49000001.html"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)


def test_extract_a_saved_page() -> None:
    proc = run("extract", str(PAGES / "c_seed.html"), "--url", SEED_URL)
    assert proc.returncode == 0, proc.stderr
    article = json.loads(proc.stdout)
    assert article["title"] == "美乌首轮会谈结束 多国相继发声 进展与挑战并存"
    assert article["published_at"] == "2025-11-24T22:19:13+08:00"
    assert article["editor"] == "0764"
    assert article["article_id"] == "49000001"
    assert "body_html" not in article
    assert "美乌" in proc.stdout  # readable Chinese, not \\u escapes


def test_extract_a_url_with_links_and_html() -> None:
    site = LocalSite(size=20, seed=3)
    with serve(site) as base:
        url = next(iter(site.expected(base)))
        proc = run("extract", url, "--links", "--with-html")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["url"] == url
    assert out["title"] == site.expected(base)[url]["title"]
    assert out["body_html"].startswith("<")
    assert set(out["_links"]) >= {"related", "recommended", "next_page", "all_page"}


def test_a_page_that_is_not_an_article_exits_1_with_the_reason() -> None:
    proc = run("extract", str(PAGES / "broken_empty.html"), "--url", SEED_URL)
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["article"] is None
    assert out["reason"] in {"no_title", "no_body", "not_article"}


def test_a_missing_file_exits_2() -> None:
    proc = run("extract", str(PAGES / "no-such-page.html"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot read")


RULE = re.compile(r"^[A-Za-z]+:\S")


def test_the_json_carries_the_provenance() -> None:
    proc = run("extract", str(PAGES / "c_seed.html"), "--url", SEED_URL)
    assert proc.returncode == 0, proc.stderr
    provenance = json.loads(proc.stdout)["provenance"]
    assert isinstance(provenance, dict)
    assert all(name in ARTICLE_FIELDS and RULE.match(rule) for name, rule in provenance.items())


def test_provenance_prints_one_field_a_line_in_the_item_order(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import chinanews.extract

    real = chinanews.extract.extract_article

    def extract(url: str, body: bytes, encoding: str | None = None) -> Any:
        result = real(url, body, encoding=encoding)
        assert result.article is not None
        result.article.provenance = {
            "published_at": "generic:url-date",
            "body": "generic:densest-block",
            "title": "C:h1.article_title",
        }
        return result

    monkeypatch.setattr(chinanews.extract, "extract_article", extract)
    page = str(PAGES / "c_seed.html")
    assert main(["extract", page, "--url", SEED_URL, "--provenance"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "title         C:h1.article_title",
        "published_at  generic:url-date",
        "body          generic:densest-block",
    ]
    assert main(["extract", page, "--url", SEED_URL]) == 0
    assert json.loads(capsys.readouterr().out)["provenance"] == {
        "published_at": "generic:url-date",
        "body": "generic:densest-block",
        "title": "C:h1.article_title",
    }


def test_provenance_says_so_when_none_was_recorded_and_not_an_article_is_json() -> None:
    assert provenance_lines({}) == "(no provenance recorded)\n"
    proc = run("extract", str(PAGES / "broken_empty.html"), "--url", SEED_URL, "--provenance")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["article"] is None
