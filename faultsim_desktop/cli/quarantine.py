"""``faultsim quarantine list|show|resubmit``: rejected input, and sending it again."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ..core.service import IngestService
from .common import (EXIT_ERROR, EXIT_OK, EXIT_PENDING, existing_db, print_summary, raw_text,
                     table)


def add_parser(sub, common) -> None:
    p = sub.add_parser("quarantine", parents=[common], help="rejected input: list, show, resubmit")
    qsub = p.add_subparsers(dest="action", metavar="ACTION")
    q = qsub.add_parser("list", parents=[common], help="list open entries")
    q.add_argument("--all", action="store_true", help="include resolved entries")
    q.add_argument("--json", action="store_true")
    q = qsub.add_parser("show", parents=[common], help="show one entry with its raw text")
    q.add_argument("id", type=int)
    q = qsub.add_parser("resubmit", parents=[common], help="submit an entry again after a fix")
    q.add_argument("id", type=int)
    src = q.add_mutually_exclusive_group()
    src.add_argument("--file", type=Path, help="the fixed text from this file")
    src.add_argument("--text", help="the fixed text")
    src.add_argument("--edit", action="store_true", help="fix it in $EDITOR first")
    q.add_argument("--json", action="store_true")


def run(args) -> int:
    action = args.action or "list"
    with IngestService(existing_db(args), workers=0) as svc:
        if action == "list":
            return _list(svc, args)
        entry = svc.quarantine_entry(args.id)
        if entry is None:
            print(f"faultsim: no quarantine entry #{args.id}", file=sys.stderr)
            return EXIT_ERROR
        if action == "show":
            print(f"#{entry.id} {entry.status}, seen {entry.times_seen} time(s), "
                  f"last {entry.last_seen}")
            print(f"source: {entry.source}, line {entry.line}, column {entry.column}")
            print(f"reason: {entry.reason}")
            print("raw:")
            print(raw_text(entry.raw))
            return EXIT_OK
        if args.file:
            text = args.file.read_bytes()
        elif args.text is not None:
            text = args.text
        elif args.edit:
            text = _edit(raw_text(entry.raw))
        else:
            text = None  # as it is (e.g. after fixing what rejected it)
        s = svc.resubmit_quarantined(args.id, text)
        print_summary(s, args.json)
        return EXIT_PENDING if s.failed else EXIT_OK


def _list(svc: IngestService, args) -> int:
    entries = list(svc.iter_quarantine(None if args.all else "open"))
    if getattr(args, "json", False):
        print(json.dumps([{"id": e.id, "code": e.code, "reason": e.reason,
                           "source": e.source, "line": e.line, "column": e.column,
                           "times_seen": e.times_seen, "status": e.status,
                           "raw": raw_text(e.raw)} for e in entries], ensure_ascii=False))
    else:
        table(["id", "source", "line", "seen", "status", "reason"],
              [[e.id, e.source, e.line, e.times_seen, e.status, e.reason[:100]]
               for e in entries], right={0, 2, 3})
    return EXIT_OK


def _edit(text: str) -> str:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile("w+", suffix=".json", delete=False, encoding="utf-8") as f:
        f.write(text)
        name = f.name
    try:
        subprocess.run([*editor.split(), name], check=True)
        return Path(name).read_text(encoding="utf-8")
    finally:
        os.unlink(name)
