"""HTML, JSON and script renderers for the local china.com.

Every function returns text with the ``BASE`` token where an absolute link to the site goes;
the server replaces it with the scheme and Host of the request. The markup follows
``../shared/reference/chinacom-site.md`` (see ``docs/site-notes.md`` for the per-template
summary).
"""

from __future__ import annotations

import html
import json
import random
from datetime import datetime
from typing import TYPE_CHECKING

from chinanews.dates import BEIJING

from . import redesign, words
from .model import BASE, FIN_COLUMN, LISTS, Content, fmt_time

if TYPE_CHECKING:
    from .model import SiteModel

NAV = (
    ("首页", "/"),
    ("新闻", "/news/"),
    ("国内", "/news/domestic/"),
    ("国际", "/news/international/"),
    ("社会", "/news/social/"),
    ("军事", "/military/news/"),
    ("财经", "/finance/domestic/"),
    ("推荐", "/finance/tuijian/"),
    ("科技", "/tech/articles/"),
    ("娱乐", "/ent/news/"),
)
SISTER = (
    "游戏",
    "汽车",
    "体育",
    "健康",
    "文化",
    "旅游",
    "教育",
    "时尚",
    "历史",
    "房产",
    "佛学",
    "收藏",
    "美食",
    "亲子",
    "公益",
    "图片",
    "视频",
    "直播",
    "专题",
    "论坛",
)
SUFFIX = {
    "domestic": "_新闻频道_中华网",
    "international": "_新闻频道_中华网",
    "social": "_新闻频道_中华网",
    "military": "_军事频道_中华网",
    "finance": "_财经频道_中华网",
    "tech": "_中华网",
    "ent": "_娱乐频道_中华网",
}
BREAD = {
    "domestic": ("新闻", "/news/", "国内新闻", "/news/domestic/"),
    "international": ("新闻", "/news/", "国际新闻", "/news/international/"),
    "social": ("新闻", "/news/", "社会新闻", "/news/social/"),
    "military": ("军事", "/military/news/", "军事新闻", "/military/news/"),
    "finance": ("财经", "/finance/tuijian/", "财经资讯", "/finance/domestic/"),
    "tech": ("科技", "/tech/articles/", "资讯", "/tech/articles/"),
    "ent": ("娱乐", "/ent/news/", "电视", "/ent/news/"),
}


def esc(s: str) -> str:
    return html.escape(s, quote=False)


def attr(s: str) -> str:
    return html.escape(s, quote=True)


class Chrome:
    """Page furniture shared by all pages (computed once per site)."""

    def __init__(self, m: SiteModel) -> None:
        r = random.Random(f"{m.seed}:chrome")
        out = m.outside
        nav = "".join(f'<li><a href="{p}" target="_blank">{n}</a></li>' for n, p in NAV)
        sister = "".join(
            f'<li><a href="{out}{k}/" target="_blank">{n}</a></li>' for k, n in enumerate(SISTER)
        )
        self.header = (
            '<div class="top_header" id="js-top-header"><div class="top_header_wrap">'
            f'<a class="logo" href="/"><img src="/static/img/logo.png" alt="中华网" width="120" height="40"></a>'
            f'<ul class="top_header_channel">{nav}</ul><ul class="top_header_more">{sister}</ul>'
            '<div class="top_header_search"><form action="/search/do" method="get"><input type="text" name="q" '
            'placeholder="搜索"><button type="submit">搜索</button></form></div>'
            '<div class="top_header_user"><a href="javascript:;" id="js-login">登录</a>'
            '<a href="javascript:;" id="js-reg">注册</a></div></div></div>\n'
        )
        self.site_nav = (
            '<div class="siteNav">'
            + "".join(
                f'<div class="item"><a href="{p}">{n}</a>'
                + "".join(
                    f'<a href="{out}nav/{p.strip("/") or "home"}/{k}.html" rel="nofollow">{t}</a>'
                    for k, t in enumerate(("滚动", "图片", "视频", "评论"))
                )
                + "</div>"
                for n, p in NAV
            )
            + "</div>\n"
        )
        foot_links = "".join(
            f'<a href="{out}about/{k}.html" target="_blank" rel="nofollow">{t}</a><span>|</span>'
            for k, t in enumerate(
                (
                    "关于中华网",
                    "广告服务",
                    "联系我们",
                    "招聘信息",
                    "网站律师",
                    "隐私政策",
                    "版权声明",
                    "网站地图",
                    "意见反馈",
                    "不良信息举报",
                )
            )
        )
        self.footer = (
            f'<div class="footer" id="js-footer"><div class="foot_link">{foot_links}</div>'
            '<div class="foot_info"><p>违法和不良信息举报电话：010-00000000　举报邮箱：jubao@example.china.com</p>'
            "<p>Copyright © 1997-2025 中华网 版权所有 京ICP备00000000号 京公网安备00000000000000号</p>"
            "<p>互联网新闻信息服务许可证编号：00000000000 信息网络传播视听节目许可证：0000000</p>"
            "<p>本网站所刊载信息，不代表中华网观点。刊用本网站稿件，务经书面授权。未经授权禁止转载、摘编、复制及建立镜像，违者将依法追究法律责任。</p>"
            "</div></div>\n"
        )
        self.stats = (
            "<script>var _hmt=_hmt||[];(function(){var hm=document.createElement('script');"
            "hm.src='/static/js/stat.js?v="
            + str(r.randrange(10**9))
            + "';var s=document.getElementsByTagName('script')[0];"
            "s.parentNode.insertBefore(hm,s);})();</script>\n"
            "<script>(function(w,d){w.CHINA_PAGE={channel:'news',ver:'"
            + str(r.randrange(10**6))
            + "'};"
            "function lazy(){var imgs=d.querySelectorAll('img[data-src]');for(var i=0;i<imgs.length;i++)"
            "{imgs[i].src=imgs[i].getAttribute('data-src');}}d.addEventListener('DOMContentLoaded',lazy);})(window,document);</script>\n"
        )
        self.ad_conf = "<script>" + words.filler_script(r, 16000) + "</script>\n"
        self.share = (
            '<div class="share_box" id="js-share"><span>分享到：</span>'
            '<a href="javascript:;" class="share_wx" title="微信">微信</a>'
            '<a href="javascript:;" class="share_wb" title="新浪微博">微博</a>'
            '<a href="javascript:;" class="share_qq" title="QQ空间">QQ空间</a>'
            '<a href="javascript:;" class="share_copy" title="复制链接">复制链接</a></div>\n'
        )
        ads = []
        for k in range(4):
            ads.append(
                f'<div class="ad ad_{k}" id="js-ad-{k}"><a href="{out}ad/click?id={r.randrange(10**6)}" '
                f'target="_blank" rel="nofollow"><img src="/static/ad/{r.randrange(1000, 9999)}.gif" '
                'width="300" height="250" alt="广告"></a><span class="ad_tag">广告</span></div>'
            )
        self.ads = ads
        self.head_assets = (
            '<link rel="stylesheet" href="/static/css/base.css">\n'
            '<link rel="stylesheet" href="/static/css/article.css">\n'
            '<script src="/static/js/jquery.min.js"></script>\n'
            '<script src="/static/js/common.js"></script>\n'
        )


def _chrome(m: SiteModel) -> Chrome:
    c = getattr(m, "_chrome", None)
    if c is None:
        c = Chrome(m)
        m._chrome = c  # type: ignore[attr-defined]
    return c


def head(m: SiteModel, title: str, charset: str = "utf-8", extra: str = "") -> str:
    ch = _chrome(m)
    return (
        f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="{charset}">\n'
        '<meta http-equiv="X-UA-Compatible" content="IE=edge">\n'
        f"<title>{esc(title)}</title>\n{extra}{ch.head_assets}{ch.stats}</head>\n"
    )


def _latest_links(m: SiteModel, keys: tuple[str, ...], n: int, skip: int = 0) -> list[int]:
    pool = sorted((i for k in keys for i in m.lists[k][: n + skip]), reverse=True)
    return pool[skip : skip + n]


def right_rail(m: SiteModel, channel: str) -> str:
    ch = _chrome(m)
    feed = "mili" if channel == "military" else "news"
    hot = _latest_links(m, ("domestic", "international", "social", "military"), 20, 5)
    items = "".join(
        f'<li><em>{k + 1}</em><a href="{m.path_of(i)}" target="_blank">{esc(m.title_of(i))}</a></li>'
        for k, i in enumerate(hot)
    )
    return (
        '<div class="article_wrap_right" id="js-follow-right">'
        f"{ch.ads[0]}"
        '<div class="mod_rank"><div class="hd"><h3>热点排行</h3></div><ul id="js-ranktop"></ul>'
        f'<script src="/rank/rank/cms/{feed}/day/rank_all.js"></script>'
        "<script>if(window.day_top){var h='';for(var i=0;i<day_top.list.length&&i<10;i++)"
        "{h+='<li><a href=\"'+day_top.list[i].url+'\">'+day_top.list[i].title+'</a></li>';}"
        "document.getElementById('js-ranktop').innerHTML=h;}</script></div>"
        f'<div class="mod_hot"><div class="hd"><h3>24小时热文</h3></div><ul>{items}</ul></div>'
        '<div class="mod_slide" id="js-article-slide-js"></div>'
        '<div class="mod_slide" id="js-article-slide-cj"></div>'
        f"{ch.ads[1]}{ch.ads[2]}</div>\n"
    )


def _meta(m: SiteModel, c: Content) -> str:
    f = c.flags
    sep = random.Random(f"{m.seed}:kwsep:{c.idx}").choice((",", "，", " ", "、", ", "))
    out = f'<meta name="{f["meta_kw_name"]}" content="{attr(sep.join(c.keywords))}">\n'
    if c.summary is not None:
        out += f'<meta name="{f["meta_desc_name"]}" content="{attr(c.summary)}">\n'
    out += f'<meta {f["og_attr"]}="og:title" content="{attr(c.title)}">\n'
    out += '<meta property="og:type" content="article">\n'
    return out


def pager(m: SiteModel, i: int, cur: str, pages: int, has_all: bool) -> str:
    """``div.pageStyle5 > div#chan_multipageNumN`` with the site's swapped class names."""
    aid = m.arts[i].aid

    def name(k: int) -> str:
        return f"{aid}.html" if k == 1 else f"{aid}_{k - 1}.html"

    parts = []
    n = pages
    if cur != "all":
        k = int(cur)
        if k > 1:
            parts.append(f'<a class="firstPage" href="{name(1)}">首页</a>')
            parts.append(f'<a class="prevPage" href="{name(k - 1)}">上一页</a>')
        for j in range(1, n + 1):
            parts.append(
                f'<span class="curPage">{j}</span>' if j == k else f'<a href="{name(j)}">{j}</a>'
            )
        if has_all:
            parts.append(
                f'<a class="nextPage" href="{aid}_all.html#page_{k + 1 if k < n else k}">全文</a>'
            )
        parts.append(f'<span class="sumPage">共<cite>{n}</cite>页</span>')
        if k < n:
            parts.append(f'<a class="allPage" href="{name(k + 1)}" title="下一页">下一页</a>')
    else:
        for j in range(1, n + 1):
            parts.append(f'<a href="{name(j)}">{j}</a>')
        parts.append('<span class="curPage">全文</span>')
        parts.append(f'<span class="sumPage">共<cite>{n}</cite>页</span>')
    return f'<div class="pageStyle5"><div id="chan_multipageNumN">{"".join(parts)}</div></div>\n'


def body_blocks(m: SiteModel, i: int, page: str) -> str:
    """The body paragraphs for one page (``"1"``, ``"2"``.. or ``"all"``)."""
    c = m.content(i)
    blocks = c.blocks
    a = m.arts[i]
    if a.feature == "trunc_body":
        blocks = blocks[: m.trunc_at(i)]
        return "\n".join(b.html for b in blocks)
    if page == "all" or not c.page_breaks:
        if page == "all":
            edges = [0, *c.page_breaks, len(blocks)]
            out = []
            for k in range(len(edges) - 1):
                out.append(f'<a name="page_{k + 1}"></a>')
                out.extend(b.html for b in blocks[edges[k] : edges[k + 1]])
            return "\n".join(out)
        html_ = [b.html for b in blocks]
    else:
        edges = [0, *c.page_breaks, len(blocks)]
        k = int(page)
        html_ = [b.html for b in blocks[edges[k - 1] : edges[k]]]
    if c.flags["ad_in_body"] and len(html_) > 2:
        html_.insert(
            2,
            '<div class="adInArticle"><span class="ad_tag">广告</span>'
            "<script>window.CHINA_AD&&CHINA_AD.show('art_mid');</script></div>",
        )
    return "\n".join(html_)


def _editor_text(c: Content, colon: str | None = None) -> str:
    o, col, cl = c.flags["editor_paren"]
    return f"{o}责任编辑{colon or col}{esc(c.editor or '')}{cl}"


def _related_xgxw(m: SiteModel, c: Content, absolute: bool) -> str:
    if not c.related:
        return ""
    pre = BASE if absolute else ""
    lis = "".join(
        f'<li><h3 class="tit"><a href="{pre}{p}" target="_blank">{esc(t)}</a></h3>'
        + (f'<span class="time">{s}</span>' if s else "")
        + "</li>"
        for p, t, s in c.related
    )
    return f'<div id="chan_xgxw"><div class="hd"><h2>{c.related_heading}</h2></div><ul>{lis}</ul></div>\n'


def _related_heading_list(m: SiteModel, c: Content, cls: str) -> str:
    if not c.related:  # no block at all: an empty one is what a script would fill
        return ""
    if m.js.get(c.idx) == "related":
        return _related_scripted(m, c, cls)
    lis = "".join(
        f'<li><a href="{BASE}{p}" target="_blank">{esc(t)}</a>'
        + (f'<span class="time">{s}</span>' if s else "")
        + "</li>"
        for p, t, s in c.related
    )
    return f'<div class="{cls}"><div class="hd"><h3>{c.related_heading}</h3></div><ul>{lis}</ul></div>\n'


def _script_json(value: object) -> str:
    """JSON safe inside an inline ``<script>``."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


_FILL_RELATED = (
    "<script>(function(){{fetch('/news/api/related.json?id={aid}').then(function(r){{return r.json();}})"
    ".then(function(d){{var h='';d.list.forEach(function(x){{h+='<li><a href=\"'+x.url+'\" target=\"_blank\">'"
    "+x.title+'</a>'+(x.time?'<span class=\"time\">'+x.time+'</span>':'')+'</li>';}});"
    "document.getElementById('js-related-list').innerHTML=h;}});}})();</script>\n"
)


def _widget(m: SiteModel) -> str:
    """A third-party share widget on the outside host, as script-heavy pages carry: a browser
    must not fetch it (out of the crawl's scope)."""
    return f'<script src="{m.outside}share/widget.js" async></script>\n'


def _related_scripted(m: SiteModel, c: Content, cls: str) -> str:
    """The related block as the current template serves it: heading, empty list, a script."""
    return (
        f'<div class="{cls}"><div class="hd"><h3>{c.related_heading}</h3></div>'
        '<ul id="js-related-list"></ul></div>\n'
        + _FILL_RELATED.format(aid=m.arts[c.idx].aid)
        + _widget(m)
    )


def related_json(m: SiteModel, i: int) -> str:
    """``/news/api/related.json?id=AID``: the related list a script puts on page ``i``."""
    items = [{"url": BASE + p, "title": esc(t), "time": s} for p, t, s in m.content(i).related]
    return json.dumps({"list": items}, ensure_ascii=False)


def _recommended(m: SiteModel, i: int) -> str:
    lis = []
    for j in m.recommended(i):
        t = m.title_of(j)
        short = t.split(" ")[0].replace("“", "").replace("”", "")
        lis.append(
            f'<li><h3 class="tit"><a href="{BASE}{m.path_of(j)}" target="_blank">{esc(t)}</a></h3>'
            f'<div class="info"><a href="{BASE}{m.path_of(j)}" target="_blank">{esc(short)}</a>'
            f'<span class="time">{fmt_time(m.arts[j].ts)}</span></div></li>'
        )
    return f'<div class="arttj" id="js-arttj-med"><ul>{"".join(lis)}</ul></div>\n'


def _mobile_link(c: Content) -> str:
    if not c.mobile_path:
        return ""
    return (
        f'<div class="mobile_read"><a href="{c.mobile_path}" target="_blank">手机看新闻</a></div>\n'
    )


def _info_source_a(c: Content) -> str:
    if c.source_url:
        return f'<a href="{c.source_url}" target="_blank">{esc(c.source)}</a>'
    return esc(c.source)


def article(m: SiteModel, i: int, page: str = "1", charset: str = "utf-8") -> str:
    """An article page in its template."""
    c = m.content(i)
    if c.template == "redesign":
        return redesign.article(m, i, charset)
    a = m.arts[i]
    t = c.template
    channel = a.section.channel
    pages = m.pages_of(i)
    has_all = a.feature != "multi_noall"
    title = c.title + (f"({page})" if page not in ("1", "all") else "")
    doc_title = title + SUFFIX[channel]
    extra = _meta(m, c)
    if t == "generic":
        extra = _generic_meta(m, c)
    ch = _chrome(m)
    b1, b2, c1, c2 = BREAD[channel]
    crumbs = f'<a href="{b2}">{b1}</a> &gt; <a href="{c2}" class="cur">{c1}</a>'
    body = body_blocks(m, i, page)
    pager_html = pager(m, i, page, pages, has_all) if pages > 1 else ""
    cut_head = a.feature == "trunc_head"
    empty = a.feature == "empty"
    if empty:
        body = ""
    mob = _mobile_link(c)
    info_time = c.time_raw

    if t in ("A", "tech"):
        author = (
            f'<span class="chan_newsInfo_author">作者：{esc(c.author)}</span> &nbsp;'
            if c.author
            else ""
        )
        info = (
            f'<div id="chan_newsInfo">{info_time} &nbsp;{_info_source_a(c)} &nbsp; &nbsp;{author}'
            '<span class="chan_newsInfo_comment"><a href="#comment">参与评论(<em id="top_comment_number"></em>)人</a></span>'
            '<div class="chan_newsInfo_link"><a href="javascript:;" class="share_wx">微信</a>'
            '<a href="javascript:;" class="share_wb">微博</a></div></div>\n'
        )
        top = (
            f'<div id="chan_mainBlk"><div id="chan_mainBlk_lft"><div id="chan_newsBlk">\n'
            f'<div id="chan_breadcrumbs">{crumbs}</div>\n<h1 id="chan_newsTitle">{esc(title)}</h1>\n{info}'
        )
        if t == "tech":
            tail = ""
            if page in ("all", str(pages)) or pages == 1:
                tail = (
                    f"\n<p>免责声明：本文仅代表作者个人观点，与中华网无关。其原创性以及文中陈述文字和内容未经本站证实，"
                    f"对本文以及其中全部或者部分内容、文字的真实性、完整性、及时性本站不作任何保证或承诺，请读者仅作参考。</p>\n"
                    f'<p class="editor">{_editor_text(c)}</p>\n'
                    f"<p>投诉热线：010-00000000　邮箱：tousu@example.china.com</p>"
                )
            if a.feature == "trunc_body" or empty:
                tail = ""
            detail = (
                f'<div id="chan_newsDetail"><div class="artiLogo"><img src="//img1.utuku.china.com/logo/tech_logo.png" '
                f'alt="中华网科技"></div>\n{body}{tail}</div>\n'
            )
            editor = ""
        else:
            detail = (
                f'<div id="chan_newsDetail"><div class="artiLogo"><img src="//img1.utuku.china.com/logo/artilogo.gif" '
                f'alt="中华网"></div>\n{body}\n</div>\n'
            )
            editor = f'<div class="editor">{_editor_text(c)}</div>\n' if not empty else ""
        rest = (
            f"{editor}{pager_html}{ch.share}{mob}{_related_xgxw(m, c, absolute=False)}"
            '<div id="comment" class="chan_comment"></div></div></div>\n'
            f'<div id="chan_mainBlk_rgt">{right_rail(m, channel)}</div></div>\n'
        )
    elif t == "tech2020":
        top = (
            f'<div id="chan_mainBlk"><div id="chan_mainBlk_lft"><div id="chan_newsBlk">\n'
            f'<div id="chan_breadcrumbs">{crumbs}</div>\n<h1 id="chan_newsTitle">{esc(title)}</h1>\n'
            f'<div id="js-article-title" class="article-info"><span class="time">{info_time}</span>'
            f'<span class="source">来源：{_info_source_a(c)}</span></div>\n'
        )
        detail = f'<div id="chan_newsDetail">\n{body}\n</div>\n'
        editor = f'<div class="editor">{_editor_text(c)}</div>\n'
        rest = (
            f"{editor}{pager_html}{ch.share}{_related_xgxw(m, c, absolute=True)}</div></div>\n"
            f'<div id="chan_mainBlk_rgt">{right_rail(m, channel)}</div></div>\n'
        )
    elif t == "B":
        top = (
            f'<div class="article-wrap"><div class="article-main">\n<div class="crumbs">{crumbs}</div>\n'
            f'<h1 class="article-main-title">{esc(title)}</h1>\n'
            f'<div class="time-source"><span class="time">{info_time}</span>'
            f'<span class="source">来源：{_info_source_a(c)}</span>'
            '<span class="comment"><a href="#comment">评论</a></span></div>\n'
        )
        detail = f'<div id="chan_newsDetail" class="article-content">\n{body}\n</div>\n'
        editor = f'<div class="editor">{_editor_text(c)}</div>\n' if not empty else ""
        rest = (
            f"{editor}{ch.share}{mob}{_related_xgxw(m, c, absolute=True)}</div>\n"
            f"{right_rail(m, channel)}</div>\n"
        )
    elif t == "C":
        kws = ""
        if c.kw_visible:
            kws = "".join(
                f'<a href="/tag/{attr(k)}.html" target="_blank">{esc(k)}</a>' for k in c.keywords
            )
        src = (
            f'<span class="source">来源：{_info_source_a(c)}</span>'
            if c.source_prefix
            else f'<span class="source">{esc(c.source)}</span>'
        )
        top = (
            f'<div id="js-info-flow" class="article_wrap"><div class="article_wrap_left">\n'
            f'<div class="crumbs">{crumbs}</div>\n<h1 class="article_title">{esc(title)}</h1>\n'
            f'<div class="article_keywords">关键词:{kws}</div>\n'
            f'<div class="article_info"><span class="time">{info_time}</span>{src}</div>\n'
        )
        ed_p = (
            f'\n<p><span class="editor_author">{_editor_text(c, ":")}</span></p>'
            if c.editor_style == "p" and page in ("all", str(pages)) and not empty
            else ""
        )
        if a.feature == "trunc_body":
            ed_p = ""
        detail = f'<div class="article_content" id="js_article_content">\n{body}{ed_p}\n</div>\n'
        if m.js.get(i) == "body":  # the body arrives in a script that writes it in
            detail = (
                '<div class="article_content" id="js_article_content">\n</div>\n'
                "<script>document.getElementById('js_article_content').innerHTML="
                f"{_script_json(body + ed_p)};</script>\n{_widget(m)}"
            )
        editor = (
            f'<div class="editor">{_editor_text(c, ":")}</div>\n'
            if c.editor_style == "div" and not empty
            else ""
        )
        rest = (
            f'{editor}{pager_html}<div class="article_close"><a href="javascript:window.close();">关闭</a></div>\n'
            f"{ch.share}{mob}{_recommended(m, i)}{_related_heading_list(m, c, 'article_related')}"
            f"{ch.ads[3]}</div>\n{right_rail(m, channel)}</div>\n"
        )
    elif t in ("D", "D2"):
        if t == "D":
            h1 = f'<h1 class="arti-title">{esc(title)}</h1>'
            dopen = '<div class="arti-detail">'
        else:
            h1 = f'<h1 id="arti-title" class="arti-title-auto">{esc(title)}</h1>'
            dopen = '<div id="js-arti-detail" class="arti-content">'
        top = (
            f'<div id="js-main" class="arti-wrap"><div class="arti-main">\n<div class="crumbs">{crumbs}</div>\n'
            f'{h1}\n<div class="arti-info"><span class="time">{info_time}</span>'
            f'<span class="source">来源：{_info_source_a(c)}</span></div>\n'
        )
        detail = f"{dopen}\n{body}\n</div>\n"
        editor = f'<div class="editor">{_editor_text(c)}</div>\n'
        rest = (
            f"{editor}{ch.share}{_related_heading_list(m, c, 'arti-related')}</div>\n"
            f"{right_rail(m, channel)}</div>\n"
        )
    else:  # generic
        top = f'<div class="ent-page"><div class="ent-article-hd"><strong>{esc(title)}</strong></div>\n'
        detail = f'<div class="ent-article-bd">\n{body}\n</div>\n'
        rest = f"{ch.share}</div>\n"

    doc = [head(m, doc_title, charset, extra), "<body>\n", ch.header, ch.site_nav, ch.ad_conf, top]
    if cut_head:
        return "".join(doc)
    doc.append(detail)
    if a.feature == "trunc_body":  # the connection dropped right after a body paragraph
        return "".join(doc[:-1]) + detail[: detail.rfind("</p>") + 4]
    doc += [rest, ch.footer, "</body>\n</html>\n"]
    return "".join(doc)


def _generic_meta(m: SiteModel, c: Content) -> str:
    f = c.flags
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": c.title,
        "datePublished": c.time_raw,
        "dateModified": c.time_raw,
        "publisher": {"@type": "Organization", "name": "中华网"},
    }
    out = f'<meta {f["og_attr"]}="og:title" content="{attr(c.title)}">\n'
    out += f'<meta name="{f["meta_kw_name"]}" content="{attr(",".join(c.keywords))}">\n'
    if c.summary is not None:
        out += f'<meta name="Description" content="{attr(c.summary)}">\n'
    out += f'<script type="application/ld+json">{json.dumps(ld, ensure_ascii=False)}</script>\n'
    return out


def mobile(m: SiteModel, i: int) -> str:
    c = m.content(i)
    body = body_blocks(m, i, "all" if c.page_breaks else "1")
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width,initial-scale=1">\n'
        f'<title>{esc(c.title)}_手机中华网</title>\n<link rel="canonical" href="{BASE}{m.path_of(i)}">\n'
        '</head>\n<body>\n<header class="m-head"><a href="/">中华网</a></header>\n'
        f'<h1 class="m-title">{esc(c.title)}</h1>\n<div class="m-info"><span>{fmt_time(m.arts[i].ts)}</span>'
        f'<span>{esc(c.source)}</span></div>\n<div class="m-content">\n{body}\n</div>\n'
        f'<a class="m-pc" href="{m.path_of(i)}">查看电脑版</a>\n</body>\n</html>\n'
    )


def topic_page(m: SiteModel, i: int) -> str:
    """A 专题 page at an article-shaped URL: a list, not an article."""
    _, _, topic, _ = m.head(i)
    items = _latest_links(m, ("domestic", "social"), 12, 20)
    lis = "".join(f'<li><a href="{m.path_of(j)}">{esc(m.title_of(j))}</a></li>' for j in items)
    ch = _chrome(m)
    return (
        head(m, f"专题：{topic}_新闻频道_中华网")
        + "<body>\n"
        + ch.header
        + f'<div class="zt_wrap"><div class="zt_banner"><h2 class="zt_title">专题：{esc(topic)}</h2></div>'
        f'<ul class="zt_list">{lis}</ul></div>\n' + ch.footer + "</body>\n</html>\n"
    )


# ----------------------------------------------------------------------------- lists
def _list_page_links(base_path: str, page: int, last: int) -> str:
    def href(k: int) -> str:
        return base_path if k == 1 else f"{base_path}index_{k}.html"

    parts = []
    if page > 1:
        parts.append(f'<a href="{href(1)}">首页</a><a href="{href(page - 1)}">上一页</a>')
    for k in range(max(1, page - 4), min(last, page + 4) + 1):
        parts.append(
            f'<span class="cur">{k}</span>' if k == page else f'<a href="{href(k)}">{k}</a>'
        )
    if page < last:
        parts.append(
            f'<a href="{href(page + 1)}" class="next">下一页</a><a href="{href(last)}">尾页</a>'
        )
    return f'<div class="pages">{"".join(parts)}</div>\n'


def list_page(m: SiteModel, key: str, page: int) -> str | None:
    if m.redesign_share > 0:
        return redesign.list_page(m, key, page)
    path, name, per, style = LISTS[key]
    items = m.lists[key]
    last = max(1, -(-len(items) // per))
    if page < 1 or page > last:
        return None
    chunk = items[(page - 1) * per : page * per]
    ch = _chrome(m)
    entries: list[tuple[str, str, int, str]] = [
        (m.path_of(i), m.title_of(i), m.arts[i].ts, m.source_of(i)) for i in chunk
    ]
    if key == "social" and page == 1 and m.dead_list_entry and len(entries) > 3:
        p, t, ts = m.dead_list_entry
        entries.insert(3, (p, t, ts, "中华网"))
    if style in ("news", "military"):
        timetag = "em" if style == "military" else "span"
        pre = BASE if style == "military" else ""
        lis = "".join(
            f'<li><h3 class="item_title"><a href="{pre}{p}" target="_blank">{esc(t)}</a></h3>'
            f'<div class="item_info"><span class="item_source">{esc(s)}</span>'
            f'<{timetag} class="item_time">{fmt_time(ts, "min")}</{timetag}></div></li>'
            for p, t, ts, s in entries
        )
        main = (
            f'<div class="wp_title">{name}</div>\n<div id="js-info-flow"><ul class="item_list">{lis}</ul></div>\n'
            + _list_page_links(path, page, last)
        )
    elif style in ("tech", "tuijian"):
        lis = "".join(
            f'<div class="item-con"><div class="item-con-inner"><h3 class="tit"><a href="{p}" target="_blank">{esc(t)}</a></h3>'
            f'<div class="info"><span class="source">{esc(s)}</span><span class="time">{fmt_time(ts, "min")}</span></div>'
            "</div></div>"
            for p, t, ts, s in entries
        )
        more = ""
        if style == "tuijian":
            more = (
                f'<a class="load-more" id="js-load-more" href="{path}p/2" data-page="2">加载更多</a>\n'
                f'<script>var moreApi="{path}p/";var curPage=1;</script>\n'
                if last > 1
                else ""
            )
            pages_html = ""
        else:
            pages_html = _list_page_links(path, page, last)
        main = f'<div class="list-hd"><strong>{name}</strong></div>\n<div class="list-bd">{lis}</div>\n{pages_html}{more}'
    else:
        raise ValueError(style)
    return (
        head(m, f"{name}_中华网")
        + "<body>\n"
        + ch.header
        + ch.site_nav
        + ch.ad_conf
        + f'<div class="list_wrap"><div class="list_left">{main}</div>{right_rail(m, "news")}</div>\n'
        + ch.footer
        + "</body>\n</html>\n"
    )


_FILL_ROLL = (
    "<script>(function(){fetch('/news/api/roll.json').then(function(r){return r.json();})"
    ".then(function(d){var h='';d.list.forEach(function(x){h+='<li><h3 class=\"item_title\">"
    '<a href="\'+x.url+\'" target="_blank">\'+x.title+\'</a></h3><div class="item_info">'
    "<span class=\"item_source\">'+x.source+'</span><span class=\"item_time\">'+x.time+'</span>"
    "</div></li>';});document.getElementById('js-roll-list').innerHTML=h;});})();</script>\n"
)


def roll_page(m: SiteModel) -> str:
    """``/news/roll/`` (滚动新闻): an empty list a script fills from ``/news/api/roll.json``."""
    ch = _chrome(m)
    main = (
        '<div class="wp_title">滚动新闻</div>\n<div id="js-info-flow">'
        '<ul class="item_list" id="js-roll-list"></ul></div>\n' + _FILL_ROLL + _widget(m)
    )
    return (
        head(m, "滚动新闻_中华网")
        + "<body>\n"
        + ch.header
        + ch.site_nav
        + ch.ad_conf
        + f'<div class="list_wrap"><div class="list_left">{main}</div>{right_rail(m, "news")}</div>\n'
        + ch.footer
        + "</body>\n</html>\n"
    )


def roll_json(m: SiteModel) -> str:
    items = [
        {
            "url": BASE + m.path_of(i),
            "title": esc(m.title_of(i)),
            "source": esc(m.source_of(i)),
            "time": fmt_time(m.arts[i].ts, "min"),
        }
        for i in m.roll
    ]
    return json.dumps({"list": items}, ensure_ascii=False)


def finance_shell(m: SiteModel) -> str:
    ch = _chrome(m)
    return (
        head(m, "国内财经_财经频道_中华网")
        + "<body>\n"
        + ch.header
        + ch.site_nav
        + '<div class="list_wrap"><div class="list-hd"><strong>国内</strong></div><ul id="js-list"></ul>'
        '<a href="javascript:;" id="js-more">加载更多</a></div>\n'
        f"<script>var columnId={FIN_COLUMN};var page=1;function load(){{$.getJSON("
        "'/finance/index/getNewsInfo?page='+page+'&column_id='+columnId,function(d){{page++;}});}}"
        "load();</script>\n"
        '<script>var firstApi="/finance/index/getNewsInfo?page=1&column_id=11173294";</script>\n'
        + ch.footer
        + "</body>\n</html>\n"
    )


def finance_json(m: SiteModel, page: int, column: str) -> str:
    items = m.lists["finjson"] if column == "11173294" else []
    per = LISTS["finjson"][2]
    chunk = items[(page - 1) * per : page * per] if page >= 1 else []
    content = [
        {
            "url": BASE + m.path_of(i),
            "title": m.title_of(i),
            "delivery_time": fmt_time(m.arts[i].ts),
            "column_id": column,
        }
        for i in chunk
    ]
    return json.dumps({"code": 0, "content": content, "page": page}, ensure_ascii=False)


def tuijian_json(m: SiteModel, page: int) -> str:
    items = m.lists["tuijian"]
    per = LISTS["tuijian"][2]
    chunk = items[(page - 1) * per : page * per] if page >= 2 else []
    data = [
        {
            "url": BASE + m.path_of(i),
            "delivery_time": fmt_time(m.arts[i].ts),
            "title": m.title_of(i),
        }
        for i in chunk
    ]
    return json.dumps({"data": data}, ensure_ascii=False)


def rank_js(m: SiteModel, feed: str) -> str:
    name = "新闻" if feed == "news" else "军事"
    lst = []
    for i in m.rank_items(feed):
        c = m.content(i)
        lst.append(
            {
                "title": m.title_of(i),
                "summary": c.summary or "",
                "url": BASE + m.path_of(i),
                "createTime": fmt_time(m.arts[i].ts),
            }
        )
    return "var day_top=" + json.dumps({"name": name, "list": lst}, ensure_ascii=False) + ";"


# ----------------------------------------------------------------------------- homes
def portal(m: SiteModel) -> str:
    ch = _chrome(m)
    mods = []
    for key in (
        "domestic",
        "international",
        "social",
        "military",
        "finjson",
        "tuijian",
        "tech",
        "ent",
    ):
        path, name, _, _ = LISTS[key]
        lis = "".join(
            f'<li><a href="{BASE}{m.path_of(i)}" target="_blank">{esc(m.title_of(i))}</a>'
            f'<span class="time">{fmt_time(m.arts[i].ts, "min")}</span></li>'
            for i in m.lists[key][:8]
        )
        mods.append(
            f'<div class="mod"><div class="hd"><h2><a href="{path}">{name}</a></h2></div><ul>{lis}</ul></div>'
        )
    focus = _latest_links(m, ("domestic", "international", "social"), 4)
    focus_html = "".join(
        f'<dl class="imgNews"><dt class="imgTit"><a href="{m.path_of(i)}">{esc(m.title_of(i))}</a></dt></dl>'
        for i in focus
    )
    extras = "".join(
        f'<li><a href="{m.path_of(i)}">{"专题" if m.arts[i].feature == "notart" else "内参"}：'
        f"{esc(m.head(i)[2] if m.arts[i].feature == 'notart' else m.title_of(i))}</a></li>"
        for i in m.portal_extras()
    )
    if m.roll:
        extras += '<li><a href="/news/roll/">滚动新闻</a></li>'

    return (
        head(
            m,
            "中华网-中国第一家在美国纳斯达克上市的中文门户网站",
            extra='<meta name="robots" content="index, follow">\n<meta name="Description" content="中华网是中国领先的新闻门户网站">\n',
        )
        + "<body>\n"
        + ch.header
        + ch.site_nav
        + f'<div id="focusNews"><div class="focuscon">{focus_html}</div></div>\n'
        + f'<div class="main">{"".join(mods)}</div>\n<div class="mod mod_zt"><ul>{extras}</ul></div>\n'
        + '<script src="/rank/rank/cms/news/day/rank_all.js"></script>\n'
        '<script src="/rank/rank/cms/mili/day/rank_all.js"></script>\n'
        '<script>var cjchina_api="/finance/index/getNewsInfo?page=1&column_id=11173294";'
        "$(function(){$.getJSON(cjchina_api,function(d){});});</script>\n"
        + ch.ad_conf
        + ch.footer
        + "</body>\n</html>\n"
    )


def news_home(m: SiteModel) -> str:
    ch = _chrome(m)
    keys = ("domestic", "international", "social")
    focus = _latest_links(m, keys, 3)
    side = "".join(f'<h3><a href="{m.path_of(i)}">{esc(m.title_of(i))}</a></h3>' for i in focus)
    latest = _latest_links(m, keys, 30, 3)
    lis = "".join(
        f'<li><h3><a href="{BASE}{m.path_of(i)}">{esc(m.title_of(i))}</a></h3>'
        f"<span>{fmt_time(m.arts[i].ts, 'min')}</span></li>"
        for i in latest
    )
    media = _latest_links(m, keys, 8, 33)
    mlis = "".join(
        f'<li><h3><a href="{m.path_of(i)}">{esc(m.title_of(i))}</a></h3></li>' for i in media
    )
    chan = "".join(f'<a href="{LISTS[k][0]}">{LISTS[k][1]}</a>' for k in keys)
    return (
        head(m, "新闻频道_中华网")
        + "<body>\n"
        + ch.header
        + ch.site_nav
        + f'<div class="news_nav">{chan}</div>\n<div class="focus_side">{side}</div>\n'
        + f'<ul class="item_list">{lis}</ul>\n<div id="js-news-media"><ul class="item_list">{mlis}</ul></div>\n'
        + ch.ad_conf
        + ch.footer
        + "</body>\n</html>\n"
    )


def robots_txt() -> str:
    return "User-agent: *\nDisallow: /news/private/\nDisallow: /search/\n"


def error_page(status: int) -> str:
    text = {404: "404 Not Found", 500: "500 Internal Server Error"}.get(status, str(status))
    return f"<!DOCTYPE html>\n<html><head><title>{text}</title></head><body><h1>{text}</h1></body></html>\n"


def date_of(ts: int) -> str:
    return datetime.fromtimestamp(ts, BEIJING).strftime("%Y%m%d")
