"""CPU cost of the worker stage alone, in CPU microseconds per line, on one core, no database,
with the garbage collector tuned as in a worker process:

- ``worker_chunk``: ``chunk_rows``, a chunk's rows as a worker process makes them;
- ``transfer``: sending them back as a real ingest does (``process_chunk_packed``'s payload,
  pickled by the process pool in the worker and unpickled in the parent, then
  ``unpack_rows``). With ``--as-before``, pickling the rows themselves, as the engine did
  before the payload was marshal (for comparing checkouts side by side).

    python benchmarks/worker_cost.py --corpus FILE [--rounds 3] [--digest]

Each round runs the whole corpus; the fastest round of each stage is kept. ``--digest`` adds a
SHA-256 over the repr of every row ``process_chunk`` returns, in order, so two checkouts can be
shown to return exactly the same rows. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import time
from pathlib import Path

from faultsim_desktop import speedups
from faultsim_desktop.core import pipeline
from faultsim_desktop.core.parsing import iter_chunks
from faultsim_desktop.core.service import POOL_CHUNK_BYTES, tune_gc_for_bulk

RECEIVED_AT = "2026-03-01T12:00:00.000000Z"


def _worker_and_transfer(chunk, packed: bool):
    """(rows, seconds of worker_chunk, seconds of transfer, bytes sent) for one chunk."""
    t0 = time.process_time()
    if packed:
        rows = pipeline.chunk_rows(chunk, RECEIVED_AT)
        t1 = time.process_time()
        sent = pickle.dumps(pipeline.pack_rows(rows), pickle.HIGHEST_PROTOCOL)
        rows = pipeline.unpack_rows(pickle.loads(sent), None)
    else:
        rows = pipeline.process_chunk(chunk, RECEIVED_AT)
        t1 = time.process_time()
        sent = pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)
        rows = pickle.loads(sent)
    t2 = time.process_time()
    return rows, t1 - t0, t2 - t1, len(sent)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--digest", action="store_true")
    ap.add_argument("--as-before", action="store_true",
                    help="process_chunk and pickled rows (what a checkout without "
                         "process_chunk_packed does)")
    args = ap.parse_args()
    tune_gc_for_bulk()  # as every worker process does (and the parent, on a bulk ingest)
    packed = hasattr(pipeline, "process_chunk_packed") and not args.as_before
    with open(args.corpus, "rb") as f:
        chunks = list(iter_chunks(f, str(args.corpus), chunk_bytes=POOL_CHUNK_BYTES))
    best = {"worker_chunk": float("inf"), "transfer": float("inf")}
    lines = payload = 0
    digest = hashlib.sha256()
    for round_no in range(args.rounds):
        work = transfer = 0.0
        lines = payload = 0
        for chunk in chunks:
            rows, w, t, n = _worker_and_transfer(chunk, packed)
            work += w
            transfer += t
            lines += len(rows)
            payload += n
            if args.digest and round_no == 0:
                for row in rows:
                    digest.update(repr(row).encode("utf-8", "surrogatepass"))
        best["worker_chunk"] = min(best["worker_chunk"], work)
        best["transfer"] = min(best["transfer"], transfer)
    out = {"corpus": str(args.corpus), "lines": lines, "chunks": len(chunks),
           "rounds": args.rounds, "payload": "marshal" if packed else "pickled rows",
           "engine": speedups.summary(),
           "bytes_sent_per_line": round(payload / lines, 1),
           "cpu_us_per_line": {k: round(v / lines * 1e6, 2) for k, v in best.items()}}
    if args.digest:
        out["digest"] = digest.hexdigest()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
