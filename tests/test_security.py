"""Security properties that need no crawl: ``body_html`` is inert whatever a page holds,
spider arguments cannot move an output file out of its directory, cannot reach SQL, and
secrets do not reach a log line.

Covered elsewhere, not repeated here: the scope guard on single requests
(``tests/test_middlewares.py``), the browser's abort rule per URL
(``tests/test_rendering.py::test_browser_requests_outside_the_scope_and_heavy_resources_are_aborted``),
a few saved pages' ``body_html`` (``tests/test_extract_pages.py::test_body_html_is_clean``:
``<script``, ``onclick``), ``redact`` on two URL shapes
(``tests/test_index.py::test_redact_hides_passwords``). The crawls are in
``tests/test_e2e_security.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import pytest

from chinanews.extract import extract_article

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "tests" / "pages" / "c_seed.html").read_text("utf-8")
URL = "https://news.china.com/international/1000/20251124/49000001.html"
ANCHOR = "<p>　　英国首相斯塔默"  # a paragraph of the body, which must survive

# -- body_html is inert ---------------------------------------------------------------

#: Elements that run, embed, load, restyle or re-point something: none may be in body_html
#: (``<math>``, ``<source>`` may stay: stripped of their attributes they do none of that).
FORBIDDEN_TAGS = frozenset(
    {
        "script",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "param",
        "base",
        "meta",
        "link",
        "style",
        "form",
        "input",
        "button",
        "textarea",
        "select",
        "svg",
        "noscript",
        "template",
        "portal",
        "video",
        "audio",
    }
)
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "data", "poster", "srcset", "xlink:href")
_SCHEME = re.compile(r"^[\x00-\x20]*([a-z][a-z0-9+.\-]*):", re.I)


def assert_inert(body_html: str) -> None:
    """``body_html`` runs nothing when shown: no element of ``FORBIDDEN_TAGS``, no event
    handler or ``style`` attribute, no ``javascript:``/``data:``/``vbscript:`` URL."""
    root = lxml.html.fragment_fromstring(body_html, create_parent="div")
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.lower().rsplit("}", 1)[-1].rsplit(":", 1)[-1]
        assert tag not in FORBIDDEN_TAGS, lxml.html.tostring(el, encoding="unicode")
        for name, value in el.attrib.items():
            name = name.lower()
            assert not name.startswith("on"), (el.tag, name, value)
            assert name != "style", (el.tag, value)
            if name in URL_ATTRIBUTES:
                scheme = _SCHEME.match(re.sub(r"[\t\n\r]", "", value))
                assert scheme is None or scheme.group(1).lower() in ("http", "https"), (
                    el.tag,
                    name,
                    value,
                )
    low = body_html.lower()
    for needle in ("<script", "javascript:", "vbscript:", "expression(", "<base", "<meta"):
        assert needle not in low, needle


#: Hostile markup, each placed in the body of a real template-C page.
HOSTILE = {
    "script": "<script>alert(1)</script><SCRIPT>alert(1)</SCRIPT>",
    "iframe": '<iframe src="https://evil.example/"></iframe>'
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "frameset": '<frameset><frame src="https://evil.example/"></frameset>',
    "object_embed": '<object data="https://evil.example/x.swf"><param name="a" value="b"></object>'
    # closed: libxml2 nests what follows an unclosed <embed> inside it (the body loses it)
    '<embed src="https://evil.example/y.swf"></embed><applet code="x"></applet>',
    "event_handlers": '<p onclick="alert(1)" onmouseover="alert(2)">点击这里阅读更多内容</p>'
    '<img src="x.png" onerror="alert(3)"><details open ontoggle="alert(4)">t</details>',
    "javascript_urls": '<a href="javascript:alert(1)">一</a><a href=" JaVaScRiPt:alert(1)">二</a>'
    '<a href="java&#x09;script:alert(1)">三</a><a href="&#106;avascript:alert(1)">四</a>'
    '<a href="\tjavascript:alert(1)">五</a><a href="jav\nascript:alert(1)">六</a>'
    '<img src="javascript:alert(1)"><img data-src="javascript:alert(1)">',
    "vbscript_url": '<a href="vbscript:msgbox(1)">vb</a><img src="vbscript:alert(1)">',
    "data_urls": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">数据</a>'
    '<a href="DATA:text/html,<script>alert(1)</script>">D</a>'
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    "style_expression": '<p style="width: expression(alert(1))">样式表达式段落</p>'
    '<style>p{background:url(javascript:alert(1))} @import "https://evil.example/x.css";</style>',
    "svg_script": '<svg><script>alert(1)</script><a xlink:href="javascript:alert(1)"><text>x</text>'
    '</a></svg><svg onload="alert(1)"></svg>'
    '<svg><image href="https://evil.example/a.svg"/><animate attributeName="href" '
    'values="javascript:alert(1)"/></svg>',
    "math": '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction></math>',
    "base": '<base href="https://evil.example/"><base target="_top">',
    "meta_refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example/">'
    '<META HTTP-EQUIV="Refresh" CONTENT="0;URL=https://evil.example/">',
    "link": '<link rel="stylesheet" href="https://evil.example/x.css"><link rel="import" href="x">',
    "forms": '<form action="https://evil.example/"><input name="a"><button formaction='
    '"javascript:alert(1)">b</button></form><input type="image" src="javascript:alert(1)">'
    "<textarea autofocus onfocus=alert(1)></textarea><isindex action=javascript:alert(1)>",
    "media": '<video src="https://evil.example/v.mp4" poster="javascript:alert(1)"><source '
    'src="javascript:alert(1)"><track src="javascript:x"></video><audio src="a.mp3"></audio>',
    "srcset": '<img src="a.png" srcset="javascript:alert(1) 1x"><picture><source '
    'srcset="javascript:alert(1)"></picture>',
    "noscript_template": '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></p>'
    "</noscript><template><script>alert(1)</script></template>",
    "unknown_tags": '<portal src="https://evil.example/"></portal>'
    '<x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>',
    "attribute_break": '<p title="&quot;><script>alert(1)</script>">引号段落</p>',
}


def body_html_with(markup: str) -> str:
    """``body_html`` of the saved page with ``markup`` put in its body."""
    html = PAGE.replace(ANCHOR, markup + ANCHOR, 1)
    assert html != PAGE
    article = extract_article(URL, html).article
    assert article is not None and article.body_html and article.body
    assert "英国首相斯塔默" in article.body
    return article.body_html


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_markup_never_reaches_body_html(case: str) -> None:
    body_html = body_html_with(HOSTILE[case])
    assert_inert(body_html)
    # the article is still there, with the paragraph after the hostile markup
    assert "英国首相斯塔默" in body_html


def test_base_in_the_body_is_removed_and_links_stay_absolute() -> None:
    """A ``<base>`` inside the body would re-point every relative URL of a page showing
    ``body_html`` (it went through before the fix)."""
    body_html = body_html_with('<base href="https://evil.example/"><a href="/x/1.html">站内</a>')
    assert "<base" not in body_html
    assert '<a href="https://news.china.com/x/1.html">站内</a>' in body_html


def test_an_unknown_element_is_unwrapped_and_loads_nothing() -> None:
    """``<portal src>`` (an element that loads a page, as an iframe) went through before."""
    body_html = body_html_with('<portal src="https://evil.example/">门户文字</portal>')
    assert "evil.example" not in body_html
    assert "门户文字" in body_html


def test_ordinary_markup_is_kept() -> None:
    """The sanitiser keeps what a reader needs: paragraphs, absolute links and images."""
    markup = (
        '<p><a href="https://www.huanqiu.com/a/1.html" title="环球">环球网</a>'
        '<img src="/pic/1.jpg" alt="图" width="10"><strong>加粗</strong></p>'
        "<table><tr><td colspan=2>表格</td></tr></table><ul><li>列表</li></ul>"
    )
    html = body_html_with(markup)
    assert '<a href="https://www.huanqiu.com/a/1.html" title="环球">环球网</a>' in html
    assert '<img src="https://news.china.com/pic/1.jpg" alt="图" width="10">' in html
    assert "<strong>加粗</strong>" in html
    assert '<td colspan="2">表格</td>' in html
    assert "<li>列表</li>" in html
