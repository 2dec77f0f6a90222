"""Run in a process of its own by tests/core/test_speedups.py, once with the compiled modules
and once with ``FAULTSIM_PURE_PYTHON=1``: what every stage made of some input files, printed
as JSON (the worker rows as text, and every table an ingest wrote, without its clock times).

    python -m tests.support.speedups_probe OUT.json DB_FOLDER FILE...
"""
import json
import sqlite3
import sys
from pathlib import Path

from faultsim_desktop import speedups
from faultsim_desktop.core.parsing import iter_chunks
from faultsim_desktop.core.pipeline import process_chunk
from faultsim_desktop.core.service import IngestService
from faultsim_desktop.core.writer import utc_now

RECEIVED = "2026-03-01T12:00:00.000000Z"
# every column that does not hold the clock of the run
TABLES = {
    "events": "fingerprint, client, client_key, currency, amount, event_time, idempotency_key,"
              " warnings, source, line, raw, mapping_version, time_bucket",
    "aggregates": "client_key, currency, count, total, first_seen, last_seen",
    "clients": "client_key, display",
    "quarantine": "raw_hash, raw, code, reason, source, line, col, times_seen, status",
    "log": "outcome, client, amount, currency, fingerprint, attempt, reason, source, line,"
           " event_id, quarantine_id",
}


def main(out: str, folder: str, *files: str) -> None:
    import faultsim_desktop.core.fastlane as fastlane
    import faultsim_desktop.core.storage.sqlite as sqlite_store

    result = {"status": speedups.status(),
              "files": [fastlane.__file__, sqlite_store.__file__], "rows": [], "tables": {}}
    for path in files:
        with open(path, "rb") as stream:
            for chunk in iter_chunks(stream, Path(path).name):
                result["rows"].extend(repr(row) for row in process_chunk(chunk, RECEIVED))
    db = Path(folder) / "probe.db"
    started = utc_now()
    service = IngestService(db, workers=2)
    try:
        for path in files:
            service.ingest_file(path)
            service.ingest_file(path)  # every line again: retries of the whole file
    finally:
        service.close()
    ended = utc_now()

    def kept(value):
        """The value, or "<clock>" for a time of receipt (an event without its own time)."""
        if isinstance(value, bytes):
            return value.hex()
        if isinstance(value, str) and started <= value <= ended and len(value) == len(ended):
            return "<clock>"
        return value

    with sqlite3.connect(db) as conn:
        for table, columns in TABLES.items():
            order = "rowid" if table != "aggregates" and table != "clients" else "1, 2"
            result["tables"][table] = [
                [kept(value) for value in row]
                for row in conn.execute(f"SELECT {columns} FROM {table} ORDER BY {order}")]
    Path(out).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
