"""The identity adapters for bytes and None (core/store.py): values are stored exactly as
before, and an adapter somebody else registered is left in place."""
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
    import faultsim_desktop.core.store  # noqa: F401 - registers the adapters

    conn = sqlite3.connect(":memory:")
    got = conn.execute("SELECT typeof(?), ?, typeof(?), typeof(?)",
                       (b"\x00\xff", b"\x00\xff", None, bytearray(b"x"))).fetchone()
    assert got == ("blob", b"\x00\xff", "null", "blob")


def test_an_adapter_registered_earlier_is_kept():
    code = (
        "import sqlite3\n"
        "mine = lambda b: b.hex()\n"
        "sqlite3.register_adapter(bytes, mine)\n"
        "import faultsim_desktop.core.store\n"
        "assert sqlite3.adapters[(bytes, sqlite3.PrepareProtocol)] is mine\n"
        "print(sqlite3.connect(':memory:').execute('SELECT ?', (b'\\x01',)).fetchone()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "01"
