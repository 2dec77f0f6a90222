"""The crash panel's tally: every injected fault counts, wherever it fired; latency only delays."""
import json

from faultsim_desktop.core.faults import FaultMode, FaultPoint
from faultsim_desktop.ui.bridge import CHILD_INGEST_BYTES

from .helpers import send, totals


def _write_large_file(path) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        while f.tell() < CHILD_INGEST_BYTES + 4096:  # large enough for the child ingest process
            f.write(json.dumps({"client": f"client-{n % 7}", "amount": f"{n % 900}.{n % 100:02d}",
                                "currency": "EUR", "event_id": f"ev-{n}"}) + "\n")
            n += 1
    return n


def test_faults_injected_in_the_child_ingest_process_are_counted(qtbot, make_window, tmp_path):
    w = make_window(workers=1)  # with workers, a large file goes to a child process
    path = tmp_path / "large.ndjson"
    n = _write_large_file(path)
    w.fault_panel.set_fault(FaultPoint.MID_TRANSACTION, FaultMode.NEXT_N, count=2)
    w.crash_action.trigger()
    with qtbot.waitSignal(w.bridge.filesFinished, timeout=120_000) as blocker:
        w.ingest_files([str(path)])
    summary = blocker.args[0]
    assert (summary.received, summary.accepted) == (n, n)  # the third attempt went through
    qtbot.waitUntil(lambda: w.fault_panel.injected.text()
                    == "Faults injected so far: 2\nrolled back mid-transaction: 2", timeout=5_000)
    assert w.service.faults.injected_counts()[FaultPoint.MID_TRANSACTION] == 2
    qtbot.waitUntil(lambda: sum(r.count for r in w.clients.model.rows()) == n)
    w.crash_action.trigger()
    qtbot.waitSignal(w.bridge.retryFinished, timeout=20_000).wait()


def test_tally_counts_every_point_and_the_total(qtbot, window):
    window.fault_panel.set_fault(FaultPoint.BEFORE_WRITE, FaultMode.NEXT_N, count=1)
    window.crash_action.trigger()
    s = send(qtbot, window, '{"client": "a", "amount": "1.00", "currency": "EUR", "event_id": "1"}')
    assert s.accepted == 1  # refused once, stored on the retry
    window.crash_action.trigger()
    qtbot.waitSignal(window.bridge.retryFinished, timeout=20_000).wait()
    window.fault_panel.set_fault(FaultPoint.AFTER_COMMIT, FaultMode.NEXT_N, count=2)
    window.crash_action.trigger()
    s = send(qtbot, window, '{"client": "a", "amount": "2.00", "currency": "EUR", "event_id": "2"}')
    qtbot.waitUntil(lambda: window.fault_panel.injected.text()
                    == "Faults injected so far: 3\nrefused before writing: 1\n"
                       "acknowledgements lost after commit: 2")
    window.crash_action.trigger()
    qtbot.waitSignal(window.bridge.retryFinished, timeout=20_000).wait()


def test_latency_says_writes_are_delayed_not_that_they_fail(qtbot, window):
    messages = []
    window.message.connect(messages.append)
    window.fault_panel.set_fault(FaultPoint.LATENCY, FaultMode.ALWAYS)
    window.fault_panel.latency.setValue(40)
    window.crash_action.trigger()
    said = messages[-1]
    assert said.startswith("Database latency simulation ON (latency 40 ms, always): "
                           "writes are delayed by 40 ms each"), said
    assert "retried" not in said and "Pending" not in said, said
    assert window.banner.text() == "DATABASE LATENCY SIMULATION ON: WRITES DELAYED 40 MS"
    s = send(qtbot, window, "\n".join(
        f'{{"client": "slow", "amount": "{i}.00", "currency": "EUR", "event_id": "s{i}"}}'
        for i in range(1, 4)))
    assert (s.accepted, s.failed) == (3, 0)  # delayed, never failed
    qtbot.waitUntil(lambda: window.fault_panel.injected.text().startswith(
        "Faults injected so far: ") and "writes delayed: " in window.fault_panel.injected.text())
    qtbot.waitUntil(lambda: totals(window).get(("slow", "EUR"), (0,))[0] == 3)
    window.crash_action.trigger()
    qtbot.waitSignal(window.bridge.retryFinished, timeout=20_000).wait()
