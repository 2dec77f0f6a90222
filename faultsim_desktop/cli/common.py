"""What every command shares: exit codes, the --db option, faults, sizes, printing."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..core.faults import WIRE_POINTS, FaultSwitch, parse_fault_spec
from ..core.service import IngestService, Summary, default_db_path
from ..core.dburl import parse_db

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PENDING = 0, 1, 2, 3


def common_options() -> argparse.ArgumentParser:
    """The options every command takes (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: nested sub-commands must not reset a --db given before them
    common.add_argument("--db", type=parse_db, default=argparse.SUPPRESS, metavar="PATH|URL",
                        help=f"SQLite database file (default: {default_db_path()}) or "
                             "PostgreSQL URL postgresql://USER@HOST/DBNAME")
    return common


def db_of(args) -> Path | str | None:
    return getattr(args, "db", None)


def existing_db(args) -> Path | str:
    """Commands that only read or fix must not create an empty database on a typo."""
    return IngestService.require_database(db_of(args) or default_db_path())


def fault_option(text: str):
    try:
        return parse_fault_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def database_fault_option(text: str):
    """A ``--fault`` of a command that sends nothing over HTTP: a wire point would never fire."""
    point, config = fault_option(text)
    if point in WIRE_POINTS:
        raise argparse.ArgumentTypeError(
            f"{point.value} is a fault on the wire of faultsim serve (POST /events); this "
            "command writes to the database directly: use before_write, mid_transaction, "
            "after_commit or latency")
    return point, config


def fault_switch(args) -> FaultSwitch:
    faults = FaultSwitch(args.seed)
    for point, config in args.fault:
        faults.set(point, config)
    return faults


def print_summary(s: Summary, as_json: bool) -> None:
    if as_json:
        print(json.dumps(s.as_dict() | ({"refused": list(s.refused)} if s.refused else {})))
        return
    print(f"received {s.received:,}: accepted {s.accepted:,}, duplicates {s.duplicates:,}, "
          f"rejected {s.rejected:,}, failed {s.failed:,}; pending {s.pending:,} "
          f"({s.seconds:.2f} s)")


def send_pending_first(svc: IngestService) -> None:
    """Events left in the pending outbox by an earlier run go first."""
    if svc.outbox.count():
        drained = svc.retry_pending()
        print(f"pending outbox: sent {drained.received:,} again; "
              f"{drained.pending:,} still pending", file=sys.stderr)


def clean(v) -> str:
    """Untrusted text for the terminal: control and format characters written as escapes."""
    s = str(v)
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in s)


def table(header, rows, right=frozenset()) -> None:
    rows = [[clean(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def raw_text(raw) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


class Progress:
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
