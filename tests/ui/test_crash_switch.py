"""The crash switch: sends fail and retry; after it is off, totals are exact, nothing twice."""
from decimal import Decimal

from PySide6.QtGui import QColor

from faultsim_desktop.core.faults import FaultMode, FaultPoint
from faultsim_desktop.core.model import Outcome

from .helpers import send, totals

TEXT = "\n".join(f'{{"client": "c{i % 3}", "amount": "{i}.25", "currency": "EUR", "event_id": "e{i}"}}'
                 for i in range(1, 13))
EXPECTED = {("c0", "EUR"): (4, Decimal("31.00")), ("c1", "EUR"): (4, Decimal("23.00")),
            ("c2", "EUR"): (4, Decimal("27.00"))}


def _crash_on(qtbot, w, point=FaultPoint.MID_TRANSACTION):
    w.fault_panel.set_fault(point, FaultMode.ALWAYS)
    w.crash_button.click()
    assert w.crash_action.isChecked() and w.service.faults.enabled


def test_switch_shows_unmistakably(qtbot, window):
    assert not window.crash_action.isChecked()  # off whenever the window opens
    assert not window.service.faults.enabled
    assert window.banner.isHidden()
    _crash_on(qtbot, window)
    assert window.banner.isVisible() and window.banner.text() == "DATABASE CRASH SIMULATION ON"
    assert window.crash_label.isVisible()
    # the toolbar switch is red while checked
    color = window.crash_button.grab().toImage().pixelColor(window.crash_button.width() // 2, 4)
    assert color.red() > 150 and color.green() < 90, color.name()
    window.crash_button.click()
    assert window.banner.isHidden() and not window.service.faults.enabled


def test_failures_retry_then_exact_totals_after_switch_off(qtbot, window):
    _crash_on(qtbot, window)
    summary = send(qtbot, window, TEXT)
    assert (summary.accepted, summary.failed) == (0, 12)
    qtbot.waitUntil(lambda: sum(r.outcome is Outcome.FAILED
                                for r in window.log_view.model.rows()) == 12)
    outcomes = {r.outcome for r in window.log_view.model.rows()}
    assert outcomes == {Outcome.RETRYING, Outcome.FAILED}
    retrying = [r for r in window.log_view.model.rows() if r.outcome is Outcome.RETRYING]
    assert {r.attempt for r in retrying} == {1, 2}
    qtbot.waitUntil(lambda: window.pending_panel.model.rowCount() == 12)
    qtbot.waitUntil(lambda: "pending 12" in window.counters_label.text())
    assert window.service.stats() == []

    with qtbot.waitSignal(window.bridge.retryFinished, timeout=20_000) as blocker:
        window.crash_action.trigger()  # off: pending events are sent again automatically
    assert blocker.args[0].accepted == 12
    qtbot.waitUntil(lambda: window.pending_panel.model.rowCount() == 0)
    qtbot.waitUntil(lambda: totals(window) == EXPECTED)
    assert window.service.stats() == window.service.stats_from_events()
    # sending the same text again now changes nothing
    again = send(qtbot, window, TEXT)
    assert (again.accepted, again.duplicates) == (0, 12)
    qtbot.wait(250)
    assert totals(window) == EXPECTED


def test_lost_acknowledgement_is_accepted_once_its_retry_finds_it(qtbot, window):
    _crash_on(qtbot, window, FaultPoint.AFTER_COMMIT)
    summary = send(qtbot, window, TEXT)
    assert summary.failed == 12  # the writer never heard back...
    with qtbot.waitSignal(window.bridge.retryFinished, timeout=20_000) as blocker:
        window.crash_action.trigger()
    # ...but the commit happened: the retry finds its own commit, and nothing counts twice
    assert (blocker.args[0].accepted, blocker.args[0].duplicates) == (12, 0)
    qtbot.waitUntil(lambda: totals(window) == EXPECTED)


def test_pending_retry_now_button(qtbot, window):
    _crash_on(qtbot, window, FaultPoint.BEFORE_WRITE)
    send(qtbot, window, TEXT)
    qtbot.waitUntil(lambda: window.pending_panel.retry_button.isEnabled())
    window.service.faults.enabled = False  # the database is back, the switch not yet flipped
    with qtbot.waitSignal(window.bridge.retryFinished, timeout=20_000):
        window.pending_panel.retry_button.click()
    qtbot.waitUntil(lambda: totals(window) == EXPECTED)


def test_outcome_colours(qtbot, window):
    send(qtbot, window, '{"client": "a", "amount": 1}\n{"client": "a", "amount": 1}\n'
                        '{"amount": 1}', anyway=True)
    qtbot.waitUntil(lambda: window.log_view.model.rowCount() == 3)
    m = window.log_view.model
    from PySide6.QtCore import Qt
    colours = [m.data(m.index(r, 1), Qt.ItemDataRole.ForegroundRole) for r in range(3)]
    assert all(isinstance(c, QColor) for c in colours)
    assert len({c.name() for c in colours}) == 3  # accepted, duplicate, rejected differ


def test_crash_switch_reaches_a_child_process_ingest(qtbot, make_window, tmp_path):
    import json
    window = make_window(workers=1)
    path = tmp_path / "big.ndjson"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(20_000):
            f.write(json.dumps({"client": f"c{i % 9}", "amount": f"{i}.25", "pad": "x" * 40}) + "\n")
    window.crash_action.setChecked(True)  # mid-transaction, every write
    with qtbot.waitSignal(window.bridge.filesFinished, timeout=120_000) as blocker:
        window.ingest_files([str(path)])
    s = blocker.args[0]
    assert (s.accepted, s.failed) == (0, 20_000)
    assert window.service.outbox.count() == 20_000
    window.crash_action.setChecked(False)  # retries what waits in the outbox
    qtbot.waitUntil(lambda: window.service.outbox.count() == 0, timeout=60_000)
    rows = window.service.stats()
    assert sum(r.count for r in rows) == 20_000
    assert sum(r.total for r in rows) == sum(Decimal(f"{i}.25") for i in range(20_000))
