"""The storage interface every caller relies on, on both backends: error kinds, whether a
database exists, and the one file-identity check the writer and the readers share."""
import os
import sqlite3

import pytest

from faultsim_desktop.core.database import database_exists
from faultsim_desktop.core.errors import StorageError, StorageErrorKind
from faultsim_desktop.core.faults import InjectedFault
from faultsim_desktop.core.storage import open_backend


def test_an_error_kind_is_an_enum_member_that_still_reads_as_its_text():
    err = StorageError("gone", kind="missing")
    assert err.kind is StorageErrorKind.MISSING
    assert err.kind == "missing" and f"{err.kind}" == "missing"
    assert StorageError("?").kind is StorageErrorKind.ERROR
    with pytest.raises(ValueError):
        StorageError("?", kind="no such kind")


def test_a_simulated_crash_is_not_an_sqlite_error():
    assert not issubclass(InjectedFault, sqlite3.Error)


def test_database_exists_answers_without_creating_anything(db, open_service, backend):
    assert database_exists(db) is False
    if backend == "sqlite":
        assert not os.path.exists(db)
    assert database_exists(db) is False  # asking twice made nothing either
    svc = open_service(db)
    assert svc.submit_text('{"client": "a", "amount": 1}').wait().accepted == 1
    assert database_exists(db) is True


def test_a_file_replaced_under_the_writer_is_let_go_of_and_named(tmp_path):
    path = tmp_path / "live.db"
    backend = open_backend(path)
    session = backend.write_session(create=True)
    try:
        assert backend.moved_away() is None
        session.check()  # the file is the one opened: nothing to say
        other = tmp_path / "other.db"
        sqlite3.connect(other).close()
        os.replace(other, path)
        assert backend.moved_away() is StorageErrorKind.REPLACED
        with pytest.raises(StorageError) as caught:
            session.check()
        assert caught.value.kind is StorageErrorKind.REPLACED
        assert "replaced by another file" in str(caught.value)
        assert session.detached
        assert backend.moved_away() is None  # the writer holds no file under that name now
    finally:
        if not session.detached:
            session.close()


def test_a_deleted_file_is_saved_before_the_writer_lets_go(tmp_path, open_service):
    path = tmp_path / "gone.db"
    svc = open_service(path)
    assert svc.submit_text('{"client": "kept", "amount": "2.50"}').wait().accepted == 1
    os.remove(path)
    assert svc.backend.moved_away() is StorageErrorKind.MISSING
    summary = svc.submit_text('{"client": "later", "amount": 1}').wait()
    assert (summary.accepted, summary.failed) == (0, 1)  # it waits in the pending outbox
    assert svc.outbox.count() == 1
    assert svc.problem is not None and svc.problem.kind is StorageErrorKind.MISSING
    rescued = [p for p in tmp_path.iterdir() if ".rescued-" in p.name]
    assert len(rescued) == 1
    conn = sqlite3.connect(rescued[0])
    try:
        assert conn.execute("SELECT client, amount FROM events").fetchall() == [("kept", "2.50")]
    finally:
        conn.close()
    assert not path.exists()  # never silently recreated empty
