"""Where the time of an ingest goes: each stage's ceiling measured alone, on one core, over the
same corpus (feed-shaped by default), and the end-to-end rate of ``faultsim ingest`` on it.

    python benchmarks/stages.py --events 1000000                 # stages, then end to end
    python benchmarks/stages.py --corpus FILE --rounds 3          # an existing NDJSON file
    python benchmarks/stages.py --events 1000000 --profile DIR    # and py-spy over an ingest

The stages, in the order an event meets them (each rate is the file's lines per second of that
stage's own time, so the rates compare: "if only this stage ran, the ingest would go this fast";
``lines_per_cpu_s`` divides by the CPU time the stage used, which a busy neighbour on a shared
machine changes far less than the wall time):

- ``read_split``: reading the file and cutting it into the chunks worker processes get;
- ``parse``: chunks -> candidates (JSON decoded, bad lines rejected with line and column);
- ``normalize``: ``normalize_with_time_value`` on every parsed object;
- ``fingerprint``: canonical JSON + SHA-256, and the time bucket;
- ``worker_chunk``: ``chunk_rows``, all of the above as a worker process runs it;
- ``transfer``: sending a worker's rows back: its payload (``pack_rows``) pickled as the pool
  does, unpickled in the parent and unpacked (``unpack_rows``);
- ``inserts``: the prepared rows of each batch into the real schema (``executemany`` of the
  writer's INSERT, one transaction per batch): the table and its UNIQUE indexes alone;
- ``aggregates``: the per-(client, currency) updates of each batch, as the writer makes them;
- ``writer``: the writer's whole transaction per batch (``store_events`` and the commit:
  inserts, duplicate look-ups, quarantine, aggregates, log rows), of which ``aggregates``.

Worker stages run in ``--workers`` processes at once in a real ingest (one per core); the writer
runs on one thread of the parent. With ``--rounds`` N the whole pass runs N times (fresh
databases each time) and each stage keeps its fastest round. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import pickle
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import SHAPES, generate  # noqa: E402

from faultsim_desktop import speedups  # noqa: E402
from faultsim_desktop.core.fingerprint import (  # noqa: E402
    NotCanonicalizable, bucket_of, fingerprint, time_bucket)
from faultsim_desktop.core.model import RejectedEvent  # noqa: E402
from faultsim_desktop.core.normalize import TIME_TIE, normalize_with_time_value  # noqa: E402
from faultsim_desktop.core.parsing import iter_chunks, parse_chunk  # noqa: E402
from faultsim_desktop.core.pipeline import chunk_rows, pack_rows, unpack_rows  # noqa: E402
from faultsim_desktop.core.service import POOL_CHUNK_BYTES, tune_gc_for_bulk  # noqa: E402
from faultsim_desktop.core.storage import sqlite as sqlite_storage  # noqa: E402
from faultsim_desktop.core.writer import utc_now  # noqa: E402

BATCH = 50_000  # the writer's default transaction size (IngestService batch_size)
STAGES = ("read_split", "parse", "normalize", "fingerprint", "worker_chunk", "transfer",
          "inserts", "aggregates", "writer")


class _Clock:
    """Seconds spent per stage in one pass: wall time, and this thread's CPU time (which a busy
    neighbour on a shared machine hardly changes; waits for the disk it leaves out)."""

    def __init__(self):
        self.seconds = collections.Counter()
        self.cpu = collections.Counter()

    def start(self) -> tuple[float, float]:
        return time.perf_counter(), time.thread_time()

    def stop(self, stage: str, started: tuple[float, float]) -> None:
        self.seconds[stage] += time.perf_counter() - started[0]
        self.cpu[stage] += time.thread_time() - started[1]

    def timed(self, stage: str, fn):
        def run(*args, **kwargs):
            started = self.start()
            try:
                return fn(*args, **kwargs)
            finally:
                self.stop(stage, started)
        return run


def _event_row(item: tuple, now: str) -> tuple:
    """The events row ``store_events`` writes for a prepared item, column by column; a column
    this script does not know fails loudly rather than measuring another schema."""
    (raw, source, line, _column, fp, client, client_key, amount, currency, event_time, idem,
     warnings, _code, _reason, _outbox, mapping_version, bucket, _tag) = item
    values = {"fingerprint": fp, "client": client, "client_key": client_key,
              "currency": currency or "", "amount": amount, "event_time": event_time,
              "received_at": now, "idempotency_key": idem,
              "warnings": json.dumps(warnings, ensure_ascii=False) if warnings else None,
              "source": source, "line": line, "raw": raw, "mapping_version": mapping_version,
              "time_bucket": bucket, "receipt": None, "import_id": None}
    return tuple(values[c] for c in sqlite_storage._EVENT_COLUMNS)


def _cpu_stages(chunk, clock: _Clock, received_at: str) -> None:
    """Parse, normalize and fingerprint one chunk, each timed on its own."""
    candidates = clock.timed("parse", parse_chunk)(chunk)
    objs = [c.obj for c in candidates if c.rejection is None]
    started = clock.start()
    values = []
    for obj in objs:
        try:
            values.append(normalize_with_time_value(obj, received_at=received_at)[1])
        except RejectedEvent:
            values.append(None)
    clock.stop("normalize", started)
    started = clock.start()
    for obj, value in zip(objs, values):
        try:
            fingerprint(obj)
        except NotCanonicalizable:
            continue
        time_bucket(obj) if value is TIME_TIE else bucket_of(value)
    clock.stop("fingerprint", started)


def one_pass(corpus: Path, work: Path) -> dict:
    """Every stage once over ``corpus``; returns seconds per stage and what was counted."""
    clock = _Clock()
    received_at = utc_now()
    full = sqlite_storage.SQLiteBackend(work / "writer.db").write_session()
    bare = sqlite_storage.SQLiteBackend(work / "inserts.db").write_session()
    full._apply_deltas = clock.timed("aggregates", full._apply_deltas)
    counts = collections.Counter()
    batch: list[tuple] = []

    def write(items: list[tuple]) -> None:
        now = utc_now()
        started = clock.start()
        full.begin()
        records = full.store_events(items, 1, now)
        full.commit()
        clock.stop("writer", started)
        counts.update(r.outcome.value for r in records)
        rows = [_event_row(it, now) for it in items if it[12] is None]
        started = clock.start()
        bare.begin()
        bare.cur.executemany(sqlite_storage._INSERT_EVENT, rows)
        bare.commit()
        clock.stop("inserts", started)

    with open(corpus, "rb") as f:
        chunks = iter_chunks(f, str(corpus), chunk_bytes=POOL_CHUNK_BYTES)
        while True:
            started = clock.start()
            chunk = next(chunks, None)
            clock.stop("read_split", started)
            if chunk is None:
                break
            counts["chunks"] += 1
            _cpu_stages(chunk, clock, received_at)
            rows = clock.timed("worker_chunk", chunk_rows)(chunk, received_at)
            started = clock.start()  # as the pool sends process_chunk_packed's answer back
            sent = pickle.dumps(pack_rows(rows), pickle.HIGHEST_PROTOCOL)
            items = unpack_rows(pickle.loads(sent), None)
            clock.stop("transfer", started)
            counts["lines"] += len(items)
            batch.extend(items)
            if len(batch) >= BATCH:
                write(batch)
                batch = []
    if batch:
        write(batch)
    full.release()
    bare.release()
    return {"seconds": dict(clock.seconds), "cpu": dict(clock.cpu), "counts": dict(counts)}


def end_to_end(corpus: Path, db: Path, workers: int | None) -> dict:
    argv = [sys.executable, "-m", "faultsim_desktop.cli", "ingest", str(corpus), "--db",
            str(db), "--json"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode not in (0, 3):
        raise SystemExit(f"faultsim ingest failed ({run.returncode}): {run.stderr[-2000:]}")
    # the ingest and its worker processes (waited for, so counted among this one's children)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": round(seconds, 2), "cpu_s": round(cpu, 2),
            "summary": json.loads(run.stdout.splitlines()[-1])}


def _frame_name(frame: dict) -> str:
    parts = Path(frame.get("file") or "?").parts
    short = "/".join(parts[parts.index("faultsim_desktop"):] if "faultsim_desktop" in parts
                     else parts[-2:])
    return f"{frame['name']} ({short})"


def profile(corpus: Path, db: Path, out: Path, workers: int | None, rate: int, top: int) -> dict:
    """py-spy over a whole ``faultsim ingest``, its worker processes too: a speedscope file in
    ``out`` (open it at https://www.speedscope.app) and, per thread of each process, the
    frames with the most samples of their own and the most samples inside them."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [sys.executable, "-m", "faultsim_desktop.cli", "ingest", str(corpus), "--db", str(db),
            "--json"] + (["--workers", str(workers)] if workers is not None else [])
    out.mkdir(parents=True, exist_ok=True)
    path = out / "ingest.speedscope.json"
    # py-spy drops idle samples by default: what is left is time on a CPU (or wanting one)
    subprocess.run([spy, "record", "--subprocesses", "--rate", str(rate), "--format",
                    "speedscope", "-o", str(path), "--", *argv], check=True, capture_output=True)
    return summarize(json.loads(path.read_text(encoding="utf-8")), top)


_PROFILE_NAME = re.compile(r'Process ([0-9]+) Thread [0-9]+ "(.*)"')


def summarize(speedscope: dict, top: int) -> dict:
    """Top frames per thread from py-spy's speedscope output: ``own`` (the leaf frame) and
    ``inside`` (anywhere on the stack), as percentages of that thread's samples; frames on
    almost every sample (the thread's entry points) are left out of ``inside``."""
    frames = [_frame_name(f) for f in speedscope["shared"]["frames"]]
    threads = []
    for prof in speedscope["profiles"]:
        m = _PROFILE_NAME.match(prof["name"])
        pid, thread = (m.group(1), m.group(2)) if m else (prof["name"], "")
        own: collections.Counter = collections.Counter()
        inside: collections.Counter = collections.Counter()
        total = 0
        for stack, weight in zip(prof["samples"], prof["weights"]):
            total += weight
            stack = [i for i in stack if not frames[i].startswith("process ")]
            if stack:
                own[frames[stack[-1]]] += weight
                for name in {frames[i] for i in stack}:
                    inside[name] += weight
        threads.append((pid, thread, total, own, inside))
    if not threads:
        return {}
    # the ingest's own process is the one with the writer thread; the others are its workers
    main_pid = next((pid for pid, thread, *_ in threads if thread == "faultsim-writer"), None)
    busiest = max(total for _, _, total, _, _ in threads)
    result = {}
    for pid, thread, total, own, inside in sorted(threads, key=lambda t: -t[2]):
        if total < busiest * 0.02:
            continue
        who = (f"main process, thread {thread or 'main'}" if pid == main_pid
               else f"worker process {pid}")
        result[who] = {
            "cpu_s": round(total, 1),  # py-spy weighs samples in seconds
            "own": [[name, round(100 * n / total, 1)] for name, n in own.most_common(top)],
            "inside": [[name, round(100 * n / total, 1)] for name, n in inside.most_common(top * 3)
                       if n < total * 0.95][:top],
        }
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000, help="lines of the corpus")
    ap.add_argument("--shape", choices=SHAPES, default="feed")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", type=Path, help="measure this NDJSON file instead")
    ap.add_argument("--rounds", type=int, default=1, help="passes; each stage keeps its best")
    ap.add_argument("--workers", type=int, default=None,
                    help="the end-to-end ingest's worker processes (default: one per core)")
    ap.add_argument("--no-end-to-end", action="store_true", help="the stages only")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="also run py-spy over the end-to-end ingest; its files go here")
    ap.add_argument("--profile-rate", type=int, default=100, help="py-spy samples a second")
    ap.add_argument("--top", type=int, default=12, help="frames per process in the summary")
    args = ap.parse_args(argv)
    tune_gc_for_bulk()  # as the processes of a real ingest do
    tmp = Path(tempfile.mkdtemp(prefix="faultsim-stages-"))
    try:
        corpus = args.corpus
        if corpus is None:
            corpus = tmp / "corpus.ndjson"
            generate(corpus, args.events, seed=args.seed, shape=args.shape)
        lines = sum(1 for _ in open(corpus, "rb"))
        best: dict[str, float] = {}
        best_cpu: dict[str, float] = {}
        counts: dict = {}
        for r in range(args.rounds):
            work = tmp / f"round-{r}"
            work.mkdir()
            result = one_pass(corpus, work)
            shutil.rmtree(work, ignore_errors=True)
            counts = result["counts"]
            for stage, seconds in result["seconds"].items():
                best[stage] = min(seconds, best.get(stage, seconds))
            for stage, seconds in result["cpu"].items():
                best_cpu[stage] = min(seconds, best_cpu.get(stage, seconds))
        out = {"corpus": str(args.corpus) if args.corpus else
               {"shape": args.shape, "events": args.events, "seed": args.seed},
               "lines": lines, "file_mb": round(corpus.stat().st_size / 2**20, 1),
               "cpu_count": os.cpu_count(), "rounds": args.rounds, "engine": speedups.summary(),
               "outcomes": {k: v for k, v in counts.items() if k not in ("lines", "chunks")},
               "load_average": [round(x, 1) for x in os.getloadavg()],
               "stages": {stage: {"seconds": round(best[stage], 2),
                                  "lines_per_s": round(lines / best[stage]),
                                  "cpu_s": round(best_cpu[stage], 2),
                                  "lines_per_cpu_s": round(lines / best_cpu[stage])}
                          for stage in STAGES if best.get(stage) and best_cpu.get(stage)}}
        if not args.no_end_to_end:
            e2e = end_to_end(corpus, tmp / "e2e.db", args.workers)
            e2e["lines_per_s"] = round(lines / e2e["seconds"])
            e2e["lines_per_cpu_s"] = round(lines / e2e["cpu_s"])
            out["end_to_end"] = e2e
        if args.profile is not None:
            out["profile"] = profile(corpus, tmp / "profiled.db", args.profile, args.workers,
                                     args.profile_rate, args.top)
        print(json.dumps(out, indent=1))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
