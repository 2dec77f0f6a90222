"""What binding bytes and None costs in Python's sqlite3, and what identity adapters save.

Python 3.11's sqlite3 binds exact int, float, str and bytearray parameters directly; for any
other value, bytes and None included, it searches for an adapter, and the failed search builds
and discards an AttributeError with a formatted message. faultsim's event row has four such
parameters, so ``faultsim_desktop.core.storage.sqlite_schema`` registers identity adapters for bytes and None.

Inserts N rows shaped like faultsim's events, one ``execute`` per row as the writer does, in
transactions of 50,000, once in a process without the adapters and once with them (each in a
fresh subprocess, since adapters are process-wide). Prints one JSON line: CPU microseconds per
row for both and the ratio.

    python benchmarks/bind_cost.py --rows 300000
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

from index_locality import _TABLE  # faultsim's events table, bare

_INSERT = (
    "INSERT INTO events(fingerprint, client, client_key, currency, amount, event_time,"
    " received_at, idempotency_key, warnings, source, line, raw, mapping_version, time_bucket)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING")


def _rows(n: int) -> list[tuple]:
    rows = []
    for i in range(n):
        fp = (i * 0x9E3779B97F4A7C15 % (1 << 256)).to_bytes(32, "big")
        client = f"client-{i % 500}"
        rows.append((fp, client, client, "EUR", f"{i % 100000}.{i % 100:02d}",
                     "2023-11-14T22:13:20.000000Z", "2026-11-25T19:00:00.000000Z",
                     f"evt-{i}" if i % 4 == 0 else None, None, "corpus.ndjson", i,
                     f'{{"customerId": "{client}", "Amount": "EUR 15747.03", "ts": {1700000000 + i}}}',
                     None, 1700000000 + i))
    return rows


def _measure(rows: int, adapters: bool) -> float:
    if adapters:
        sqlite3.register_adapter(bytes, bytes)
        sqlite3.register_adapter(type(None), {}.get)
    data = _rows(rows)
    with tempfile.TemporaryDirectory(prefix="faultsim-bind-") as tmp:
        conn = sqlite3.connect(os.path.join(tmp, "b.db"), isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "cache_size=-65536"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute(_TABLE)
        conn.execute("CREATE UNIQUE INDEX f ON events(time_bucket, substr(fingerprint, 1, 16))")
        conn.execute("CREATE UNIQUE INDEX i ON events(client_key, idempotency_key)"
                     " WHERE idempotency_key IS NOT NULL")
        execute = conn.execute
        start = time.process_time()
        for low in range(0, rows, 50_000):
            execute("BEGIN IMMEDIATE")
            for row in data[low:low + 50_000]:
                execute(_INSERT, row)
            execute("COMMIT")
        cpu = time.process_time() - start
        conn.close()
    return cpu / rows * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--one", choices=("plain", "adapters"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(_measure(args.rows, args.one == "adapters"))
        return
    result = {"rows": args.rows}
    for kind in ("plain", "adapters", "plain", "adapters"):  # interleaved: a shared machine
        out = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--one", kind],
                             capture_output=True, text=True, check=True).stdout
        result.setdefault(f"{kind}_us_per_row", []).append(round(float(out), 2))
    result["ratio_adapters_to_plain"] = round(
        min(result["adapters_us_per_row"]) / min(result["plain_us_per_row"]), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
