"""Real storage problems give a clear message naming the file, and never touch the user's file."""
import os
import sqlite3

import pytest

from faultsim_desktop.core.service import IngestService
from faultsim_desktop.core.store import StorageError


def test_corrupt_file_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "corrupt.db"
    junk = os.urandom(8192)
    path.write_bytes(junk)
    with pytest.raises(StorageError) as info:
        IngestService(path, workers=0)
    assert info.value.kind == "corrupt" and str(path) in str(info.value)
    assert "another database" in str(info.value)
    assert path.read_bytes() == junk


def test_corrupt_page_inside_a_real_database_is_reported(tmp_path):
    path = tmp_path / "db.db"
    with IngestService(path, workers=0) as svc:
        svc.submit_text("\n".join('{"client": "c%d", "amount": 1}' % i for i in range(3000))).wait(30)
    data = bytearray(path.read_bytes())
    data[100:4096] = os.urandom(3996)  # the schema page
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError) as info:
        svc = IngestService(path, workers=0)
        svc.close()
    assert info.value.kind == "corrupt"


def test_database_of_another_program_is_not_touched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StorageError) as info:
        IngestService(path, workers=0)
    assert info.value.kind == "foreign"
    assert path.read_bytes() == before


def test_unopenable_path_is_explained(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StorageError) as info:
        IngestService(blocker / "x.db", workers=0)
    assert info.value.kind == "open" and str(blocker / "x.db") in str(info.value)


def test_full_database_sends_events_to_the_outbox(tmp_path):
    path = tmp_path / "small.db"
    with IngestService(path, workers=0) as svc:
        svc.submit_text('{"client": "a", "amount": 1}').wait(30)
    with IngestService(path, workers=0) as svc:
        from faultsim_desktop.core.retry import RetryPolicy
        svc.retry_policy = RetryPolicy(attempts=2, base_delay_s=0.001)
        pages = svc._command(lambda s: s.conn.execute("PRAGMA page_count").fetchone()[0])
        svc._command(lambda s: s.conn.execute(f"PRAGMA max_page_count = {pages}"))
        big = "\n".join('{"client": "c%d", "amount": 1, "pad": "%s"}' % (i, "x" * 500)
                        for i in range(200))
        s = svc.submit_text(big).wait(30)
        assert s.failed == 200 and s.accepted == 0
        [p, *_] = svc.pending()
        assert "full" in p.last_error and str(path) in p.last_error
        assert [(r.client, r.count) for r in svc.stats()] == [("a", 1)]


def test_locked_database_waits_then_reports_locked(tmp_path):
    path = tmp_path / "locked.db"
    from faultsim_desktop.core.retry import RetryPolicy
    with IngestService(path, workers=0,
                       retry=RetryPolicy(attempts=2, base_delay_s=0.001)) as svc:
        svc._command(lambda s: s.conn.execute("PRAGMA busy_timeout = 50"))
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            s = svc.submit_text('{"client": "a", "amount": 1}').wait(30)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert s.failed == 1
        [p] = svc.pending()
        assert "locked" in p.last_error
        assert svc.retry_pending().accepted == 1
