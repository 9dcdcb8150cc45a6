"""The generic fallback must not take page chrome for an article body."""

from __future__ import annotations

from datetime import datetime

from chinanews.dates import BEIJING
from chinanews.extract import NOT_ARTICLE, extract_article

URL = "https://finance.china.com/domestic/11173294/20251123/49000014.html"
FOOTER = "".join(
    f"<p>中华网版权所有 京ICP证{i:06d}号 未经授权禁止转载、摘编、复制或建立镜像，违者必究。举报电话与邮箱见网站声明。</p>"
    for i in range(4)
)


def test_a_topic_page_with_an_empty_list_and_a_long_footer_is_not_an_article() -> None:
    html = (
        "<html><head><title>专题：锂电池_中华网</title></head><body>"
        "<div class='zt_wrap'><h2 class='zt_title'>专题：锂电池</h2><ul class='zt_list'></ul></div>"
        f"<div class='footer' id='js-footer'>{FOOTER}</div></body></html>"
    )
    result = extract_article(URL, html)
    assert result.article is None
    assert result.reason == NOT_ARTICLE


def test_the_same_page_with_a_body_outside_the_chrome_is_an_article() -> None:
    body = "".join(
        f"<p>第{i}段：锂电池产业链上下游企业加快布局，多地出台扶持政策推动产业集群发展。</p>"
        for i in range(6)
    )
    html = (
        "<html><head><title>锂电池产业加快布局_中华网</title></head><body>"
        f"<div class='story'>{body}</div><div class='footer'>{FOOTER}</div></body></html>"
    )
    result = extract_article(URL, html)
    assert result.article is not None
    assert result.article.template == "generic"
    assert result.article.body is not None
    assert result.article.body.splitlines()[0].startswith("第0段")
    assert "版权所有" not in result.article.body


PARAS = "".join(
    f"<p>第{i}段：多地出台政策支持新能源汽车消费，以旧换新补贴申请量持续增长，市场信心回升。</p>"
    for i in range(4)
)
FETCHED = datetime(2025, 11, 25, 9, 0, tzinfo=BEIJING)
C_URL = "https://news.china.com/domestic/945/20251124/49000201.html"


def _template_c(info: str, head: str = "") -> str:
    return (
        f"<html><head><title>新能源汽车消费回暖_新闻频道_中华网</title>{head}</head><body>"
        "<div class='article_wrap_left'><h1 class='article_title'>新能源汽车消费回暖</h1>"
        f"<div class='article_info'>{info}</div>"
        f"<div class='article_content' id='js_article_content'>{PARAS}</div></div></body></html>"
    )


def test_a_template_without_its_time_hands_the_time_to_the_generic_rules() -> None:
    html = _template_c(
        "<span class='source'>来源：<a>环球网</a></span>",
        "<meta name='pubdate' content='2025-11-24 22:19:13'>",
    )
    result = extract_article(C_URL, html, fetched_at=FETCHED)
    assert result.article is not None
    assert result.article.template == "C"
    assert result.article.published_at == "2025-11-24T22:19:13+08:00"
    assert result.article.provenance["title"] == "C:h1.article_title"
    assert result.article.provenance["published_at"] == "generic:meta-pubdate"
    assert result.article.provenance["source"] == "C:.article_info .source"


def test_a_template_time_in_the_future_is_refused() -> None:
    html = _template_c(
        "<span class='time'>2027-01-01 10:00:00</span>",
        "<meta property='article:published_time' content='2025-11-24T22:19:13+08:00'>",
    )
    result = extract_article(C_URL, html, fetched_at=FETCHED)
    assert result.article is not None
    assert result.article.published_at == "2025-11-24T22:19:13+08:00"
    assert result.article.provenance["published_at"] == "generic:meta-article:published_time"
    assert "time_rejected" in result.notes


def test_a_template_time_far_from_the_url_date_is_kept_and_noted() -> None:
    html = _template_c("<span class='time'>2025-11-10 10:00:00</span>")
    result = extract_article(C_URL, html, fetched_at=FETCHED)
    assert result.article is not None
    assert result.article.published_at == "2025-11-10T10:00:00+08:00"
    assert result.article.provenance["published_at"] == "C:.article_info .time"
    assert result.notes == ("time_conflict",)


def test_relative_times_need_the_fetch_time() -> None:
    html = _template_c("<span>10分钟前</span>")
    pinned = extract_article(C_URL, html, fetched_at=FETCHED)
    assert pinned.article is not None
    assert pinned.article.published_at == "2025-11-25T08:50:00+08:00"
    unpinned = extract_article(C_URL, html)
    assert unpinned.article is not None
    assert unpinned.article.provenance["published_at"] == "generic:url-date"
    assert unpinned.notes == ("time_from_url",)


def test_a_masthead_date_does_not_pass_for_the_publication_time() -> None:
    """A page header that prints today's date (with its weekday) before a headline styled as
    a plain ``<div>``: the time printed under the headline is the publication time."""
    paragraphs = "".join(
        f"<p>第{i}段：分析人士指出，贸易摩擦的推进需要时间，短期内仍面临不少挑战，各方应保持耐心。</p>"
        for i in range(5)
    )
    html = (
        "<html><head><title>贸易摩擦迎来拐点_中华网</title>"
        '<meta property="og:title" content="贸易摩擦迎来拐点"></head><body>'
        '<header class="top"><span class="today">2025年11月24日 星期一</span></header>'
        '<div class="headline" style="font-size:28px">贸易摩擦迎来拐点</div>'
        '<div class="byline"><span>时间：2025年11月23日18:10</span><span>来源：参考消息</span></div>'
        f'<div class="prose">{paragraphs}</div></body></html>'
    )
    result = extract_article(URL, html)
    assert result.article is not None
    assert result.article.published_at == "2025-11-23T18:10:00+08:00"
    assert result.article.provenance["published_at"] == "generic:time-near-title"
    assert result.article.source == "参考消息"


def test_an_inline_ad_in_the_body_is_not_body_text() -> None:
    """An ad between two paragraphs, labelled 广告 (a block of its own, with no class the
    templates know): the paragraphs on both sides stay, the label does not."""
    para = "分析人士指出，贸易摩擦的推进需要时间，短期内仍面临不少挑战，各方应保持耐心。"
    html = (
        "<html><head><title>贸易摩擦迎来拐点_中华网</title></head><body>"
        "<h1>贸易摩擦迎来拐点</h1><div class='info'>2025-11-23 18:10:00 来源：参考消息</div>"
        f"<div class='text'><p>{para}第一段。</p><p>{para}第二段。</p>"
        "<div class='box-x'><span>广告</span><a href='http://ads.example/c' rel='nofollow'>"
        "<img src='/ad.gif'></a></div>"
        f"<p>{para}第三段。</p><p>{para}第四段。</p></div></body></html>"
    )
    result = extract_article(URL, html)
    assert result.article is not None
    assert result.article.body is not None
    assert "广告" not in result.article.body
    assert result.article.body.splitlines()[-1].endswith("第四段。")
