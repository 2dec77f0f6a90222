"""``faultsim explain ID [--json]``: where a stored event came from and why it is what it is;
``--quarantine ID`` explains a rejected input instead."""
from __future__ import annotations

import sys

from ..core.service import IngestService
from .common import EXIT_ERROR, EXIT_OK, clean, existing_db


def add_parser(sub, common) -> None:
    p = sub.add_parser("explain", parents=[common],
                       help="explain an event: raw text, fields and rules, copies, import")
    p.add_argument("id", type=int, help="the event id (or, with --quarantine, the entry's)")
    p.add_argument("--quarantine", action="store_true",
                   help="explain quarantine entry ID: what the rules make of it and why it "
                        "was rejected")
    p.add_argument("--json", action="store_true", help="one JSON document")


def run(args) -> int:
    with IngestService(existing_db(args), workers=0) as svc:
        if args.quarantine:
            exp = svc.explain_quarantined(args.id)
            missing = f"no quarantine entry #{args.id}"
        else:
            exp = svc.explain_event(args.id)
            missing = f"no event #{args.id}"
    if exp is None:
        print(f"faultsim: {missing}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(exp.to_json())
    else:
        # untrusted text (raw events, field names) never reaches the terminal as control codes
        print("\n".join(clean(line) for line in exp.to_text().splitlines()))
    return EXIT_OK
