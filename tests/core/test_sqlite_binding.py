"""The identity adapters for bytes and None (core/storage/sqlite_schema.py): values are
stored exactly as before, and an adapter somebody else registered is left in place."""
import sqlite3
import subprocess
import sys

from faultsim_desktop.core.service import IngestService


def test_fingerprint_is_a_blob_and_absent_fields_are_null(tmp_path):
    db = tmp_path / "f.db"
    with IngestService(db) as svc:
        svc.submit_text('{"client": "a", "amount": 1, "ts": 1700000000}\n'
                        '{"client": "b", "amount": 2, "event_id": "k"}').wait(30)
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT client, typeof(fingerprint), length(fingerprint), typeof(idempotency_key),"
        " idempotency_key, typeof(warnings), typeof(mapping_version) FROM events ORDER BY id"
    ).fetchall()
    conn.close()
    assert rows == [("a", "blob", 32, "null", None, "null", "null"),
                    ("b", "blob", 32, "text", "k", "text", "null")]


def test_bytes_and_none_bind_as_blob_and_null_in_any_connection():
    import faultsim_desktop.core.storage.sqlite_schema  # noqa: F401 - registers the adapters

    conn = sqlite3.connect(":memory:")
    got = conn.execute("SELECT typeof(?), ?, typeof(?), typeof(?)",
                       (b"\x00\xff", b"\x00\xff", None, bytearray(b"x"))).fetchone()
    assert got == ("blob", b"\x00\xff", "null", "blob")


def test_an_adapter_registered_earlier_is_kept():
    code = (
        "import sqlite3\n"
        "mine = lambda b: b.hex()\n"
        "sqlite3.register_adapter(bytes, mine)\n"
        "import faultsim_desktop.core.storage.sqlite_schema\n"
        "assert sqlite3.adapters[(bytes, sqlite3.PrepareProtocol)] is mine\n"
        "print(sqlite3.connect(':memory:').execute('SELECT ?', (b'\\x01',)).fetchone()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "01"


def test_raw_text_with_a_lone_surrogate_is_kept_as_its_bytes(tmp_path):
    """A raw text that is not valid UTF-8 (only a caller handing in Prepared items can make
    one) is stored byte for byte instead of failing the batch."""
    from faultsim_desktop.core.model import Outcome
    from faultsim_desktop.core.parsing import split_text
    from faultsim_desktop.core.pipeline import prepare
    from faultsim_desktop.core.writer import utc_now

    [good] = prepare(split_text('{"client": "a", "amount": 1}'), utc_now())
    odd = good._replace(raw='{"client": "a", "amount": 1} \ud800')
    with IngestService(tmp_path / "s.db") as svc:
        ticket = svc.submit_prepared([odd], keep_records=True)
        ticket.wait(30)
        assert [r.outcome for r in ticket.records] == [Outcome.ACCEPTED]
    conn = sqlite3.connect(tmp_path / "s.db")
    [(kind, raw)] = conn.execute("SELECT typeof(raw), raw FROM events").fetchall()
    conn.close()
    assert kind == "blob" and raw == '{"client": "a", "amount": 1} \ud800'.encode(
        "utf-8", "surrogatepass")


def _stored(db, receipts, lines):
    """Every column of the events and log rows that storing ``lines`` in one batch writes."""
    from faultsim_desktop.core.model import ImportTag
    from faultsim_desktop.core.parsing import split_text
    from faultsim_desktop.core.pipeline import prepare
    from faultsim_desktop.core.storage.sqlite import SQLiteBackend

    now = "2026-03-01T12:00:00.000000Z"
    items = prepare(split_text("\n".join(lines), "b.ndjson"), now, None,
                    ImportTag(1, "b.ndjson", "file", now, "off"))
    session = SQLiteBackend(db).write_session()
    try:
        session.begin()
        session.store_events(items, 1, now, receipts(len(items)))
        session.commit()
        conn = session.conn
        columns = "fingerprint, typeof(fingerprint), client, client_key, currency, amount," \
                  " event_time, received_at, idempotency_key, warnings, source, line, raw," \
                  " mapping_version, time_bucket, typeof(receipt), import_id"
        events = conn.execute(f"SELECT {columns} FROM events ORDER BY id").fetchall()
        log = conn.execute("SELECT at, outcome, client, amount, currency, fingerprint,"
                           " typeof(fingerprint), attempt, reason, source, line, event_id,"
                           " quarantine_id, typeof(quarantine_id), import_id FROM log"
                           " ORDER BY rowid").fetchall()
    finally:
        session.release()
    return events, log


def test_the_common_event_is_stored_as_any_other(tmp_path):
    """The statements for events without a mapping (NULL literals, a bytearray fingerprint)
    and the one for any event store the same columns, and a duplicate's log row is the same
    whichever statement logs it."""
    # one event for each statement: plain, keyed, warned (no time), keyed and warned
    lines = ['{"client": "a", "amount": 1, "ts": 1700000000}',
             '{"client": "a", "amount": 1, "ts": 1700000000}',
             '{"client": "b", "amount": "2.50", "event_id": "k", "ts": 1700000001}',
             '{"event_id": "k", "ts": 1700000001, "client": "b", "amount": "2.50"}',
             '{"client": "c", "amount": 3, "currency": "EUR"}',
             '{"amount": 3, "currency": "EUR", "client": "c"}',
             '{"client": "d", "amount": 4, "event_id": "k"}',
             '{"client": "d", "event_id": "k", "amount": 4}']
    with_receipts = _stored(tmp_path / "a.db", lambda n: [1000 * (i + 1) + 1 for i in range(n)],
                            lines)
    without = _stored(tmp_path / "b.db", lambda n: None, lines)
    events, log = with_receipts
    assert [e[1] for e in events] == ["blob"] * 4
    assert [e[15] for e in events] == ["integer"] * 4
    assert [e[15] for e in without[0]] == ["null"] * 4
    # the same columns but the receipt, which only one of the two stored
    assert [e[:15] + e[16:] for e in events] == [e[:15] + e[16:] for e in without[0]]
    assert [e[2] for e in events] == ["a", "b", "c", "d"]
    assert [(e[8], e[9] is not None) for e in events] == [(None, False), ("k", False),
                                                          (None, True), ("k", True)]
    assert log == without[1]
    assert [(r[1], r[6], r[13]) for r in log] == [("duplicate", "blob", "null")] * 4
    assert [len(r[5]) for r in log] == [8] * 4
    assert [r[5] for r in log] == [events[i][0][:8] for i in range(4)]
