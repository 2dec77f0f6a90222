"""Every fault point in every mode, through the library and through the ``faultsim`` command:
after the faults stop and the retries finish, the totals equal the corpus' ground truth, no event
is lost, none is counted twice, and the log keeps every retry and failure.

The window's side of the matrix is in tests/ui/test_fault_matrix.py.
"""
import json
import subprocess
import sys
from collections import Counter

import pytest

from benchmarks.corpus import generate

from faultsim_desktop.core.faults import (DATABASE_POINTS, FaultPoint, FaultSwitch,  # noqa: E402
                                          parse_fault_spec)
from faultsim_desktop.core.model import Outcome  # noqa: E402
from faultsim_desktop.core.retry import RetryPolicy  # noqa: E402
from faultsim_desktop.core.service import IngestService  # noqa: E402

MODES = {"always": "always", "probability": "0.5", "next_n": "next=4"}
MATRIX = [(point, mode) for point in FaultPoint if point in DATABASE_POINTS
          for mode in MODES]
FAILING = {FaultPoint.BEFORE_WRITE, FaultPoint.MID_TRANSACTION, FaultPoint.AFTER_COMMIT}


def spec(point: FaultPoint, mode: str) -> str:
    extra = ",5ms" if point is FaultPoint.LATENCY else ""
    return f"{point.value}:{MODES[mode]}{extra}"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("matrix") / "corpus.ndjson"
    truth = generate(path, 2_000, seed=23)["truth"]
    return path, {k: (n, total) for k, (n, total) in truth.items()}


def _totals(rows):
    return {(r.client, r.currency): (r.count, r.total) for r in rows}


@pytest.mark.parametrize("point,mode", MATRIX, ids=[f"{p.value}-{m}" for p, m in MATRIX])
def test_library(db, corpus, point, mode):
    path, truth = corpus
    faults = FaultSwitch(seed=3)
    faults.set(*parse_fault_spec(spec(point, mode)))
    published = []
    with IngestService(db, faults=faults, workers=0, batch_size=250,
                       retry=RetryPolicy(attempts=3, base_delay_s=0.001, cap_s=0.004)) as svc:
        svc.subscribe(published.extend)
        first = svc.ingest_file(path)
        injected = faults.injected[point]
        faults.enabled = False  # the database is back
        rounds = 0
        while svc.outbox.count() and rounds < 5:
            svc.retry_pending()
            rounds += 1

        assert svc.outbox.count() == 0
        assert _totals(svc.stats()) == truth  # nothing lost, nothing twice, exact
        assert svc.stats() == svc.stats_from_events()
        assert svc.counts()["events"] == sum(n for n, _ in truth.values())
        assert injected > 0
        failures = Counter(r.outcome for r in published
                           if r.outcome in (Outcome.RETRYING, Outcome.FAILED))
        if point in FAILING:
            assert failures[Outcome.RETRYING] > 0
            if mode == "always":  # every attempt fails: all of it waits in the outbox first
                assert first.failed == first.received - first.rejected and first.accepted == 0
        else:
            assert not failures and first.failed == 0
        # the log table keeps the same retries and failures the live log showed
        logged = Counter((row.outcome, row.attempt, row.line) for row in svc.recent_log(limit=10**6)
                         if row[1] in ("retrying", "failed"))
        shown = Counter((r.outcome.value, r.attempt, r.line) for r in published
                        if r.outcome in (Outcome.RETRYING, Outcome.FAILED))
        assert logged == shown


def _faultsim(*args, check=True):
    p = subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", *map(str, args)],
                       capture_output=True, text=True, timeout=300)
    assert "Traceback" not in p.stderr
    if check:
        assert p.returncode == 0, p.stderr
    return p


@pytest.mark.parametrize("point,mode", MATRIX, ids=[f"{p.value}-{m}" for p, m in MATRIX])
def test_cli(tmp_path, corpus, point, mode):
    path, truth = corpus
    db = tmp_path / "m.db"
    run = _faultsim("ingest", path, "--db", db, "--json", "--fault", spec(point, mode),
                    "--seed", 5, "--retries", 2, "--batch-size", 100, check=False)
    first = json.loads(run.stdout.splitlines()[-1])
    # exit 3 says events wait in the pending outbox, 0 that none do
    assert run.returncode == (3 if first["pending"] else 0), run.stderr
    if first["pending"]:
        drained = json.loads(_faultsim("pending", "retry", "--db", db, "--json").stdout)
        assert drained["pending"] == 0 and drained["failed"] == 0
    stats = json.loads(_faultsim("stats", "--db", db, "--json").stdout)
    from decimal import Decimal
    assert {(r["client"], r["currency"]): (r["count"], Decimal(r["total"])) for r in stats} == truth
    log = [json.loads(line) for line in
           _faultsim("log", "--db", db, "--json", "-n", 10**6).stdout.splitlines()]
    outcomes = Counter(r["outcome"] for r in log)
    if point in FAILING:
        assert outcomes["retrying"] > 0
        assert all("simulated database crash" in r["reason"] for r in log
                   if r["outcome"] in ("retrying", "failed"))
        if mode == "always":
            assert outcomes["failed"] == first["failed"] > 0
    else:
        assert not outcomes["retrying"] and not outcomes["failed"]
    assert outcomes["accepted"] == sum(n for n, _ in truth.values())
