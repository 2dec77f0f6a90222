"""CPU cost of the worker stage alone: ``process_chunk`` over a corpus, and pickling its answer
back to the parent (``transfer``), in CPU microseconds per line. Runs on one core, no database.

    python benchmarks/worker_cost.py --corpus FILE [--rounds 3] [--digest]

Each round runs the whole corpus; the fastest round of each stage is kept. ``--digest`` adds a
SHA-256 of every returned tuple (pickled, in order), so two checkouts can be shown to return
exactly the same rows. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import time
from pathlib import Path

from faultsim_desktop.core.parsing import iter_chunks
from faultsim_desktop.core.pipeline import process_chunk
from faultsim_desktop.core.service import POOL_CHUNK_BYTES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--digest", action="store_true")
    args = ap.parse_args()
    with open(args.corpus, "rb") as f:
        chunks = list(iter_chunks(f, str(args.corpus), chunk_bytes=POOL_CHUNK_BYTES))
    received_at = "2026-03-01T12:00:00.000000Z"
    best = {"worker_chunk": float("inf"), "transfer": float("inf")}
    lines = payload = 0
    digest = hashlib.sha256()
    for round_no in range(args.rounds):
        work = transfer = 0.0
        lines = payload = 0
        for chunk in chunks:
            t = time.process_time()
            rows = process_chunk(chunk, received_at)
            t2 = time.process_time()
            data = pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)
            pickle.loads(data)
            t3 = time.process_time()
            work += t2 - t
            transfer += t3 - t2
            lines += len(rows)
            payload += len(data)
            if args.digest and round_no == 0:
                for row in rows:
                    digest.update(repr(tuple(row)).encode("utf-8", "surrogatepass"))
        best["worker_chunk"] = min(best["worker_chunk"], work)
        best["transfer"] = min(best["transfer"], transfer)
    out = {"corpus": str(args.corpus), "lines": lines, "chunks": len(chunks),
           "rounds": args.rounds, "pickled_bytes_per_line": round(payload / lines, 1),
           "cpu_us_per_line": {k: round(v / lines * 1e6, 2) for k, v in best.items()}}
    if args.digest:
        out["digest"] = digest.hexdigest()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
