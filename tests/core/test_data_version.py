"""IngestService.data_version: a token that moves with every commit to the database, from this
process or any other, and never matches across files that took the path's name."""
import os
import subprocess
import sys
import threading

from faultsim_desktop.core.service import IngestService
from faultsim_desktop.core.storage.sqlite_version import DataVersion


def _cli_ingest(tmp_path, db, text):
    src = tmp_path / "in.ndjson"
    src.write_text(text, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", "ingest", str(src),
                           "--db", str(db)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_token_moves_with_every_commit_from_any_writer(db, backend, tmp_path):
    with IngestService(db, workers=0) as svc:
        svc.submit_text('{"client": "a", "amount": 1}', source="t").wait()
        first = svc.data_version()
        assert first is not None
        svc.stats()
        svc.counts()
        if backend == "sqlite":  # a server's snapshot also moves with whatever else it runs
            assert svc.data_version() == first  # reads commit nothing

        svc.submit_text('{"client": "a", "amount": 2}', source="t").wait()
        second = svc.data_version()
        assert second != first

        svc.submit_text('{"client": "a", "amount": 2}', source="t").wait()  # a duplicate:
        third = svc.data_version()  # its log row is a commit too
        assert third != second

        with IngestService(db, workers=0) as other:  # another writer
            other.submit_text('{"client": "b", "amount": "3"}', source="o").wait()
        fourth = svc.data_version()
        assert fourth != third
        assert {t.client for t in svc.stats()} == {"a", "b"}

        answers = []
        t = threading.Thread(target=lambda: answers.append(svc.data_version()))
        t.start()
        t.join()
        assert answers[0] is not None  # any thread may ask
        if backend == "sqlite":
            assert answers == [fourth]


def test_another_process_commit_moves_the_token(tmp_path):
    db = tmp_path / "a.db"
    with IngestService(db, workers=0) as svc:
        svc.submit_text('{"client": "a", "amount": 1}', source="t").wait()
        before = svc.data_version()
        _cli_ingest(tmp_path, db, '{"client": "b", "amount": "3"}\n')
        assert svc.data_version() != before
        assert {t.client for t in svc.stats()} == {"a", "b"}
    assert svc.data_version() is None  # closed


def test_a_file_that_takes_the_name_never_matches_the_old_token(tmp_path):
    path, other = tmp_path / "a.db", tmp_path / "b.db"
    for p in (path, other):
        with IngestService(p, workers=0) as svc:  # the same commits: the same data_version
            svc.submit_text('{"client": "a", "amount": 1}', source="t").wait()
    probe = DataVersion(path)
    try:
        before = probe.token()
        assert before is not None and probe.token() == before
        os.replace(other, path)
        after = probe.token()
        assert after is not None and after != before
        assert probe.token() == after
        os.remove(path)
        assert probe.token() is None
        (tmp_path / "c.txt").write_text("not a database", encoding="utf-8")
        os.replace(tmp_path / "c.txt", path)
        assert probe.token() is None
    finally:
        probe.close()


def test_a_window_service_whose_file_was_replaced_asks_for_a_read(tmp_path):
    db, other = tmp_path / "a.db", tmp_path / "b.db"
    with IngestService(other, workers=0) as svc:
        svc.submit_text('{"client": "x", "amount": 1}', source="t").wait()
    with IngestService(db, workers=0) as svc:
        svc.submit_text('{"client": "a", "amount": 1}', source="t").wait()
        assert svc.data_version() is not None
        os.replace(other, db)
        assert svc.data_version() is None  # the read that follows says what happened
