"""A synthetic, deterministic copy of china.com for tests, benchmarks and the offline demo.

``LocalSite(size, seed, outside_base)`` models the site; ``serve(site)`` serves it on
127.0.0.1; ``site.expected(base)`` and ``site.non_articles(base)`` say what a correct crawl
emits. See ``docs/local-site.md`` and ``docs/site-notes.md``.
"""

from __future__ import annotations

from .pairs import LabelledPair, near_duplicate_pairs
from .server import BaseURL, serve, serve_outside
from .site import LocalSite, Response

__all__ = [
    "BaseURL",
    "LabelledPair",
    "LocalSite",
    "Response",
    "near_duplicate_pairs",
    "serve",
    "serve_outside",
]
