"""``faultsim pending list|retry``: events whose storage failed, and sending them again."""
from __future__ import annotations

import json

from ..core.service import IngestService
from .common import EXIT_OK, EXIT_PENDING, existing_db, print_summary, raw_text, table


def add_parser(sub, common) -> None:
    p = sub.add_parser("pending", parents=[common], help="events whose storage failed")
    psub = p.add_subparsers(dest="action", metavar="ACTION")
    q = psub.add_parser("list", parents=[common])
    q.add_argument("--json", action="store_true")
    q = psub.add_parser("retry", parents=[common], help="send pending events again")
    q.add_argument("--json", action="store_true")


def run(args) -> int:
    action = args.action or "list"
    with IngestService(existing_db(args), workers=0) as svc:
        if action == "retry":
            s = svc.retry_pending()
            print_summary(s, getattr(args, "json", False))
            return EXIT_PENDING if s.pending else EXIT_OK
        rows = svc.pending(None)
        if getattr(args, "json", False):
            print(json.dumps([{"id": p.id, "source": p.source, "line": p.line,
                               "failed_at": p.failed_at, "attempts": p.attempts,
                               "last_error": p.last_error, "raw": raw_text(p.raw)}
                              for p in rows], ensure_ascii=False))
        else:
            table(["id", "source", "line", "attempts", "failed_at", "last_error"],
                  [[p.id, p.source, p.line, p.attempts, p.failed_at, p.last_error[:80]]
                   for p in rows], right={0, 2, 3})
    return EXIT_OK
