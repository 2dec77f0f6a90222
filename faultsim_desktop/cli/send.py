"""``faultsim send URL FILE...``: files posted to a ``faultsim serve`` (sender.py)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .common import EXIT_ERROR, EXIT_OK, EXIT_PENDING, EXIT_USAGE


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0")
        return value
    return parse


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def add_parser(sub, common) -> None:
    p = sub.add_parser("send", help="post JSON files to a faultsim serve, retrying until stored",
                       description="Post events to URL/events in batches from several "
                                   "connections. Each request carries an Idempotency-Key made "
                                   "from its body, so running the same command again is safe.")
    p.add_argument("url", metavar="URL", help="the server, e.g. http://127.0.0.1:3001")
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON/NDJSON files; - for stdin")
    p.add_argument("--batch", type=_positive(int), default=100, metavar="N",
                   help="events per request (default 100)")
    p.add_argument("--concurrency", type=_positive(int), default=4, metavar="C",
                   help="connections sending at once (default 4)")
    p.add_argument("--retries", type=_count, default=10, metavar="R",
                   help="retries per request after network errors, timeouts and 503s "
                        "(default 10); a request out of retries leaves its events pending")
    p.add_argument("--timeout", type=_positive(float), default=10.0, metavar="S",
                   help="seconds to wait for an answer before retrying (default 10)")
    p.add_argument("--token", default=None,
                   help="send 'Authorization: Bearer TOKEN' (default: $FAULTSIM_TOKEN)")
    p.add_argument("--seed", type=int, default=None, help="seed for the backoff jitter")
    p.add_argument("--json", action="store_true", help="print one JSON summary line")


def run(args) -> int:
    import httpx

    from ..sender import send_inputs  # httpx only here

    inputs: list[tuple[str, bytes]] = []
    for name in args.files:
        try:
            data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            print(f"faultsim: cannot read {name}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_ERROR
        inputs.append(("stdin" if name == "-" else Path(name).name, data))
    url = args.url if "://" in args.url else f"http://{args.url}"
    try:
        s = send_inputs(url, inputs, batch=args.batch, concurrency=args.concurrency,
                        retries=args.retries, timeout=args.timeout,
                        token=args.token or os.environ.get("FAULTSIM_TOKEN") or None,
                        seed=args.seed)
    except (ValueError, httpx.InvalidURL) as exc:
        print(f"faultsim: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(s.as_dict()))
    else:
        print(f"received {s.received:,}: accepted {s.accepted:,}, duplicates {s.duplicates:,}, "
              f"rejected {s.rejected:,}, failed {s.failed:,}; pending {s.pending:,} "
              f"({s.requests:,} requests, {s.retries:,} retries, {s.seconds:.2f} s)")
    for error in s.errors:
        print(f"faultsim: {error}", file=sys.stderr)
    if s.pending and not args.json:
        print("pending events have no final answer: run the same command again",
              file=sys.stderr)
    if s.failed or (s.errors and not s.pending):
        return EXIT_ERROR
    return EXIT_PENDING if s.pending else EXIT_OK
