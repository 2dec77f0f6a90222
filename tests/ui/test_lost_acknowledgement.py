"""The lost-acknowledgement demo in the window: the status bar counts each event by its final
outcome and, once the faults stop and the retries finish, equals what the database holds; the
log shows lost acknowledgements as attempts, never a final "failed" for a committed event."""
from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint
from faultsim_desktop.core.model import Outcome

from .helpers import send

EVENTS = [f'{{"client": "c{i % 3}", "amount": "{i}.25", "currency": "EUR"}}' for i in range(1, 25)]


def counters(w):
    c = w.bridge.counters()
    return c.accepted, c.duplicates, c.rejected, c.failed, c.pending


def label(accepted, duplicates, failed, pending):
    return (f"accepted {accepted:,} · duplicates {duplicates:,} · rejected 0 · "
            f"failed {failed:,} · pending {pending:,}")


def test_status_bar_equals_the_database_after_lost_acknowledgements(qtbot, window):
    svc = window.service
    before = send(qtbot, window, "\n".join(EVENTS[:6]))  # stored before the crash
    assert before.accepted == 6
    window.fault_panel.set_retry(2, 10, 50)
    window.fault_panel.set_fault(FaultPoint.AFTER_COMMIT, FaultMode.ALWAYS)
    window.crash_button.click()
    # every attempt commits and loses its answer: the events wait, they may be stored already
    lost = send(qtbot, window, "\n".join(EVENTS[:12]))
    assert (lost.failed, lost.pending) == (12, 12)
    qtbot.waitUntil(lambda: window.counters_label.text() == label(6, 0, 12, 12))
    # a lost answer on the first attempt only: its retry finds the commit, accepted
    svc.faults.set(FaultPoint.AFTER_COMMIT, FaultConfig(FaultMode.NEXT_N, remaining=1))
    heard = send(qtbot, window, "\n".join(EVENTS[12:] + EVENTS[12:15]))
    assert (heard.accepted, heard.duplicates, heard.failed) == (12, 3, 0)

    with qtbot.waitSignal(window.bridge.retryFinished, timeout=20_000) as blocker:
        window.crash_action.trigger()  # off: what waits is sent again
    drained = blocker.args[0]
    # 6 were stored before the crash (genuine duplicates), 6 by their own unheard commit
    assert (drained.accepted, drained.duplicates, drained.pending) == (6, 6, 0)
    stored = svc.counts()["events"]
    assert stored == 24
    qtbot.waitUntil(lambda: counters(window) == (stored, 9, 0, 0, 0))
    qtbot.waitUntil(lambda: window.counters_label.text() == label(24, 9, 0, 0))

    rows = window.log_view.model.rows()
    assert not [r for r in rows if r.outcome is Outcome.FAILED]  # no final "failed" is left
    attempts = [r.reason for r in rows if r.outcome is Outcome.RETRYING]
    assert any(a.startswith("acknowledgement lost") and "retrying (attempt 2)" in a
               for a in attempts)
    settled = [a for a in attempts if "settled by a retry from the pending outbox" in a]
    assert len(settled) == 12
    assert sum(a.endswith(": accepted") for a in settled) == 6
    assert sum(a.endswith(": duplicate") for a in settled) == 6
    confirmed = [r for r in rows if r.outcome is Outcome.ACCEPTED and r.reason]
    assert len(confirmed) == 12 + 6  # the send's retry, and the drain
    assert all("committed on attempt" in r.reason for r in confirmed)


def test_the_failed_filter_no_longer_lists_settled_events(qtbot, window):
    window.fault_panel.set_retry(1, 10, 50)
    window.fault_panel.set_fault(FaultPoint.AFTER_COMMIT, FaultMode.ALWAYS)
    window.crash_button.click()
    send(qtbot, window, "\n".join(EVENTS[:4]))
    view = window.log_view
    view.outcome_filter.setCurrentIndex(view.outcome_filter.findData(Outcome.FAILED.value))
    qtbot.waitUntil(lambda: view.model.rowCount() == 4)
    with qtbot.waitSignal(window.bridge.retryFinished, timeout=20_000):
        window.crash_action.trigger()
    qtbot.waitUntil(lambda: view.model.rowCount() == 0)
    qtbot.waitUntil(lambda: counters(window) == (4, 0, 0, 0, 0))
