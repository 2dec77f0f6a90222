"""Hostile input at scale: a gibibyte of NDJSON through the engine, checked against its truth.

``SyntheticNDJSON`` makes the bytes on demand and never holds them: rounds of messy ordinary
events (every money form of ``corpus.py``), a valid event just under the 1 MiB limit, a retry
of it, a giant line far over the limit, and the hostile lines of the issue (100,000-deep
nesting, a million-digit integer, invalid UTF-8, a raw NUL, a lone surrogate escape, text that
is not JSON). It knows what each line must give, so a run can be checked exactly.

Prints one JSON line: bytes, events, seconds, peak RSS (the ingesting process, and with its
worker processes), the summary, the expected counts, and whether the totals equal the truth.

    python benchmarks/hostile.py                      # 1 GiB file through `faultsim ingest`
    python benchmarks/hostile.py --stream --gib 0.25  # in process, no file (as the CI test)

The figures are in docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import psutil

if __package__:  # imported as benchmarks.hostile, by the tests
    from .corpus import AMOUNT_KEYS, CLIENT_KEYS, money
else:  # run as a script: its own folder comes first on sys.path
    from corpus import AMOUNT_KEYS, CLIENT_KEYS, money

MIB = 1 << 20
GIB = 1 << 30
BIG_EVENT_BYTES = 1_000_000  # under the 1 MiB event limit: stored whole
_BLOCK = b"y" * MIB

# The hostile lines of one round, with the rejection code each must get.
HOSTILE_LINES: list[tuple[bytes, str]] = [
    (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "too_deep"),
    (b'{"client": "m", "amount": ' + b"7" * 1_000_000 + b"}", "number_too_long"),
    (b'{"client": "bad \xff\xfe", "amount": 1}', "invalid_utf8"),
    (b'{"client": "raw \x00 nul", "amount": 1}', "invalid_json"),
    (b'{"client": "\\ud800", "amount": 1}', "unpaired_surrogate"),
    (b'{"client": "lone \xed\xa0\x80", "amount": 1}', "unpaired_surrogate"),
    (b"this line is not JSON at all", "invalid_json"),
    (b'{"client": "x", "amount": NaN}', "non_finite_number"),
]


class SyntheticNDJSON(io.RawIOBase):
    """At least ``total_bytes`` of NDJSON, generated while it is read.

    Each round: ``small`` ordinary events, one valid event of ``BIG_EVENT_BYTES``, the same
    event again (a duplicate), one line of ``giant_bytes`` (rejected as too large, only a
    prefix kept), and ``HOSTILE_LINES``. Rounds repeat until ``total_bytes`` are out.
    ``truth``, ``expected`` and ``codes`` describe everything generated so far.
    """

    def __init__(self, total_bytes: int, *, small: int = 2000, giant_bytes: int = 48 * MIB,
                 seed: int = 1, clients: int = 200):
        super().__init__()
        self.total_bytes = total_bytes
        self.small = small
        self.giant_bytes = max(giant_bytes, 2 * MIB)
        self.clients = clients
        self.rng = random.Random(seed)
        self.bytes_out = 0
        self.lines = 0
        self.truth: dict[tuple[str, str | None], list] = {}
        self.expected = Counter()  # accepted / duplicates / rejected
        self.codes = Counter()  # rejection code -> count
        self._pieces = self._generate()
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        while not self._view:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._view = memoryview(piece)
        n = min(len(buf), len(self._view))
        buf[:n] = self._view[:n]
        self._view = self._view[n:]
        self.bytes_out += n
        return n

    def _count(self, client: str, currency: str | None, amount: Decimal) -> None:
        agg = self.truth.setdefault((client, currency), [0, Decimal(0)])
        agg[0] += 1
        agg[1] += amount
        self.expected["accepted"] += 1

    def _reject(self, code: str) -> None:
        self.expected["rejected"] += 1
        self.codes[code] += 1

    def _small_events(self, start: int) -> bytes:
        rng = self.rng
        out = []
        for i in range(start, start + self.small):
            name = f"client-{rng.randrange(self.clients)}"
            value, currency, exact = money(rng.randrange(1, 10_000_000), rng)
            key = rng.choice(AMOUNT_KEYS) + ("_cents" if isinstance(value, int) else "")
            out.append(json.dumps({rng.choice(CLIENT_KEYS): name, key: value, "seq": i}))
            self._count(name, currency, exact)
        self.lines += len(out)
        return ("\n".join(out) + "\n").encode()

    def _generate(self):
        generated = seq = r = 0
        while generated < self.total_bytes:
            piece = self._small_events(seq)
            seq += self.small
            yield piece
            generated += len(piece)

            head = f'{{"client": "big", "amount": "{r}.01", "seq": {seq}, "pad": "'.encode()
            big = head + b"x" * (BIG_EVENT_BYTES - len(head) - 3) + b'"}\n'
            self._count("big", None, Decimal(f"{r}.01"))
            self.expected["duplicates"] += 1
            yield big + big  # the second is a retry of the first
            generated += 2 * len(big)

            head = f'{{"client": "giant", "amount": 1, "seq": {seq}, "pad": "'.encode()
            yield head
            rest = self.giant_bytes - len(head) - 3
            while rest > 0:
                n = min(rest, MIB)
                yield _BLOCK if n == MIB else _BLOCK[:n]
                rest -= n
            yield b'"}\n'
            self._reject("too_large")
            generated += self.giant_bytes

            for line, code in HOSTILE_LINES:
                yield line + b"\n"
                self._reject(code)
                generated += len(line) + 1
            self.lines += 3 + len(HOSTILE_LINES)
            r += 1

    def expected_totals(self) -> dict[tuple[str, str | None], tuple[int, Decimal]]:
        return {k: (v[0], v[1]) for k, v in self.truth.items()}


class PeakRSS:
    """Samples resident memory in a thread: this process (``peak``, ``growth``), and with
    ``children`` the sum with its child processes (``tree_peak``) and the largest child alone
    (``child_peak``)."""

    def __init__(self, interval_s: float = 0.005, children: bool = False):
        self.interval_s = interval_s
        self.children = children
        self.proc = psutil.Process()
        self._cmdline = self.proc.cmdline()
        self.baseline = self.peak = self.tree_peak = self.proc.memory_info().rss
        self.child_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def _sample(self) -> None:
        rss = self.proc.memory_info().rss
        self.peak = max(self.peak, rss)
        if self.children:
            for c in self.proc.children(recursive=True):
                try:
                    # forked but not yet exec'd (a worker being spawned): that is this
                    # process's own memory, not the child's
                    if c.cmdline() == self._cmdline:
                        continue
                    child = c.memory_info().rss
                except psutil.Error:
                    continue
                self.child_peak = max(self.child_peak, child)
                rss += child
            self.tree_peak = max(self.tree_peak, rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> "PeakRSS":
        self.baseline = self.peak = self.tree_peak = self.proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def _run_file(stream: SyntheticNDJSON, tmp: Path, workers: int | None) -> dict:
    from ingest import run_measured

    path = tmp / "hostile.ndjson"
    t = time.perf_counter()
    with open(path, "wb") as f:
        shutil.copyfileobj(stream, f, MIB)
    gen_s = time.perf_counter() - t
    argv = [sys.executable, "-m", "faultsim_desktop.cli", "ingest", str(path), "--db",
            str(tmp / "hostile.db"), "--json"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    measured = run_measured(argv)
    summary = json.loads(measured.pop("stdout").strip().splitlines()[-1])
    out = __import__("subprocess").run(
        [sys.executable, "-m", "faultsim_desktop.cli", "stats", "--db", str(tmp / "hostile.db"),
         "--json"], capture_output=True, text=True, check=True).stdout
    got = {(r["client"], r["currency"]): (r["count"], Decimal(r["total"]))
           for r in json.loads(out)}
    return {**measured, "generate_s": round(gen_s, 1), "summary": summary, "totals": got}


def _run_stream(stream: SyntheticNDJSON, tmp: Path, workers: int | None) -> dict:
    from faultsim_desktop.core.service import IngestService

    with IngestService(tmp / "hostile.db", workers=0 if workers is None else workers) as svc:
        with PeakRSS(children=True) as rss:
            t = time.perf_counter()
            s = svc.ingest_stream(stream, "<synthetic>")
            seconds = time.perf_counter() - t
        got = {(r.client, r.currency): (r.count, r.total) for r in svc.stats()}
    return {"seconds": round(seconds, 3), "peak_rss_growth_mb": round(rss.growth / MIB, 1),
            "peak_rss_tree_growth_mb": round((rss.tree_peak - rss.baseline) / MIB, 1),
            "summary": s.as_dict(), "totals": got}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gib", type=float, default=1.0, help="input size in GiB (default 1)")
    ap.add_argument("--small", type=int, default=20_000, help="ordinary events per round")
    ap.add_argument("--giant-mib", type=int, default=8, help="size of each giant line")
    ap.add_argument("--stream", action="store_true",
                    help="feed IngestService.ingest_stream in this process; no file")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    stream = SyntheticNDJSON(int(args.gib * GIB), small=args.small,
                             giant_bytes=args.giant_mib * MIB, seed=args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="faultsim-hostile-"))
    try:
        run = (_run_stream if args.stream else _run_file)(stream, tmp, args.workers)
        got = run.pop("totals")
        expected = dict(stream.expected)
        s = run["summary"]
        result = {
            "bytes": stream.bytes_out, "lines": stream.lines,
            "events": sum(expected.values()), "mode": "stream" if args.stream else "file",
            "cpu_count": os.cpu_count(), **run,
            "expected": expected, "rejection_codes": dict(stream.codes),
            "counts_exact": all(s[k] == expected.get(k, 0)
                                for k in ("accepted", "duplicates", "rejected")),
            "totals_exact": got == stream.expected_totals(),
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
