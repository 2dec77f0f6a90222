"""A lost acknowledgement (the commit happened, the answer did not come back) is counted by the
event's final outcome: accepted once a retry finds the event's own earlier commit, never a
duplicate, and a FAILED it showed meanwhile is settled when its retry from the outbox ends it.
Through the library (both backends), the command line and HTTP."""
import json
import subprocess
import sys

import httpx

from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint, FaultSwitch
from faultsim_desktop.core.model import Outcome
from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import IngestService
from faultsim_desktop.server import BackgroundServer

N = 120
EVENTS = [f'{{"client": "c{i % 5}", "amount": "{i}.10", "ts": {1700000000 + i}}}' for i in range(N)]


def open_service(db, seed=11, attempts=2):
    return IngestService(db, faults=FaultSwitch(seed), workers=0, seed=seed,
                         retry=RetryPolicy(attempts=attempts, base_delay_s=0.001, cap_s=0.002))


def lost_acks(svc, probability):
    svc.faults.set(FaultPoint.AFTER_COMMIT, FaultConfig(FaultMode.PROBABILITY,
                                                        probability=probability))


def send_one_by_one(svc, lines):
    """One submission (so one transaction) per few lines: the seeded faults replay alike."""
    records = []
    for i in range(0, len(lines), 4):
        ticket = svc.submit_text("\n".join(lines[i:i + 4]), keep_records=True)
        ticket.wait(60)
        records += ticket.records
    return records


def drain(svc):
    svc.faults.enabled = False  # the faults stop
    rounds = []
    while svc.outbox.count() and len(rounds) < 3:
        rounds.append(svc.retry_pending())
    assert svc.outbox.count() == 0
    return rounds


def test_counters_equal_the_database_after_lost_acknowledgements(db):
    with open_service(db) as svc:
        lost_acks(svc, 0.5)
        first = send_one_by_one(svc, EVENTS)
        outcomes = {r.outcome for r in first}
        # both paths happen: a retry that heard back, and events left waiting in the outbox
        assert Outcome.FAILED in outcomes and Outcome.ACCEPTED in outcomes
        confirmed = [r for r in first if r.outcome is Outcome.ACCEPTED and r.attempt > 1]
        assert confirmed and all("committed on attempt" in r.reason for r in confirmed)
        waiting = sum(r.outcome is Outcome.FAILED for r in first)
        assert svc.counters.snapshot()["failed"] == waiting == svc.outbox.count()

        rounds = drain(svc)
        assert sum(s.accepted for s in rounds) == waiting
        assert sum(s.duplicates for s in rounds) == 0

        counters = svc.counters.snapshot()
        stored = svc.counts()["events"]
        assert stored == N
        assert (counters["accepted"], counters["duplicates"], counters["failed"],
                counters["rejected"]) == (stored, 0, 0, 0)
        assert svc.stats() == svc.stats_from_events()


def test_genuine_duplicates_stay_duplicates_among_lost_acknowledgements(db):
    with open_service(db, seed=5) as svc:
        earlier = EVENTS[:30]
        assert svc.submit_text("\n".join(earlier)).wait(60).accepted == 30
        lost_acks(svc, 0.6)
        # 30 sent before (genuine duplicates), 90 new, and 10 of the new ones twice
        again = earlier + EVENTS[30:] + EVENTS[50:60]
        send_one_by_one(svc, again)
        assert svc.outbox.count() > 0
        drain(svc)
        counters = svc.counters.snapshot()
        assert svc.counts()["events"] == N
        assert (counters["accepted"], counters["duplicates"], counters["failed"]) == (N, 40, 0)


def test_a_drain_tells_its_own_commit_from_the_same_event_stored_by_another_sender(db):
    with open_service(db) as mine, open_service(db) as other:
        mine.faults.set(FaultPoint.AFTER_COMMIT, FaultConfig(FaultMode.ALWAYS))
        assert mine.submit_text(EVENTS[0]).wait(60).failed == 1  # committed, unheard
        mine.faults.set(FaultPoint.AFTER_COMMIT, FaultConfig())
        mine.faults.set(FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.ALWAYS))
        assert mine.submit_text(EVENTS[1]).wait(60).failed == 1  # never written
        assert other.submit_text(EVENTS[1]).wait(60).accepted == 1  # another sender stores it
        assert mine.counters.snapshot()["failed"] == 2
        [s] = drain(mine)
        assert (s.accepted, s.duplicates, s.failed) == (1, 1, 0)
        assert mine.counters.snapshot() == {"accepted": 1, "duplicates": 1, "rejected": 0,
                                            "failed": 0, "retries": 2, "undone": 0}
        assert mine.counts()["events"] == 2


def test_a_drain_that_fails_again_counts_each_event_failed_once(db):
    with open_service(db) as svc:
        svc.faults.set(FaultPoint.AFTER_COMMIT, FaultConfig(FaultMode.ALWAYS))
        svc.submit_text("\n".join(EVENTS[:8])).wait(60)
        svc.retry_pending()  # committed already; unheard again: they still wait
        assert svc.outbox.count() == 8
        assert svc.counters.snapshot()["failed"] == 8
        drain(svc)
        c = svc.counters.snapshot()
        assert (c["accepted"], c["duplicates"], c["failed"]) == (8, 0, 0)
        assert svc.counts()["events"] == 8


def _faultsim(*args):
    p = subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", *map(str, args)],
                       capture_output=True, text=True, timeout=300)
    assert "Traceback" not in p.stderr
    return p


def test_the_command_line_summary_counts_by_final_outcome(tmp_path):
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(EVENTS[:40]) + "\n", encoding="utf-8")
    db = tmp_path / "cli.db"
    # the first write commits unheard; its retry finds it: accepted, not duplicates
    run = _faultsim("ingest", path, "--db", db, "--json", "--fault", "after_commit:next=1")
    summary = json.loads(run.stdout.splitlines()[-1])
    assert run.returncode == 0, run.stderr
    assert (summary["accepted"], summary["duplicates"], summary["failed"]) == (40, 0, 0)
    # every attempt unheard: they wait, may be stored; the next drain confirms them
    db2 = tmp_path / "cli2.db"
    run = _faultsim("ingest", path, "--db", db2, "--json", "--fault", "after_commit:always",
                    "--retries", "1")
    summary = json.loads(run.stdout.splitlines()[-1])
    assert (summary["failed"], summary["pending"], run.returncode) == (40, 40, 3)
    drained = json.loads(_faultsim("pending", "retry", "--db", db2, "--json").stdout)
    assert (drained["accepted"], drained["duplicates"], drained["pending"]) == (40, 0, 0)


def test_http_answers_follow_the_final_outcome_of_a_lost_acknowledgement(db_path):
    with open_service(db_path, attempts=2) as svc:
        srv = BackgroundServer(svc, port=0, retry_after_s=0)
        try:
            with httpx.Client(base_url=srv.url, timeout=60) as client:
                # the first attempt commits unheard, its retry finds it: created
                svc.faults.set(FaultPoint.AFTER_COMMIT, FaultConfig(FaultMode.NEXT_N, remaining=1))
                created = client.post("/events", content="\n".join(EVENTS[:3]))
                assert created.status_code == 201
                assert [e["amount"] for e in created.json()["events"]] == ["0.10", "1.10", "2.10"]
                # no answer on any attempt: 503, the events wait (and may be stored already)
                svc.faults.set(FaultPoint.AFTER_COMMIT, FaultConfig(FaultMode.ALWAYS))
                body = "\n".join(EVENTS[3:5])
                lost = client.post("/events", content=body)
                assert lost.status_code == 503
                assert all("may be stored already" in e["reason"] for e in lost.json()["events"])
                svc.faults.enabled = False
                again = client.post("/events", content=body)  # the client's retry
                assert again.status_code == 200  # stored before, by the try whose answer was lost
                assert [e["amount"] for e in again.json()["events"]] == ["3.10", "4.10"]
        finally:
            srv.stop()
        drained = svc.retry_pending()  # the outbox copies find their own commit
        assert (drained.accepted, drained.duplicates, drained.pending) == (2, 0, 0)
        assert svc.counts()["events"] == 5


def test_an_outbox_without_receipts_is_upgraded_and_its_events_still_go_through(db_path):
    import sqlite3
    from contextlib import closing

    from faultsim_desktop.core.storage import open_backend

    # the outbox of the version before receipts: AUTOINCREMENT, no receipt column
    with closing(sqlite3.connect(open_backend(db_path).outbox_path)) as conn, conn:
        conn.execute("CREATE TABLE pending (id INTEGER PRIMARY KEY AUTOINCREMENT, raw NOT NULL,"
                     " source TEXT NOT NULL, line INTEGER NOT NULL, col INTEGER NOT NULL,"
                     " failed_at TEXT NOT NULL, attempts INTEGER NOT NULL,"
                     " last_error TEXT NOT NULL)")
        conn.execute("INSERT INTO pending VALUES (4, ?, 'old', 1, 1, 'then', 2, 'locked')",
                     (EVENTS[0],))
    with open_service(db_path) as svc:
        svc.faults.set(FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.ALWAYS))
        assert [(p.id, p.receipt) for p in svc.pending()] == [(4, None)]
        assert svc.retry_pending().failed == 1
        [p] = svc.pending()
        assert (p.id, p.attempts) == (4, 4) and p.receipt is not None  # it has one now
        svc.faults.enabled = False
        assert svc.retry_pending().accepted == 1
        assert svc.counts()["events"] == 1 and svc.outbox.count() == 0
