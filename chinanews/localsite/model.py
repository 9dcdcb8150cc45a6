"""The model of the local china.com: which articles exist, where they are linked, what they say.

Building the model only draws a few numbers per article (time, id, section, special case), so
even 100,000 articles build in a couple of seconds. Text, pages and the expected fields are
derived lazily from per-story and per-article random generators seeded from the site seed,
so every page is reproducible on its own.
"""

from __future__ import annotations

import bisect
import html
import random
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chinanews.dates import BEIJING, to_iso
from chinanews.urls import canonical_url

from . import words

#: The site's "now" before any ``advance``: the evening of the seed article.
END = datetime(2025, 11, 24, 22, 30, 0, tzinfo=BEIJING)
FIRST_ID = 49_000_000
#: Placeholder for the base URL in rendered markup; replaced per request.
BASE = "@@LOCALSITE_BASE@@"
ZW = "\u200b"
_WS_EDGE = " \t\r\n\f\v\u3000\xa0\u200b\u200c\u200d\u2060\ufeff"


@dataclass(frozen=True)
class Section:
    key: str
    prefix: str  # path before /<date>/<id>.html ("" for tech)
    column: str | None
    template: str  # A B C D D2 tech generic
    channel: str
    list_key: str
    weight: int


SECTIONS: tuple[Section, ...] = (
    Section("domestic_c", "/news/domestic/945", "945", "C", "domestic", "domestic", 14),
    Section("domestic_a", "/news/domesticgd/10000159", "10000159", "A", "domestic", "domestic", 6),
    Section(
        "intl_c", "/news/international/1000", "1000", "C", "international", "international", 14
    ),
    Section("social_c", "/news/social/1007", "1007", "C", "social", "social", 10),
    Section("social_a", "/news/socialgd/10000169", "10000169", "A", "social", "social", 6),
    Section("mil_news", "/military/news/568", "568", "B", "military", "military", 8),
    Section("mil_imp", "/military/important/11132797", "11132797", "B", "military", "military", 4),
    Section("fin_dom", "/finance/domestic/11173294", "11173294", "C", "finance", "finjson", 8),
    Section("fin_yiyao", "/finance/yiyao/13004692", "13004692", "D", "finance", "tuijian", 4),
    Section("fin_consume", "/finance/consume/11173302", "11173302", "D2", "finance", "tuijian", 3),
    Section("tech", "/tech/article", None, "tech", "tech", "tech", 10),
    Section("ent", "/ent/movie/tv/11015529", "11015529", "generic", "ent", "ent", 5),
)
PRIVATE = Section("private", "/news/private/945", "945", "C", "domestic", "", 0)
ALL_SECTIONS = (*SECTIONS, PRIVATE)
SECTION_INDEX = {s.key: i for i, s in enumerate(ALL_SECTIONS)}
TEMPLATE_NAME = {
    "A": "A",
    "B": "B",
    "C": "C",
    "D": "D",
    "D2": "D",
    "tech": "tech",
    "tech2020": "tech",
    "generic": "generic",
    "redesign": "generic",
}

#: List pages: key -> (path, title, per page, style).
LISTS: dict[str, tuple[str, str, int, str]] = {
    "domestic": ("/news/domestic/", "国内新闻", 20, "news"),
    "international": ("/news/international/", "国际新闻", 20, "news"),
    "social": ("/news/social/", "社会新闻", 20, "news"),
    "military": ("/military/news/", "军事新闻", 20, "military"),
    "finjson": ("/finance/domestic/", "国内财经", 20, "finjson"),
    "tuijian": ("/finance/tuijian/", "推荐", 8, "tuijian"),
    "tech": ("/tech/articles/", "科技资讯", 15, "tech"),
    "ent": ("/ent/news/", "娱乐新闻", 20, "news"),
}
FIN_COLUMN = "11173294"

# Features: at most one per article.
F_NONE = ""
SPECIALS = ("empty", "trunc_body", "trunc_head", "http500", "slow", "redirect", "notart", "private")
#: Features whose page carries the related / in-body links a crawler follows.
LINK_BEARING = frozenset(
    {
        F_NONE,
        "hidden",
        "feed_only",
        "multi",
        "multi_noall",
        "gbk_header",
        "gbk_meta",
        "synd",
        "slow",
        "orphan",
    }
)
#: Features whose article is expected when reachable.
EXPECTED_FEATURES = frozenset(
    {
        F_NONE,
        "hidden",
        "feed_only",
        "multi",
        "multi_noall",
        "gbk_header",
        "gbk_meta",
        "synd",
        "slow",
        "trunc_body",
        "orphan",
    }
)


class Art:
    """One article page (or a special page at an article URL)."""

    __slots__ = (
        "aid",
        "edit",
        "feature",
        "idx",
        "listed",
        "modified",
        "revision",
        "sec",
        "story",
        "ts",
    )

    def __init__(self, idx: int, aid: str, ts: int, sec: int) -> None:
        self.idx = idx
        self.aid = aid
        self.ts = ts
        self.sec = sec
        self.feature = F_NONE
        self.story = idx
        self.edit = -1  # syndication edit kind (0 sentence, 1 source line, 2 title)
        self.revision = 0
        #: When the page last changed (its publication, or the last edit): Last-Modified.
        self.modified = ts
        self.listed = True

    @property
    def section(self) -> Section:
        return ALL_SECTIONS[self.sec]


@dataclass
class Block:
    """One ``<p>`` of a body: its markup (with BASE tokens) and the images in it."""

    html: str
    images: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class Content:
    """Everything an article page shows, before it is put into a template."""

    idx: int
    template: str
    title: str
    short: str
    keywords: list[str]
    kw_visible: bool
    summary: str | None
    source: str
    source_url: str | None
    source_prefix: bool
    author: str | None
    editor: str | None
    editor_style: str
    time_raw: str
    blocks: list[Block]
    page_breaks: list[int]  # block index where pages 2.. start
    related: list[tuple[str, str, str | None]]  # (path, title, time_raw|None)
    related_heading: str
    mobile_path: str | None
    flags: dict[str, Any]


def normalize(text: str) -> str:
    """The body-line convention: no zero-width characters, whitespace runs collapsed, edges
    (incl. U+3000 and NBSP) stripped."""
    text = re.sub("[\u200b\u200c\u200d\u2060\ufeff]", "", text)
    return re.sub(r"\s+", " ", text.strip(_WS_EDGE)).strip(_WS_EDGE)


def block_text(markup: str) -> str:
    inner = re.sub(r"<[^>]+>", "", markup)
    return normalize(html.unescape(inner))


def fmt_time(ts: int, style: str = "sec") -> str:
    d = datetime.fromtimestamp(ts, BEIJING)
    if style == "sec":
        return d.strftime("%Y-%m-%d %H:%M:%S")
    if style == "min":
        return d.strftime("%Y-%m-%d %H:%M")
    if style == "cn":
        return f"{d.year}年{d.month:02d}月{d.day:02d}日 {d:%H:%M}"
    if style == "iso":
        return d.strftime("%Y-%m-%dT%H:%M:%S+08:00")
    raise ValueError(style)


class _LRU(OrderedDict):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> Any:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.size:
            self.popitem(last=False)
        return value


class SiteModel:
    """Articles, lists, feeds and the link graph; text is produced on demand."""

    def __init__(
        self,
        size: int = 50,
        seed: int = 1,
        outside_base: str = "http://localhost:9/",
        js: float = 0.0,
        redesign: float = 0.0,
    ) -> None:
        self.size = size
        self.seed = seed
        self.js_share = js
        self.redesign_share = redesign
        self.outside = outside_base if outside_base.endswith("/") else outside_base + "/"
        self.generation = 0
        self._next_id = FIRST_ID
        self.arts: list[Art] = []
        self.by_aid: dict[str, int] = {}
        self.children: dict[int, list[int]] = {}  # related-only articles hung on a parent
        self.dead_links: dict[int, tuple[str, str, int]] = {}  # linker -> 404 (path, title, ts)
        self.dead_list_entry: tuple[str, str, int] | None = None
        self.private_links: dict[int, int] = {}  # linker -> private article
        self.mobile: set[int] = set()
        self.feed_only: dict[str, list[int]] = {"news": [], "mili": []}
        self.members: dict[str, list[int]] = {}  # channel -> normal articles, in index order
        self.lists: dict[str, list[int]] = {k: [] for k in LISTS}
        self._heads: dict[int, tuple[str, str, str, int]] = {}
        self._content: _LRU = _LRU(4096)
        #: JavaScript variants (``js`` > 0 only): article -> "related" (the related list is
        #: filled by a script from a JSON endpoint) or "body" (the body is injected by a
        #: script); ``roll`` lists the articles of ``/news/roll/``, a list filled by a script.
        self.js: dict[int, str] = {}
        self.roll: list[int] = []
        #: Redesign variant (``redesign`` > 0 only): article -> its position among the
        #: redesigned pages, which picks the page's time scheme (``chinanews.localsite.redesign``).
        self.redesign: dict[int, int] = {}
        self._build()
        if js > 0:
            self._add_js(js)
        if redesign > 0:
            self._add_redesign(redesign)

    # ----------------------------------------------------------------- building
    def _rng(self, *parts: Any) -> random.Random:
        return random.Random(":".join(str(p) for p in (self.seed, *parts)))

    def _add_articles(self, count: int, start_ts: int, end_ts: int, rng: random.Random) -> None:
        weights = [s.weight for s in SECTIONS]
        cum = []
        total = 0
        for w in weights:
            total += w
            cum.append(total)
        span = max(1, end_ts - start_ts)
        next_id = self._next_id
        last_ts = start_ts
        for k in range(count):
            ts = start_ts + int((k + 0.5) * span / count) + rng.randint(-20, 20)
            ts = max(ts, last_ts + 1)
            last_ts = ts
            sec = bisect.bisect_right(cum, rng.random() * total)
            next_id += rng.randint(1, 5)
            section = SECTIONS[sec]
            if section.template == "tech":
                d = datetime.fromtimestamp(ts, BEIJING)
                aid = f"{d:%Y%m%d%H%M}{next_id % 1000:03d}"
                while aid in self.by_aid:
                    next_id += 1
                    aid = f"{d:%Y%m%d%H%M}{next_id % 1000:03d}"
            else:
                aid = str(next_id)
            art = Art(len(self.arts), aid, ts, sec)
            self.by_aid[aid] = art.idx
            self.arts.append(art)
        self._next_id = next_id

    def _build(self) -> None:
        rng = self._rng("model")
        n = self.size
        days = max(2, -(-n // 1500))
        end_ts = int(END.timestamp())
        self._add_articles(n, end_ts - days * 86400, end_ts - 60, rng)
        self.now_ts = end_ts
        arts = self.arts

        def count(frac: float, minimum: int) -> int:
            return max(minimum, round(n * frac))

        def free(pred: Any = None, lo: int = 0, hi: int | None = None) -> list[int]:
            hi = n if hi is None else hi
            return [
                i
                for i in range(lo, hi)
                if arts[i].feature == F_NONE and (pred is None or pred(arts[i]))
            ]

        def tmpl(*names: str) -> Any:
            return lambda a: a.section.template in names

        def pick(
            feature: str, k: int, pred: Any = None, lo: int = 0, hi: int | None = None
        ) -> list[int]:
            cands = free(pred, lo, hi)
            chosen = sorted(rng.sample(cands, min(k, len(cands))))
            for i in chosen:
                arts[i].feature = feature
            return chosen

        # keep the newest few articles plain so the list heads are ordinary
        body_lo, body_hi = 0, max(1, n - 3)
        pick("empty", count(0.001, 1), tmpl("A", "C"), body_lo, body_hi)
        pick("trunc_body", count(0.001, 1), tmpl("A", "C"), body_lo, body_hi)
        pick("trunc_head", 1, tmpl("C"), body_lo, body_hi)
        pick("http500", 1, tmpl("C", "A"), body_lo, body_hi)
        pick("slow", 1, tmpl("C"), body_lo, body_hi)
        pick("redirect", 1, tmpl("C"), body_lo, body_hi)
        pick("notart", 1, tmpl("C"), body_lo, body_hi)
        for i in pick("private", count(0.001, 2), tmpl("C"), body_lo, body_hi):
            arts[i].sec = SECTION_INDEX["private"]
            arts[i].listed = False
        pick("multi_noall", count(0.01, 1), tmpl("A", "tech"), body_lo, body_hi)
        pick("multi", count(0.04, 2), tmpl("A", "C", "tech"), body_lo, body_hi)
        pick("gbk_header", count(0.01, 1), tmpl("A"), body_lo, body_hi)
        pick("gbk_meta", count(0.01, 1), tmpl("A"), body_lo, body_hi)
        for i in pick("orphan", count(0.005, 1), None, body_lo, body_hi):
            arts[i].listed = False
        # feed-only: recent news / military articles that only the rank feeds carry
        recent = max(0, n - 300)
        news_secs = {
            SECTION_INDEX[k] for k in ("domestic_c", "domestic_a", "intl_c", "social_c", "social_a")
        }
        mil_secs = {SECTION_INDEX[k] for k in ("mil_news", "mil_imp")}
        for i in pick("feed_only", 2, lambda a: a.sec in news_secs, recent, body_hi):
            arts[i].listed = False
            self.feed_only["news"].append(i)
        for i in pick("feed_only", 1, lambda a: a.sec in mil_secs, recent, body_hi):
            arts[i].listed = False
            self.feed_only["mili"].append(i)
        # syndicated copies: a later article re-publishes an earlier story in another channel
        n_synd = 0
        for c in pick(
            "synd",
            count(0.03, 3),
            lambda a: a.section.column is not None and a.section.template not in ("generic",),
            10,
            n,
        ):
            ch = arts[c].section.channel
            cands = [
                j
                for j in range(max(0, c - 300), c)
                if arts[j].feature == F_NONE
                and arts[j].section.channel != ch
                and arts[j].section.template != "generic"
            ]
            if not cands:
                arts[c].feature = F_NONE
                continue
            arts[c].story = rng.choice(cands)
            arts[c].edit = n_synd % 3
            n_synd += 1
        # related-only articles, each hung on a plain article's related list (some in a chain)
        hidden = pick(
            "hidden", count(0.06, 4), lambda a: a.section.template != "generic", body_lo, body_hi
        )
        for h in hidden:
            arts[h].listed = False
        self._rebuild_members()
        plain = [
            i
            for i in range(n)
            if arts[i].feature == F_NONE and arts[i].section.template != "generic"
        ]
        for k, h in enumerate(hidden):
            parent = hidden[k - 1] if k % 4 == 3 else rng.choice(plain)  # every 4th: a chain
            self.children.setdefault(parent, []).append(h)
        # dead links (404) and links to robots-disallowed pages on some plain articles
        for i in rng.sample(plain, min(len(plain), count(0.01, 2))):
            a = arts[i]
            dead_id = 48_000_000 + rng.randrange(10**6)
            d = datetime.fromtimestamp(a.ts - 86400 * 3, BEIJING)
            title, _, _, _ = self.head(rng.randrange(n))
            path = (
                f"{a.section.prefix}/{d:%Y%m%d}/{dead_id}.html"
                if a.section.column
                else f"/tech/article/{d:%Y%m%d}/kejiyuan{dead_id}.html"
            )
            self.dead_links[i] = (path, "旧闻：" + title, a.ts - 86400 * 3)
        d = datetime.fromtimestamp(arts[n // 2].ts, BEIJING)
        self.dead_list_entry = (
            f"/news/social/1007/{d:%Y%m%d}/{48_500_000 + n}.html",
            self.head(n // 2)[0] + "（已删除）",
            arts[n // 2].ts,
        )
        for p in (i for i in range(n) if arts[i].feature == "private"):
            self.private_links[rng.choice(plain)] = p
        mob = [
            i
            for i in plain
            if arts[i].section.column and arts[i].section.template in ("A", "B", "C")
        ]
        self.mobile = set(rng.sample(mob, min(len(mob), count(0.03, 2))))
        self._rebuild_lists()

    def _rebuild_members(self) -> None:
        self.members = {}
        for a in self.arts:
            if a.feature == F_NONE:
                self.members.setdefault(a.section.channel, []).append(a.idx)

    def _rebuild_lists(self) -> None:
        self.lists = {k: [] for k in LISTS}
        for a in self.arts:
            if (
                a.listed
                and a.section.list_key
                and a.feature not in ("hidden", "orphan", "feed_only", "private")
            ):
                self.lists[a.section.list_key].append(a.idx)
                if a.section.key == "fin_dom" and a.idx % 2 == 0:  # recommended too
                    self.lists["tuijian"].append(a.idx)
        for v in self.lists.values():
            v.reverse()  # newest first

    def _add_js(self, share: float) -> None:
        """Turn about ``share`` of the articles into pages a reader sees only through
        JavaScript (template C, plain ones): half with a script-filled related list, each
        carrying one article linked from nowhere else, half with a script-injected body;
        and a script-filled list page, ``/news/roll/``, the only way to a few articles.
        Uses its own random stream: with ``js=0`` the site is byte for byte the same."""
        arts = self.arts
        rng = self._rng("js")
        n = len(arts)
        total = max(2, round(n * share))
        busy = set(self.mobile) | set(self.private_links) | set(self.dead_links)
        cands = [
            i
            for i in range(n - 3)
            if arts[i].feature == F_NONE
            and arts[i].listed
            and arts[i].section.template == "C"
            and i not in busy
        ]
        rng.shuffle(cands)
        n_related = (total + 1) // 2
        related, cands = cands[:n_related], cands[n_related:]
        body, cands = cands[: total - n_related], cands[total - n_related :]
        for i in related:
            self.js[i] = "related"
        for i in body:
            self.js[i] = "body"
        taken = busy | set(self.js)
        pool = [
            i
            for i in range(n - 3)
            if arts[i].feature == F_NONE
            and arts[i].listed
            and arts[i].section.template != "generic"
            and i not in taken
        ]
        rng.shuffle(pool)
        news = [
            i for i in pool if arts[i].section.channel in ("domestic", "international", "social")
        ]
        for child in news[: max(2, total // 4)]:  # listed only on the scripted /news/roll/
            arts[child].feature, arts[child].listed = "hidden", False
            self.roll.append(child)
        pool = [i for i in pool if arts[i].feature == F_NONE]
        for page in related:  # an article only this page's (scripted) related list links
            if not pool:
                break
            child = pool.pop()
            arts[child].feature, arts[child].listed = "hidden", False
            self.children.setdefault(page, []).append(child)
        self.roll.sort(reverse=True)
        self._rebuild_members()
        self._rebuild_lists()

    def _add_redesign(self, share: float) -> None:
        """Turn about ``share`` of the single-page, well-formed articles (not the JavaScript
        variants) into pages in the redesigned markup no template knows; the channel list
        pages switch to the redesigned layout too. Its own random stream: ``redesign=0``
        leaves the site byte for byte the same."""
        from .redesign import ELIGIBLE

        rng = self._rng("redesign")
        cands = [a.idx for a in self.arts if a.feature in ELIGIBLE and a.idx not in self.js]
        k = len(cands) if share >= 1 else min(len(cands), max(1, round(len(cands) * share)))
        chosen = sorted(rng.sample(cands, k))
        self.redesign = {i: pos for pos, i in enumerate(chosen)}
        self._content.clear()

    # ----------------------------------------------------------------- advancing
    def advance(self, new: int = 0, edit: int = 0, minutes: float = 0, spacing: int = 120) -> None:
        """Publish ``new`` newer articles, ``spacing`` seconds apart (the clock moves on as
        they appear), then move the site's clock on by ``minutes``, then edit the bodies of
        ``edit`` existing ones (stamped with the new time)."""
        self.generation += 1
        rng = self._rng("advance", self.generation)
        if new:
            start = self.now_ts + 60
            self._add_articles(new, start, start + new * spacing, rng)
            self.now_ts = start + new * spacing + 60
        self.now_ts += int(minutes * 60)
        if edit:
            cands = [
                a.idx for a in self.arts if a.feature in (F_NONE, "multi", "gbk_header", "gbk_meta")
            ]
            for i in sorted(rng.sample(cands, min(edit, len(cands)))):
                self.arts[i].revision += 1
                self.arts[i].modified = self.now_ts
        self._rebuild_members()
        self._rebuild_lists()
        self._content.clear()

    # ----------------------------------------------------------------- text
    def head(self, story: int) -> tuple[str, str, str, int]:
        """(title, short title, topic, outlet index) of a story; cheap and cached."""
        got = self._heads.get(story)
        if got is None:
            a = self.arts[story]
            r = self._rng("head", story)
            title, short, topic = words.headline(r, a.section.channel)
            got = (title, short, topic, r.randrange(len(words.OUTLETS)))
            self._heads[story] = got
        return got

    def title_of(self, i: int) -> str:
        a = self.arts[i]
        if a.feature == "synd" and a.edit == 2:
            return words.headline(self._rng("synd-title", i), self.arts[a.story].section.channel)[0]
        return self.head(a.story)[0]

    def source_of(self, i: int) -> str:
        return words.OUTLETS[self.head(self.arts[i].story)[3]][0]

    def variant(self, i: int) -> str:
        a = self.arts[i]
        t = a.section.template
        if t == "tech" and self._rng("tv", i).random() < 0.35:
            return "tech2020"
        return t

    def path_of(self, i: int, page: str = "1") -> str:
        a = self.arts[i]
        s = a.section
        d = datetime.fromtimestamp(a.ts, BEIJING)
        suffix = "" if page == "1" else ("_all" if page == "all" else f"_{int(page) - 1}")
        return f"{s.prefix}/{d:%Y%m%d}/{a.aid}{suffix}.html"

    def mobile_path(self, i: int) -> str:
        a = self.arts[i]
        d = datetime.fromtimestamp(a.ts, BEIJING)
        ch = "military" if a.section.channel == "military" else "news"
        return f"/3g/act/{ch}/{a.section.column}/{d:%Y%m%d}/{a.aid}.html"

    def pages_of(self, i: int) -> int:
        if self.arts[i].feature in ("multi", "multi_noall"):
            return 2 + self._rng("pages", i).randrange(3)
        return 1

    def related_targets(self, i: int) -> list[tuple[str, int | None]]:
        """Related links of an article in order: ("art", idx) or ("dead", None)."""
        a = self.arts[i]
        if a.feature not in LINK_BEARING or a.section.template == "generic":
            return []
        r = self._rng("rel", i)
        mem = self.members.get(a.section.channel, [])
        pos = bisect.bisect_left(mem, i)
        window = [j for j in mem[max(0, pos - 120) : pos] if j != i]
        out: list[tuple[str, int | None]] = [
            ("art", j) for j in r.sample(window, min(len(window), r.randint(3, 6)))
        ]
        out.sort(key=lambda t: -(t[1] or 0))
        for c in self.children.get(i, []):
            out.insert(r.randrange(len(out) + 1), ("art", c))
        if i in self.private_links:
            out.insert(r.randrange(len(out) + 1), ("art", self.private_links[i]))
        if i in self.dead_links:
            out.insert(r.randrange(len(out) + 1), ("dead", None))
        return out

    def inbody_target(self, i: int) -> int | None:
        a = self.arts[i]
        if a.feature not in LINK_BEARING or a.section.template == "generic":
            return None
        story = a.story
        r = self._rng("inbody", story)
        if r.random() >= 0.15:
            return None
        mem = self.members.get(self.arts[story].section.channel, [])
        pos = bisect.bisect_left(mem, story)
        return mem[r.randrange(pos)] if pos > 0 else None

    def content(self, i: int) -> Content:
        got = self._content.get(i)
        if got is not None:
            return got
        return self._content.put(i, self._make_content(i))

    def _make_content(self, i: int) -> Content:
        a = self.arts[i]
        story = self.arts[a.story]
        channel = story.section.channel
        title0, short, topic, outlet_i = self.head(a.story)
        title = self.title_of(i)
        if title != title0:
            short = title.split(" ")[0].replace("“", "").replace("”", "")
        sr = self._rng("body", a.story)
        ar = self._rng("art", i)
        template = self.variant(i)
        outlet, outlet_host = words.OUTLETS[outlet_i]
        # paragraphs as sentence lists
        paras = [words.sentences(sr, topic, channel) for _ in range(sr.randint(4, 12))]
        if a.feature == "synd" and a.edit == 0:
            k = ar.randrange(len(paras))
            paras[k][0] = words.sentences(ar, topic, channel)[0]
        for rev in range(1, a.revision + 1):
            rr = self._rng("rev", i, rev)
            k = rr.randrange(len(paras))
            paras[k][0] = "（更新）" + words.sentences(rr, topic, channel)[0]
        indent = sr.choice(("\u3000\u3000", "", "", "&nbsp;&nbsp;"))
        blocks: list[Block] = []
        for p_i, sents in enumerate(paras):
            text = html.escape("".join(sents), quote=False)
            if sr.random() < 0.08 and len(sents) > 1:
                text = text.replace("。", "。&nbsp; ", 1)
            lead = indent
            tail = ""
            if sr.random() < 0.06:
                tail = ZW
            if sr.random() < 0.05:
                lead = ZW + lead
            blocks.append(Block(f"<p>{lead}{text}{tail}</p>"))
            if p_i == 0 or sr.random() > 0.25:
                continue
            # an image, usually followed by a caption paragraph
            h = f"{sr.getrandbits(40):010x}"
            d = datetime.fromtimestamp(story.ts, BEIJING)
            src = sr.choice(
                (
                    f"//img1.utuku.china.com/uploadimg/news/{d:%Y/%m/%d}/{h}.jpg",
                    f"https://img2.utuku.china.com/640x0/news/{d:%Y%m%d}/{h}.jpg",
                    f"//img0{sr.randint(1, 3)}.imgcdc.com/news/{d:%Y%m%d}/{h}.jpg",
                )
            )
            cap = sr.choice(words.CAPTIONS) if sr.random() < 0.8 else None
            alt = f' alt="{cap}"' if cap else ""
            blocks.append(
                Block(
                    f'<p style="text-align: center;"><img src="{src}"{alt} border="0"></p>',
                    [(src, cap)],
                )
            )
            if cap and sr.random() < 0.8:
                blocks.append(Block(f'<p style="text-align: center;">{cap}</p>'))
        if sr.random() < 0.08:
            blocks.insert(sr.randrange(1, len(blocks) + 1), Block("<p>&nbsp;</p>"))
        target = self.inbody_target(i)
        if target is not None:
            k = sr.randrange(len(blocks))
            while blocks[k].images or not block_text(blocks[k].html):
                k = (k + 1) % len(blocks)
            link = f'<a href="{BASE}{self.path_of(target)}" target="_blank">{html.escape(self.title_of(target), quote=False)}</a>'
            blocks[k].html = blocks[k].html[:-4] + f"据此前报道，{link}。</p>"
        if sr.random() < 0.12:
            k = len(blocks) - 1
            while blocks[k].images or not block_text(blocks[k].html):
                k -= 1
            url = f"{self.outside}{outlet_host}/article/{sr.getrandbits(32):08x}.html"
            blocks[k].html = (
                blocks[k].html[:-4] + f'（<a href="{url}" target="_blank">查看原文</a>）</p>'
            )
        if a.feature == "synd" and a.edit == 1:
            blocks.append(Block(f"<p>{indent}（本文转载自{outlet}，中华网综合整理）</p>"))

        kws = words.keywords(sr, topic, channel)
        summary = None if ar.random() < 0.12 else block_text(blocks[0].html)[:70]
        editor = ar.choice(
            (f"{ar.randrange(10000):04d}", words.person_name(ar), f"DF{ar.randint(100, 999)}")
        )
        author = words.person_name(ar) if template in ("A", "tech") and ar.random() < 0.4 else None
        source_prefix = template != "C" or ar.random() < 0.5
        linked_source = (
            template in ("A", "B", "tech")
            or (template == "C" and source_prefix)
            or (template in ("D", "D2", "tech2020") and ar.random() < 0.5)
        )
        source_url = f"{self.outside}{outlet_host}/" if linked_source else None
        time_style = {"D": "min", "D2": "cn", "generic": "iso"}.get(template, "sec")
        pages = self.pages_of(i)
        breaks: list[int] = []
        if pages > 1:
            if len(blocks) < pages:
                blocks += [
                    Block(
                        f"<p>{indent}{html.escape(words.paragraph(sr, topic, channel), quote=False)}</p>"
                    )
                    for _ in range(pages - len(blocks))
                ]
            step = len(blocks) / pages
            breaks = sorted(
                {max(1, min(len(blocks) - 1, round(step * k))) for k in range(1, pages)}
            )
            while len(breaks) < pages - 1:  # pragma: no cover - tiny bodies only
                blocks.append(
                    Block(f"<p>{html.escape(words.paragraph(sr, topic, channel), quote=False)}</p>")
                )
                step = len(blocks) / pages
                breaks = sorted(
                    {max(1, min(len(blocks) - 1, round(step * k))) for k in range(1, pages)}
                )
        related = []
        for kind, j in self.related_targets(i):
            if kind == "dead":
                path, t, ts = self.dead_links[i]
            else:
                assert j is not None
                path, t, ts = self.path_of(j), self.title_of(j), self.arts[j].ts
            shown = (
                None
                if template in ("D", "D2") and ar.random() < 0.5
                else fmt_time(ts, "sec" if template == "C" else "min")
            )
            related.append((path, t, shown))
        if i in self.redesign:
            from .redesign import redesign_content

            blocks, related, summary, rd = redesign_content(self, i, blocks, summary)
        else:
            rd = None
        flags = {
            "rd": rd,
            "kw_visible": template == "C" and ar.random() < 0.4,
            "meta_kw_name": ar.choice(("keywords", "Keywords", "KEYWORDS")),
            "meta_desc_name": ar.choice(("description", "Description")),
            "og_attr": ar.choice(("property", "name")),
            "editor_paren": ar.choice((("(", "：", ")"), ("（", "：", "）"), ("(", ":", ")"))),
            "ad_in_body": ar.random() < 0.3,
            "jsonld": template == "generic",
        }
        if rd is not None:
            template = "redesign"
            time_raw = rd["time_raw"]
        else:
            time_raw = fmt_time(a.ts, time_style)
        return Content(
            idx=i,
            template=template,
            title=title,
            short=short,
            keywords=kws,
            kw_visible=bool(flags["kw_visible"]),
            summary=summary,
            source=outlet,
            source_url=source_url,
            source_prefix=source_prefix,
            author=author,
            editor=None if template == "generic" else editor,
            editor_style="p" if template == "C" and ar.random() < 0.6 else "div",
            time_raw=time_raw,
            blocks=blocks,
            page_breaks=breaks,
            related=related,
            related_heading="相关阅读"
            if template in ("D", "D2") or ar.random() < 0.3
            else "相关新闻",
            mobile_path=self.mobile_path(i) if i in self.mobile else None,
            flags=flags,
        )

    # ----------------------------------------------------------------- feeds
    def rank_items(self, feed: str) -> list[int]:
        """Articles of a rank feed ("news" or "mili"): the feed-only ones plus recent hits."""
        keys = ("domestic", "international", "social") if feed == "news" else ("military",)
        pool = sorted((i for k in keys for i in self.lists[k][:100]), reverse=True)[:120]
        r = self._rng("rank", feed, self.generation)
        picked = r.sample(pool, min(len(pool), 18)) + self.feed_only[feed]
        picked.sort(key=lambda j: (r.random(), j))
        return picked

    def recommended(self, i: int) -> list[int]:
        """The ``#js-arttj-med`` list of a template-C page: recent stories, some twice."""
        pool = sorted(
            (
                j
                for k in ("domestic", "international", "social", "military", "finjson")
                for j in self.lists[k][:15]
            ),
            reverse=True,
        )[:40]
        r = self._rng("rec", i, self.generation)
        items = r.sample(pool, min(len(pool), 26))
        for _ in range(min(3, len(items))):
            items.insert(r.randrange(len(items)), r.choice(items))
        return items

    # ----------------------------------------------------------------- truth
    def reachable(
        self, rendered: bool = True, blocked: Mapping[int, str] | None = None
    ) -> tuple[set[int], dict[str, str]]:
        """Articles a crawler starting at ``/`` reaches, and the non-article paths it meets.
        ``rendered=False``: a crawler that reads the HTML as served and runs no script (the
        JavaScript variants' related lists, injected bodies and ``/news/roll/`` stay empty).
        ``blocked``: article -> reason, for pages that never arrive (a permanent fault): the
        crawler meets them (they are non-article paths with that reason) but neither they
        nor the links on them are reached."""
        blocked = blocked or {}
        seen: set[int] = set()
        non: dict[str, str] = {}
        stack: list[int] = []
        for v in self.lists.values():
            stack.extend(v)
        if rendered:
            stack.extend(self.roll)
        for f in ("news", "mili"):
            stack.extend(self.rank_items(f))
        stack.extend(self.portal_extras())
        if self.dead_list_entry:
            non[self.dead_list_entry[0]] = "http_404"
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            if i in blocked:
                non[self.path_of(i)] = blocked[i]
                continue
            seen.add(i)
            a = self.arts[i]
            if a.feature not in LINK_BEARING:
                continue
            js = None if rendered else self.js.get(i)
            if js == "body":
                non[self.path_of(i)] = "no_body"
            for kind, j in self.related_targets(i) if js != "related" else ():
                if kind == "dead":
                    non[self.dead_links[i][0]] = "http_404"
                elif j is not None and j not in seen:
                    stack.append(j)
            t = self.inbody_target(i) if js != "body" else None
            if t is not None and t not in seen:
                stack.append(t)
            if i in self.mobile:
                non[self.mobile_path(i)] = "mobile_mirror"
        reasons = {
            "empty": "no_body",
            "trunc_head": "no_body",
            "http500": "http_500",
            "redirect": "offsite_redirect",
            "notart": "not_article",
            "private": "robots",
        }
        for i in seen:
            f = self.arts[i].feature
            if f in reasons:
                non[self.path_of(i)] = reasons[f]
        return seen, non

    def portal_extras(self) -> list[int]:
        """Articles the portal links besides its channel heads: a private one, the topic page."""
        out = [i for i, a in enumerate(self.arts) if a.feature == "notart"]
        priv = [i for i, a in enumerate(self.arts) if a.feature == "private"]
        return out + priv[:1]

    def expected_article(self, i: int, base: str, rendered: bool = True) -> dict[str, Any]:
        c = self.content(i)
        a = self.arts[i]
        base = base.rstrip("/")
        scheme = base.split(":", 1)[0]
        blocks = c.blocks
        if a.feature == "trunc_body":
            blocks = blocks[: self.trunc_at(i)]
        body_lines = [t for t in (block_text(b.html) for b in blocks) if t]
        images = []
        for b in blocks:
            for src, cap in b.images:
                images.append(
                    {"url": f"{scheme}:{src}" if src.startswith("//") else src, "caption": cap}
                )
        truncated = a.feature == "trunc_body"
        story = self.arts[a.story]
        return {
            "url": canonical_url(base + self.path_of(i)),
            "article_id": a.aid,
            "channel": a.section.channel,
            "column_id": a.section.column,
            "title": c.title,
            "published_at": to_iso(c.time_raw),
            "published_at_raw": c.time_raw,
            "source": None if c.template == "generic" else c.source,  # redesign: shown
            "source_url": None if c.template == "generic" else c.source_url,
            "author": c.author,
            "editor": None if truncated else c.editor,
            "keywords": list(c.keywords),
            "summary": c.summary,
            "body": "\n".join(body_lines),
            "images": images,
            "related": []
            if truncated or (not rendered and self.js.get(i) == "related")
            else [
                {
                    "url": canonical_url(base + p),
                    "title": t,
                    "published_at": to_iso(s) if s else None,
                }
                for p, t, s in c.related
            ],
            "pages": self.pages_of(i),
            "template": TEMPLATE_NAME[c.template],
            "story_id": story.aid,
            "duplicate_of": canonical_url(base + self.path_of(a.story)) if a.story != i else None,
        }

    def trunc_at(self, i: int) -> int:
        """For a truncated page, how many body blocks survive the cut."""
        n = len(self.content(i).blocks)
        return max(1, n // 2)
