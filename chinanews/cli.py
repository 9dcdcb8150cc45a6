"""The ``chinanews`` command: tools around the crawler.

``chinanews extract FILE_OR_URL [--url URL]`` prints the article JSON that the extractors
read from one page, for checking selectors when the site changes; its ``provenance`` names
the rule that gave each field, and ``--provenance`` prints only that, one field a line.
``chinanews schedule --scrapyd URL [--every 30m]`` triggers a crawl on Scrapyd unless one is
still running (``docs/scheduling.md``).
``chinanews seed URL...`` pushes start URLs to a distributed crawl's workers
(``docs/distributed.md``).
``chinanews lake maintain [--dry-run]`` compacts the Iceberg lake's small files, expires its
old snapshots and removes its orphan files (``docs/lake.md``).
The crawl itself is ``scrapy crawl china_com``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import urllib.request
from pathlib import Path

from chinanews import __version__, distributed, scheduling
from chinanews.lake import maintain


def _read_page(target: str, timeout: float) -> tuple[bytes, str | None, str]:
    """The page's bytes, the charset its server declared, and its URL."""
    if target.startswith(("http://", "https://")):
        request = urllib.request.Request(target, headers={"User-Agent": f"chinanews/{__version__}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read(), response.headers.get_content_charset(), response.geturl()
    path = Path(target)
    return path.read_bytes(), None, path.resolve().as_uri()


def cmd_extract(args: argparse.Namespace) -> int:
    from chinanews.extract import extract_article

    try:
        body, charset, fetched_url = _read_page(args.target, args.timeout)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.target}: {exc}", file=sys.stderr)
        return 2
    url = args.url or fetched_url
    result = extract_article(url, body, encoding=args.encoding or charset)
    out: dict[str, object]
    if result.article is None:
        out = {"article": None, "reason": result.reason}
    else:
        out = dataclasses.asdict(result.article)
        if not args.with_html:
            out.pop("body_html", None)
    if args.links:
        out["_links"] = dataclasses.asdict(result.links)
    if args.provenance and result.article is not None:
        sys.stdout.write(provenance_lines(result.article.provenance))
        return 0
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0 if result.article is not None else 1


def provenance_lines(provenance: dict[str, str]) -> str:
    """``field  rule``, one field a line, in the item's field order (fields the item does
    not know last), the rules aligned; a line saying so when no rule was recorded."""
    from chinanews.items import ARTICLE_FIELDS

    if not provenance:
        return "(no provenance recorded)\n"
    order = {name: i for i, name in enumerate(ARTICLE_FIELDS)}
    names = sorted(provenance, key=lambda n: (order.get(n, len(order)), n))
    width = max(map(len, names))
    return "".join(f"{name:<{width}}  {provenance[name]}\n" for name in names)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chinanews", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"chinanews {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    extract = sub.add_parser(
        "extract",
        help="print the article JSON extracted from one page",
        description="Extract one article page (a saved file or a URL) and print it as JSON, "
        "its 'provenance' naming the rule that gave each field. "
        "Exit code 0 when the page is an article, 1 when it is not (the reason is printed), "
        "2 when it cannot be read.",
    )
    extract.add_argument(
        "target", metavar="FILE_OR_URL", help="a saved HTML file, or an http(s) URL to fetch"
    )
    extract.add_argument(
        "--url", help="the page's URL, when TARGET is a file (for ids, channel and links)"
    )
    extract.add_argument(
        "--encoding", help="the page's charset, if neither header nor <meta> declares it"
    )
    extract.add_argument("--with-html", action="store_true", help="include body_html")
    extract.add_argument(
        "--provenance",
        action="store_true",
        help="print only which rule gave each field, one 'FIELD  RULE' line per field",
    )
    extract.add_argument(
        "--links", action="store_true", help="also print the links the page offers"
    )
    extract.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for a URL (default 30)"
    )
    extract.set_defaults(func=cmd_extract)
    scheduling.add_parser(sub)
    distributed.add_parser(sub)
    maintain.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
