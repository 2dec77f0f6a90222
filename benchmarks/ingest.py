"""End-to-end ingest benchmark: a messy corpus of N events through `faultsim ingest`.

Prints one JSON line: events/s, peak RSS (the faultsim process, and with its worker processes),
whether the totals equal the corpus' ground truth, and with --compare the same measurements for
`sqlite-utils insert --nl` (no dedup, no normalization) on the same events in the same run.

    python benchmarks/ingest.py --events 1000000 --compare [--shape feed|tidy]
    python benchmarks/ingest.py --corpus FILE --truth TRUTH.json   # a corpus.py --out file

The rate is of the events the engine received (the file's lines, or an array file's values).
The sqlite-utils comparison needs a JSON Lines corpus.
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

import psutil

from corpus import SHAPES, generate

from faultsim_desktop import speedups


def _high_water(p: psutil.Process) -> int | None:
    """The most memory ``p`` has held at once so far (the kernel's VmHWM), or None once it is
    gone. Where /proc has no VmHWM, its resident set now."""
    try:
        with open(f"/proc/{p.pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return p.memory_info().rss
    except psutil.Error:
        return None


def run_measured(argv: list[str]) -> dict:
    """Run a command; its peak memory, and that of its whole process tree.

    Each process's own high-water mark is read every 0.1 s and kept (the kernel keeps the mark,
    so a peak between two readings is not missed), and the tree is looked for new processes
    every 0.5 s: finding children walks every process of the machine, which 50 times a second
    took about 5% of a core from the command measured. ``peak_rss_tree_mb`` sums the processes'
    own peaks, so it is at least the tree's peak at any one moment."""
    start = time.perf_counter()
    proc = psutil.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    known: dict[int, psutil.Process] = {proc.pid: proc}
    peaks: dict[int, int] = {}
    next_scan = 0.0
    while proc.poll() is None:
        now = time.perf_counter()
        if now >= next_scan:
            next_scan = now + 0.5
            try:
                for child in proc.children(recursive=True):
                    known.setdefault(child.pid, child)
            except psutil.Error:
                pass
        for pid, p in known.items():
            mark = _high_water(p)
            if mark is not None:
                peaks[pid] = max(peaks.get(pid, 0), mark)
        time.sleep(0.1)
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {err[-2000:]}")
    return {"seconds": round(seconds, 3), "peak_rss_mb": round(peaks.get(proc.pid, 0) / 2**20, 1),
            "peak_rss_tree_mb": round(sum(peaks.values()) / 2**20, 1), "stdout": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--shape", choices=SHAPES, default="feed",
                    help="corpus shape (benchmarks/corpus.py): feed, like real feeds, or tidy")
    ap.add_argument("--corpus", type=Path, help="ingest this file (benchmarks/corpus.py --out) "
                    "instead of generating one")
    ap.add_argument("--truth", type=Path, help="with --corpus: its ground truth "
                    "(benchmarks/corpus.py --truth), to check the totals against")
    ap.add_argument("--compare", action="store_true", help="also run sqlite-utils insert --nl")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--synchronous", default=None, choices=("FULL", "NORMAL"),
                    help="PRAGMA synchronous for faultsim (default: its own, FULL)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="faultsim-bench-"))
    try:
        t = time.perf_counter()
        if args.corpus is not None:
            corpus = args.corpus
            info = {"lines": sum(1 for _ in open(corpus, "rb")), "truth": None}
            if args.truth is not None:
                info["truth"] = {(r["client"], r["currency"]): (r["count"], Decimal(r["total"]))
                                 for r in json.loads(args.truth.read_text(encoding="utf-8"))}
        else:
            corpus = tmp / "corpus.ndjson"
            info = generate(corpus, args.events, shape=args.shape)
        gen_s = time.perf_counter() - t
        argv = [sys.executable, "-m", "faultsim_desktop.cli", "ingest", str(corpus),
                "--db", str(tmp / "bench.db"), "--json"]
        if args.workers is not None:
            argv += ["--workers", str(args.workers)]
        if args.synchronous:
            argv += ["--synchronous", args.synchronous]
        ours = run_measured(argv)
        summary = json.loads(ours.pop("stdout").strip().splitlines()[-1])
        stats = subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", "stats", "--db",
                                str(tmp / "bench.db"), "--json"], capture_output=True,
                               text=True, check=True)
        got = {(r["client"], r["currency"]): (r["count"], Decimal(r["total"]))
               for r in json.loads(stats.stdout)}
        truth = ({k: (v[0], v[1]) for k, v in info["truth"].items()}
                 if info["truth"] is not None else None)
        result = {
            "events": summary["received"],
            **({"corpus": str(args.corpus)} if args.corpus else {"shape": args.shape}),
            "lines": info["lines"],
            "file_mb": round(corpus.stat().st_size / 2**20, 1),
            "cpu_count": os.cpu_count(),
            "engine": speedups.summary(),
            # what the engine received: the file's lines, or the values of an array file
            "faultsim": {**ours, "events_per_s": round(summary["received"] / ours["seconds"]),
                         "summary": summary,
                         "totals_exact": got == truth if truth is not None else None},
            "generate_s": round(gen_s, 1),
        }
        if args.compare:
            exe = shutil.which("sqlite-utils") or str(Path(sys.executable).parent / "sqlite-utils")
            clean = tmp / "clean.ndjson"  # sqlite-utils stops at the first bad line
            with open(corpus, encoding="utf-8") as src, open(clean, "w", encoding="utf-8") as dst:
                for line in src:
                    try:
                        if isinstance(json.loads(line), dict):
                            dst.write(line)
                    except ValueError:
                        pass
            theirs = run_measured([exe, "insert", str(tmp / "su.db"), "events", str(clean),
                                   "--nl", "--alter"])
            theirs.pop("stdout")
            lines = sum(1 for _ in open(clean, encoding="utf-8"))
            theirs["events_per_s"] = round(lines / theirs["seconds"])
            result["sqlite_utils"] = theirs
            result["ratio"] = round(result["faultsim"]["events_per_s"] / theirs["events_per_s"], 2)
        print(json.dumps(result))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
