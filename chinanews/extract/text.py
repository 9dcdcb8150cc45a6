"""Whitespace and text rules shared by every extractor.

The site pads paragraphs with ideographic spaces (``\\u3000``), no-break spaces and
zero-width characters; these helpers turn such text into the clean one-line strings the
item carries, and hold the few regular expressions that recognise boilerplate lines.
"""

from __future__ import annotations

import re

from chinanews.dates import find_date_text, to_iso

#: Characters stripped from both ends of every text value.
STRIP_CHARS = (
    " \t\n\r\f\v\u3000\xa0\u200b\u200c\u200d\u2060\ufeff\u2028\u2029\u202f\u2009\u200a\u2002\u2003"
)
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_EDITOR = re.compile(r"责任编辑\s*[:：]\s*([^)）]*)")
_EDITOR_PAREN = re.compile(r"[(（]\s*责任编辑\s*[:：][^)）]*[)）]?")
_SOURCE_PREFIX = re.compile(r"^\s*(?:文章)?来源\s*[:：]\s*")
_AUTHOR_PREFIX = re.compile(r"^\s*(?:作者|记者)\s*[:：]\s*")
_TITLE_SUFFIX = re.compile(r"\s*(?:_[^_]*频道_中华网|_中华网|[-|｜]\s*中华网)\s*$")
_DROP_LINE = re.compile(
    r"^(?:免责声明|投诉热线|责任编辑|分享到|关闭$|打印$|返回顶部$"
    # the label of an inline ad, a line of its own: never what the article says
    r"|(?:广告|推广|赞助|广告位|AD|Advertisement)$)",
    re.I,
)
_PAGER_LINE = re.compile(r"^(?:(?:上一页|下一页|全文|首页|尾页|末页|共\s*\d+\s*页|\d+)\s*)+$")
_PAGER_WORD = re.compile(r"上一页|下一页|全文|首页|尾页|末页")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
#: ``[A-Za-z]+``, written so that the search skips to the next letter (a repeat as the first
#: item makes it try the pattern at every position, at about 1.6 times the cost).
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z]*")
_KEYWORD_SPLIT = re.compile(r"[,，、;；|\s]+")


class Marks:
    """Whether ``pattern`` is found in an id or class value, remembered for up to ``limit``
    values: a site's pages repeat the same few names on every element and every page, and a
    long alternation such as ``fields._OFF`` costs a microsecond or two a search."""

    __slots__ = ("limit", "pattern", "seen")

    def __init__(self, pattern: re.Pattern[str], limit: int = 4096) -> None:
        self.pattern = pattern
        self.limit = limit
        self.seen: dict[str, bool] = {}

    def __call__(self, value: str) -> bool:
        found = self.seen.get(value)
        if found is None:
            found = self.pattern.search(value) is not None
            if len(self.seen) < self.limit:
                self.seen[value] = found
        return found


def clean(text: str | None) -> str:
    """Drop zero-width characters, collapse whitespace runs to one space, strip the ends."""
    if not text:
        return ""
    # str.split() splits on what ``\s`` matches and drops the ends: STRIP_CHARS but the
    # zero-width ones, removed first (twice as fast as a regex substitution); five ``in``
    # tests cost less than the substitution's call on the many strings without any
    if (
        "\u200b" in text
        or "\u200c" in text
        or "\u200d" in text
        or "\u2060" in text
        or "\ufeff" in text
    ):
        text = _ZERO_WIDTH.sub("", text)
    return " ".join(text.split())


def clean_or_none(text: str | None) -> str | None:
    out = clean(text)
    return out or None


def strip_source_prefix(text: str | None) -> str | None:
    """``来源：环球网`` → ``环球网``."""
    return clean_or_none(_SOURCE_PREFIX.sub("", clean(text)))


def strip_author_prefix(text: str | None) -> str | None:
    """``作者：张三`` → ``张三``."""
    return clean_or_none(_AUTHOR_PREFIX.sub("", clean(text)))


def editor_of(text: str | None) -> str | None:
    """The name after ``责任编辑:`` up to the closing parenthesis, or None."""
    if not text or "责任编辑" not in text:
        return None
    m = _EDITOR.search(text)
    return clean_or_none(m.group(1)) if m else None


def remove_editor(text: str) -> str:
    """A body line without its ``(责任编辑:…)`` note."""
    return _EDITOR_PAREN.sub("", text) if "责任编辑" in text else text


def strip_title_suffix(title: str | None) -> str | None:
    """``标题_新闻频道_中华网`` → ``标题``."""
    return clean_or_none(_TITLE_SUFFIX.sub("", clean(title)))


def is_boilerplate_line(line: str) -> bool:
    """Lines that are never body text: disclaimers, editor notes, close links, pager text."""
    if _DROP_LINE.match(line):
        return True
    return bool(_PAGER_LINE.match(line) and _PAGER_WORD.search(line))


def split_keywords(text: str | None) -> list[str]:
    """Split a keywords string on the separators the site uses, de-duplicated in order."""
    out: list[str] = []
    for part in _KEYWORD_SPLIT.split(text or ""):
        part = part.strip(STRIP_CHARS)
        if part and part not in out:
            out.append(part)
    return out


def dedupe(values: list[str]) -> list[str]:
    """Drop repeats and empties, keeping the first occurrence's position."""
    seen: set[str] = set()
    out: list[str] = []
    for v in values:
        if v and v not in seen:
            seen.add(v)
            out.append(v)
    return out


def language_of(text: str) -> str | None:
    """``zh`` when CJK characters (each about a word) outnumber Latin words, else ``en``;
    None without any letters."""
    sample = text[:4000]
    latin = len(_LATIN_WORD.findall(sample))
    # count CJK characters only until they match the Latin words (Chinese text has few)
    for cjk, _ in enumerate(_CJK.finditer(sample), 1):
        if cjk >= latin:
            return "zh"
    return "en" if latin else None


def date_pair(text: str | None) -> tuple[str | None, str | None]:
    """(ISO, raw) for the first absolute date printed in ``text``."""
    if not text:
        return None, None
    raw = find_date_text(text)
    if raw is None:
        return None, None
    return to_iso(raw), raw
