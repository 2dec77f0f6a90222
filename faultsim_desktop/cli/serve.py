"""``faultsim serve``: the HTTP API over one service until Ctrl+C or SIGTERM."""
from __future__ import annotations

import argparse
import os
import sys

from ..core.retry import RetryPolicy
from ..core.service import FINGERPRINT_CACHE, IngestService
from .common import (EXIT_ERROR, EXIT_OK, EXIT_USAGE, db_of, fault_option, fault_switch,
                     send_pending_first)

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3}


def size_option(text: str) -> int:
    number = text.strip().rstrip("bBiIkKmMgG ")
    unit = text.strip()[len(number):].strip().lower()
    try:
        value = int(float(number) * _UNITS[unit])
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 16MiB, 512KiB or 100000"
                                         ) from None
    if value < 1:
        raise argparse.ArgumentTypeError("the size must be at least 1 byte")
    return value


def add_parser(sub, common) -> None:
    p = sub.add_parser("serve", parents=[common],
                       help="HTTP API: POST /events, GET /events, /stats, /health")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; any other needs a token)")
    p.add_argument("--port", type=int, default=3001, help="port (default 3001; 0: any free one)")
    p.add_argument("--token", default=None,
                   help="require 'Authorization: Bearer TOKEN' (default: $FAULTSIM_TOKEN)")
    p.add_argument("--max-body", type=size_option, default=16 << 20, metavar="SIZE",
                   help="largest request body, e.g. 16MiB (default), 512KiB, 100000")
    p.add_argument("--fault", action="append", type=fault_option, default=[],
                   metavar="POINT:SPEC",
                   help="inject a fault, as for ingest, or on the wire of POST /events: "
                        "drop_response, drop_request, slow_response:200ms, http_503 "
                        "(repeatable)")
    p.add_argument("--seed", type=int, default=None, help="seed for faults and backoff jitter")
    p.add_argument("--retries", type=int, default=5, help="retries per failed write (default 5)")
    p.add_argument("--fingerprint-cache", type=int, default=FINGERPRINT_CACHE, metavar="N",
                   help="stored rows kept in memory to answer retries without a read (SQLite; "
                        f"default {FINGERPRINT_CACHE:,}; 0: off)")
    p.add_argument("--drain-every", type=float, default=15.0, metavar="SECONDS",
                   help="send the pending outbox again this often while serving (default 15)")


def run(args) -> int:
    from ..server import TokenRequired, bind, check_bind, serve, url_of  # starlette only here

    token = args.token or os.environ.get("FAULTSIM_TOKEN") or None
    try:
        check_bind(args.host, token)
    except TokenRequired as exc:
        print(f"faultsim: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with IngestService(db_of(args), faults=fault_switch(args),
                       retry=RetryPolicy.with_retries(args.retries), seed=args.seed, workers=0,
                       fingerprint_cache=args.fingerprint_cache) as svc:
        send_pending_first(svc)
        try:
            sock = bind(args.host, args.port)
        except OSError as exc:
            print(f"faultsim: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
                  file=sys.stderr)
            return EXIT_ERROR
        print(f"faultsim: serving {svc.db_label} on {url_of(sock)} (Ctrl+C stops)", flush=True)
        serve(svc, sock, token=token, max_body=args.max_body,
              drain_every_s=max(0.05, args.drain_every))
        c = svc.counters.snapshot()
    # the service is closed: every queued event was written or went to the pending outbox
    print(f"faultsim: stopped; accepted {c['accepted']:,}, duplicates {c['duplicates']:,}, "
          f"rejected {c['rejected']:,}, failed {c['failed']:,}", file=sys.stderr)
    return EXIT_OK
