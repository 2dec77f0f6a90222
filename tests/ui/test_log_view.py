"""The live log: a bounded ring buffer; bursts are batched; filter, pause, export."""
import csv

from faultsim_desktop.core.model import Outcome, OutcomeRecord
from faultsim_desktop.ui.log_view import LogModel, OutcomeRing


def _records(n, start=0, outcome=Outcome.ACCEPTED):
    return [OutcomeRecord("2024-01-01T00:00:00.000000Z", outcome, f"c{i}", str(i), "USD",
                          i.to_bytes(8, "big"), 1, None, "test", i) for i in range(start, start + n)]


def test_ring_keeps_the_newest():
    ring = OutcomeRing(10)
    ring.extend(_records(7))
    ring.extend(_records(7, 7))
    assert len(ring) == 10
    assert [ring.get(s).line for s in range(ring.start, ring.end)] == list(range(4, 14))
    ring.extend(_records(25, 14))
    assert [ring.get(s).line for s in range(ring.start, ring.end)] == list(range(29, 39))


def test_a_burst_of_100k_is_bounded_and_fast(qtbot):
    model = LogModel(capacity=100_000)
    for i in range(15):  # 150,000 outcomes in ticks of 10,000
        model.append(_records(10_000, i * 10_000))
    assert model.rowCount() == 100_000
    assert model.record(0).line == 50_000 and model.record(99_999).line == 149_999


def test_filter_pause_and_export(qtbot, window, tmp_path):
    view = window.log_view
    view.append(_records(5) + _records(3, 5, Outcome.FAILED))
    assert view.model.rowCount() == 8
    view.outcome_filter.setCurrentIndex(view.outcome_filter.findData("failed"))
    assert view.model.rowCount() == 3
    view.text_filter.setText("c6")
    assert [r.client for r in view.model.rows()] == ["c6"]
    view.text_filter.setText("")
    view.outcome_filter.setCurrentIndex(0)

    view.follow.click()  # pause: rows a user reads do not move
    assert view.model.paused
    view.append(_records(4, 100))
    assert view.model.rowCount() == 8
    assert "4 new outcomes held" in view.status.text()
    view.follow.click()
    assert view.model.rowCount() == 12

    path = tmp_path / "log.csv"
    with qtbot.waitSignal(window.bridge.taskDone, timeout=10_000):
        window.export_log(str(path))
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 13 and rows[0][:2] == ["at", "outcome"]
