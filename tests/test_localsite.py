"""Tests of the local china.com: determinism, serving, and that the truth matches the pages.

The truth is checked against the HTML with a tiny independent extractor written from the body
conventions in ``docs/site-notes.md``, and reachability with a tiny link-following crawler.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections import deque
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urljoin, urlsplit

import pytest
from parsel import Selector
from protego import Protego

from chinanews.localsite import LocalSite, serve, serve_outside
from chinanews.urls import LinkKind, article_ref, canonical_url, channel_of, link_kind

BASE = "http://127.0.0.1:8000"
WS = " \t\r\n\u3000\xa0\u200b\u200c\u200d\u2060\ufeff"


@pytest.fixture(scope="module")
def site() -> LocalSite:
    return LocalSite(size=120, seed=3)


# ------------------------------------------------------------------------ helpers
def norm(s: str) -> str:
    return re.sub(r"\s+", " ", s.strip(WS)).strip(WS)


def page_text(site: LocalSite, url: str) -> tuple[int, str, dict[str, str]]:
    r = site.render(
        urlsplit(url).path + ("?" + urlsplit(url).query if urlsplit(url).query else ""), BASE
    )
    return r.status, r.body.decode(r.charset or "utf-8"), dict(r.headers)


CONTAINERS = {
    "A": "#chan_newsDetail",
    "tech": "#chan_newsDetail",
    "B": "#chan_newsDetail",
    "C": "#js_article_content",
    "D": "#js-main .arti-detail, #js-arti-detail",
    "generic": ".ent-article-bd",
}


def mini_extract(html: str, template: str) -> dict:
    sel = Selector(text=html)
    box = sel.css(CONTAINERS[template])
    lines, images = [], []
    for p in box.css("p"):
        t = norm("".join(p.css("::text").getall()))
        if not t or "责任编辑" in t or t.startswith(("免责声明", "投诉热线")):
            continue
        lines.append(t)
    for img in box.xpath(".//img[not(ancestor::*[contains(@class,'artiLogo')])]"):
        src = img.attrib["src"]
        images.append(
            {
                "url": "http:" + src if src.startswith("//") else src,
                "caption": img.attrib.get("alt"),
            }
        )
    text = sel.xpath("string(//body)").get()
    ed = re.search(r"责任编辑[:：]\s*([^)）\s]+)", text)
    title = (
        sel.css(
            "h1#chan_newsTitle::text, h1.article_title::text, h1.article-main-title::text, "
            "h1.arti-title::text, h1#arti-title::text"
        ).get()
        or sel.xpath("//meta[@property='og:title' or @name='og:title']/@content").get()
    )
    return {
        "body": "\n".join(lines),
        "images": images,
        "editor": ed.group(1) if ed else None,
        "title": title,
    }


def article_html(site: LocalSite, item: dict) -> list[str]:
    url = item["url"]
    if item["pages"] == 1:
        return [page_text(site, url)[1]]
    status, html, _ = page_text(site, url.replace(".html", "_all.html"))
    if status == 200:
        return [html]
    # no 全文 page: walk 下一页 and glue the bodies
    parts, nxt = [], url
    while nxt:
        status, html, _ = page_text(site, nxt)
        assert status == 200
        parts.append(html)
        href = (
            Selector(text=html)
            .xpath("//div[@id='chan_multipageNumN']/a[text()='下一页']/@href")
            .get()
        )
        nxt = urljoin(nxt, href) if href else None
    assert len(parts) == item["pages"]
    return parts


def mini_crawl(site: LocalSite) -> tuple[dict[str, int], set[str]]:
    """Follow links from / as a polite crawler would: robots.txt, same host, article / list /
    feed kinds only, no redirects. Returns {request url: status} and the served article pages
    that had a body container."""
    robots = Protego.parse(page_text(site, BASE + "/robots.txt")[1])
    seen: dict[str, int] = {}
    with_body: set[str] = set()
    queue = deque([BASE + "/"])
    while queue:
        url = queue.popleft()
        if url in seen or not robots.can_fetch(url, "*"):
            continue
        status, text, headers = page_text(site, url)
        seen[url] = status
        if status != 200:
            continue
        links: list[str] = []
        if "json" in headers["Content-Type"]:
            data = json.loads(text)
            rows = data.get("content", data.get("data", []))
            links += [r["url"] for r in rows]
            if rows:
                q = urlsplit(url)
                if "/p/" in q.path:
                    n = int(q.path.rstrip("/").rsplit("/", 1)[1])
                    links.append(BASE + q.path.rsplit("/p/", 1)[0] + f"/p/{n + 1}")
                else:
                    n = int(re.search(r"page=(\d+)", q.query).group(1))
                    links.append(
                        BASE + q.path + "?" + q.query.replace(f"page={n}", f"page={n + 1}")
                    )
        elif text.startswith("var day_top="):
            links += [r["url"] for r in json.loads(text[len("var day_top=") :].rstrip(";"))["list"]]
        else:
            sel = Selector(text=text)
            links += sel.xpath("//a/@href | //script/@src").getall()
            links += re.findall(r"[\"'](/finance/index/getNewsInfo\?[^\"']+)[\"']", text)
            box = sel.css(
                "#chan_newsDetail, #js_article_content, .arti-detail, #js-arti-detail, "
                ".ent-article-bd, .nx-prose"
            )
            if box and norm(box.xpath("string()").get() or ""):
                with_body.add(url)
        for href in links:
            absu = urljoin(url, href).split("#")[0]
            if urlsplit(absu).netloc != urlsplit(BASE).netloc:
                continue
            if (
                link_kind(absu)
                in (LinkKind.ARTICLE, LinkKind.ARTICLE_PAGE, LinkKind.LIST, LinkKind.FEED)
                and absu not in seen
            ):
                queue.append(absu)
    return seen, with_body


# ------------------------------------------------------------------------ tests
def test_deterministic_from_seed() -> None:
    a, b, c = LocalSite(60, seed=5), LocalSite(60, seed=5), LocalSite(60, seed=6)
    urls = [
        "/",
        "/news/",
        "/news/domestic/",
        "/finance/index/getNewsInfo?page=1&column_id=11173294",
        "/rank/rank/cms/news/day/rank_all.js",
    ]
    for u in urls:
        assert a.render(u, BASE).body == b.render(u, BASE).body
    assert a.render("/", BASE).body != c.render("/", BASE).body
    pa, pb = list(a.pages(BASE)), list(b.pages(BASE))
    assert pa == pb
    assert a.expected(BASE) == b.expected(BASE)
    assert a.non_articles(BASE) == b.non_articles(BASE)


def test_expected_fields_and_channels(site: LocalSite) -> None:
    exp = site.expected(BASE)
    assert len(exp) > 60
    templates = {e["template"] for e in exp.values()}
    assert templates == {"A", "B", "C", "D", "tech", "generic"}
    for url, e in exp.items():
        assert url == canonical_url(url) == e["url"]
        assert e["channel"] == channel_of(url)
        ref = article_ref(url)
        assert (
            ref is not None
            and ref.article_id == e["article_id"]
            and ref.column_id == e["column_id"]
        )
        assert e["published_at"].endswith("+08:00")
        assert e["body"] and e["title"]
        assert "责任编辑" not in e["body"] and "关闭" not in e["body"].splitlines()
    dups = [e for e in exp.values() if e["duplicate_of"]]
    assert dups and all(d["duplicate_of"] in exp for d in dups)
    assert all(exp[d["duplicate_of"]]["story_id"] == d["story_id"] for d in dups)
    assert any(e["pages"] > 1 for e in exp.values())


def test_truth_matches_html(site: LocalSite) -> None:
    for e in site.expected(BASE).values():
        pages = article_html(site, e)
        html = "".join(pages)
        got = mini_extract(pages[0], e["template"])
        for more in pages[1:]:
            nxt = mini_extract(more, e["template"])
            got["body"] += "\n" + nxt["body"]
            got["images"] += nxt["images"]
            got["editor"] = got["editor"] or nxt["editor"]
        assert got["body"] == e["body"], e["url"]
        assert got["images"] == e["images"], e["url"]
        assert got["title"] == e["title"], e["url"]
        if e["template"] != "generic":
            assert got["editor"] == e["editor"], e["url"]
        assert e["published_at_raw"] in html
        if e["source"]:
            assert e["source"] in html


def test_crawl_reaches_exactly_the_truth(site: LocalSite) -> None:
    seen, with_body = mini_crawl(site)
    exp = site.expected(BASE)
    non = site.non_articles(BASE)
    reached = {canonical_url(u) for u in with_body} - {
        canonical_url(u) for u, r in non.items() if r in ("mobile_mirror", "not_article")
    }
    assert reached == set(exp)
    for url, reason in non.items():
        if reason == "robots":
            assert url not in seen
        elif reason == "http_404":
            assert seen[url] == 404
        elif reason == "http_500":
            assert seen[url] == 500
        elif reason == "offsite_redirect":
            assert seen[url] == 302
        else:
            assert seen[url] == 200
    # every article-shaped request is an expected article (or a page of one) or a known case
    for url in seen:
        if link_kind(url) in (LinkKind.ARTICLE, LinkKind.ARTICLE_PAGE):
            assert canonical_url(url) in exp or url in non, url


def test_related_only_articles_exist(site: LocalSite) -> None:
    m = site.model
    listed = (
        {i for v in m.lists.values() for i in v}
        | set(m.rank_items("news"))
        | set(m.rank_items("mili"))
    )
    exp = site.expected(BASE)
    only_related = [e for e in exp.values() if m.by_aid[e["article_id"]] not in listed]
    assert only_related
    related_targets = {r["url"] for e in exp.values() for r in e["related"]}
    hidden = [e for e in only_related if m.arts[m.by_aid[e["article_id"]]].feature == "hidden"]
    assert hidden and all(e["url"] in related_targets for e in hidden)


def test_lists_and_feeds_point_at_served_pages(site: LocalSite) -> None:
    seen, _ = mini_crawl(site)
    non = site.non_articles(BASE)
    for url, status in seen.items():
        if status != 200:
            assert url in non, url
    assert any("getNewsInfo" in u for u in seen) and any("/finance/tuijian/p/" in u for u in seen)
    assert any("rank_all.js" in u for u in seen) and any("index_2.html" in u for u in seen)


def test_robots_txt(site: LocalSite) -> None:
    status, text, _ = page_text(site, BASE + "/robots.txt")
    assert status == 200 and "Disallow: /news/private/" in text
    robots = Protego.parse(text)
    private = [u for u, r in site.non_articles(BASE).items() if r == "robots"]
    assert private and not any(robots.can_fetch(u, "*") for u in private)
    assert "/news/private/" in page_text(site, BASE + "/")[1]


def test_server_serves_expected_with_charset_and_records_requests() -> None:
    site = LocalSite(size=50, seed=1)
    with serve_outside() as outside:
        site = LocalSite(size=50, seed=1, outside_base=outside + "/")
        with serve(site) as base:
            exp = site.expected(base)
            gbk = {
                m.path_of(a.idx): a.feature
                for m in [site.model]
                for a in m.arts
                if a.feature.startswith("gbk")
            }
            t0 = time.monotonic()
            for url in exp:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    assert resp.status == 200
                    ctype = resp.headers["Content-Type"]
                    body = resp.read()
                    path = urlsplit(url).path
                    if gbk.get(path) == "gbk_header":
                        assert ctype == "text/html; charset=GBK" and b'<meta charset="gbk">' in body
                        body.decode("gbk")
                    elif gbk.get(path) == "gbk_meta":
                        assert ctype == "text/html" and b'<meta charset="gb2312">' in body
                        body.decode("gbk")
                    else:
                        assert ctype == "text/html; charset=utf-8"
                        body.decode("utf-8")
            assert time.monotonic() - t0 >= site.slow_delay  # the slow page is expected
            assert len(base.requests) == len(exp)
            assert set(base.requests) == {urlsplit(u).path for u in exp}
            redirect = next(
                u for u, r in site.non_articles(base).items() if r == "offsite_redirect"
            )

            class NoRedirect(urllib.request.HTTPRedirectHandler):
                def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
                    return None

            with pytest.raises(HTTPError) as err:
                urllib.request.build_opener(NoRedirect).open(redirect, timeout=5)
            assert err.value.code == 302 and err.value.headers["Location"].startswith(outside)
            with pytest.raises(HTTPError) as err:
                urllib.request.urlopen(
                    next(u for u, r in site.non_articles(base).items() if r == "http_500")
                )
            assert err.value.code == 500
        assert outside.requests == []


def test_multi_page_articles(site: LocalSite) -> None:
    m = site.model
    multi = [a for a in m.arts if a.feature in ("multi", "multi_noall")]
    assert {a.feature for a in multi} == {"multi", "multi_noall"}
    for a in multi:
        n = m.pages_of(a.idx)
        assert 2 <= n <= 4
        for k in range(2, n + 1):
            assert site.render(m.path_of(a.idx, str(k)), BASE).status == 200
        assert site.render(m.path_of(a.idx, str(n + 1)), BASE).status == 404
        status_all = site.render(m.path_of(a.idx, "all"), BASE).status
        first = site.render(m.path_of(a.idx), BASE).body.decode()
        if a.feature == "multi":
            assert status_all == 200 and "全文" in first and "下一页" in first
        else:
            assert status_all == 404 and ">全文<" not in first and "下一页" in first


def test_advance_adds_and_edits() -> None:
    site = LocalSite(size=80, seed=2)
    before = site.expected(BASE)
    head_before = site.model.lists["domestic"][:1]
    site.advance(new=12, edit=4)
    after = site.expected(BASE)
    assert len(site) == 80 + 12
    new = set(after) - set(before)
    assert len(new) >= 10
    changed = [u for u in before if u in after and after[u]["body"] != before[u]["body"]]
    assert 1 <= len(changed) <= 4
    assert site.model.lists["domestic"][:1] != head_before or not head_before
    again = LocalSite(size=80, seed=2)
    again.advance(new=12, edit=4)
    assert again.expected(BASE) == after


def test_large_model_builds_and_renders() -> None:
    t0 = time.monotonic()
    site = LocalSite(size=100_000, seed=1)
    built = time.monotonic() - t0
    assert len(site) == 100_000
    r = site.render("/", BASE)
    assert r.status == 200
    path = site.model.path_of(50_000)
    assert site.render(path, BASE).status in (200, 302, 500)
    assert site.render("/news/domestic/index_100.html", BASE).status == 200
    print(f"100k model built in {built:.2f}s")


# ------------------------------------------------------------------------ redesign variant
EXTRACT = Path(__file__).resolve().parent.parent / "chinanews" / "extract"


def known_tokens() -> set[str]:
    """Every string literal in the templates and the list extractor that could be a class or
    an id: what a redesigned page must not use."""
    files = [*(EXTRACT / "templates").glob("*.py"), EXTRACT / "lists.py"]
    found: set[str] = set()
    for f in files:
        for lit in re.findall(r"[\"']([A-Za-z_][-\w ]*)[\"']", f.read_text(encoding="utf-8")):
            found.update(lit.split())
    return found


def markup_tokens(html: str) -> set[str]:
    sel = Selector(text=html)
    out: set[str] = set()
    for value in sel.xpath("//@class | //@id").getall():
        out.update(value.split())
    return out


@pytest.fixture(scope="module")
def redesigned() -> LocalSite:
    return LocalSite(size=120, seed=3, redesign=1.0)


def test_redesign_off_by_default_and_leaves_other_pages_alone(site: LocalSite) -> None:
    assert site.redesign_pages(BASE) == {}
    half = LocalSite(size=120, seed=3, redesign=0.5)
    pages = half.redesign_pages(BASE)
    assert 0 < len(pages) < len(half.expected(BASE))
    plain = dict(site.pages(BASE))
    changed = [u for u, html in half.pages(BASE) if html != plain[u]]
    # the redesigned pages, and the mobile mirrors of some (an image added to the body)
    assert sorted(canonical_url(u) for u in changed if "/3g/" not in u) == sorted(pages)
    ids = {u.rsplit("/", 1)[1] for u in pages}
    assert all(u.rsplit("/", 1)[1] in ids for u in changed if "/3g/" in u)
    # same stories, same reachability, same bodies and titles everywhere
    exp, exp_half = site.expected(BASE), half.expected(BASE)
    assert set(exp) == set(exp_half)
    for url, e in exp.items():
        if url not in pages:
            assert exp_half[url] == e
    with pytest.raises(ValueError):
        LocalSite(size=50, redesign=1.5)


def test_redesign_markup_is_unknown_to_every_template(redesigned: LocalSite) -> None:
    known = known_tokens()
    assert {"article_title", "chan_newsTitle", "item_list", "time", "tit"} <= known
    pages = redesigned.redesign_pages(BASE)
    assert len(pages) >= 0.8 * len(redesigned.expected(BASE))
    for url in pages:
        _, html, _ = page_text(redesigned, url)
        assert markup_tokens(html) & known == set(), url
        assert all(t.startswith("nx-") for t in markup_tokens(html)), url
    for key in ("domestic", "military", "tech", "ent", "tuijian"):
        from chinanews.localsite.model import LISTS

        status, html, _ = page_text(redesigned, BASE + LISTS[key][0])
        assert status == 200
        assert markup_tokens(html) & known == set(), key


def redesign_extract(html: str) -> dict:
    """What a redesigned page shows, read with its own selectors."""
    sel = Selector(text=html)
    box = sel.css(".nx-prose")
    lines = [t for t in (norm("".join(p.css("::text").getall())) for p in box.css("p")) if t]
    return {
        "title": norm(sel.css(".nx-headline::text").get() or ""),
        "body": "\n".join(lines),
        "visible": sel.css(".nx-when").xpath("string()").get(),
        "time_attr": sel.css("time::attr(datetime)").get(),
        "metas": {
            (m.attrib.get("property") or m.attrib.get("name")): m.attrib["content"]
            for m in sel.css("meta[content]")
        },
        "jsonld": json.loads(sel.css("script[type='application/ld+json']::text").get() or "{}"),
        "other_dates": sel.css(".nx-more small::text, .nx-rail small::text").getall(),
        "images": box.css("img::attr(src)").getall(),
        "ad_in_body": bool(box.css(".nx-inline-promo")),
        "editor": sel.css(".nx-duty::text").re_first(r"责任编辑：(\S+)"),
    }


def test_redesign_truth_matches_html(redesigned: LocalSite) -> None:
    from chinanews.dates import to_iso

    exp = redesigned.expected(BASE)
    pages = redesigned.redesign_pages(BASE)
    for url, how in pages.items():
        e = exp.get(url)
        if e is None:  # not reachable from /
            continue
        got = redesign_extract(page_text(redesigned, url)[1])
        assert got["title"] == e["title"], url
        assert got["body"] == e["body"], url
        assert got["editor"] == e["editor"], url
        assert e["published_at"] == how["published_at"] == to_iso(e["published_at_raw"])
        assert e["template"] == "generic"
        claims = []
        if "text" in how["places"] or "time" in how["places"]:
            visible = got["visible"]
            assert visible and visible.startswith(how["label"]), url
            claims.append(to_iso(visible[len(how["label"]) :]))
        else:
            assert got["visible"] is None, url
        if "time" in how["places"]:
            claims.append(to_iso(got["time_attr"]))
        else:
            assert got["time_attr"] is None
        if "meta" in how["places"]:
            claims.append(to_iso(got["metas"][how["meta"]]))
            assert to_iso(got["metas"]["article:modified_time"]) > e["published_at"]
        if "jsonld" in how["places"]:
            claims.append(to_iso(got["jsonld"]["datePublished"]))
            assert to_iso(got["jsonld"]["dateModified"]) > e["published_at"]
        else:
            assert "datePublished" not in got["jsonld"]
        # every place claims the same instant; the most precise one is the truth
        assert claims and max(claims) == e["published_at"], (url, claims)
        assert all(c[:16] == e["published_at"][:16] for c in claims), (url, claims)
        # the dates of the related list and the sidebar are never the page's own
        assert got["other_dates"], url
        for d in got["other_dates"]:
            assert to_iso(d)[:16] != e["published_at"][:16], (url, d)
        if not how["short"]:
            assert got["images"] and got["ad_in_body"], url


def test_redesign_covers_every_time_form_and_place(redesigned: LocalSite) -> None:
    from chinanews.localsite.redesign import FORMS, LABELS, META_TAGS, PLACES

    pages = list(redesigned.redesign_pages(BASE).values())
    assert {tuple(p["places"]) for p in pages} == set(PLACES)
    assert {p["form"] for p in pages} - {None} == set(FORMS)
    assert {p["label"] for p in pages} - {None} == set(LABELS)
    assert {p["meta"] for p in pages} - {None} == {name for _, name in META_TAGS}
    assert {p["title_tag"] for p in pages} == {"h1", "div"}
    assert any(p["short"] for p in pages)
    # some pages state the time in one place only, and of those some only in machine form
    assert any(p["places"] == ["meta"] for p in pages)
    assert any(p["places"] == ["jsonld"] for p in pages)
    # seconds are the truth only when the page shows them somewhere
    minute_only = [p for p in pages if p["places"] == ["text"] and p["form"].endswith("min")]
    assert minute_only and all(p["published_at"][17:19] == "00" for p in minute_only)


def test_redesign_short_items_are_short(redesigned: LocalSite) -> None:
    exp = redesigned.expected(BASE)
    short = [u for u, p in redesigned.redesign_pages(BASE).items() if p["short"] and u in exp]
    assert short
    for url in short:
        body = exp[url]["body"]
        assert "\n" not in body and 2 <= body.count("。") <= 3 and len(body) < 250, body


def test_redesign_crawl_reaches_exactly_the_truth(redesigned: LocalSite) -> None:
    seen, with_body = mini_crawl(redesigned)
    exp = redesigned.expected(BASE)
    non = redesigned.non_articles(BASE)
    reached = {canonical_url(u) for u in with_body} - {
        canonical_url(u) for u, r in non.items() if r in ("mobile_mirror", "not_article")
    }
    assert reached == set(exp)
    assert any("index_2.html" in u for u in seen)


def test_redesign_is_deterministic_and_served() -> None:
    a, b = LocalSite(60, seed=5, redesign=1.0), LocalSite(60, seed=5, redesign=1.0)
    assert list(a.pages(BASE)) == list(b.pages(BASE))
    assert a.expected(BASE) == b.expected(BASE)
    assert a.redesign_pages(BASE) == b.redesign_pages(BASE)
    with serve(a) as base:
        url = next(iter(a.redesign_pages(base)))
        with urllib.request.urlopen(url) as r:
            assert b'class="nx-prose"' in r.read()


def test_cli_expected_with_redesign(capsys: pytest.CaptureFixture[str]) -> None:
    from chinanews.localsite.__main__ import main

    assert main(["expected", "--size", "40", "--seed", "2", "--redesign", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    truth = LocalSite(40, seed=2, outside_base="http://localhost:9/", redesign=1.0)
    assert rows == list(truth.expected("http://127.0.0.1:8000").values())
    with pytest.raises(SystemExit):
        main(["expected", "--redesign", "2"])


def test_peak_in_flight_counts_overlaps_longer_than_the_grace() -> None:
    from chinanews.localsite.server import BaseURL

    base = BaseURL("http://127.0.0.1:1")
    base.timings = [(0.0, 1.0), (0.995, 2.0), (0.998, 1.5)]
    assert base.peak_in_flight() == 3
    assert base.peak_in_flight(grace=0.010) == 2  # the first answer's 5 ms overlap left out
