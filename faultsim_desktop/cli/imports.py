"""``faultsim imports list|show|undo``: every file, paste and request ingested, and taking one
back exactly."""
from __future__ import annotations

import json
import sys

from ..core.service import ImportBusy, IngestService
from .common import EXIT_ERROR, EXIT_OK, existing_db, table

_COUNTS = ("received", "accepted", "duplicates", "rejected", "failed", "pending")


def add_parser(sub, common) -> None:
    p = sub.add_parser("imports", parents=[common],
                       help="every file, paste and request ingested: list, show, undo")
    isub = p.add_subparsers(dest="action", metavar="ACTION")
    q = isub.add_parser("list", parents=[common], help="list the imports, oldest first")
    q.add_argument("--json", action="store_true")
    q = isub.add_parser("show", parents=[common], help="one import with its counts")
    q.add_argument("id", type=int)
    q.add_argument("--json", action="store_true")
    q = isub.add_parser("undo", parents=[common],
                        help="remove what one import contributed, as if never ingested")
    q.add_argument("id", type=int)
    q.add_argument("--json", action="store_true")


def run(args) -> int:
    action = args.action or "list"
    as_json = getattr(args, "json", False)
    with IngestService(existing_db(args), workers=0) as svc:
        if action == "list":
            rows = svc.imports()
            if as_json:
                print(json.dumps([r.as_dict() for r in rows], ensure_ascii=False))
            else:
                table(["id", "kind", "source", "started", *_COUNTS, "undone"],
                      [[r.id, r.kind, r.source, r.started_at[:19].replace("T", " "),
                        *(f"{getattr(r, k):,}" for k in _COUNTS),
                        (r.undone_at or "")[:19].replace("T", " ")] for r in rows],
                      right={0, 4, 5, 6, 7, 8, 9})
            return EXIT_OK
        info = svc.import_info(args.id)
        if info is None:
            print(f"faultsim: there is no import #{args.id}", file=sys.stderr)
            return EXIT_ERROR
        if action == "show":
            if as_json:
                print(json.dumps(info.as_dict(), ensure_ascii=False))
                return EXIT_OK
            print(f"import #{info.id}: {info.kind} {info.source}")
            print(f"started {info.started_at}, last outcome {info.finished_at or '-'}")
            print(f"faults in force: {info.faults}")
            print(", ".join(f"{k} {getattr(info, k):,}" for k in _COUNTS))
            if info.undone_at:
                print(f"undone {info.undone_at} (the counts are those it had then)")
            return EXIT_OK
        try:
            result = svc.undo_import(args.id)
        except ImportBusy as exc:
            print(f"faultsim: {exc}", file=sys.stderr)
            return EXIT_ERROR
        if as_json:
            print(json.dumps(result._asdict()))
        elif result.already:
            print(f"import #{args.id} was undone already; nothing changed")
        else:
            print(f"import #{args.id} undone: {result.removed:,} event(s) left the totals, "
                  f"{result.handed_over:,} went to a later import that sent them too, "
                  f"{result.conflicts_accepted:,} key conflict(s) accepted in their place")
        return EXIT_OK
