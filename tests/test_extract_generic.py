"""The generic fallback must not take page chrome for an article body."""

from __future__ import annotations

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
