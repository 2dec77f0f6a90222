"""The writer during a bulk ingest: jobs that say more are coming may share one transaction
(nothing else is ever held back), and the ingest hands over more only while the writer's
backlog is small."""
import threading

import pytest

from faultsim_desktop.core.model import Outcome
from faultsim_desktop.core.parsing import split_text
from faultsim_desktop.core.pipeline import prepare
from faultsim_desktop.core.service import IngestService
from faultsim_desktop.core.storage.sqlite import WriteSession
from faultsim_desktop.core.writer import WriteJob, utc_now


@pytest.fixture
def commits(monkeypatch):
    """Counts the transactions the writer commits."""
    seen = []
    commit = WriteSession.commit

    def counting(self):
        seen.append(1)
        return commit(self)
    monkeypatch.setattr(WriteSession, "commit", counting)
    return seen


def _job(first: int, n: int, more_coming: bool) -> WriteJob:
    text = "\n".join(f'{{"client": "c{i % 3}", "amount": {i}, "seq": {i}}}'
                     for i in range(first, first + n))
    return WriteJob(prepare(split_text(text, "bulk.ndjson"), utc_now()),
                    more_coming=more_coming)


def _outcomes(job: WriteJob) -> list[Outcome]:
    assert job.done.wait(30)
    return [r.outcome for r in job.result]


def test_jobs_of_a_bulk_ingest_share_a_transaction(tmp_path, commits):
    with IngestService(tmp_path / "b.db") as svc:
        writer = svc._writer
        writer.bulk_wait = 60.0  # the second job comes long before this
        svc.submit_text('{"client": "warm", "amount": 1}').wait(30)
        before = len(commits)
        first, last = _job(0, 50, more_coming=True), _job(50, 50, more_coming=False)
        writer.submit(first)
        assert not first.done.wait(0.5)  # held back: more of its ingest is coming
        writer.submit(last)
        assert _outcomes(first) == [Outcome.ACCEPTED] * 50
        assert _outcomes(last) == [Outcome.ACCEPTED] * 50
        assert len(commits) - before == 1
        assert sum(row.count for row in svc.stats()) == 101


def test_a_job_that_says_nothing_more_comes_is_never_held_back(tmp_path, commits):
    with IngestService(tmp_path / "b.db") as svc:
        svc._writer.bulk_wait = 600.0  # a wait would outlast the test's patience by far
        job = _job(0, 10, more_coming=False)
        svc._writer.submit(job)
        assert _outcomes(job) == [Outcome.ACCEPTED] * 10


def test_a_bulk_job_whose_followers_never_come_is_still_written(tmp_path, commits):
    with IngestService(tmp_path / "b.db") as svc:
        svc._writer.bulk_wait = 0.2
        job = _job(0, 10, more_coming=True)
        svc._writer.submit(job)
        assert _outcomes(job) == [Outcome.ACCEPTED] * 10
        assert sum(row.count for row in svc.stats()) == 10


def test_a_full_transaction_does_not_wait(tmp_path, commits):
    with IngestService(tmp_path / "b.db") as svc:
        writer = svc._writer
        writer.bulk_wait, writer.bulk_min = 600.0, 20
        job = _job(0, 25, more_coming=True)  # already over bulk_min
        writer.submit(job)
        assert _outcomes(job) == [Outcome.ACCEPTED] * 25


def _waiting_for_room(writer, limit, cancel=None) -> threading.Thread:
    t = threading.Thread(target=writer.wait_for_room, args=(limit, cancel), daemon=True)
    t.start()
    return t


def test_a_bulk_ingest_waits_while_the_writer_has_a_backlog(tmp_path):
    gate = threading.Event()
    with IngestService(tmp_path / "b.db") as svc:
        writer = svc._writer
        busy = WriteJob([], command=lambda session: gate.wait(30))  # the writer is held here
        writer.submit(busy)
        jobs = [_job(i * 100, 100, more_coming=True) for i in range(3)]
        for job in jobs:
            writer.submit(job)
        waiter = _waiting_for_room(writer, 150)
        waiter.join(0.5)
        assert waiter.is_alive()  # 300 events wait: no room for more yet
        gate.set()
        waiter.join(30)
        assert not waiter.is_alive() and writer.queued_events <= 150
        assert [o for job in jobs for o in _outcomes(job)] == [Outcome.ACCEPTED] * 300


def test_waiting_for_room_ends_on_cancel(tmp_path):
    gate, cancel = threading.Event(), threading.Event()
    with IngestService(tmp_path / "b.db") as svc:
        writer = svc._writer
        writer.submit(WriteJob([], command=lambda session: gate.wait(30)))
        writer.submit(_job(0, 100, more_coming=False))
        waiter = _waiting_for_room(writer, 10, cancel)
        waiter.join(0.5)
        assert waiter.is_alive()
        cancel.set()
        waiter.join(30)
        assert not waiter.is_alive()
        gate.set()
