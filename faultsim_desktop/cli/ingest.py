"""``faultsim ingest FILE...``: files or standard input through the engine."""
from __future__ import annotations

import sys
import time

from ..core.retry import RetryPolicy
from ..core.service import IngestService, Summary
from .common import (EXIT_ERROR, EXIT_OK, EXIT_PENDING, Progress, database_fault_option, db_of,
                     fault_switch, print_summary, send_pending_first)


def add_parser(sub, common) -> None:
    p = sub.add_parser("ingest", parents=[common], help="ingest JSON files or standard input")
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON/NDJSON files; - for stdin")
    p.add_argument("--fault", action="append", type=database_fault_option, default=[],
                   metavar="POINT:SPEC",
                   help="inject a fault, e.g. mid_transaction:0.3, before_write:next=5, "
                        "after_commit:always, latency:50ms (repeatable)")
    p.add_argument("--seed", type=int, default=None, help="seed for faults and backoff jitter")
    p.add_argument("--retries", type=int, default=5, help="retries per failed write (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON summary line")
    p.add_argument("--workers", type=int, default=None,
                   help="parsing processes for large files (default: one per core; 0: none)")
    p.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL", type=str.upper,
                   help="FULL (default): an accepted event survives a power loss; NORMAL: "
                        "faster, the last commits may be lost on power loss (not on a crash)")
    p.add_argument("--batch-size", type=int, default=50000,
                   help="most events per transaction (default 50000)")


def run(args) -> int:
    policy = RetryPolicy.with_retries(args.retries)
    with IngestService(db_of(args), faults=fault_switch(args), retry=policy, seed=args.seed,
                       synchronous=args.synchronous,
                       workers=args.workers, batch_size=max(1, args.batch_size)) as svc:
        send_pending_first(svc)
        total = Summary()
        progress = Progress(not args.json)
        started = time.perf_counter()
        for name in args.files:
            try:
                s = svc.ingest_file(name, progress=progress)
            except FileNotFoundError as exc:
                progress.finish()
                print(f"faultsim: {exc}", file=sys.stderr)
                return EXIT_ERROR
            for k in ("received", "accepted", "duplicates", "rejected", "failed"):
                setattr(total, k, getattr(total, k) + getattr(s, k))
            total.refused += s.refused
        progress.finish()
        total.pending = svc.outbox.count()
        total.seconds = time.perf_counter() - started
        print_summary(total, args.json)
        for why in total.refused:
            print(f"faultsim: {why}", file=sys.stderr)
        if not args.json and total.rejected:
            print("rejected input is in quarantine: faultsim quarantine list", file=sys.stderr)
        if total.refused:  # a file that is not JSON at all is an error, not a rejected event
            return EXIT_ERROR
        return EXIT_PENDING if total.pending else EXIT_OK
