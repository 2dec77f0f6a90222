"""``faultsim export``: every stored event as CSV or NDJSON."""
from __future__ import annotations

import sys
from pathlib import Path

from ..core.service import IngestService
from .common import EXIT_OK, existing_db


def add_parser(sub, common) -> None:
    p = sub.add_parser("export", parents=[common], help="stored events as CSV or NDJSON")
    p.add_argument("--format", choices=("csv", "ndjson"), default="csv")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")


def run(args) -> int:
    with IngestService(existing_db(args), workers=0) as svc:
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as f:
                n = svc.export_events(f, args.format)
            print(f"wrote {n:,} events to {args.output}", file=sys.stderr)
        else:
            svc.export_events(sys.stdout, args.format)
    return EXIT_OK
