"""SQLite or PostgreSQL? The same messy corpus into both backends in the same run, through the
real ``faultsim ingest`` program:

- one writer: one process ingests the whole corpus;
- N writers, distinct: N processes at once, each its own share of the corpus;
- N writers, overlapping: N processes at once, each the whole (smaller) corpus in its own
  order, so most events are duplicates another process is writing at the same moment;
- N writers, small transactions: as "distinct" on the smaller corpus, 100 events per
  transaction (what a server answering many small requests does): commits, not rows, count.

After each measurement the totals (``faultsim stats``) are compared with the corpus' ground
truth. PostgreSQL is a throwaway server started for the run (benchmarks/pgserver.py) with fsync
on, like a real one; SQLite runs with its default ``synchronous=FULL``. Both are on this
machine's disk, and the server shares its cores with the writers. Prints one JSON line per
measurement.

    python benchmarks/backends.py --events 200000 --writers 4 --overlap-events 50000
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from corpus import SHAPES, generate
from pgserver import ThrowawayServer

FAULTSIM = [sys.executable, "-m", "faultsim_desktop.cli"]


def ingest_all(db: str, files: list[Path], extra: list[str]) -> tuple[float, list[dict]]:
    """Run one ``faultsim ingest`` per file, all at once; wall seconds and their summaries."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*FAULTSIM, "ingest", str(f), "--db", db, "--json", *extra],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for f in files]
    outs = [p.communicate() for p in procs]
    seconds = time.perf_counter() - t0
    for p, (_, err) in zip(procs, outs):
        if p.returncode not in (0, 3):
            raise SystemExit(f"faultsim ingest failed ({p.returncode}): {err[-2000:]}")
    return seconds, [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]


def exact(db: str, truth: dict) -> bool:
    out = subprocess.run([*FAULTSIM, "stats", "--db", db, "--json"], capture_output=True,
                         text=True, check=True).stdout
    got = {(r["client"], r["currency"]): (r["count"], Decimal(r["total"]))
           for r in json.loads(out)}
    return got == {k: (n, t) for k, (n, t) in truth.items()}


def shards(lines: list[str], n: int, folder: Path, rotate: bool) -> list[Path]:
    files = []
    for k in range(n):
        if rotate:  # the whole corpus, each writer starting elsewhere in it
            start = len(lines) * k // n
            part = lines[start:] + lines[:start]
        else:
            part = lines[k::n]
        f = folder / f"writer{k}.ndjson"
        f.write_text("\n".join(part) + "\n", encoding="utf-8")
        files.append(f)
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--shape", choices=SHAPES, default="feed",
                    help="corpus shape (benchmarks/corpus.py): feed, like real feeds, or tidy")
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--overlap-events", type=int, default=50_000)
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="faultsim-backends-"))
    os.environ["XDG_DATA_HOME"] = str(tmp / "data")  # the PostgreSQL outboxes: private
    server = ThrowawayServer(durable=True).start() if "postgresql" in args.backends else None
    try:
        big = tmp / "corpus.ndjson"
        truth = generate(big, args.events, shape=args.shape)["truth"]
        small = tmp / "overlap.ndjson"
        small_truth = generate(small, args.overlap_events, seed=9, shape=args.shape)["truth"]
        lines = big.read_text(encoding="utf-8").splitlines()
        small_lines = small.read_text(encoding="utf-8").splitlines()
        n = args.writers
        phases = [
            ("one writer", lambda: [big], [], truth, len(lines)),
            (f"{n} writers, distinct", lambda: shards(lines, n, tmp, rotate=False),
             ["--workers", "0"], truth, len(lines)),
            (f"{n} writers, overlapping", lambda: shards(small_lines, n, tmp, rotate=True),
             ["--workers", "0"], small_truth, n * len(small_lines)),
            (f"{n} writers, 100 events per transaction",
             lambda: shards(small_lines, n, tmp, rotate=False),
             ["--workers", "0", "--batch-size", "100"], small_truth, len(small_lines)),
        ]
        for backend in args.backends.split(","):
            for name, files, extra, want, _lines in phases:
                if backend == "sqlite":
                    db = str(tmp / f"{backend}-{len(name)}-{time.monotonic_ns()}.db")
                else:
                    db = server.create_database("bench")
                seconds, summaries = ingest_all(db, files(), extra)
                sent = sum(s["received"] for s in summaries)
                print(json.dumps({
                    "backend": backend, "phase": name, "events_sent": sent,
                    "seconds": round(seconds, 2), "events_per_s": round(sent / seconds),
                    "accepted": sum(s["accepted"] for s in summaries),
                    "duplicates": sum(s["duplicates"] for s in summaries),
                    "pending": max(s["pending"] for s in summaries),
                    "totals_exact": exact(db, want)}), flush=True)
                if server is not None and backend == "postgresql":
                    server.drop_database(db)
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
