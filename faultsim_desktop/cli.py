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

from .core.database import database_exists
from .core.dburl import is_postgres_url, label_of, parse_db
from .core.errors import StorageError
from .core.faults import FaultSwitch, parse_fault_spec
from .core.retry import RetryPolicy
from .core.schemas import TIME_FORMATS, UNITS, Mapping, MappingError, new_mapping
from .core.service import (FINGERPRINT_CACHE, IngestService, Summary, default_db_path,
                           tune_gc_for_bulk)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PENDING = 0, 1, 2, 3


def _db(args) -> Path | str | None:
    return getattr(args, "db", None)


def _existing_db(args) -> Path | str:
    """Commands that only read or fix must not create an empty database on a typo."""
    db = _db(args) or default_db_path()
    if is_postgres_url(db):  # a server: the database must hold faultsim's tables already
        if not database_exists(db):
            raise StorageError(f"There is no faultsim database at {label_of(db)} (it has no "
                               "faultsim tables). Ingest events first (faultsim ingest FILE "
                               "--db URL), or check the --db URL.", kind="missing")
        return db
    if not Path(db).exists():
        raise StorageError(f"There is no database at {db}. Ingest events first "
                           "(faultsim ingest FILE --db PATH), or check the --db path.",
                           path=Path(db), kind="missing")
    return Path(db)


def _fault(text: str):
    try:
        return parse_fault_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: nested sub-commands must not reset a --db given before them
    common.add_argument("--db", type=parse_db, default=argparse.SUPPRESS, metavar="PATH|URL",
                        help=f"SQLite database file (default: {default_db_path()}) or "
                             "PostgreSQL URL postgresql://USER@HOST/DBNAME")
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

    p = sub.add_parser("schema", parents=[common],
                       help="per-client mappings: list, show, set, preview, history")
    ssub = p.add_subparsers(dest="action", metavar="ACTION")
    q = ssub.add_parser("list", parents=[common], help="every client's active mapping")
    q.add_argument("--json", action="store_true")
    q = ssub.add_parser("show", parents=[common], help="one client's mapping")
    q.add_argument("client")
    q.add_argument("--version", type=int, default=None, help="an older version (default: active)")
    q.add_argument("--json", action="store_true")
    q = ssub.add_parser("history", parents=[common],
                        help="every version of a client's mapping, with the events each normalized")
    q.add_argument("client")
    q.add_argument("--json", action="store_true")
    mapping = argparse.ArgumentParser(add_help=False)
    g = mapping.add_argument_group("mapping (the whole mapping: what is not given is not mapped)")
    g.add_argument("--amount", metavar="FIELD", help="field of the amount; dotted for nested "
                                                     "(payment.value)")
    units = g.add_mutually_exclusive_group()
    units.add_argument("--units", choices=tuple(UNITS), default=None,
                       help="what one unit of the amount field is worth (default: units)")
    units.add_argument("--cents", action="store_const", const="cents", dest="units",
                       help="the amount field counts cents (same as --units cents)")
    g.add_argument("--currency", metavar="CODE", help="ISO 4217 code used when the event names "
                                                      "no currency")
    g.add_argument("--time", metavar="FIELD", help="field of the event time")
    g.add_argument("--time-format", choices=TIME_FORMATS, default=None,
                   help="format of the time field (default: auto)")
    g.add_argument("--key", metavar="FIELD", help="field of the idempotency key")
    g.add_argument("--client-field", metavar="FIELD",
                   help="field that names the client (default: the usual client fields)")
    q = ssub.add_parser("set", parents=[common, mapping],
                        help="store a new version of a client's mapping")
    q.add_argument("client")
    q.add_argument("--note", default="", help="why this version (kept with it)")
    q.add_argument("--json", action="store_true")
    q = ssub.add_parser("retire", parents=[common],
                        help="hand a client back to the heuristics (a new version; the history "
                             "and stored events stay)")
    q.add_argument("client")
    q.add_argument("--note", default="", help="why (kept with the version)")
    q.add_argument("--json", action="store_true")
    q = ssub.add_parser("preview", parents=[common, mapping],
                        help="how a file's first events normalize under the client's current "
                             "mapping, or under the one the options give; stores nothing")
    q.add_argument("client")
    q.add_argument("file", type=Path, help="JSON/NDJSON file; - for stdin")
    q.add_argument("-n", "--limit", type=int, default=50, help="events to show (default 50)")
    q.add_argument("--json", action="store_true")

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
    p.add_argument("--fingerprint-cache", type=int, default=FINGERPRINT_CACHE, metavar="N",
                   help="stored rows kept in memory to answer retries without a read (SQLite; "
                        f"default {FINGERPRINT_CACHE:,}; 0: off)")
    p.add_argument("--drain-every", type=float, default=15.0, metavar="SECONDS",
                   help="send the pending outbox again this often while serving (default 15)")
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
        print(json.dumps(s.as_dict() | ({"refused": list(s.refused)} if s.refused else {})))
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
            total.refused += s.refused
        progress.finish()
        total.pending = svc.outbox.count()
        total.seconds = time.perf_counter() - started
        _print_summary(total, args.json)
        for why in total.refused:
            print(f"faultsim: {why}", file=sys.stderr)
        if not args.json and total.rejected:
            print("rejected input is in quarantine: faultsim quarantine list", file=sys.stderr)
        if total.refused:  # a file that is not JSON at all is an error, not a rejected event
            return EXIT_ERROR
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


def _clean(v) -> str:
    """Untrusted text for the terminal: control and format characters written as escapes."""
    s = str(v)
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in s)


def _table(header, rows, right=frozenset()) -> None:
    rows = [[_clean(c) for c in r] for r in rows]
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
            entries = list(svc.iter_quarantine(None if args.all else "open"))
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
                       seed=args.seed, workers=0,
                       fingerprint_cache=args.fingerprint_cache) as svc:
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
        print(f"faultsim: serving {svc.db_label} on {url_of(sock)} (Ctrl+C stops)", flush=True)
        serve(svc, sock, token=token, max_body=args.max_body,
              drain_every_s=max(0.05, args.drain_every))
        c = svc.counters.snapshot()
    # the service is closed: every queued event was written or went to the pending outbox
    print(f"faultsim: stopped; accepted {c['accepted']:,}, duplicates {c['duplicates']:,}, "
          f"rejected {c['rejected']:,}, failed {c['failed']:,}", file=sys.stderr)
    return EXIT_OK


def _mapping_json(m: Mapping) -> dict:
    return {**m.fields(), "version": m.version, "created_at": m.created_at, "note": m.note}


def _mapping_from_args(args) -> Mapping:
    return new_mapping(args.client, args.amount, units=args.units or "units",
                       currency=args.currency, time_field=args.time,
                       time_format=args.time_format or "auto", key_field=args.key,
                       client_field=args.client_field, note=getattr(args, "note", ""))


def _mapping_given(args) -> bool:
    return any(getattr(args, k) is not None for k in (
        "amount", "units", "currency", "time", "time_format", "key", "client_field"))


def _print_mapping(m: Mapping) -> None:
    rows = [("client", m.client), ("version", f"v{m.version}"), ("created", m.created_at or ""),
            ("client field", m.client_field or "(the usual client fields)"),
            ("amount field", m.amount_field), ("units", m.units),
            ("default currency", m.currency or "(none)"),
            ("time field", m.time_field or "(the usual time fields)"),
            ("time format", m.time_format),
            ("idempotency key", m.key_field or "(the usual key fields)"),
            ("note", m.note or "")]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k + ':':<{width + 1}}  {_clean(v)}")


def _print_saved(saved: Mapping, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_mapping_json(saved), ensure_ascii=False))
        return
    print(f"saved {saved.label}: {saved.describe()}")
    print("events sent from now on use " + ("the heuristics" if saved.retired else "it")
          + "; stored events keep the version that normalized them", file=sys.stderr)


def _cmd_schema(args) -> int:
    action = args.action or "list"
    if action == "set":
        try:
            mapping = _mapping_from_args(args)
        except MappingError as exc:
            print(f"faultsim: {exc}", file=sys.stderr)
            return EXIT_USAGE
        with IngestService(_db(args), workers=0) as svc:
            saved = svc.save_mapping(mapping)
        _print_saved(saved, args.json)
        return EXIT_OK
    if action == "retire":
        with IngestService(_existing_db(args), workers=0) as svc:
            try:
                saved = svc.retire_mapping(args.client, args.note)
            except MappingError as exc:
                print(f"faultsim: {exc}", file=sys.stderr)
                return EXIT_ERROR
        _print_saved(saved, args.json)
        return EXIT_OK
    proposed = None
    if action == "preview" and _mapping_given(args):
        try:
            proposed = _mapping_from_args(args)
        except MappingError as exc:
            print(f"faultsim: {exc}", file=sys.stderr)
            return EXIT_USAGE
    with IngestService(_existing_db(args), workers=0) as svc:
        if action == "list":
            rows = svc.mappings()
            if args.json:
                print(json.dumps([_mapping_json(m) for m in rows], ensure_ascii=False))
            else:
                _table(["client", "version", "created", "mapping", "note"],
                       [[m.client, f"v{m.version}", m.created_at or "", m.describe(),
                         m.note[:60]] for m in rows])
            return EXIT_OK
        if action == "preview":
            return _schema_preview(svc, args, proposed)
        history = svc.mapping_history(args.client)
        if not history:
            print(f"faultsim: client {args.client!r} has no mapping (faultsim schema set "
                  f"CLIENT --amount FIELD creates one)", file=sys.stderr)
            return EXIT_ERROR
        if action == "show":
            chosen = [m for m in history if args.version in (None, m.version)]
            if not chosen:
                print(f"faultsim: client {args.client!r} has no mapping v{args.version} "
                      f"(versions: {', '.join(f'v{m.version}' for m in history)})",
                      file=sys.stderr)
                return EXIT_ERROR
            m = chosen[0]
            if args.json:
                print(json.dumps(_mapping_json(m), ensure_ascii=False))
            else:
                _print_mapping(m)
            return EXIT_OK
        usage = svc.mapping_usage(args.client)
        if args.json:
            print(json.dumps({"client": history[0].client,
                              "versions": [{**_mapping_json(m), "events": usage.get(m.version, 0)}
                                           for m in history],
                              "events_by_heuristics": usage.get(None, 0)}, ensure_ascii=False))
        else:
            _table(["version", "created", "events", "mapping", "note"],
                   [[f"v{m.version}", m.created_at or "", f"{usage.get(m.version, 0):,}",
                     m.describe(), m.note[:60]] for m in history], right={2})
            if usage.get(None):
                print(f"{usage[None]:,} stored event(s) of this client were normalized by the "
                      "heuristics (before any mapping)")
        return EXIT_OK


def _schema_preview(svc: IngestService, args, proposed: Mapping | None) -> int:
    if proposed is None and svc.registry().get(args.client) is None:
        print(f"faultsim: client {args.client!r} has no mapping yet: the preview shows the "
              "heuristics (give --amount ... to preview a proposed mapping)", file=sys.stderr)
    try:
        if str(args.file) == "-":
            items = svc.preview(sys.stdin.buffer.read(), proposed, max(1, args.limit))
        else:
            items = svc.preview_file(args.file, proposed, max(1, args.limit))
    except OSError as exc:
        print(f"faultsim: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    rows = [_preview_row(p) for p in items]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        _table(["line", "outcome", "mapping", "client", "amount", "currency", "time", "key",
                "warnings / reason"],
               [[r["line"], r["outcome"], f"v{r['mapping_version']}" if r["mapping_version"]
                 else ("heuristics" if r["outcome"] == "normalized" else ""),
                 r["client"] or "", r["amount"] or "", r["currency"] or "",
                 r["event_time"] or "", r["idempotency_key"] or "",
                 (r["reason"] or "; ".join(r["warnings"]))[:100]] for r in rows], right={0, 4})
    return EXIT_OK


def _preview_row(p) -> dict:
    rejected = p.reject_code is not None
    return {"line": p.line, "column": p.column,
            "outcome": "rejected" if rejected else "normalized",
            "mapping_version": p.mapping_version, "client": p.client, "amount": p.amount,
            "currency": p.currency, "event_time": p.event_time,
            "idempotency_key": p.idempotency_key, "warnings": list(p.warnings),
            "code": p.reject_code, "reason": p.reason}


_COMMANDS = {"ingest": _cmd_ingest, "stats": _cmd_stats, "quarantine": _cmd_quarantine,
             "pending": _cmd_pending, "export": _cmd_export, "log": _cmd_log,
             "schema": _cmd_schema, "serve": _cmd_serve}


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


def run() -> int:
    """The ``faultsim`` program. An ingest tunes this process's garbage collector for bulk
    work; ``main`` alone leaves it as it is (tests and other hosts call ``main``)."""
    argv = sys.argv[1:]
    if argv[:1] == ["ingest"]:
        tune_gc_for_bulk()
    return main(argv)


if __name__ == "__main__":
    sys.exit(run())
