"""``faultsim log``: the recent outcomes, newest last."""
from __future__ import annotations

import json

from ..core.service import IngestService
from .common import EXIT_OK, existing_db, table

def add_parser(sub, common) -> None:
    p = sub.add_parser("log", parents=[common], help="recent outcomes")
    p.add_argument("-n", "--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")


def run(args) -> int:
    with IngestService(existing_db(args), workers=0) as svc:
        rows = [r._asdict() for r in reversed(svc.recent_log(args.limit))]
    if args.json:
        for d in rows:
            d["fingerprint"] = d["fingerprint"].hex() if d["fingerprint"] else None
            print(json.dumps(d, ensure_ascii=False))
    else:
        table(["at", "outcome", "client", "amount", "currency", "source", "line", "reason"],
              [[d["at"], d["outcome"], d["client"] or "", d["amount"] or "",
                d["currency"] or "", d["source"] or "", d["line"] or "",
                (d["reason"] or "")[:80]] for d in rows], right={3, 6})
    return EXIT_OK
