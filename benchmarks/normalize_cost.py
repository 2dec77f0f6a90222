"""The CPU stage alone (parse, normalize, fingerprint: what worker processes run per chunk) on
a messy corpus, in this process: events/s, best of several rounds.

    python benchmarks/normalize_cost.py --events 200000 --rounds 5

Pair it with another checkout of the code (PYTHONPATH=that/checkout) in alternating runs to
see what a change to normalization costs; docs/benchmarks.md keeps the current figures.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import generate  # noqa: E402

from faultsim_desktop.core.parsing import iter_chunks  # noqa: E402
from faultsim_desktop.core.pipeline import process_chunk  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="faultsim-normalize-") as tmp:
        path = Path(tmp) / "corpus.ndjson"
        generate(path, args.events)
        with open(path, "rb") as f:
            chunks = list(iter_chunks(f, str(path), chunk_bytes=256 << 10))
    best = float("inf")
    events = 0
    for _ in range(args.rounds):
        start = time.perf_counter()
        events = sum(len(process_chunk(c, "2024-01-01T00:00:00.000000Z")) for c in chunks)
        best = min(best, time.perf_counter() - start)
    import faultsim_desktop
    print(json.dumps({"code": str(Path(faultsim_desktop.__file__).parent.parent),
                      "events": events, "best_seconds": round(best, 3),
                      "events_per_s": round(events / best)}))


if __name__ == "__main__":
    main()
