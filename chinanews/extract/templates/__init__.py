"""One module per article template; ``CASCADE`` is the order they are tried in."""

from __future__ import annotations

from chinanews.extract.templates import arti, current, generic, legacy, military, tech

#: Known templates, tried in turn; ``generic`` is the fallback for the rest.
CASCADE = (tech.locate, legacy.locate, military.locate, current.locate, arti.locate)

__all__ = ["CASCADE", "generic"]
