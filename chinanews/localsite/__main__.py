"""Command line: ``python -m chinanews.localsite serve|expected|non-articles ...``."""

from __future__ import annotations

import argparse
import json
import sys
import time

from .faults import KINDS, FaultPlan
from .server import serve
from .site import LocalSite


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m chinanews.localsite", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("serve", "expected", "non-articles"):
        s = sub.add_parser(name)
        s.add_argument("--size", type=int, default=200)
        s.add_argument("--seed", type=int, default=1)
        s.add_argument(
            "--outside", default="http://localhost:9/", help="base URL of the outside host"
        )
        s.add_argument(
            "--js",
            type=float,
            default=0.0,
            help="share of article pages that are JavaScript variants (default 0)",
        )
        s.add_argument(
            "--redesign",
            type=float,
            default=0.0,
            help="share of article pages in markup no template knows; >0 also redesigns "
            "the channel list pages (default 0)",
        )
        f = s.add_argument_group("faults (chinanews.localsite.faults; off unless --faults)")
        f.add_argument("--faults", type=int, metavar="SEED", help="inject faults drawn from SEED")
        f.add_argument("--fault-articles", type=float, default=FaultPlan.articles)
        f.add_argument("--fault-lists", type=float, default=FaultPlan.lists)
        f.add_argument("--fault-permanent", type=float, default=FaultPlan.permanent)
        f.add_argument("--fault-max-failures", type=int, default=FaultPlan.max_failures)
        f.add_argument("--fault-stall", type=float, default=FaultPlan.stall_seconds)
        f.add_argument(
            "--fault-kinds", default=",".join(KINDS), help="comma-separated (default: all)"
        )
        if name == "serve":
            s.add_argument("--host", default="127.0.0.1")
            s.add_argument("--port", type=int, default=8000)
            s.add_argument("--verbose", action="store_true", help="log every request to stderr")
        else:
            s.add_argument(
                "--base", default="http://127.0.0.1:8000", help="base URL the site is served at"
            )
            s.add_argument(
                "--static",
                action="store_true",
                help="what the HTML as served yields (render=never), not the rendered pages",
            )
    args = p.parse_args(argv)
    t0 = time.monotonic()
    faults = None
    if args.faults is not None:
        try:
            faults = FaultPlan(
                seed=args.faults,
                articles=args.fault_articles,
                lists=args.fault_lists,
                permanent=args.fault_permanent,
                max_failures=args.fault_max_failures,
                stall_seconds=args.fault_stall,
                kinds=tuple(k for k in args.fault_kinds.split(",") if k),
            )
        except ValueError as exc:
            p.error(str(exc))
    if not 0.0 <= args.redesign <= 1.0:
        p.error(f"--redesign: {args.redesign} is not a share between 0 and 1")
    site = LocalSite(
        size=args.size,
        seed=args.seed,
        outside_base=args.outside,
        js=args.js,
        faults=faults,
        redesign=args.redesign,
    )
    if args.cmd == "serve":
        with serve(site, args.host, args.port, verbose=args.verbose) as base:
            print(f"base URL:  {base}", flush=True)
            print(f"start URL: {base}{site.start_path}", flush=True)
            print(
                f"({len(site)} article pages, built in {time.monotonic() - t0:.1f}s; Ctrl-C stops)",
                file=sys.stderr,
                flush=True,
            )
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                if site.faults is not None:
                    print(f"faults injected: {dict(site.faults.injected)}", file=sys.stderr)
        return 0
    if args.cmd == "expected":
        for item in site.expected(args.base, rendered=not args.static).values():
            sys.stdout.write(json.dumps(item, ensure_ascii=False) + "\n")
        return 0
    for url, reason in site.non_articles(args.base, rendered=not args.static).items():
        sys.stdout.write(json.dumps({"url": url, "reason": reason}, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
