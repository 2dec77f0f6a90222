"""SQLite's memory statistics (faultsim_desktop/sqlite_library.py): off in a process that
imports this package before sqlite3, left on otherwise, and the events stored the same."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Ingests a few events, retried, and reports what a user sees with the library's own count of
# the memory it uses (0 while its statistics are off).
_PROBE = """
import ctypes, json, sys
if sys.argv[1] == "sqlite3-first":
    import sqlite3
import faultsim_desktop
from faultsim_desktop import sqlite_library
from faultsim_desktop.core.service import IngestService
import _sqlite3
lines = ['{"client": "acme", "amount": "1.234,50 \\u20ac"}', '{"amount": "1.234,50 \\u20ac", "client": "acme"}',
         '{"client": "Bob", "cost": "$12.00", "ts": "2026-03-01T12:00:00+02:00"}', '{"client": "x"']
with IngestService(sys.argv[2], workers=0) as svc:
    s1 = svc.submit_text("\\n".join(lines)).wait(60)
    s2 = svc.submit_text("\\n".join(lines)).wait(60)
    stats = sorted((t.client, t.currency, t.count, str(t.total)) for t in svc.stats())
    lib = ctypes.CDLL(_sqlite3.__file__)
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    used = lib.sqlite3_memory_used()  # with the service's connections open
    import sqlite3
    options = [o for (o,) in sqlite3.connect(":memory:").execute("PRAGMA compile_options")]
print(json.dumps({"status": sqlite_library.status(), "memory_used": used,
                  "built_without_statistics": "DEFAULT_MEMSTATUS=0" in options,
                  "first": [s1.accepted, s1.duplicates, s1.rejected],
                  "again": [s2.accepted, s2.duplicates, s2.rejected], "stats": stats}))
"""


def _probe(order: str, db: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE, order, str(db)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_statistics_are_off_when_the_package_comes_first_and_the_events_are_the_same(tmp_path):
    first = _probe("package-first", tmp_path / "a.db")
    later = _probe("sqlite3-first", tmp_path / "b.db")
    assert first["status"] == "memory statistics off"
    assert first["memory_used"] == 0  # the library kept no count while it stored events
    assert later["status"] == "left as it is: sqlite3 was imported first"
    # the statistics as the library's build has them: on unless built with them off
    assert (later["memory_used"] > 0) is not later["built_without_statistics"]
    for seen in (first, later):
        assert seen["first"] == [2, 1, 1] and seen["again"] == [0, 3, 1]
    assert first["stats"] == later["stats"] == [["Bob", "USD", 1, "12.00"],
                                                ["acme", "EUR", 1, "1234.50"]]
