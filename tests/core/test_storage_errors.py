"""Real storage problems give a clear message naming the file, and never touch the user's file.

Each fault is real (a write-protected file or folder, another process holding a lock, a size
limit, a file deleted, moved or replaced, damaged bytes), and each test checks the promise: what
was acknowledged before the fault is still counted, what failed waits in the pending outbox, and
once the fault is gone it is counted exactly once.
"""
import hashlib
import os
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from decimal import Decimal

import pytest

from tests.support.processes import Processes

from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import IngestService
from faultsim_desktop.core.errors import StorageError

FAST = RetryPolicy(attempts=2, base_delay_s=0.001, cap_s=0.002)
BEFORE = '{"client": "a", "amount": "1.10", "currency": "EUR"}\n{"client": "b", "amount": 2}'
DURING = '{"client": "a", "amount": "0.05", "currency": "EUR"}\n{"client": "c", "amount": 7}'
TRUTH_BEFORE = {("a", "EUR"): (1, Decimal("1.10")), ("b", None): (1, Decimal(2))}
TRUTH_AFTER = {("a", "EUR"): (2, Decimal("1.15")), ("b", None): (1, Decimal(2)),
               ("c", None): (1, Decimal(7))}


def totals(svc):
    return {(r.client, r.currency): (r.count, r.total) for r in svc.stats()}


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def acknowledged(path):
    """A database holding the BEFORE events, and the service that wrote them, still open."""
    svc = IngestService(path, workers=0, retry=FAST, busy_timeout_ms=200)
    assert svc.submit_text(BEFORE).wait(30).accepted == 2
    return svc


def fault_caught(svc, path, kind, *remedy):
    """Events sent during the fault fail, wait in the outbox, and the reason is clear."""
    s = svc.submit_text(DURING).wait(30)
    assert (s.accepted, s.failed) == (0, 2)
    assert svc.problem is not None and svc.problem.kind == kind
    pending = svc.pending()
    assert len(pending) == 2 and svc.outbox.count() == 2
    for text in (str(svc.problem), pending[0].last_error):
        assert str(path) in text, text
        for words in remedy:
            assert words in text, text
    return pending


def counted_once_after_retry(svc):
    s = svc.retry_pending()
    assert (s.accepted, s.failed, s.pending) == (2, 0, 0)
    assert svc.problem is None
    assert totals(svc) == TRUTH_AFTER
    assert svc.stats() == svc.stats_from_events()
    assert svc.retry_pending().received == 0  # nothing left to send twice


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


def test_full_database_sends_events_to_the_outbox_and_they_count_once_with_room(tmp_path):
    path = tmp_path / "small.db"
    svc = acknowledged(path)
    with svc:
        pages = svc.in_writer(lambda s: s.conn.execute("PRAGMA page_count").fetchone()[0])
        svc.in_writer(lambda s: s.conn.execute(f"PRAGMA max_page_count = {pages}"))
        big = "\n".join('{"client": "c%d", "amount": 1, "pad": "%s"}' % (i, "x" * 500)
                        for i in range(200))
        s = svc.submit_text(big).wait(30)
        assert s.failed == 200 and s.accepted == 0
        [p, *_] = svc.pending()
        assert "full" in p.last_error and str(path) in p.last_error
        assert "Free some space and retry" in p.last_error and svc.problem.kind == "full"
        assert totals(svc) == TRUTH_BEFORE
        svc.in_writer(lambda s: s.conn.execute("PRAGMA max_page_count = 1073741823"))
        s = svc.retry_pending()
        assert (s.accepted, s.pending) == (200, 0) and svc.problem is None
        assert svc.retry_pending().received == 0
    with IngestService(path, workers=0) as svc:
        assert sum(r.count for r in svc.stats()) == 202
        assert svc.stats() == svc.stats_from_events()


_HOLDER = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive-mode":  # no shared memory: even readers are shut out
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
conn.execute("BEGIN EXCLUSIVE")
conn.execute("UPDATE aggregates SET count = count")  # a write: the lock is really taken
print("holding", flush=True)
sys.stdin.read()  # until the test lets go
conn.execute("ROLLBACK")
"""


@contextmanager
def held_by_another_process(path, how="transaction"):
    with Processes() as started:  # killed even when the holder does not let go
        holder = started.start([sys.executable, "-c", _HOLDER, str(path), how],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "holding"
            yield holder
        finally:
            holder.stdin.close()
            assert holder.wait(30) == 0


def test_write_lock_of_another_process_sends_events_to_the_outbox(tmp_path):
    path = tmp_path / "locked.db"
    acknowledged(path).close()
    with held_by_another_process(path):
        # it opens although the other program writes, and reads what was committed
        with IngestService(path, workers=0, retry=FAST, busy_timeout_ms=200) as svc:
            assert totals(svc) == TRUTH_BEFORE
            fault_caught(svc, path, "locked", "locked by another program", "Close that program")
            assert totals(svc) == TRUTH_BEFORE
            assert svc.pending()[0].attempts == 2  # it waited, retried, then kept them
        # the other program let go: the next run sends them, once
    with IngestService(path, workers=0, retry=FAST) as svc:
        counted_once_after_retry(svc)


def test_exclusive_lock_of_another_process_refuses_opening_clearly(tmp_path):
    path = tmp_path / "locked.db"
    acknowledged(path).close()
    with held_by_another_process(path, "exclusive-mode"):
        before = digest(path)
        with pytest.raises(StorageError) as info:  # within the busy timeout: no hang
            IngestService(path, workers=0, busy_timeout_ms=200)
        assert info.value.kind == "locked" and str(path) in str(info.value)
        assert "Close that program" in str(info.value)
        assert digest(path) == before
    with IngestService(path, workers=0) as svc:
        assert totals(svc) == TRUTH_BEFORE


def test_read_only_file_is_refused_at_open_and_left_as_it_was(tmp_path, read_only):
    path = tmp_path / "ro.db"
    acknowledged(path).close()
    before = digest(path)
    with read_only(path):
        with pytest.raises(StorageError) as info:
            IngestService(path, workers=0)
        assert info.value.kind == "readonly" and str(path) in str(info.value)
        assert "Make it writable" in str(info.value)
    assert digest(path) == before
    with IngestService(path, workers=0) as svc:
        assert totals(svc) == TRUTH_BEFORE


def test_read_only_folder_is_refused_at_open(tmp_path, read_only):
    folder = tmp_path / "folder"
    path = folder / "ro.db"
    acknowledged(path).close()
    assert sorted(p.name for p in folder.iterdir()) == ["ro.db"]  # no -wal, no -shm left
    with read_only(folder):
        with pytest.raises(StorageError) as info:
            IngestService(path, workers=0)
        assert info.value.kind == "readonly"
        assert f"The folder {folder} holding the database {path} is read-only" in str(info.value)
        assert "Make the folder writable" in str(info.value)
    with IngestService(path, workers=0) as svc:
        assert totals(svc) == TRUTH_BEFORE


def test_made_read_only_while_open_nothing_is_written_until_writable(tmp_path, read_only):
    path = tmp_path / "ro.db"
    svc = acknowledged(path)
    with svc:
        with read_only(path):
            before = digest(path)
            fault_caught(svc, path, "readonly", "is read-only", "Make it writable")
            assert digest(path) == before
            assert totals(svc) == TRUTH_BEFORE  # reading still works
        counted_once_after_retry(svc)
    with IngestService(path, workers=0) as svc:
        assert totals(svc) == TRUTH_AFTER


def _rescued_copy(message):
    [copy] = [w.rstrip(".") for w in message.split() if ".rescued-" in w]
    return copy


@pytest.mark.parametrize("files", [("",), ("", "-wal", "-shm")], ids=["db", "db-wal-shm"])
def test_deleted_while_open_is_saved_and_never_recreated_empty(tmp_path, files):
    path = tmp_path / "gone.db"
    svc = acknowledged(path)
    with svc:
        for suffix in files:
            os.unlink(f"{path}{suffix}")
        fault_caught(svc, path, "missing", "deleted or moved away",
                     "Everything stored until then was saved to", "Put the database back")
        with pytest.raises(StorageError) as info:
            svc.stats()
        assert info.value.kind == "missing" and str(path) in str(info.value)
        assert not path.exists()  # neither the writer nor a reader made an empty one
        copy = _rescued_copy(str(svc.problem))
        with IngestService(copy, workers=0) as saved:
            assert totals(saved) == TRUTH_BEFORE
            assert saved.integrity_check() == "ok"
        os.replace(copy, path)  # the user puts the saved database back
        counted_once_after_retry(svc)
    with IngestService(path, workers=0) as svc:
        assert totals(svc) == TRUTH_AFTER


def test_moved_while_open_says_where_it_is_and_resumes_when_back(tmp_path):
    path = tmp_path / "here.db"
    elsewhere = tmp_path / "archive" / "there.db"
    elsewhere.parent.mkdir()
    svc = acknowledged(path)
    with svc:
        os.rename(path, elsewhere)
        fault_caught(svc, path, "missing", f"It is complete at {elsewhere}")
        assert not list(tmp_path.glob("*.rescued-*"))  # nothing to save: it is all there
        os.rename(elsewhere, path)
        counted_once_after_retry(svc)


def test_replaced_while_open_never_writes_into_the_other_file(tmp_path):
    path = tmp_path / "mine.db"
    other = tmp_path / "photos.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO photos(name) VALUES ('cat.jpg')")
    conn.commit()
    conn.close()
    theirs = digest(other)
    svc = acknowledged(path)
    with svc:
        os.replace(other, path)  # another program's database moved over ours
        fault_caught(svc, path, "foreign", "another program",
                     "Everything stored until then was saved to")
        with pytest.raises(StorageError):
            svc.stats()
        copy = _rescued_copy(str(svc.problem))
        assert digest(path) == theirs  # not written, not checkpointed into
        os.replace(path, other)  # the user moves their file away and ours back
        os.replace(copy, path)
        counted_once_after_retry(svc)
    assert digest(other) == theirs


def test_corrupted_while_open_stops_writing_and_leaves_the_file_as_it_is(tmp_path):
    path = tmp_path / "damaged.db"
    svc = acknowledged(path)
    root, size = svc.in_writer(lambda s: (
        s.conn.execute("SELECT rootpage FROM sqlite_master"
                       " WHERE name = 'events_fingerprint'").fetchone()[0],
        s.conn.execute("PRAGMA page_size").fetchone()[0]))
    conn = sqlite3.connect(path)  # another program checkpoints: every page is in the file
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    offset = (root - 1) * size
    good = path.read_bytes()[offset:offset + size]
    # the disk damages the page every insert reads (another process writes the bytes)
    damage = ("import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); "
              "os.pwrite(fd, bytes.fromhex(sys.argv[2]), int(sys.argv[3])); os.close(fd)")
    subprocess.run([sys.executable, "-c", damage, str(path), os.urandom(size).hex(),
                    str(offset)], check=True)
    damaged = digest(path)
    with svc:
        fault_caught(svc, path, "corrupt", "damaged", "left as it was", "another database")
        s = svc.submit_text('{"client": "d", "amount": 4}').wait(30)
        assert s.failed == 1 and svc.outbox.count() == 3
        assert totals(svc) == TRUTH_BEFORE  # the aggregates are still readable
    assert digest(path) == damaged  # not "repaired", not overwritten, not checkpointed into
    # the user restores the page (a backup); the next run sends the pending events once
    subprocess.run([sys.executable, "-c", damage, str(path), good.hex(), str(offset)],
                   check=True)
    with IngestService(path, workers=0) as svc:
        s = svc.retry_pending()
        assert (s.accepted, s.pending) == (3, 0)
        assert totals(svc) == {**TRUTH_AFTER, ("d", None): (1, Decimal(4))}
        assert svc.integrity_check() == "ok"


def test_replaced_by_a_faultsim_database_writes_go_there_and_the_old_one_is_saved(tmp_path):
    path = tmp_path / "mine.db"
    backup = tmp_path / "backup.db"
    svc = acknowledged(path)
    with svc:
        with sqlite3.connect(backup) as dst, sqlite3.connect(path) as src:
            src.backup(dst)  # the user's backup, restored over the open database
        dst.close()
        src.close()
        os.replace(backup, path)
        s = svc.submit_text(DURING).wait(30)
        assert (s.accepted, s.failed) == (2, 0)  # first attempt refused, the retry used it
        assert totals(svc) == TRUTH_AFTER
        [copy] = tmp_path.glob("mine.rescued-*.db")
    with IngestService(copy, workers=0) as saved:  # what the replaced file held
        assert totals(saved) == TRUTH_BEFORE


def test_deleted_then_closed_without_another_write_is_saved(tmp_path):
    svc = acknowledged(tmp_path / "kept.db")
    os.unlink(svc.db_path)
    svc.close()  # closing looks at the file one last time
    [copy] = tmp_path.glob("kept.rescued-*.db")
    with IngestService(copy, workers=0) as saved:
        assert totals(saved) == TRUTH_BEFORE


def test_deleted_while_idle_is_noticed_without_a_write(tmp_path):
    path = tmp_path / "idle.db"
    svc = acknowledged(path)
    with svc:
        os.unlink(path)
        with pytest.raises(StorageError) as info:  # a read notices, and asks the writer to look
            svc.stats()
        assert info.value.kind == "missing" and "Put the database back" in str(info.value)
        svc.check_storage()  # what the window does every second
        with pytest.raises(StorageError):  # queued behind the checks: they have run
            svc.in_writer(lambda s: None)
        assert svc.problem.kind == "missing" and str(path) in str(svc.problem)
        assert "saved to" in str(svc.problem) and not path.exists()
        [copy] = tmp_path.glob("idle.rescued-*.db")
        os.replace(copy, path)
        svc.check_storage()
        svc.in_writer(lambda s: None)  # the writer took the file back
        assert svc.problem is None and totals(svc) == TRUTH_BEFORE


def test_problem_clears_once_the_right_file_is_back(tmp_path):
    path = tmp_path / "mine.db"
    other = tmp_path / "photos.db"
    sqlite3.connect(other).execute("CREATE TABLE photos (id INTEGER)").connection.close()
    svc = acknowledged(path)
    with svc:
        os.rename(path, tmp_path / "aside.db")
        os.rename(other, path)
        fault_caught(svc, path, "foreign", "another program", f"It is complete at {tmp_path}")
        os.rename(path, other)
        os.rename(tmp_path / "aside.db", path)
        svc.check_storage()
        svc.in_writer(lambda s: None)
        assert svc.problem is None
        counted_once_after_retry(svc)
