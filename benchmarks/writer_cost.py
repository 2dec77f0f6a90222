"""The writer alone: a corpus' events, prepared beforehand as the workers prepare them, through
``IngestService.submit_prepared`` (the writer thread, its transactions, outcomes and log).

Prints one JSON line: wall and CPU seconds of the writer's part, the number of transactions,
bytes the process wrote, and the outcomes. The CPU of a shared machine moves with its load; for
figures that do not, run it under ``valgrind --tool=callgrind`` and subtract the count of the
same command with ``--prepare-only`` (everything but the writer).

    python benchmarks/writer_cost.py --corpus feed.ndjson --events 100000 --batch 50000
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faultsim_desktop.core.parsing import iter_chunks  # noqa: E402
from faultsim_desktop.core.pipeline import process_chunk  # noqa: E402
from faultsim_desktop.core.service import POOL_CHUNK_BYTES, IngestService  # noqa: E402
from faultsim_desktop.core.storage import sqlite as sqlite_storage  # noqa: E402
from faultsim_desktop.core.writer import utc_now  # noqa: E402


def _written_bytes() -> int:
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("wchar:")).split()[1])


def prepared(corpus: Path, events: int) -> list[tuple]:
    items: list[tuple] = []
    received_at = utc_now()
    with open(corpus, "rb") as f:
        for chunk in iter_chunks(f, str(corpus), chunk_bytes=POOL_CHUNK_BYTES):
            if len(items) >= events:
                break
            items.extend(process_chunk(chunk, received_at))
    return items[:events]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="an NDJSON file (corpus.py --out)")
    ap.add_argument("--events", type=int, default=100_000, help="the corpus' first N events")
    ap.add_argument("--batch", type=int, default=50_000, help="events a transaction")
    ap.add_argument("--prepare-only", action="store_true",
                    help="stop after preparing the events: the part to subtract from a "
                         "callgrind count")
    args = ap.parse_args(argv)
    items = prepared(args.corpus, args.events)
    if args.prepare_only:
        print(json.dumps({"events": len(items), "prepared_only": True}))
        return 0
    transactions = 0
    begin = sqlite_storage.WriteSession.begin

    def counting_begin(self):
        nonlocal transactions
        transactions += 1
        return begin(self)

    sqlite_storage.WriteSession.begin = counting_begin
    gc.collect()
    gc.freeze()  # the prepared events are the input, not the writer's work
    with tempfile.TemporaryDirectory() as folder:
        service = IngestService(Path(folder) / "writer.db", workers=0, batch_size=args.batch)
        tag = service.new_import(str(args.corpus), "file")
        items = [it[:-1] + (tag,) for it in items]
        written = _written_bytes()
        wall, cpu = time.perf_counter(), time.process_time()
        summary = service.submit_prepared(items).wait()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        service.close()
        written = _written_bytes() - written
    n = max(len(items), 1)
    print(json.dumps({
        "events": len(items), "batch": args.batch, "transactions": transactions,
        "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
        "cpu_us_per_event": round(cpu / n * 1e6, 2), "written_mb": round(written / 2**20, 1),
        "accepted": summary.accepted, "duplicates": summary.duplicates,
        "rejected": summary.rejected}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
