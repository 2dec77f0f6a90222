"""``faultsim``: the engine from a terminal. Thin: parse arguments, call IngestService, print."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .core.faults import FaultSwitch, parse_fault_spec
from .core.retry import RetryPolicy
from .core.service import IngestService, Summary, default_db_path
from .core.store import StorageError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PENDING = 0, 1, 2, 3


def _db(args) -> Path | None:
    return getattr(args, "db", None)


def _existing_db(args) -> Path:
    """Commands that only read or fix must not create an empty database on a typo."""
    path = _db(args) or default_db_path()
    if not Path(path).exists():
        raise StorageError(f"There is no database at {path}. Ingest events first "
                           "(faultsim ingest FILE --db PATH), or check the --db path.",
                           path=Path(path), kind="missing")
    return Path(path)


def _fault(text: str):
    try:
        return parse_fault_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: nested sub-commands must not reset a --db given before them
    common.add_argument("--db", type=Path, default=argparse.SUPPRESS,
                        help=f"database file (default: {default_db_path()})")
    parser = argparse.ArgumentParser(
        prog="faultsim", description="Ingest unreliable JSON events; count each exactly once.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", parents=[common], help="ingest JSON files or standard input")
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON/NDJSON files; - for stdin")
    p.add_argument("--fault", action="append", type=_fault, default=[], metavar="POINT:SPEC",
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

    p = sub.add_parser("stats", parents=[common], help="totals per client and currency")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")

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

    p = sub.add_parser("pending", parents=[common], help="events whose storage failed")
    psub = p.add_subparsers(dest="action", metavar="ACTION")
    q = psub.add_parser("list", parents=[common])
    q.add_argument("--json", action="store_true")
    q = psub.add_parser("retry", parents=[common], help="send pending events again")
    q.add_argument("--json", action="store_true")

    p = sub.add_parser("export", parents=[common], help="stored events as CSV or NDJSON")
    p.add_argument("--format", choices=("csv", "ndjson"), default="csv")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")

    p = sub.add_parser("log", parents=[common], help="recent outcomes")
    p.add_argument("-n", "--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("serve", parents=[common],
                       help="HTTP API: POST /events, GET /events, /stats, /health")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; any other needs a token)")
    p.add_argument("--port", type=int, default=3001, help="port (default 3001; 0: any free one)")
    p.add_argument("--token", default=None,
                   help="require 'Authorization: Bearer TOKEN' (default: $FAULTSIM_TOKEN)")
    p.add_argument("--max-body", type=_size, default=16 << 20, metavar="SIZE",
                   help="largest request body, e.g. 16MiB (default), 512KiB, 100000")
    p.add_argument("--fault", action="append", type=_fault, default=[], metavar="POINT:SPEC",
                   help="inject a fault, as for ingest (repeatable)")
    p.add_argument("--seed", type=int, default=None, help="seed for faults and backoff jitter")
    p.add_argument("--retries", type=int, default=5, help="retries per failed write (default 5)")
    return parser


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3}


def _size(text: str) -> int:
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


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.1:
            return
        self._last = now
        if total:
            frac = min(1.0, done / total)
            bar = "#" * int(frac * 30)
            sys.stderr.write(f"\r[{bar:<30}] {frac:6.1%} {done / 1e6:,.1f} MB")
        else:
            sys.stderr.write(f"\r{done / 1e6:,.1f} MB read")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def _print_summary(s: Summary, as_json: bool) -> None:
    if as_json:
        print(json.dumps(s.as_dict()))
        return
    print(f"received {s.received:,}: accepted {s.accepted:,}, duplicates {s.duplicates:,}, "
          f"rejected {s.rejected:,}, failed {s.failed:,}; pending {s.pending:,} "
          f"({s.seconds:.2f} s)")


def _cmd_ingest(args) -> int:
    faults = FaultSwitch(args.seed)
    for point, config in args.fault:
        faults.set(point, config)
    policy = RetryPolicy.with_retries(args.retries)
    with IngestService(_db(args), faults=faults, retry=policy, seed=args.seed,
                       synchronous=args.synchronous,
                       workers=args.workers, batch_size=max(1, args.batch_size)) as svc:
        if svc.outbox.count():
            drained = svc.retry_pending()
            print(f"pending outbox: sent {drained.received:,} again; "
                  f"{drained.pending:,} still pending", file=sys.stderr)
        total = Summary()
        progress = _Progress(not args.json)
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
        progress.finish()
        total.pending = svc.outbox.count()
        total.seconds = time.perf_counter() - started
        _print_summary(total, args.json)
        if not args.json and total.rejected:
            print("rejected input is in quarantine: faultsim quarantine list", file=sys.stderr)
        return EXIT_PENDING if total.pending else EXIT_OK


def _cmd_stats(args) -> int:
    with IngestService(_existing_db(args), workers=0) as svc:
        rows = svc.stats()
        if args.csv:
            svc.export_stats_csv(sys.stdout)
        elif args.json:
            print(json.dumps([{"client": r.client, "currency": r.currency, "count": r.count,
                               "total": str(r.total), "first_seen": r.first_seen,
                               "last_seen": r.last_seen} for r in rows], ensure_ascii=False))
        else:
            _table(["client", "currency", "count", "total", "first_seen", "last_seen"],
                   [[r.client, r.currency or "", r.count, str(r.total), r.first_seen,
                     r.last_seen] for r in rows], right={2, 3})
    return EXIT_OK


def _table(header, rows, right=frozenset()) -> None:
    def clean(v) -> str:  # untrusted text: no control characters reach the terminal
        s = str(v)
        return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in s)
    rows = [[clean(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    fmt = lambda cells: "  ".join(c.rjust(w) if i in right else c.ljust(w)
                                  for i, (c, w) in enumerate(zip(cells, widths)))
    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))


def _raw_text(raw) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _cmd_quarantine(args) -> int:
    action = args.action or "list"
    with IngestService(_existing_db(args), workers=0) as svc:
        if action == "list":
            entries = svc.quarantine(None if args.all else "open")
            if getattr(args, "json", False):
                print(json.dumps([{"id": e.id, "code": e.code, "reason": e.reason,
                                   "source": e.source, "line": e.line, "column": e.column,
                                   "times_seen": e.times_seen, "status": e.status,
                                   "raw": _raw_text(e.raw)} for e in entries],
                                 ensure_ascii=False))
            else:
                _table(["id", "source", "line", "seen", "status", "reason"],
                       [[e.id, e.source, e.line, e.times_seen, e.status, e.reason[:100]]
                        for e in entries], right={0, 2, 3})
            return EXIT_OK
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
            print(_raw_text(entry.raw))
            return EXIT_OK
        if args.file:
            text = args.file.read_bytes()
        elif args.text is not None:
            text = args.text
        elif args.edit:
            text = _edit(_raw_text(entry.raw))
        else:
            text = None  # as it is (e.g. after fixing what rejected it)
        s = svc.resubmit_quarantined(args.id, text)
        _print_summary(s, args.json)
        return EXIT_PENDING if s.failed else EXIT_OK


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


def _cmd_pending(args) -> int:
    action = args.action or "list"
    with IngestService(_existing_db(args), workers=0) as svc:
        if action == "retry":
            s = svc.retry_pending()
            _print_summary(s, getattr(args, "json", False))
            return EXIT_PENDING if s.pending else EXIT_OK
        rows = svc.pending(None)
        if getattr(args, "json", False):
            print(json.dumps([{"id": p.id, "source": p.source, "line": p.line,
                               "failed_at": p.failed_at, "attempts": p.attempts,
                               "last_error": p.last_error, "raw": _raw_text(p.raw)}
                              for p in rows], ensure_ascii=False))
        else:
            _table(["id", "source", "line", "attempts", "failed_at", "last_error"],
                   [[p.id, p.source, p.line, p.attempts, p.failed_at, p.last_error[:80]]
                    for p in rows], right={0, 2, 3})
    return EXIT_OK


def _cmd_export(args) -> int:
    with IngestService(_existing_db(args), workers=0) as svc:
        if args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as f:
                n = svc.export_events(f, args.format)
            print(f"wrote {n:,} events to {args.output}", file=sys.stderr)
        else:
            svc.export_events(sys.stdout, args.format)
    return EXIT_OK


def _cmd_log(args) -> int:
    with IngestService(_existing_db(args), workers=0) as svc:
        rows = list(reversed(svc.recent_log(args.limit)))
    keys = ("at", "outcome", "client", "amount", "currency", "fingerprint", "attempt",
            "reason", "source", "line", "event_id", "quarantine_id")
    if args.json:
        for r in rows:
            d = dict(zip(keys, r))
            d["fingerprint"] = d["fingerprint"].hex() if d["fingerprint"] else None
            print(json.dumps(d, ensure_ascii=False))
    else:
        _table(["at", "outcome", "client", "amount", "currency", "source", "line", "reason"],
               [[r[0], r[1], r[2] or "", r[3] or "", r[4] or "", r[8] or "", r[9] or "",
                 (r[7] or "")[:80]] for r in rows], right={3, 6})
    return EXIT_OK


def _cmd_serve(args) -> int:
    from .server import TokenRequired, bind, check_bind, serve, url_of  # starlette only here

    token = args.token or os.environ.get("FAULTSIM_TOKEN") or None
    try:
        check_bind(args.host, token)
    except TokenRequired as exc:
        print(f"faultsim: {exc}", file=sys.stderr)
        return EXIT_USAGE
    faults = FaultSwitch(args.seed)
    for point, config in args.fault:
        faults.set(point, config)
    with IngestService(_db(args), faults=faults, retry=RetryPolicy.with_retries(args.retries),
                       seed=args.seed, workers=0) as svc:
        if svc.outbox.count():
            drained = svc.retry_pending()
            print(f"pending outbox: sent {drained.received:,} again; "
                  f"{drained.pending:,} still pending", file=sys.stderr)
        try:
            sock = bind(args.host, args.port)
        except OSError as exc:
            print(f"faultsim: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
                  file=sys.stderr)
            return EXIT_ERROR
        print(f"faultsim: serving {svc.db_path} on {url_of(sock)} (Ctrl+C stops)", flush=True)
        serve(svc, sock, token=token, max_body=args.max_body)
        c = svc.counters.snapshot()
    # the service is closed: every queued event was written or went to the pending outbox
    print(f"faultsim: stopped; accepted {c['accepted']:,}, duplicates {c['duplicates']:,}, "
          f"rejected {c['rejected']:,}, failed {c['failed']:,}", file=sys.stderr)
    return EXIT_OK


_COMMANDS = {"ingest": _cmd_ingest, "stats": _cmd_stats, "quarantine": _cmd_quarantine,
             "pending": _cmd_pending, "export": _cmd_export, "log": _cmd_log,
             "serve": _cmd_serve}


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except StorageError as exc:
        print(f"faultsim: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("faultsim: interrupted; what was committed stays, nothing is half-counted",
              file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
