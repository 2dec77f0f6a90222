"""Undoing an import against ingesting it: N messy events (benchmarks/corpus.py) ingested as one
import through the service (what ``faultsim ingest`` runs), then that import undone.

Prints one JSON line: {events, lines, ingest_s, undo_s, ratio (undo_s / ingest_s), ...}. With
``--resend F`` a second import sends the first F of the file's lines again before the undo, so
the undo hands those events over to it instead of deleting them (the slower path). ``--pg``
runs the same on a throwaway PostgreSQL server (benchmarks/pgserver.py) after SQLite.

    python benchmarks/undo.py --events 1000000 [--resend 0.1] [--pg] [--profile out.prof]
"""
from __future__ import annotations

import argparse
import cProfile
import itertools
import json
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from corpus import SHAPES, generate


def run(db, corpus: Path, resend: Path | None, workers: int | None,
        profile: str | None) -> dict:
    from faultsim_desktop.core.service import IngestService

    with IngestService(db, workers=workers) as svc:
        started = time.perf_counter()
        summary = svc.ingest_file(corpus)
        ingest_s = time.perf_counter() - started
        first = svc.imports()[-1]
        out = {"received": summary.received, "accepted": summary.accepted,
               "ingest_s": round(ingest_s, 2)}
        if resend is not None:
            again = svc.ingest_file(resend)
            out["resent"] = again.received
        # the undo runs on the writer thread: the profiler is turned on and off there
        profiler = cProfile.Profile() if profile else None
        if profiler is not None:
            svc.in_writer(lambda _session: profiler.enable())
        started = time.perf_counter()
        result = svc.undo_import(first.id)
        undo_s = time.perf_counter() - started
        if profiler is not None:
            svc.in_writer(lambda _session: profiler.disable())
            profiler.dump_stats(profile)
        out.update(undo_s=round(undo_s, 2), ratio=round(undo_s / ingest_s, 3),
                   removed=result.removed, handed_over=result.handed_over)
        stats = svc.stats()
        left = sum(r.count for r in stats)
        out["events_left"] = left
        # the aggregates the undo changed equal a count over the events that stay
        out["totals_consistent"] = stats == svc.stats_from_events()
        if resend is None:
            out["totals_empty"] = left == 0 and sum((r.total for r in stats), Decimal(0)) == 0
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--shape", choices=SHAPES, default="feed",
                   help="corpus shape (benchmarks/corpus.py): feed, like real feeds, or tidy")
    p.add_argument("--resend", type=float, default=0.0,
                   help="a second import sends this fraction of the lines again before the undo")
    p.add_argument("--workers", type=int, default=None,
                   help="parsing processes (default: one per core)")
    p.add_argument("--pg", action="store_true", help="also on a throwaway PostgreSQL server")
    p.add_argument("--profile", default=None,
                   help="write a cProfile of the undo to this file (PostgreSQL's to FILE.pg)")
    p.add_argument("--keep", action="store_true", help="keep the temporary files")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="faultsim-undo-"))
    try:
        corpus = tmp / "events.ndjson"
        info = generate(corpus, args.events, shape=args.shape)
        resend = None
        if args.resend > 0:
            resend = tmp / "again.ndjson"
            with open(corpus, encoding="utf-8") as src, open(resend, "w", encoding="utf-8") as dst:
                dst.writelines(itertools.islice(src, int(info["lines"] * args.resend)))
        out = {"events": args.events, "shape": args.shape, "lines": info["lines"],
               "file_mb": round(corpus.stat().st_size / 2**20, 1)}
        out["sqlite"] = run(tmp / "undo.db", corpus, resend, args.workers, args.profile)
        if args.pg:
            from pgserver import ThrowawayServer

            with ThrowawayServer() as server:
                out["postgresql"] = run(server.create_database("undo"), corpus, resend,
                                        args.workers, args.profile and f"{args.profile}.pg")
        # the brief's top-level keys: SQLite's figures
        out.update(ingest_s=out["sqlite"]["ingest_s"], undo_s=out["sqlite"]["undo_s"],
                   ratio=out["sqlite"]["ratio"])
        print(json.dumps(out))
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
