"""A SIGKILL during ``faultsim imports undo`` converges: the undo is one transaction, so the
database is either untouched or fully undone, consistent either way, and running the undo
again gives the totals of a database that never had the import.

The kill lands once the undo's transaction has started writing: on SQLite when the ``-wal``
file grows (the deletes spill pages into it long before the commit), on PostgreSQL when the
undo's connection holds a transaction id. Should the undo have committed by the time the kill
lands, the test still holds it to the right outcome (fully undone); the assertion messages say
which case it saw."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from faultsim_desktop.cli import main

BIG = 200_000
KEYED = 1000  # every thousandth event of the big import carries an idempotency key


def _line(i: int) -> str:
    # an event time of its own, so that first and last seen compare across databases
    d = {"client": f"c{i % 50}", "amount": f"{i % 997}.{i % 100:02d}", "ts": 1_700_000_000 + i}
    if i % KEYED == KEYED // 2:
        d["idempotency_key"] = f"k{i}"
    return json.dumps(d)


def _write(path: Path, lines) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
    return path


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """base: events the big import sends again; big: the import to undo (with a bad line only
    it has); later: copies of big events (handed over on undo) and other content under big's
    keys (key conflicts, accepted on undo)."""
    base = _write(tmp_path / "base.ndjson", (_line(i) for i in range(1, BIG, 500)))
    big = _write(tmp_path / "big.ndjson",
                 [*(_line(i) for i in range(BIG)), '{"client": "c1", "amount": "oops"}'])
    later = _write(tmp_path / "later.ndjson", [
        *(_line(i) for i in range(0, BIG, 200)),
        *(json.dumps({"client": f"c{i % 50}", "amount": "999.99",
                      "ts": 1_800_000_000 + i, "idempotency_key": f"k{i}"})
          for i in range(KEYED // 2, BIG, KEYED * 5))])
    return base, big, later


def _ingest(db, *files: Path) -> None:
    assert main(["ingest", *map(str, files), "--db", str(db), "--json"]) == 0


def _state(svc, ids) -> tuple:
    """What a user sees: the totals, the open quarantine, and the given imports' counts."""
    totals = sorted((t.client, t.currency or "", t.count, t.total, t.first_seen, t.last_seen)
                    for t in svc.stats())
    rows = {r.id: r for r in svc.imports()}
    counts = [(rows[i].source, rows[i].accepted, rows[i].duplicates, rows[i].rejected)
              for i in ids]
    quarantine = sorted((q.raw, q.code) for q in svc.quarantine())
    return totals, quarantine, counts


def _consistent(svc, case: str) -> None:
    assert sorted(svc.stats()) == sorted(svc.stats_from_events()), (
        f"{case}: the totals disagree with the events")
    assert svc.integrity_check() == "ok", f"{case}: integrity check failed"


def _undo_started(db, backend: str):
    """A test of whether the undo's transaction has started writing."""
    if backend == "sqlite":
        wal = Path(f"{db}-wal")
        before = wal.stat().st_size if wal.exists() else 0
        return lambda: wal.exists() and wal.stat().st_size > before
    dbname = conninfo_to_dict(db)["dbname"]
    watcher = psycopg.connect(db, autocommit=True)

    def started() -> bool:
        (n,) = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                               " AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()",
                               (dbname,)).fetchone()
        return n > 0
    started.close = watcher.close
    return started


def _wait_for(condition, proc, timeout: float = 120.0) -> bool:
    """Poll until ``condition`` holds (True) or the process ends first (False)."""
    tick = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the undo neither started writing nor ended"
        tick.wait(0.002)
    return True


def _undo(db, import_id: int, processes) -> subprocess.Popen:
    return processes.start([sys.executable, "-m", "faultsim_desktop.cli", "imports", "undo",
                            str(import_id), "--db", str(db)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_a_sigkill_during_an_undo_converges(backend, db, new_db, open_service, processes,
                                            tmp_path):
    base, big, later = _files(tmp_path)
    _ingest(db, base, big, later)
    svc = open_service(db)
    assert [(r.id, r.source) for r in svc.imports()] == [
        (1, str(base)), (2, str(big)), (3, str(later))]
    before = _state(svc, [1, 2, 3])
    with_it = _state(svc, [1, 3])
    svc.close()

    # the truth: a database that never had the big import
    never = new_db("never")
    _ingest(never, base, later)
    ref = open_service(never)
    truth = _state(ref, [1, 2])
    ref.close()
    assert truth != with_it  # the undo has something to change

    started = _undo_started(db, backend)
    try:
        proc = _undo(db, 2, processes)
        killed_mid_way = _wait_for(started, proc)
        proc.kill()
        proc.communicate()
    finally:
        getattr(started, "close", lambda: None)()
    case = ("killed after the undo's transaction started writing" if killed_mid_way
            else "the undo ended before the kill")

    svc = open_service(db)
    _consistent(svc, case)
    undone = svc.import_info(2).undone_at is not None
    if undone:
        assert _state(svc, [1, 3]) == truth, f"{case}: marked undone, yet not fully undone"
    else:
        assert _state(svc, [1, 2, 3]) == before, f"{case}: not undone, yet changed"
    svc.close()

    proc = _undo(db, 2, processes)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"{case}; the undo run again failed: {err}"
    expected = ("import #2 was undone already" if undone else "import #2 undone: ")
    assert out.startswith(expected), f"{case}, {'undone' if undone else 'untouched'}: {out}"

    svc = open_service(db)
    _consistent(svc, f"{case}, then undone again")
    assert _state(svc, [1, 3]) == truth, f"{case}: the undo run again is not exact"
    assert svc.import_info(2).undone_at is not None
