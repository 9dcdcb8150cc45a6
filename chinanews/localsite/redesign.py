"""The redesign variant of the local china.com: markup no template knows, with truth.

``LocalSite(..., redesign=1.0)`` renders that share of the well-formed single-page articles
in a modern layout whose classes and ids none of ``chinanews/extract/templates/*.py`` or
``chinanews/extract/lists.py`` look for (every class here starts with ``nx-``), and the
channel list pages in a card layout. Each redesigned article states its publication time
in one or several places (``<time datetime>``, a meta tag, JSON-LD, visible text in one of
the common Chinese forms, with or without a label), chosen from the page's position among
the redesigned pages so that a small site covers every combination; the related list and
the sidebar carry dates of their own, never equal to the article's. See
``docs/local-site.md``.
"""

from __future__ import annotations

import html
import json
import random
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from chinanews.dates import BEIJING, to_iso

from .model import BASE, LISTS, Block, block_text

if TYPE_CHECKING:
    from .model import Content, SiteModel

#: Article features whose page can be redesigned: single-page, well-formed articles.
ELIGIBLE = frozenset(
    {"", "hidden", "feed_only", "orphan", "synd", "slow", "gbk_header", "gbk_meta"}
)

#: Where a page states its publication time; several pages state it in one place only.
PLACES: tuple[tuple[str, ...], ...] = (
    ("text",),
    ("time",),
    ("meta",),
    ("jsonld",),
    ("text", "meta"),
    ("time", "jsonld"),
    ("text", "meta", "jsonld"),
)
#: Visible forms (strftime-like, filled by ``_visible``); ``sec`` ones carry seconds.
FORMS: tuple[str, ...] = ("dash_sec", "dash_min", "slash_min", "cn_sec", "cn_min_tight")
SECONDS_FORMS = frozenset({"dash_sec", "cn_sec"})
LABELS: tuple[str, ...] = ("", "发布时间：", "时间：", "发布于 ")
#: (attribute, name) of the meta tag that carries the time.
META_TAGS: tuple[tuple[str, str], ...] = (
    ("property", "article:published_time"),
    ("name", "pubdate"),
    ("property", "og:release_date"),
)
#: Value forms of the machine-readable places (meta, JSON-LD).
MACHINE_FORMS: tuple[str, ...] = ("iso", "iso_utc", "dash_sec")
#: Pages at these positions (mod 9) are short news items of two or three sentences.
SHORT_AT = 4
WEEKDAYS = "一二三四五六日"


def _visible(ts: int, form: str) -> str:
    d = datetime.fromtimestamp(ts, BEIJING)
    if form == "dash_sec":
        return f"{d:%Y-%m-%d %H:%M:%S}"
    if form == "dash_min":
        return f"{d:%Y-%m-%d %H:%M}"
    if form == "slash_min":
        return f"{d:%Y/%m/%d %H:%M}"
    if form == "cn_sec":
        return f"{d.year}年{d.month:02d}月{d.day:02d}日 {d:%H:%M:%S}"
    if form == "cn_min_tight":
        return f"{d.year}年{d.month:02d}月{d.day:02d}日{d:%H:%M}"
    raise ValueError(form)


def _machine(ts: int, form: str) -> str:
    d = datetime.fromtimestamp(ts, BEIJING)
    if form == "iso":
        return f"{d:%Y-%m-%dT%H:%M:%S}+08:00"
    if form == "iso_utc":
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{d:%Y-%m-%d %H:%M:%S}"


def time_scheme(m: SiteModel, i: int) -> dict[str, Any]:
    """How page ``i`` states its publication time, and the truth that follows.

    The claimed instant is the article's time, to the second when any place on the page
    carries seconds (the machine-readable ones always do), else to the minute; every place
    shows that same instant. ``time_raw`` is the string of the most trusted place present
    (``<time datetime>``, then the meta tag, then JSON-LD, then the visible text), so
    ``to_iso(time_raw)`` is the truth's ``published_at``."""
    pos = m.redesign[i]
    r = m._rng("rd-time", i)
    places = PLACES[pos % len(PLACES)]
    form = FORMS[pos % len(FORMS)]
    label = LABELS[(pos // len(PLACES)) % len(LABELS)]
    meta = META_TAGS[pos % len(META_TAGS)]
    machine = MACHINE_FORMS[r.randrange(len(MACHINE_FORMS))]
    ts = m.arts[i].ts
    seconds = any(p != "text" for p in places) or form in SECONDS_FORMS
    claimed = ts if seconds else ts - ts % 60
    visible = _visible(claimed, form) if ("text" in places or "time" in places) else None
    values = {
        "time": _machine(claimed, "iso"),
        "meta": _machine(claimed, machine),
        "jsonld": _machine(claimed, "iso" if machine == "iso_utc" else machine),
    }
    # a later modification time, in the machine-readable places only (never the truth)
    modified = min(claimed + 600 + r.randrange(7200), max(m.now_ts, claimed + 60))
    raw = next((values[p] for p in ("time", "meta", "jsonld") if p in places), visible)
    assert raw is not None
    assert to_iso(raw) == to_iso(_machine(claimed, "iso"))
    return {
        "places": list(places),
        "form": form if visible else None,
        "label": label if visible else None,
        "meta": meta[1] if "meta" in places else None,
        "meta_attr": meta[0],
        "values": values,
        "visible": visible,
        "claimed_ts": claimed,
        "modified": _machine(modified, "iso"),
        "time_raw": raw,
    }


def _shown(ts: int, own: int, form: str) -> str | None:
    """A date shown next to another article (related list, sidebar): in the page's own
    form, and never one that could be read as the page's own time."""
    if abs(ts - own) < 120:
        return None
    return _visible(ts, form)


def redesign_content(
    m: SiteModel, i: int, blocks: list[Block], summary: str | None
) -> tuple[list[Block], list[tuple[str, str, str | None]], str | None, dict[str, Any]]:
    """The body blocks, related entries, summary and redesign flags of a redesigned page:
    an image in the middle of the body when it has none, or a short news item of two or
    three sentences (pages at position ``SHORT_AT`` mod 9 whose story is not syndicated
    and whose body carries no link a crawler needs)."""
    a = m.arts[i]
    pos = m.redesign[i]
    r = m._rng("rd", i)
    scheme = time_scheme(m, i)
    blocks = list(blocks)
    syndicated = a.feature == "synd" or any(
        b.story == i and b.idx != i for b in m.arts if b.feature == "synd"
    )
    short = (
        pos % 9 == SHORT_AT
        and not syndicated
        and m.inbody_target(i) is None
        and a.revision == 0
        and not blocks[0].images
    )
    if short:
        text = block_text(blocks[0].html)
        sents = [s + "。" for s in text.split("。") if s.strip()]
        keep = "".join(sents[: 2 + r.randrange(2)]) or text
        blocks = [Block(f"<p>{html.escape(keep, quote=False)}</p>")]
        if summary is not None:
            summary = keep[:70]
    elif not any(b.images for b in blocks) and len(blocks) >= 2:
        d = datetime.fromtimestamp(a.ts, BEIJING)
        src = f"https://img3.utuku.china.com/1200x0/news/{d:%Y%m%d}/{r.getrandbits(40):010x}.jpg"
        blocks.insert(
            len(blocks) // 2,
            Block(
                f'<p style="text-align:center"><img src="{src}" loading="lazy"></p>', [(src, None)]
            ),
        )
    form = scheme["form"] or "dash_min"
    related = []
    for kind, j in m.related_targets(i):
        if kind == "dead":
            path, t, ts = m.dead_links[i]
        else:
            assert j is not None
            path, t, ts = m.path_of(j), m.title_of(j), m.arts[j].ts
        related.append((path, t, _shown(ts, a.ts, form) if r.random() < 0.85 else None))
    flags = {
        **scheme,
        "short": short,
        "title_tag": "div" if pos % 3 == 2 else "h1",
        "og_title": r.random() < 0.5,
        "rail_first": r.random() < 0.3,
        "ad_at": max(1, len(blocks) // 2 + 1) if len(blocks) > 1 else None,
    }
    return blocks, related, summary, flags


# ----------------------------------------------------------------------------- markup
MENU = (
    ("首页", "/"),
    ("国内", "/news/domestic/"),
    ("国际", "/news/international/"),
    ("社会", "/news/social/"),
    ("军事", "/military/news/"),
    ("财经", "/finance/domestic/"),
    ("科技", "/tech/articles/"),
    ("娱乐", "/ent/news/"),
)
CRUMB = {
    "domestic": ("国内", "/news/domestic/"),
    "international": ("国际", "/news/international/"),
    "social": ("社会", "/news/social/"),
    "military": ("军事", "/military/news/"),
    "finance": ("财经", "/finance/tuijian/"),
    "tech": ("科技", "/tech/articles/"),
    "ent": ("娱乐", "/ent/news/"),
}


def esc(s: str) -> str:
    return html.escape(s, quote=False)


def attr(s: str) -> str:
    return html.escape(s, quote=True)


def _today(m: SiteModel) -> str:
    d = datetime.fromtimestamp(m.now_ts, BEIJING)
    return f"{d.year}年{d.month}月{d.day}日 星期{WEEKDAYS[d.weekday()]}"


def _head(m: SiteModel, title: str, charset: str, extra: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="{charset}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n{extra}"
        '<link rel="stylesheet" href="/static/css/nx-2026.css">\n'
        '<script src="/static/js/nx-app.js" defer></script>\n</head>\n'
    )


def _masthead(m: SiteModel) -> str:
    menu = "".join(f'<a href="{p}">{n}</a>' for n, p in MENU)
    return (
        '<header class="nx-masthead"><div class="nx-masthead__inner">'
        '<a class="nx-brand" href="/"><img src="/static/img/nx-logo.png" alt="中华网"></a>'
        f'<span class="nx-today">{_today(m)}</span>'
        f'<nav class="nx-menu" aria-label="频道">{menu}</nav>'
        '<form class="nx-find" action="/search/do"><input name="q" placeholder="搜索新闻">'
        "<button>搜索</button></form></div></header>\n"
    )


def _footer(m: SiteModel) -> str:
    out = m.outside
    links = "".join(
        f'<a href="{out}about/{k}.html" rel="nofollow">{t}</a>'
        for k, t in enumerate(("关于我们", "广告合作", "联系方式", "隐私政策", "网站地图"))
    )
    return (
        f'<footer class="nx-foot"><div class="nx-foot__links">{links}</div>'
        "<p>Copyright © 1997-2025 中华网 版权所有 京ICP备00000000号</p>"
        "<p>本网站所刊载信息，不代表中华网观点。未经授权禁止转载、摘编、复制及建立镜像。</p>"
        "</footer>\n"
    )


def _rail(m: SiteModel, skip: int | None, own_ts: int | None, form: str) -> str:
    """ "热门推荐": recent articles with their dates (never the page's own time)."""
    pool = sorted(
        (
            j
            for k in ("domestic", "international", "social", "military", "tech")
            for j in m.lists[k][:8]
        ),
        reverse=True,
    )
    lis = []
    for j in pool:
        if j == skip:
            continue
        ts = m.arts[j].ts
        shown = _visible(ts, form) if own_ts is None else _shown(ts, own_ts, form)
        if shown is None:
            continue
        lis.append(
            f'<li><a href="{m.path_of(j)}">{esc(m.title_of(j))}</a><small>{shown}</small></li>'
        )
        if len(lis) == 8:
            break
    r = random.Random(f"{m.seed}:nx-rail")
    return (
        '<aside class="nx-rail"><section class="nx-box"><h2 class="nx-box__hd">热门推荐</h2>'
        f'<ol class="nx-hot">{"".join(lis)}</ol></section>'
        f'<div class="nx-promo"><a href="{m.outside}ad/click?id={r.randrange(10**6)}" rel="nofollow">'
        '<img src="/static/ad/nx-300x250.gif" alt="广告"></a><span>广告</span></div></aside>\n'
    )


def _meta_time(c: Content) -> str:
    rd = c.flags["rd"]
    out = ""
    if "meta" in rd["places"]:
        out += f'<meta {rd["meta_attr"]}="{rd["meta"]}" content="{rd["values"]["meta"]}">\n'
        out += f'<meta property="article:modified_time" content="{rd["modified"]}">\n'
    return out


def _jsonld(c: Content) -> str:
    rd = c.flags["rd"]
    ld: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": c.title,
        "publisher": {"@type": "Organization", "name": "中华网"},
    }
    if "jsonld" in rd["places"]:
        ld["datePublished"] = rd["values"]["jsonld"]
        ld["dateModified"] = rd["modified"]
    if c.author:
        ld["author"] = {"@type": "Person", "name": c.author}
    text = json.dumps(ld, ensure_ascii=False).replace("<", "\\u003c")
    return f'<script type="application/ld+json">{text}</script>\n'


def article(m: SiteModel, i: int, charset: str = "utf-8") -> str:
    """A redesigned article page (single page; the truth is ``m.expected_article(i, ...)``)."""
    c = m.content(i)
    rd = c.flags["rd"]
    a = m.arts[i]
    extra = f'<meta name="keywords" content="{attr(",".join(c.keywords))}">\n'
    if c.summary is not None:
        extra += f'<meta name="description" content="{attr(c.summary)}">\n'
    if rd["og_title"]:
        extra += f'<meta property="og:title" content="{attr(c.title)}">\n'
    extra += _meta_time(c) + _jsonld(c)
    name, path = CRUMB[a.section.channel]
    crumbs = (
        f'<div class="nx-crumbs"><a href="/">首页</a> / <a href="{path}">{name}</a> / 正文</div>\n'
    )
    if rd["title_tag"] == "h1":
        headline = f'<h1 class="nx-headline">{esc(c.title)}</h1>\n'
    else:
        headline = (
            '<div class="nx-headline" style="font-size:28px;font-weight:700;line-height:1.4">'
            f"{esc(c.title)}</div>\n"
        )
    when = ""
    if rd["visible"]:
        shown = esc(rd["visible"])
        if "time" in rd["places"]:
            shown = f'<time datetime="{rd["values"]["time"]}">{shown}</time>'
        when = f'<span class="nx-when">{esc(rd["label"] or "")}{shown}</span>'
    elif "time" in rd["places"]:  # pragma: no cover - "time" always has visible text
        when = f'<time datetime="{rd["values"]["time"]}"></time>'
    src = (
        f'<a href="{c.source_url}" rel="nofollow">{esc(c.source)}</a>'
        if c.source_url
        else esc(c.source)
    )
    byline = f"{when}<span>来源：{src}</span>"
    if c.author:
        byline += f"<span>作者：{esc(c.author)}</span>"
    info = f'<div class="nx-byline">{byline}</div>\n'
    paras = [b.html for b in c.blocks]
    if rd["ad_at"] is not None:
        paras.insert(
            rd["ad_at"],
            '<div class="nx-inline-promo"><span>广告</span><a href="'
            f'{m.outside}ad/click?slot=mid" rel="nofollow"><img src="/static/ad/nx-640x90.gif" alt="推广"></a></div>',
        )
    body = '<div class="nx-prose">\n' + "\n".join(paras) + "\n</div>\n"
    tags = "".join(f'<a href="/tag/{attr(k)}.html">{esc(k)}</a>' for k in c.keywords)
    after = f'<div class="nx-chips">标签：{tags}</div>\n'
    if c.editor:
        after += f'<div class="nx-duty">责任编辑：{esc(c.editor)}</div>\n'
    after += (
        '<div class="nx-actions"><button data-to="wx">微信</button><button data-to="wb">微博</button>'
        "<button>复制链接</button></div>\n"
    )
    if c.mobile_path:
        after += f'<div class="nx-handset"><a href="{c.mobile_path}">手机看新闻</a></div>\n'
    if c.related:
        lis = "".join(
            f'<li><a href="{BASE}{p}">{esc(t)}</a>' + (f"<small>{s}</small>" if s else "") + "</li>"
            for p, t, s in c.related
        )
        after += (
            f'<section class="nx-more"><h2 class="nx-box__hd">{c.related_heading}</h2>'
            f"<ul>{lis}</ul></section>\n"
        )
    story = f'<article class="nx-story">\n{crumbs}{headline}{info}{body}{after}</article>\n'
    rail = _rail(m, i, a.ts, rd["form"] or "dash_min")
    main = rail + story if rd["rail_first"] else story + rail
    return (
        _head(m, f"{c.title} - 中华网", charset, extra)
        + "<body>\n"
        + _masthead(m)
        + f'<main class="nx-layout">\n{main}</main>\n'
        + _footer(m)
        + "</body>\n</html>\n"
    )


def _pager(path: str, page: int, last: int) -> str:
    def href(k: int) -> str:
        return path if k == 1 else f"{path}index_{k}.html"

    parts = [
        f'<b aria-current="page">{k}</b>' if k == page else f'<a href="{href(k)}">{k}</a>'
        for k in range(max(1, page - 3), min(last, page + 3) + 1)
    ]
    if page < last:
        parts.append(f'<a href="{href(page + 1)}" rel="next">下一页</a>')
    return f'<nav class="nx-paging">{"".join(parts)}</nav>\n'


def list_page(m: SiteModel, key: str, page: int) -> str | None:
    """A channel list page in the redesigned card layout (same entries and paging as the
    classic one; ``/finance/tuijian/`` keeps its ``p/N`` JSON for the next pages)."""
    path, name, per, style = LISTS[key]
    items = m.lists[key]
    last = max(1, -(-len(items) // per))
    if page < 1 or page > last:
        return None
    chunk = items[(page - 1) * per : page * per]
    entries = [(m.path_of(i), m.title_of(i), m.arts[i].ts, m.source_of(i)) for i in chunk]
    if key == "social" and page == 1 and m.dead_list_entry and len(entries) > 3:
        p, t, ts = m.dead_list_entry
        entries.insert(3, (p, t, ts, "中华网"))
    cards = "".join(
        f'<li class="nx-card"><a class="nx-card__link" href="{BASE}{p}"><span class="nx-card__hd">'
        f'{esc(t)}</span></a><p class="nx-card__meta">{esc(s)} · {_visible(ts, "dash_min")}</p></li>'
        for p, t, ts, s in entries
    )
    if style == "tuijian":
        more = (
            f'<a class="nx-loadmore" href="{path}p/2" data-page="2">加载更多</a>\n'
            f'<script>var moreApi="{path}p/";var curPage=1;</script>\n'
            if last > 1
            else ""
        )
    else:
        more = _pager(path, page, last)
    main = (
        f'<section class="nx-stream"><h1 class="nx-stream__hd">{name}</h1>'
        f'<ol class="nx-cards">{cards}</ol>\n{more}</section>\n'
    )
    return (
        _head(m, f"{name} - 中华网", "utf-8", "")
        + "<body>\n"
        + _masthead(m)
        + f'<main class="nx-layout">\n{main}{_rail(m, None, None, "dash_min")}</main>\n'
        + _footer(m)
        + "</body>\n</html>\n"
    )
