"""Who is crawling: the ``User-Agent`` names the product and the operator's contact.

china.com, like any site, wants to know who sends a crawler and how to reach them before it
blocks it. ``CHINANEWS_CONTACT`` (a URL or an e-mail address, the operator's) goes into the
default ``User-Agent``::

    chinanews/0.1.0 (news archive crawler; +https://data.example.com/crawler)

While it is unset, the ``User-Agent`` is the product token alone and the crawl says so in
one warning at start. A ``USER_AGENT`` of your own (``-s USER_AGENT=…``) is sent as it is.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings

from chinanews import __version__

logger = logging.getLogger(__name__)

#: The product token, the whole ``User-Agent`` while no contact is set.
PRODUCT = f"chinanews/{__version__} (news archive crawler)"

_EMAIL = re.compile(r"^(?:mailto:)?[^@\s/]+@[^@\s/]+\.[^@\s/]+$")
_URL = re.compile(r"^https?://[^\s/]+\.[^\s]+$|^https?://[^\s/]+(?::\d+)?(?:/\S*)?$")


def contact_problem(value: str) -> str | None:
    """Why ``value`` is not a contact (a URL or an e-mail address), or None."""
    text = value.strip()
    if _EMAIL.match(text) or _URL.match(text):
        return None
    return "is not a URL (https://…) or an e-mail address"


def user_agent(contact: str | None) -> str:
    """The default ``User-Agent`` with ``contact`` (URL or e-mail) when there is one."""
    if not contact:
        return PRODUCT
    return f"chinanews/{__version__} (news archive crawler; +{contact.strip()})"


class Identity:
    """Add-on: the ``User-Agent`` from ``CHINANEWS_CONTACT`` (module docstring)."""

    def __init__(self, crawler: Any = None) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Any) -> Identity:
        return cls(crawler)

    def update_settings(self, settings: BaseSettings) -> None:
        if (settings.getpriority("USER_AGENT") or 0) > SETTINGS_PRIORITIES["addon"]:
            return  # the operator's own User-Agent, sent as it is
        contact = settings.get("CHINANEWS_CONTACT")
        if contact and contact_problem(str(contact)) is None:
            settings.set("USER_AGENT", user_agent(str(contact)), "addon")
            return
        settings.set("USER_AGENT", PRODUCT, "addon")
        if not contact:
            logger.warning(
                "CHINANEWS_CONTACT is not set: the User-Agent names no one china.com could "
                "reach before blocking the crawl; set -s CHINANEWS_CONTACT=<your URL or "
                "e-mail> (docs/settings.md)"
            )
