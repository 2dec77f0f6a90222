"""The dedup index on feed-shaped times: the writer's inserts alone, into the real schema.

Creates a database with faultsim's own schema and write-connection settings, then inserts N
prepared event rows (the writer's real INSERT, transactions of 50,000 as the writer commits)
whose time buckets follow the feed shape: times roughly increasing, about 30 events a second,
written as ISO 8601 with an offset, as "YYYY-MM-DD HH:MM:SS", as RFC 2822 or as epoch seconds,
and missing for ``--missing`` of them (bucket 0: random places in the index). Fingerprints are
random, as SHA-256 makes them. No parsing or normalizing: this is the ceiling of the insert
stage for one index layout. Prints one JSON line: rows/s over the first million and over all N,
and the CPU time per row spent inside the transactions.

    python benchmarks/dedup_index.py --rows 5000000 --layout today
    python benchmarks/dedup_index.py --rows 5000000 --layout sorted

Layouts (each an idea for the dedup index on unordered times):
  today    the bucket as faultsim computes it, rows inserted in arrival order
  sorted   the same, each transaction's rows inserted sorted by their index key
  epoch    every time form read as epoch seconds, so all timed events share one region
  cache64  today's layout with a 64 MiB page cache instead of 32
  mmap     today's layout with 256 MiB of memory-mapped I/O
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faultsim_desktop.core.fingerprint import bucket_of  # noqa: E402
from faultsim_desktop.core.storage.sqlite import _INSERT_EVENT, WriteSession  # noqa: E402
from faultsim_desktop.core.storage.sqlite_schema import connect  # noqa: E402

BATCH = 50_000
BASE = 1_772_366_400  # 2026-03-01T12:00:00Z
_PLUS2 = dt.timezone(dt.timedelta(hours=2))
_LAYOUTS = ("today", "sorted", "epoch", "cache64", "mmap")


def _forms(t: int) -> tuple[str, str, str, int]:
    utc = dt.datetime.fromtimestamp(t, dt.timezone.utc)
    return (dt.datetime.fromtimestamp(t, _PLUS2).isoformat(), utc.strftime("%Y-%m-%d %H:%M:%S"),
            utc.strftime("%a, %d %b %Y %H:%M:%S +0000"), t)


def buckets(rows: int, missing: float, layout: str, seed: int):
    """One time bucket per row, in arrival order."""
    rng = random.Random(seed)
    cache: dict[int, tuple[int, ...]] = {}
    for i in range(rows):
        if rng.random() < missing:
            yield 0
            continue
        t = BASE + i // 30 + rng.randrange(-3, 4)
        if layout == "epoch":
            yield t
            continue
        forms = cache.get(t)
        if forms is None:
            if len(cache) > 64:
                cache.clear()
            forms = cache[t] = tuple(bucket_of(v) for v in _forms(t))
        yield forms[rng.randrange(4)]


def run(db: Path, rows: int, missing: float, layout: str, seed: int) -> dict:
    conn = connect(db)
    session = WriteSession(conn)  # faultsim's own cache and checkpoint settings
    if layout == "cache64":
        conn.execute("PRAGMA cache_size = -65536")
    elif layout == "mmap":
        conn.execute(f"PRAGMA mmap_size = {256 * 2**20}")
    raw = '{"account_id": "client-461", "Amount_cents": 5325586, "timestamp": ' \
          '"2026-03-01 12:00:00", "note": "partial order declined late batch order retry"}'
    now = "2026-12-06T23:00:00.000000Z"
    spent = cpu = 0.0  # inside transactions only: making the rows is not the writer's work
    first_million = None
    gen = buckets(rows, missing, layout, seed)
    for low in range(0, rows, BATCH):
        batch = []
        for i in range(low, min(low + BATCH, rows)):
            c = i % 500
            batch.append((os.urandom(32), f"client-{c}", f"client-{c}", "EUR", "53255.86",
                          "2026-03-01T12:00:00.000000Z", now, None, None, "feed.ndjson", i,
                          raw, None, next(gen), None, 1))
        if layout == "sorted":
            batch.sort(key=lambda r: (r[13], r[0][:16]))
        start, start_cpu = time.perf_counter(), time.process_time()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT_EVENT, batch)
        conn.execute("COMMIT")
        spent += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        if first_million is None and low + BATCH >= 1_000_000:
            first_million, first_million_cpu = spent, cpu
    total = spent
    session.close()
    # CPU seconds (user and system: reading and writing pages are system calls) move less
    # than wall seconds when other programs share the cores
    out = {"layout": layout, "rows": rows, "missing": missing, "rows_per_s": round(rows / total),
           "cpu_us_per_row": round(cpu / rows * 1e6, 2),
           "db_mb": round(db.stat().st_size / 2**20, 1)}
    if first_million is not None:
        out["first_million_rows_per_s"] = round(min(rows, 1_000_000) / first_million)
        out["first_million_cpu_us_per_row"] = round(first_million_cpu / min(rows, 1_000_000)
                                                    * 1e6, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--missing", type=float, default=0.08,
                    help="share of events without a time (default 0.08)")
    ap.add_argument("--layout", choices=_LAYOUTS, default="today")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default=None, help="where the database goes (default: a temp dir)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="faultsim-dedup-", dir=args.dir) as tmp:
        print(json.dumps(run(Path(tmp) / "x.db", args.rows, args.missing, args.layout,
                             args.seed)), flush=True)


if __name__ == "__main__":
    main()
