"""``faultsim stats``: totals per client and currency."""
from __future__ import annotations

import json
import sys

from ..core.service import IngestService
from .common import EXIT_OK, existing_db, table


def add_parser(sub, common) -> None:
    p = sub.add_parser("stats", parents=[common], help="totals per client and currency")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")


def run(args) -> int:
    with IngestService(existing_db(args), workers=0) as svc:
        rows = svc.stats()
        if args.csv:
            svc.export_stats_csv(sys.stdout)
        elif args.json:
            print(json.dumps([{"client": r.client, "currency": r.currency, "count": r.count,
                               "total": str(r.total), "first_seen": r.first_seen,
                               "last_seen": r.last_seen} for r in rows], ensure_ascii=False))
        else:
            table(["client", "currency", "count", "total", "first_seen", "last_seen"],
                  [[r.client, r.currency or "", r.count, str(r.total), r.first_seen,
                    r.last_seen] for r in rows], right={2, 3})
    return EXIT_OK
