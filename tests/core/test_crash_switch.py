"""Fault points act on real transactions (SQLite and PostgreSQL); retries converge on exact
totals."""
from decimal import Decimal

import pytest

from faultsim_desktop.core.faults import (FaultConfig, FaultMode, FaultPoint, FaultSwitch,
                                          parse_fault_spec)
from faultsim_desktop.core.model import Outcome
from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import IngestService

EVENTS = "\n".join('{"client": "c%d", "amount": "%d.25"}' % (i % 3, i) for i in range(30))
TRUTH = {f"c{k}": sum(Decimal(f"{i}.25") for i in range(30) if i % 3 == k) for k in range(3)}


def make(db, point, config, attempts=4, seed=1):
    faults = FaultSwitch(seed)
    faults.set(point, config)
    return IngestService(db, faults=faults, workers=0, seed=seed,
                         retry=RetryPolicy(attempts=attempts, base_delay_s=0.001, cap_s=0.005))


def totals(svc):
    return {r.client: r.total for r in svc.stats()}


@pytest.mark.parametrize("spec, expected", [
    ("mid_transaction:0.3", (FaultPoint.MID_TRANSACTION, FaultMode.PROBABILITY, 0.3, 0)),
    ("before_write:next=5", (FaultPoint.BEFORE_WRITE, FaultMode.NEXT_N, 0.0, 5)),
    ("after_commit:always", (FaultPoint.AFTER_COMMIT, FaultMode.ALWAYS, 0.0, 0)),
    ("latency:50ms", (FaultPoint.LATENCY, FaultMode.ALWAYS, 0.0, 0)),
])
def test_fault_specs_parse(spec, expected):
    point, config = parse_fault_spec(spec)
    assert (point, config.mode, config.probability, config.remaining) == expected


@pytest.mark.parametrize("spec", ["nowhere:1", "mid_transaction:1.5", "before_write:next=0",
                                  "latency:fast"])
def test_bad_fault_specs_say_why(spec):
    with pytest.raises(ValueError, match="fault"):
        parse_fault_spec(spec)


def test_before_write_next_n_fails_then_retries_succeed(db):
    with make(db, FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.NEXT_N, remaining=2)) as svc:
        seen = []
        svc.subscribe(seen.extend)
        s = svc.submit_text(EVENTS).wait(30)
        assert (s.accepted, s.failed) == (30, 0)
        assert svc.faults.injected[FaultPoint.BEFORE_WRITE] == 2
        assert sum(r.outcome is Outcome.RETRYING for r in seen) == 60
        assert totals(svc) == TRUTH


def test_mid_transaction_rolls_back_everything(db):
    with make(db, FaultPoint.MID_TRANSACTION, FaultConfig(FaultMode.ALWAYS),
              attempts=2) as svc:
        s = svc.submit_text(EVENTS).wait(30)
        assert (s.accepted, s.failed, s.pending) == (0, 30, 0) or s.failed == 30
        assert svc.stats() == [] and svc.counts()["events"] == 0
        # the batch's own log rows rolled back; what stays is the story of each attempt
        log = svc.recent_log(limit=1000)
        assert sorted({(r[1], r[6]) for r in log}) == [("failed", 2), ("retrying", 1)]
        assert len(log) == 60
        assert svc.outbox.count() == 30


def test_lost_acknowledgement_retry_finds_its_own_commit_and_accepts(db):
    with make(db, FaultPoint.AFTER_COMMIT, FaultConfig(FaultMode.NEXT_N, remaining=1)) as svc:
        ticket = svc.submit_text(EVENTS, keep_records=True)
        s = ticket.wait(30)
        # the first attempt committed; its retry finds the rows it wrote: accepted, not duplicate
        assert (s.duplicates, s.accepted, s.failed) == (0, 30, 0)
        assert {r.attempt for r in ticket.records} == {2}
        assert {r.reason for r in ticket.records} == {
            "retry found it already stored: accepted (committed on attempt 1, whose "
            "acknowledgement was lost)"}
        assert totals(svc) == TRUTH
        assert svc.counts()["events"] == 30


def test_probability_faults_replay_the_same_way_with_a_seed(new_db):
    runs = []
    for n in range(2):
        with make(new_db(), FaultPoint.MID_TRANSACTION,
                  FaultConfig(FaultMode.PROBABILITY, probability=0.5), attempts=10, seed=42) as svc:
            for line in EVENTS.splitlines():
                svc.submit_text(line).wait(30)
            runs.append(svc.faults.injected[FaultPoint.MID_TRANSACTION])
            assert totals(svc) == TRUTH
    assert runs[0] == runs[1] > 0


def test_latency_delays_but_loses_nothing(db):
    with make(db, FaultPoint.LATENCY, FaultConfig(FaultMode.ALWAYS, delay_s=0.01)) as svc:
        s = svc.submit_text(EVENTS).wait(30)
        assert s.accepted == 30 and totals(svc) == TRUTH
        assert svc.faults.injected[FaultPoint.LATENCY] >= 1


def test_switch_off_stops_faults(db):
    with make(db, FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.ALWAYS)) as svc:
        svc.faults.enabled = False
        assert svc.submit_text(EVENTS).wait(30).accepted == 30
