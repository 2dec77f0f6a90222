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
