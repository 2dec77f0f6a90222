"""The window during a big ingest: what the child process reports arrives whole in the log, the
collector's deferred work is done once the stream ends, and the totals chart follows its top
clients while it keeps an unchanged axis as drawn, and the rate chart's scale moves in round
steps."""
import gc
import json
import weakref
from decimal import Decimal

from PySide6.QtCore import QObject
from PySide6.QtGui import QImage, QPainter

from faultsim_desktop.core.model import ClientTotal, ImportTag, Outcome, OutcomeRecord
from faultsim_desktop.ui.bridge import Counters, MainThreadGC
from faultsim_desktop.ui.charts import RateChart, TotalsChart


def test_a_child_ingests_outcomes_reach_the_log_whole(qtbot, make_window, tmp_path):
    """A file big enough for the child process: every log row is a full OutcomeRecord (its
    outcome, client, amount, line and import), duplicates and rejected lines included."""
    window = make_window(workers=1)
    path = tmp_path / "events.ndjson"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(20_000):
            if i % 1000 == 7:
                f.write('{"client": "broken", "amount": \n')  # rejected, with its line
            else:  # a retry of the line before the rejected one: a duplicate
                j = i - 2 if i % 1000 == 8 else i
                f.write(json.dumps({"client": f"client-{j % 40}", "amount": f"{j % 500}.25",
                                    "currency": "EUR", "event_id": f"ev-{j}"}) + "\n")
    assert path.stat().st_size > 1 << 20  # over the child-ingest threshold
    with qtbot.waitSignal(window.bridge.filesFinished, timeout=120_000) as blocker:
        window.ingest_files([str(path)])
    s = blocker.args[0]
    assert (s.received, s.rejected, s.duplicates, s.failed) == (20_000, 20, 20, 0)
    model = window.log_view.model
    qtbot.waitUntil(lambda: model.rowCount() == 20_000, timeout=20_000)
    rows = model.rows()
    assert all(type(r) is OutcomeRecord for r in rows)
    by_line = {r.line: r for r in rows}
    assert by_line[1].outcome is Outcome.ACCEPTED
    assert (by_line[1].client, by_line[1].amount, by_line[1].currency) == ("client-0", "0.25", "EUR")
    assert by_line[8].outcome is Outcome.REJECTED and "line 8" in by_line[8].reason
    assert by_line[9].outcome is Outcome.DUPLICATE
    assert by_line[9].event_id == by_line[7].event_id is not None
    tags = {r.import_tag for r in rows}
    assert len(tags) == 1 and isinstance(tags.pop(), ImportTag)
    assert model.data(model.index(0, 1)) == "accepted"
    assert sum(r.outcome is Outcome.ACCEPTED for r in rows) == s.accepted


class _Cycle:
    def __init__(self):
        self.me = self


def test_garbage_left_during_a_stream_is_collected_when_it_ends(qtbot):
    """While an ingest streams, only young objects are collected; a cycle that grew old
    meanwhile is freed as soon as the stream ends, nothing kept for good."""
    owner = QObject()
    streaming = [True]
    collector = MainThreadGC(owner, interval_ms=5, thresholds=(10, 1, 1),
                             streaming=lambda: streaming[0])
    try:
        cycle = _Cycle()
        gone = weakref.ref(cycle)
        gc.collect(0)
        gc.collect(1)  # it is old now: young collections no longer walk it
        del cycle
        churn = []
        for _ in range(20):  # young objects enough for several young collections
            churn.extend([[] for _ in range(50)])
            qtbot.waitUntil(lambda: gc.get_count()[0] <= 10, timeout=5_000)
        assert gone() is not None  # old garbage waits while the stream runs
        streaming[0] = False
        churn.extend([[] for _ in range(50)])
        qtbot.waitUntil(lambda: gone() is None, timeout=5_000)
    finally:
        collector.stop()
        owner.deleteLater()


def _axis_texts(axis) -> list[str]:
    image = QImage(10, 10, QImage.Format.Format_ARGB32)  # the painter only measures text
    painter = QPainter(image)
    try:
        return [t for _, _, t in axis.generateDrawSpecs(painter)[2]]
    finally:
        painter.end()


def _totals(names, base):
    return [ClientTotal(name, "USD", 1, Decimal(base - i), "2024-05-01T08:00:00",
                        "2024-05-01T08:00:00") for i, name in enumerate(names)]


def test_the_totals_axis_follows_its_top_clients(qtbot):
    """Refreshes with the same top clients keep their names; a new client on top shows."""
    chart = TotalsChart()
    qtbot.addWidget(chart)
    chart.resize(530, 540)
    chart.show()
    qtbot.waitExposed(chart)
    axis = chart.plot.getAxis("left")
    chart.set_stats(_totals(["acme", "globex", "initech"], 300))
    qtbot.waitUntil(lambda: sorted(_axis_texts(axis)) == ["acme", "globex", "initech"])
    chart.set_stats(_totals(["acme", "globex", "initech"], 5_000))  # totals grew
    assert sorted(_axis_texts(axis)) == ["acme", "globex", "initech"]
    assert [v for _, v in chart.bar_values()] == [Decimal(5000), Decimal(4999), Decimal(4998)]
    chart.set_stats(_totals(["umbrella", "acme", "globex", "initech"], 9_000))
    qtbot.waitUntil(lambda: sorted(_axis_texts(axis)) == ["acme", "globex", "initech",
                                                          "umbrella"])
    assert chart.bar_values()[0][0] == "umbrella"


def _rate_top(chart) -> float:
    return chart.plot.getPlotItem().vb.viewRange()[1][1]


def test_the_rate_scale_is_round_and_steady(qtbot):
    """Events/s around 60,000 show on a round scale that stays put while the rate wobbles, grows
    when the rate outgrows it and shrinks once the ingest is over."""
    chart = RateChart()
    qtbot.addWidget(chart)
    chart.resize(500, 300)
    chart.show()
    qtbot.waitExposed(chart)
    accepted, at = 0, 1000.0

    def second(rate: int) -> None:  # one second at ``rate`` accepted events/s, in two bins
        nonlocal accepted, at
        for _ in range(2):
            accepted += rate // 2
            at += RateChart.BIN_S
            chart.add_counters(Counters(accepted=accepted, at=at))
    chart.add_counters(Counters(accepted=0, at=at))
    second(60_000)
    assert _rate_top(chart) == 100_000  # 60,000 and its headroom fit under a round 100,000
    for rate in (58_000, 63_000, 61_000, 59_500):
        second(rate)
        assert _rate_top(chart) == 100_000
    second(95_000)
    assert _rate_top(chart) == 200_000  # outgrown: the next round step
    for _ in range(RateChart.WINDOW_S + 1):  # the ingest ends; five minutes later...
        second(0)
    assert _rate_top(chart) == 2  # ...the scale is back to a small round one


def test_a_quiet_rate_chart_stops_redrawing_and_wakes_with_the_next_event(qtbot):
    """Five minutes after the last event the curves are flat at zero: they are drawn so once,
    then not again while nothing arrives; the next event draws them again."""
    chart = RateChart()
    qtbot.addWidget(chart)
    chart.resize(500, 300)
    chart.show()
    qtbot.waitExposed(chart)
    drawn = []
    curve = chart.curves["accepted"]
    real = curve.setData
    curve.setData = lambda *a, **k: drawn.append(a[1].copy()) or real(*a, **k)
    at = 1000.0
    chart.add_counters(Counters(accepted=0, at=at))
    at += RateChart.BIN_S
    chart.add_counters(Counters(accepted=500, at=at))  # 1,000 events/s for half a second
    assert drawn and drawn[-1].max() == 1000
    for _ in range(int(RateChart.WINDOW_S / RateChart.BIN_S) + 10):
        at += RateChart.BIN_S
        chart.add_counters(Counters(accepted=500, at=at))
    flat = [y for y in drawn if not y.any()]
    assert len(flat) == 1  # drawn flat once, then left alone
    assert _rate_top(chart) == 2
    assert not drawn[-1].any()  # the last drawing is that flat one
    before = len(drawn)
    at += RateChart.BIN_S
    chart.add_counters(Counters(accepted=510, at=at))  # 10 events in half a second
    assert len(drawn) == before + 1 and drawn[-1].max() == 20
