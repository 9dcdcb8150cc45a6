"""``chinanews extract``: one page in, the article JSON out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
