"""Labelled near-duplicate pairs: what the deduplication benchmark and tests measure against.

The site's syndicated copies (feature ``synd``) re-publish a story under another channel's
URL and id with one small edit. This module makes many such pairs at once, with the same
text grammar (``words``), the same body lines a crawl extracts (paragraphs, image captions,
in-body links, 查看原文) and the same edits, alone and combined:

``sentence``      the first sentence of one paragraph rewritten (the site's edit 0)
``source_line``   ``（本文转载自X，中华网综合整理）`` appended (edit 1)
``title``         a different headline, the body unchanged (edit 2)

and, as negatives, stories that must *not* be merged:

``same_topic``    same channel and topic, otherwise independent
``same_cast``     same topic and the same people, places and organisations
``follow_up``     same cast, and the new story opens with the old one's lead sentence
``random``        two stories drawn at random

The grammar is templated, so different stories share many sentence templates; the hard
negatives are where a threshold chosen on random pairs would fail. Some duplicates also
swap the width of their punctuation (``，`` → ``,``), as re-typeset copies do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import words

EDITS = ("sentence", "source_line", "title")
POSITIVE_KINDS = (
    "sentence",
    "source_line",
    "title",
    "sentence+source_line",
    "sentence+title",
    "source_line+title",
    "sentence+source_line+title",
)
HARD_NEGATIVE_KINDS = ("same_topic", "same_cast", "follow_up")
NEGATIVE_KINDS = (*HARD_NEGATIVE_KINDS, "random")
_HALF_WIDTH = str.maketrans({"，": ",", "。": ".", "“": '"', "”": '"', "：": ":", "；": ";"})


@dataclass(frozen=True)
class LabelledPair:
    """Two articles, and whether the second is a syndicated copy of the first."""

    kind: str
    is_duplicate: bool
    title_a: str
    body_a: str
    title_b: str
    body_b: str


@dataclass
class _Story:
    channel: str
    topic: str
    title: str
    outlet: str
    paras: list[list[str]]
    extras: list[tuple[int, str]]  # (after paragraph k, caption line)
    link: tuple[int, str] | None  # (paragraph k, text appended)

    def lines(self, source_line: str | None = None) -> list[str]:
        out: list[str] = []
        for k, sents in enumerate(self.paras):
            text = "".join(sents)
            if self.link and self.link[0] == k:
                text += self.link[1]
            out.append(text)
            out += [cap for at, cap in self.extras if at == k]
        if source_line:
            out.append(source_line)
        return out


def _cast(rng: random.Random) -> dict[str, list[str]]:
    """The people, places and organisations one story (and its look-alikes) is about."""
    return {
        "org": rng.sample(words.ORGS, 2),
        "place": rng.sample(words.PLACES, 2),
        "country": rng.sample(words.COUNTRIES, 2),
        "foreign_org": rng.sample(words.FOREIGN_ORGS, 1),
        "person": rng.sample(words.PEOPLE, 2),
        "name": [words.person_name(rng) for _ in range(2)],
    }


def _story(
    rng: random.Random,
    channel: str,
    topic: str | None = None,
    cast: dict[str, list[str]] | None = None,
) -> _Story:
    title, _, drawn_topic = words.headline(rng, channel)
    topic = topic or drawn_topic
    paras = [words.sentences(rng, topic, channel, cast) for _ in range(rng.randint(4, 12))]
    extras = []
    for k in range(1, len(paras)):  # images after paragraphs; their captions are body lines
        if rng.random() < 0.25 and rng.random() < 0.8 * 0.8:
            extras.append((k, rng.choice(words.CAPTIONS)))
    link = None
    if rng.random() < 0.15:
        link = (rng.randrange(len(paras)), f"据此前报道，{words.headline(rng, channel)[0]}。")
    elif rng.random() < 0.12:
        link = (len(paras) - 1, "（查看原文）")
    outlet = rng.choice(words.OUTLETS)[0]
    return _Story(channel, topic, title, outlet, paras, extras, link)


def _text(story: _Story, source_line: str | None = None) -> str:
    return "\n".join(story.lines(source_line))


def _positive(rng: random.Random, kind: str) -> LabelledPair:
    channel = rng.choice(list(words.TOPICS))
    a = _story(rng, channel)
    edits = set(kind.split("+"))
    b = _Story(a.channel, a.topic, a.title, a.outlet, [list(p) for p in a.paras], a.extras, a.link)
    if "sentence" in edits:  # as the site does: one paragraph's first sentence rewritten
        k = rng.randrange(len(b.paras))
        b.paras[k][0] = words.sentences(rng, a.topic, channel)[0]
    if "title" in edits:
        b.title = words.headline(rng, channel)[0]
    source = f"（本文转载自{a.outlet}，中华网综合整理）" if "source_line" in edits else None
    body_b = _text(b, source)
    if rng.random() < 0.2:
        body_b = body_b.translate(_HALF_WIDTH)
    return LabelledPair(kind, True, a.title, _text(a), b.title, body_b)


def _negative(rng: random.Random, kind: str) -> LabelledPair:
    channel = rng.choice(list(words.TOPICS))
    if kind == "random":
        a = _story(rng, channel)
        b = _story(rng, rng.choice(list(words.TOPICS)))
    elif kind == "same_topic":
        a = _story(rng, channel)
        b = _story(rng, channel, a.topic)
    else:
        cast = _cast(rng)
        a = _story(rng, channel, None, cast)
        b = _story(rng, channel, a.topic, cast)
        if kind == "follow_up":  # the new story recalls the old one's lead
            b.paras[0].insert(0, a.paras[0][0])
    return LabelledPair(kind, False, a.title, _text(a), b.title, _text(b))


def near_duplicate_pairs(n: int = 3000, seed: int = 1) -> list[LabelledPair]:
    """``n`` labelled pairs: 40% duplicates (every edit kind and combination in turn), 40%
    hard negatives (same topic, same cast, follow-up in turn) and 20% random pairs."""
    rng = random.Random(f"near-duplicate-pairs:{seed}")
    out: list[LabelledPair] = []
    for k in range(n):
        slot = k % 10
        if slot < 4:
            out.append(_positive(rng, POSITIVE_KINDS[(k // 10 * 4 + slot) % len(POSITIVE_KINDS)]))
        elif slot < 8:
            kind = HARD_NEGATIVE_KINDS[(k // 10 * 4 + slot - 4) % len(HARD_NEGATIVE_KINDS)]
            out.append(_negative(rng, kind))
        else:
            out.append(_negative(rng, "random"))
    return out
