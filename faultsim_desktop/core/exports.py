"""Stored events and totals as text for other programs: CSV (spreadsheet-safe), NDJSON, and
the JSON form of one stored event."""
from __future__ import annotations

import csv
import json
import re
from typing import Iterable, TextIO

from .model import StoredEvent
from .model import ClientTotal

# OWASP's CSV injection list (= + - @ tab CR), and NUL as ASVS 5.0 requirement 1.2.10 adds
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")
_PLAIN_NUMBER = re.compile(r"-[0-9]+(\.[0-9]+)?\Z")
_EVENT_COLUMNS = ("id", "client", "currency", "amount", "event_time", "received_at",
                  "idempotency_key", "warnings", "source", "line", "mapping_version",
                  "fingerprint", "raw")


def safe_cell(value) -> object:
    """Neutralize spreadsheet formulas: a text cell starting with = + - @ (or tab, CR, NUL)
    gets a leading '; a plain negative number stays a number."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        if _PLAIN_NUMBER.match(value):  # a negative amount is data, not a formula
            return value
        return "'" + value
    return value


def event_json(row: StoredEvent) -> dict:
    """A stored event as the HTTP API answers it (money as a decimal string)."""
    return {"id": row.id, "client": row.client, "currency": row.currency,
            "amount": row.amount, "event_time": row.event_time,
            "received_at": row.received_at, "idempotency_key": row.idempotency_key,
            "fingerprint": row.fingerprint.hex(),
            "warnings": json.loads(row.warnings) if row.warnings else [],
            "source": row.source, "line": row.line}


def write_events(rows: Iterable[dict], out: TextIO, fmt: str) -> int:
    """Write stored events (``iter_events`` rows) as CSV or NDJSON; returns the count."""
    n = 0
    if fmt == "ndjson":
        for row in rows:
            row["fingerprint"] = row["fingerprint"].hex()
            row["warnings"] = json.loads(row["warnings"]) if row["warnings"] else []
            row["currency"] = row["currency"] or None
            if isinstance(row["raw"], bytes):
                row["raw"] = row["raw"].decode("utf-8", "replace")
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    elif fmt == "csv":
        w = csv.writer(out)
        w.writerow(_EVENT_COLUMNS)
        for row in rows:
            row["fingerprint"] = row["fingerprint"].hex()
            w.writerow([safe_cell(row[h]) for h in _EVENT_COLUMNS])
            n += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}; use csv or ndjson")
    return n


def write_stats_csv(rows: list[ClientTotal], out: TextIO) -> int:
    w = csv.writer(out)
    w.writerow(["client", "currency", "count", "total", "first_seen", "last_seen"])
    for r in rows:
        w.writerow([safe_cell(r.client), r.currency or "", r.count, str(r.total),
                    r.first_seen, r.last_seen])
    return len(rows)
