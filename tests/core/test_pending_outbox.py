"""Events whose retries run out wait in the outbox; later drains count them exactly once."""
from contextlib import closing
from decimal import Decimal

from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint, FaultSwitch
from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import IngestService

EVENTS = "\n".join('{"client": "c%d", "amount": %d}' % (i % 4, i) for i in range(40))
TRUTH = {f"c{k}": (10, Decimal(sum(i for i in range(40) if i % 4 == k))) for k in range(4)}


def open_service(db, point=None, mode=FaultMode.ALWAYS):
    faults = FaultSwitch(3)
    if point:
        faults.set(point, FaultConfig(mode))
    return IngestService(db, faults=faults, workers=0,
                         retry=RetryPolicy(attempts=2, base_delay_s=0.001, cap_s=0.002))


def state(svc):
    return {r.client: (r.count, r.total) for r in svc.stats()}


def test_exhausted_retries_go_to_the_outbox_and_survive_a_restart(db):
    with open_service(db, FaultPoint.BEFORE_WRITE) as svc:
        s = svc.submit_text(EVENTS).wait(30)
        assert (s.failed, svc.outbox.count()) == (40, 40)
        [p, *_] = svc.pending()
        assert "simulated database crash" in p.last_error and p.attempts == 2
    with open_service(db) as svc:  # a restart: the outbox is still there
        assert svc.outbox.count() == 40
        s = svc.retry_pending()
        assert (s.accepted, s.pending) == (40, 0)
        assert state(svc) == TRUTH


def test_draining_after_a_lost_acknowledgement_does_not_double_count(db):
    # committed, but the caller never heard: the events sit in the outbox though stored
    with open_service(db, FaultPoint.AFTER_COMMIT) as svc:
        s = svc.submit_text(EVENTS).wait(30)
        assert s.failed == 40 and state(svc) == TRUTH
        assert len({p.receipt for p in svc.pending()}) == 40  # one receipt per event
    with open_service(db) as svc:  # a restart: the receipts wait in the outbox with the events
        s = svc.retry_pending()
        # the drain finds each event's own earlier commit: accepted once, never a duplicate
        assert (s.duplicates, s.accepted, s.pending) == (0, 40, 0)
        assert state(svc) == TRUTH


def test_a_drain_that_fails_again_keeps_one_copy_in_the_outbox(db):
    with open_service(db, FaultPoint.MID_TRANSACTION) as svc:
        svc.submit_text(EVENTS).wait(30)
        s = svc.retry_pending()
        assert s.failed == 40 and svc.outbox.count() == 40
        assert {p.attempts for p in svc.pending()} == {4}
        svc.faults.enabled = False
        assert svc.retry_pending().accepted == 40
        assert svc.outbox.count() == 0 and state(svc) == TRUTH


def test_rejected_input_that_could_not_be_stored_is_quarantined_on_drain(db):
    with open_service(db, FaultPoint.BEFORE_WRITE) as svc:
        svc.submit_text('{"client": "a", "amount": "oops"}').wait(30)
        assert svc.outbox.count() == 1
        svc.faults.enabled = False
        s = svc.retry_pending()
        assert s.rejected == 1 and svc.outbox.count() == 0
        [entry] = svc.quarantine()
        assert "oops" in entry.reason


def test_an_older_outbox_keeps_its_events_and_never_reuses_an_id(db):
    import sqlite3

    from faultsim_desktop.core.storage import open_backend

    # the outbox of an earlier version: plain rowids, which SQLite reuses after a delete
    with closing(sqlite3.connect(open_backend(db).outbox_path)) as conn, conn:
        conn.execute("CREATE TABLE pending (id INTEGER PRIMARY KEY, raw NOT NULL, source TEXT NOT"
                     " NULL, line INTEGER NOT NULL, col INTEGER NOT NULL, failed_at TEXT NOT NULL,"
                     " attempts INTEGER NOT NULL, last_error TEXT NOT NULL)")
        conn.executemany("INSERT INTO pending VALUES (?, ?, 'old', ?, 1, 'then', 2, 'locked')",
                         [(7, '{"client": "c0", "amount": 0}', 1),
                          (9, '{"client": "c1", "amount": 1}', 2)])
    with open_service(db, FaultPoint.BEFORE_WRITE) as svc:
        assert [(p.id, p.source, p.attempts) for p in svc.pending()] == [(7, "old", 2),
                                                                        (9, "old", 2)]
        svc.outbox.remove([9])
        svc.submit_text('{"client": "c2", "amount": 2}').wait(30)
        assert [p.id for p in svc.pending()] == [7, 10]  # 9 named another event once
        svc.faults.enabled = False
        assert svc.retry_pending().accepted == 2
        assert state(svc) == {"c0": (1, Decimal(0)), "c2": (1, Decimal(2))}
