"""The client history chart, driven as a user would: ten clients selected in the Clients table
and View ▸ Client history give one line per client and currency with a legend; each line ends at
the client's exact total (the hover says it as a Decimal); new events are appended to the lines
drawn (the curves stay, the arrays grow) and an older event or a reset redraws them right."""
import json
from decimal import Decimal
from itertools import accumulate

import numpy as np
import pytest
from PySide6.QtCore import QItemSelectionModel, QPointF
from PySide6.QtGui import QTextDocument

from faultsim_desktop.ui.charts import format_money
from faultsim_desktop.ui.history_chart import series_name

from .conftest import _OFFSCREEN_NOISE as OFFSCREEN_NOISE
from .helpers import send

RAISE_NOISE = pytest.mark.qt_log_ignore(r"This plugin does not support raise\(\)",
                                        OFFSCREEN_NOISE)


def events(clients=10, per=12, start=0, day=1):
    out = []
    for c in range(clients):
        for i in range(start, start + per):
            out.append({"client": f"Client {c:02d}", "amount": f"{c + 1}.{i % 10}1",
                        "currency": "EUR" if i % 4 else "USD",
                        "timestamp": f"2024-04-{day + i:02d}T{c:02d}:00:00Z"})
    return out


def ingest(qtbot, w, evs):
    s = send(qtbot, w, "\n".join(json.dumps(e) for e in evs))
    assert s.accepted == len(evs), s


def exact_total(evs, client, currency):
    return sum((Decimal(e["amount"]) for e in evs
                if e["client"] == client and e["currency"] == currency), Decimal(0))


def select_all_clients(w):
    table, model = w.clients.table, w.clients.model
    sel = table.selectionModel()
    for row in range(model.rowCount()):
        sel.select(model.index(row, 0), QItemSelectionModel.SelectionFlag.Select
                   | QItemSelectionModel.SelectionFlag.Rows)


def legend_text(chart):
    """The legend as a reader sees it."""
    doc = QTextDocument()
    doc.setHtml(chart.legend.text())
    return doc.toPlainText().replace("\xa0", " ")


def ends(chart):
    """(client, currency) -> (count, exact total, float drawn) at the end of each line."""
    return {(d.client, d.currency): (d.count, d.exact[-1], float(d.curve.yData[-1]))
            for d in chart.lines.values()}


@RAISE_NOISE
def test_ten_clients_lines_legend_and_live_appends(qtbot, window):
    evs = events()
    ingest(qtbot, window, evs)
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 20)
    select_all_clients(window)
    assert len(window.clients.selected_clients()) == 10
    window.history_action.trigger()
    dialog = window.history_dialog
    assert dialog is not None and dialog.isVisible()
    chart = dialog.chart
    qtbot.waitUntil(lambda: len(chart.lines) == 20, timeout=20_000)
    # ten clients: the currency most of their events are in, one line (and colour) each
    assert chart.currency_box.currentText() == "EUR"
    assert sorted(chart.legend_names()) == [series_name(f"Client {c:02d}", "EUR")
                                            for c in range(10)]
    visible = [d for d in chart.lines.values() if d.curve.isVisible()]
    assert len(visible) == 10 and len({d.curve.opts["pen"].color().name() for d in visible}) == 10
    assert chart.plot.getAxis("left").labelText == "total so far (EUR)"
    chart.currency_box.setCurrentIndex(chart.currency_box.findData("*"))
    chart.currency_box.activated.emit(chart.currency_box.currentIndex())
    names = chart.legend_names()
    assert len(names) == 20
    for c in range(10):
        for cur in ("EUR", "USD"):
            assert series_name(f"Client {c:02d}", cur) in names
            assert series_name(f"Client {c:02d}", cur) in legend_text(chart)
    for (client, cur), (count, exact, drawn) in ends(chart).items():
        assert count == (9 if cur == "EUR" else 3)
        assert exact == exact_total(evs, client, cur)
        assert drawn == pytest.approx(float(exact))
    line = chart.lines[("client 03", "EUR")]
    xs = line.curve.xData
    assert np.all(np.diff(xs) >= 0)  # event-time order
    assert line.curve.opts["autoDownsample"] and line.curve.opts["clipToView"]
    assert line.curve.opts["downsampleMethod"] == "peak"
    # the hover text holds the exact running total, not a float
    mine = [e for e in evs if e["client"] == "Client 03" and e["currency"] == "EUR"]
    running = list(accumulate(Decimal(e["amount"]) for e in mine))
    assert chart.point_text(("client 03", "EUR"), 4) == (
        f"Client 03 (EUR) · 2024-04-07 03:00:00 UTC · total {format_money(running[4])} "
        "after 5 events")
    vb = chart.plot.getPlotItem().vb
    scene = vb.mapViewToScene(QPointF(float(xs[4]), float(line.y[4])))
    chart._on_mouse_moved(scene)
    assert chart.hover_label.text().startswith("Client ") and "total " in chart.hover_label.text()

    # new events later in time: appended to the curves already drawn
    curves = {k: d.curve for k, d in chart.lines.items()}
    more = events(clients=3, per=4, start=12, day=1)
    ingest(qtbot, window, more)
    qtbot.waitUntil(lambda: chart.lines[("client 00", "EUR")].count == 12, timeout=20_000)
    qtbot.waitUntil(lambda: all(ends(chart)[(f"Client {c:02d}", "USD")][0] == 4
                                for c in range(3)), timeout=20_000)
    assert {k: d.curve for k, d in chart.lines.items()} == curves  # nothing was rebuilt
    every = evs + more
    for (client, cur), (count, exact, drawn) in ends(chart).items():
        assert exact == exact_total(every, client, cur)
        assert drawn == pytest.approx(float(exact))

    # the count view: the same lines, counting events
    chart.metric_box.setCurrentIndex(1)
    assert float(chart.lines[("client 00", "EUR")].curve.yData[-1]) == 12.0
    # the chart reads on a thread of its own, which stops with the window
    threads = chart.threads()
    assert threads and threads[0].isRunning()
    window.close()
    assert not any(t.isRunning() for t in threads)


@RAISE_NOISE
def test_an_older_event_and_a_reset_redraw_the_lines(qtbot, window):
    evs = events(clients=2, per=6, day=10)
    ingest(qtbot, window, evs)
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 4)
    dialog = window.open_history(["Client 01"])
    chart = dialog.chart
    qtbot.waitUntil(lambda: len(chart.lines) == 2)
    assert chart.title.text() == "History of Client 01"
    old = {"client": "client 01", "amount": "1000.001", "currency": "EUR",
           "timestamp": "2024-01-01T00:00:00Z"}
    ingest(qtbot, window, [old])
    qtbot.waitUntil(lambda: chart.lines.get(("client 01", "EUR")) is not None
                    and chart.lines[("client 01", "EUR")].count == 5, timeout=20_000)
    line = chart.lines[("client 01", "EUR")]
    assert line.exact[0] == Decimal("1000.001")  # first in event time
    assert line.exact[-1] == exact_total(evs, "Client 01", "EUR") + Decimal("1000.001")
    with qtbot.waitSignal(window.bridge.resetFinished, timeout=20_000):
        window.bridge.reset_database()
    qtbot.waitUntil(lambda: not chart.lines, timeout=20_000)
    assert legend_text(chart) == "" and chart.empty_text.isVisible()


def test_with_no_selection_the_first_clients_of_the_table_are_charted(qtbot, window):
    ingest(qtbot, window, events(clients=12, per=1))
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 12)
    dialog = window.open_history()
    qtbot.waitUntil(lambda: len(dialog.chart.lines) == 10)
    shown = [r.client for r in window.clients.model.rows()][:10]
    assert [d.client for d in dialog.chart.lines.values()] == shown


def looks(chart):
    """What tells each shown line apart on screen: (pen colour, dash, width), and its legend
    entry's coloured glyph (colour and weight), keyed by series."""
    pens = {}
    for d in chart.lines.values():
        if d.curve.isVisible():
            pen = d.curve.opts["pen"]
            pens[series_name(d.client, d.currency)] = (pen.color().name(), pen.style(),
                                                       pen.width())
    return pens


@RAISE_NOISE
def test_every_line_looks_different_past_the_hues_and_dashes(qtbot, window):
    # one client in six currencies (more than the four dashes), then twelve clients in one
    # (more than the ten hues): every line keeps a look of its own, in the legend too
    currencies = ("CHF", "EUR", "GBP", "JPY", "USD", None)
    evs = []
    for i, cur in enumerate(currencies):
        e = {"client": "Multi", "amount": f"{i + 1}.25",
             "timestamp": f"2024-05-{i + 1:02d}T10:00:00Z"}
        if cur:
            e["currency"] = cur
        evs.append(e)
    evs += [{"client": f"Solo {c:02d}", "amount": "3.50", "currency": "EUR",
             "timestamp": "2024-05-09T10:00:00Z"} for c in range(12)]
    ingest(qtbot, window, evs)
    qtbot.waitUntil(lambda: len(window.clients.model.rows()) == 18)
    chart = window.open_history(["Multi"]).chart
    qtbot.waitUntil(lambda: len(chart.lines) == 6, timeout=20_000)
    chart.currency_box.setCurrentIndex(chart.currency_box.findData("*"))
    chart.currency_box.activated.emit(chart.currency_box.currentIndex())
    seen = looks(chart)
    assert len(seen) == 6 and len(set(seen.values())) == 6, seen
    legend = chart.legend.text()
    entries = legend.split(" &nbsp; ")  # names have their spaces as &nbsp;
    assert len(entries) == 6 and len({e.split("</span>")[0] for e in entries}) == 6, legend

    chart = window.open_history([f"Solo {c:02d}" for c in range(12)]).chart
    qtbot.waitUntil(lambda: len(chart.lines) == 12
                    and {d.client for d in chart.lines.values()} == {f"Solo {c:02d}"
                                                                      for c in range(12)},
                    timeout=20_000)
    seen = looks(chart)
    assert len(seen) == 12 and len(set(seen.values())) == 12, seen
