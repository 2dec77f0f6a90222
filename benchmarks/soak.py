"""SIGKILL soak: ingest a messy corpus, kill the process at random moments, start it again on the
same database and input, and repeat; at the end the per-client counts and exact totals must equal
the corpus' ground truth and SQLite's integrity check must say ``ok``.

    python benchmarks/soak.py --kills 300               # the faultsim command line
    python benchmarks/soak.py --kills 40 --gui          # the window (offscreen)

The rounds cycle through: a plain ingest; one with mid-transaction faults; one whose writes all
fail so the pending outbox fills; a plain one that starts by draining that outbox; one that loses
acknowledgements after commits. Kills land while parsing, mid-batch, during commits and while the
outbox drains; each epoch's first kill waits until events are stored and the outbox round's until
the outbox fills, so those phases are always hit. Prints one JSON object with the figures; exit
status 1 when anything was lost or counted twice. tests/core/test_kill_recovery.py and
tests/ui/test_kill_recovery.py run this with fewer kills.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

if __package__:  # imported as benchmarks.soak, by the tests
    from .corpus import SHAPES, generate
else:  # run as a script: its own folder comes first on sys.path
    from corpus import SHAPES, generate

# (extra faultsim arguments, what the round is for)
CLI_ROUNDS = [
    ([], "plain"),
    (["--fault", "mid_transaction:0.3"], "mid-transaction faults"),
    (["--fault", "before_write:always", "--retries", "0"], "fill the outbox"),
    ([], "drain the outbox"),
    (["--fault", "after_commit:0.3"], "lost acknowledgements"),
    (["--fault", "latency:20ms", "--batch-size", "200"], "slow small commits"),
]


def _counts(db: Path) -> tuple[int, int, int]:
    """(stored events, events waiting in the outbox, log rows), read without the engine."""
    def one(path: Path, sql: str) -> int:
        if not path.exists():
            return 0
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
            try:
                return conn.execute(sql).fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error:
            return -1
    return (one(db, "SELECT count(*) FROM events"),
            one(Path(f"{db}.outbox"), "SELECT count(*) FROM pending"),
            one(db, "SELECT count(*) FROM log"))


def _cli(db: Path, data: Path, extra: list[str], batch: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "faultsim_desktop.cli", "ingest", str(data), "--db", str(db),
            "--json", "--batch-size", str(batch), *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _gui(db: Path, data: Path, workdir: Path, workers: int) -> subprocess.Popen:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               FAULTSIM_SETTINGS=str(workdir / "settings.ini"))
    args = [sys.executable, "-m", "faultsim_desktop.ui.app", "--db", str(db),
            "--workers", str(workers), str(data)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


@contextmanager
def _reaped(p: subprocess.Popen):
    """The process is gone when the block ends, whatever happened inside it."""
    try:
        yield p
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _stats(db: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", "stats", "--db", str(db),
                          "--json"], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        return {}
    return {(r["client"], r["currency"]): (r["count"], Decimal(r["total"]))
            for r in json.loads(out.stdout)}


def _progress(before: tuple[int, int, int], now: tuple[int, int, int]) -> int:
    """How many rows the stored events, the outbox and the log moved by (0 while unreadable)."""
    if -1 in now:
        return 0
    return sum(abs(a - b) for a, b in zip(now, before))


def _kill_when(p: subprocess.Popen, db: Path, reached,
               timeout: float = 120) -> tuple[int, int, int] | None:
    """Poll the database until ``reached(counts)`` holds, then SIGKILL at once and return the
    counts that placed the kill; a process that ends first is left alone (its round counts as
    finished), one still running at the timeout is killed."""
    deadline = time.monotonic() + timeout
    seen = None
    while p.poll() is None and time.monotonic() < deadline:
        now = _counts(db)
        if reached(now):
            seen = now
            break
        time.sleep(0.01)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    return seen


def _settled_counts(db: Path) -> tuple[int, int, int]:
    """The counts once the killed process is gone: nothing writes any more, so a read that
    fails (a hot WAL being recovered) is read again rather than taken as no progress."""
    for _ in range(200):
        now = _counts(db)
        if -1 not in now:
            return now
        time.sleep(0.05)
    return now


def _moment(n: int, before: tuple[int, int, int], rng: random.Random, gui: bool):
    """Where round ``n``'s kill lands: on an observed change, so the kills that the tests count
    (mid-ingest, mid-outbox, in a fault round) are certain whatever the machine's speed, or
    (None) at a random moment: starting, parsing, anywhere."""
    if n == 0:  # the epoch's first round, on a fresh database: once events are stored
        return lambda now: -1 not in now and now[0] > before[0]
    if gui:
        return None
    kind = n % len(CLI_ROUNDS)
    if kind == 2:  # writes all fail: once the outbox is filling
        return lambda now: -1 not in now and now[1] > before[1]
    if kind == 3:  # a plain round that starts by draining the outbox
        return None
    rows = rng.randint(1, 5000)  # fault rounds: after a random amount of visible work
    return lambda now: _progress(before, now) >= rows


def _epoch(db: Path, data: Path, truth: dict, *, kills: int, rng: random.Random, gui: bool,
           wait: tuple[float, float], batch: int, figures: dict) -> dict:
    """Kill ``kills`` times on a fresh database, let a last run finish, check against truth."""
    killed = 0
    n = 0
    while killed < kills:
        figures["rounds"] += 1
        before = _settled_counts(db)
        if gui:
            extra = []
            p = _gui(db, data, db.parent, workers=n % 2)
        else:
            extra, _purpose = CLI_ROUNDS[n % len(CLI_ROUNDS)]
            if extra:
                extra = [*extra, "--seed", str(figures["rounds"])]
            p = _cli(db, data, extra, batch)
        reached = _moment(n, before, rng, gui)
        n += 1
        seen = None
        with _reaped(p):
            if reached is None:
                try:
                    p.wait(timeout=rng.uniform(*wait))
                except subprocess.TimeoutExpired:
                    p.send_signal(signal.SIGKILL)
            else:
                seen = _kill_when(p, db, reached)
            p.wait()
        if p.returncode == -signal.SIGKILL:
            killed += 1
            after = _settled_counts(db)
            if before[1] > 0:
                figures["kills_while_outbox_waited"] += 1
            if extra:
                figures["kills_in_fault_rounds"] += 1
            # what placed the kill was observed before it, so it counts whatever is read after
            moved = [after] if seen is None else [after, seen]
            if any(before[0] < m[0] for m in moved):  # it had stored some events, not all
                figures["kills_mid_ingest"] += 1
            if any(before[1] != m[1] for m in moved):  # the outbox was filling or draining
                figures["kills_mid_outbox"] += 1
        else:
            figures["runs_that_finished"] += 1
            if p.returncode not in (0, 3):  # 3: events wait in the outbox (a fault round)
                figures["crashed_with_error"] += 1
                figures.setdefault("errors", []).append(p.stderr.read()[-2000:])
        p.communicate()
    figures["kills"] += killed
    # the last run is left to finish
    if gui:
        want = {k: (c, t) for k, (c, t) in truth.items()}
        deadline = time.monotonic() + 300
        converged = False
        with _reaped(_gui(db, data, db.parent, workers=1)) as p:
            while time.monotonic() < deadline and p.poll() is None:
                time.sleep(1.0)
                if _counts(db)[1] == 0 and _stats(db) == want:
                    time.sleep(1.5)  # still the same a moment later: nothing counted twice
                    converged = _counts(db)[1] == 0 and _stats(db) == want
                    if converged:
                        break
            p.terminate()
            _out, err = p.communicate(timeout=60)
        final_ok = converged
    else:
        with _reaped(_cli(db, data, [], batch)) as p:
            out, err = p.communicate(timeout=600)
        summary = json.loads(out.splitlines()[-1]) if out.strip() else {}
        final_ok = p.returncode == 0 and summary.get("failed") == 0 \
            and summary.get("pending") == 0
    if not final_ok:
        figures.setdefault("errors", []).append(f"last run of {db}: {err[-2000:]}")
    return {"last_run_ok": final_ok, **check(db, truth)}


def run_soak(workdir: Path, *, events: int = 40_000, kills: int = 30, seed: int = 1,
             gui: bool = False, kills_per_epoch: int = 6,
             wait: tuple[float, float] | None = None, batch: int = 500,
             shape: str = "tidy") -> dict:
    """Epochs of ``kills_per_epoch`` kills, each on a fresh database with the same corpus (so
    kills keep landing mid-ingest, not only once everything is stored), each ending with a run
    left to finish and a check against the ground truth. Returns the figures."""
    workdir = Path(workdir)
    data = workdir / "corpus.ndjson"
    truth = generate(data, events, seed=seed, shape=shape)["truth"]
    rng = random.Random(seed)
    wait = wait or ((0.8, 3.0) if gui else (0.3, 1.5))
    figures = {"events_in_corpus": events, "kills": 0, "epochs": 0, "rounds": 0,
               "runs_that_finished": 0, "kills_while_outbox_waited": 0,
               "kills_in_fault_rounds": 0, "kills_mid_ingest": 0, "kills_mid_outbox": 0,
               "crashed_with_error": 0, "epochs_converged": 0, "events_lost": 0,
               "events_counted_twice": 0, "integrity_failures": 0, "left_in_outbox": 0,
               "write_failures_logged": 0}
    started = time.perf_counter()
    while figures["kills"] < kills:
        figures["epochs"] += 1
        folder = workdir / f"epoch-{figures['epochs']}"
        folder.mkdir()
        result = _epoch(folder / "soak.db", data, truth, kills=min(kills_per_epoch,
                        kills - figures["kills"]), rng=rng, gui=gui, wait=wait, batch=batch,
                        figures=figures)
        figures["epochs_converged"] += (result["last_run_ok"] and result["totals_equal_truth"]
                                        and result["aggregates_equal_group_by"])
        figures["events_lost"] += result["events_lost"]
        figures["events_counted_twice"] += result["events_counted_twice"]
        figures["integrity_failures"] += result["integrity_check"] != "ok"
        figures["left_in_outbox"] += result["left_in_outbox"]
        figures["write_failures_logged"] += result["write_failures_logged"]
    figures["seconds"] = round(time.perf_counter() - started, 1)
    return figures


def check(db: Path, truth: dict) -> dict:
    """Compare a database with the ground truth: what was lost, what was counted twice."""
    from faultsim_desktop.core.service import IngestService

    with IngestService(db, workers=0) as svc:
        got = {(r.client, r.currency): (r.count, r.total) for r in svc.stats()}
        want = {k: (n, t) for k, (n, t) in truth.items()}
        lost = sum(max(0, want[k][0] - got.get(k, (0, 0))[0]) for k in want)
        twice = sum(max(0, got[k][0] - want.get(k, (0, 0))[0]) for k in got)
        # each failed write attempt logs its batch's rows with one time stamp
        failures = {r[0] for r in svc.recent_log(limit=10**8) if r[1] in ("retrying", "failed")}
        return {"totals_equal_truth": got == want, "events_lost": lost,
                "write_failures_logged": len(failures),
                "events_counted_twice": twice,
                "aggregates_equal_group_by": svc.stats() == svc.stats_from_events(),
                "integrity_check": svc.integrity_check(), "left_in_outbox": svc.outbox.count()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=300)
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--kills-per-epoch", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shape", choices=SHAPES, default="feed",
                    help="corpus shape (benchmarks/corpus.py): feed, like real feeds, or tidy")
    ap.add_argument("--gui", action="store_true", help="kill the window instead of the CLI")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="faultsim-soak-") as tmp:
        figures = run_soak(Path(tmp), events=args.events, kills=args.kills, seed=args.seed,
                           gui=args.gui, kills_per_epoch=args.kills_per_epoch, shape=args.shape)
    print(json.dumps({"mode": "window" if args.gui else "cli", "shape": args.shape, **figures},
                     indent=1))
    return 0 if ok(figures) else 1


def ok(figures: dict) -> bool:
    """Every epoch converged on the truth: nothing lost, nothing twice, integrity ok."""
    return (figures["epochs_converged"] == figures["epochs"] and not figures["events_lost"]
            and not figures["events_counted_twice"] and not figures["integrity_failures"]
            and not figures["left_in_outbox"] and not figures["crashed_with_error"])


if __name__ == "__main__":
    sys.exit(main())
