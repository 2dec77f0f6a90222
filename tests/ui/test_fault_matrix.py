"""Every fault point in every mode, driven from the window's crash switch: after the switch goes
off and the retries finish, the clients table equals the corpus' ground truth, nothing is lost or
counted twice, and the live log showed every retry and failure the database's log kept."""
from collections import Counter

import pytest

from faultsim_desktop.core.faults import DATABASE_POINTS, FaultMode, FaultPoint
from faultsim_desktop.core.model import Outcome

from .helpers import send, totals

from benchmarks.corpus import generate

MODES = [FaultMode.ALWAYS, FaultMode.PROBABILITY, FaultMode.NEXT_N]
MATRIX = [(point, mode) for point in FaultPoint if point in DATABASE_POINTS
          for mode in MODES]
FAILING = {FaultPoint.BEFORE_WRITE, FaultPoint.MID_TRANSACTION, FaultPoint.AFTER_COMMIT}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("matrix") / "corpus.ndjson"
    truth = generate(path, 1_200, seed=29)["truth"]
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines, {k: (n, total) for k, (n, total) in truth.items()}


@pytest.mark.parametrize("point,mode", MATRIX, ids=[f"{p.value}-{m.value}" for p, m in MATRIX])
def test_window(qtbot, window, corpus, point, mode):
    lines, truth = corpus
    window.fault_panel.set_fault(point, mode, probability=0.5, count=2)
    window.crash_action.setChecked(True)
    assert window.banner.isVisible()
    for start in range(0, len(lines), 300):  # four sends: several transactions
        send(qtbot, window, "\n".join(lines[start:start + 300]), anyway=True)
    injected = window.service.faults.injected[point]
    window.crash_action.setChecked(False)  # the database is back: pending events go again
    qtbot.waitUntil(lambda: window.service.outbox.count() == 0, timeout=30_000)
    qtbot.waitUntil(lambda: totals(window) == truth, timeout=30_000)
    assert window.service.stats() == window.service.stats_from_events()
    qtbot.waitUntil(lambda: "pending 0" in window.counters_label.text())
    assert injected > 0

    def window_log():
        rows = window.log_view.model.rows()
        # a failure the outbox's retry settled is shown as the attempt it was (saying how it
        # ended)
        settled = [r for r in rows if r.outcome is Outcome.RETRYING
                   and "settled by a retry from the pending outbox" in (r.reason or "")]
        shown = Counter(("failed" if r in settled else r.outcome.value, r.attempt, r.source,
                         r.line)
                        for r in rows if r.outcome in (Outcome.RETRYING, Outcome.FAILED))
        return rows, settled, shown

    def database_log():
        return Counter((r.outcome, r.attempt, r.source, r.line)
                       for r in window.service.recent_log(limit=10**6)
                       if r.outcome in ("retrying", "failed"))

    # the live log takes the outcomes in batches after the counters: wait for the last ones
    if point in FAILING and mode is FaultMode.ALWAYS:
        def all_settled():
            rows, settled, _ = window_log()
            return bool(settled) and not any(r.outcome is Outcome.FAILED for r in rows)
        qtbot.waitUntil(all_settled, timeout=30_000)
    logged = database_log()
    qtbot.waitUntil(lambda: window_log()[2] == logged, timeout=30_000)
    rows, settled, shown = window_log()
    if point in FAILING:
        assert shown, "the log shows the retries"
        if mode is FaultMode.ALWAYS:
            assert settled and not any(r.outcome is Outcome.FAILED for r in rows)
    else:
        assert not shown
    assert shown == logged  # what the window showed is what `faultsim log` keeps
