"""The clients table and the totals chart show the same whether they work a read of the totals
out themselves or take what the reader lane prepared (``Totals.prepared``), and a preparation
made for another sort, search, currency, metric or number of bars is not used."""
import random
from decimal import Decimal

from PySide6.QtCore import Qt

from faultsim_desktop.core.model import ClientTotal
from faultsim_desktop.ui.bridge import Totals
from faultsim_desktop.ui.charts import TotalsChart
from faultsim_desktop.ui.clients import ClientsView

CURRENCIES = ("EUR", "USD", None, "GBP")


def _snapshot(n_clients: int, seed: int) -> list[ClientTotal]:
    rng = random.Random(seed)
    rows = []
    for i in range(n_clients):
        for currency in CURRENCIES[:rng.randrange(1, 5)]:
            rows.append(ClientTotal(f"Client {i:05d}", currency, rng.randrange(1, 50),
                                    Decimal(rng.randrange(-5_000, 500_000)) / 100,
                                    "2026-03-01T00:00:00", "2026-03-02T00:00:00"))
    return rows


def _prepared(rows, **views) -> Totals:
    """``rows`` as the bridge hands them over: each view's ``prepare`` run for its state."""
    totals = Totals(rows)
    for name, (view, state) in views.items():
        totals.prepared[name] = view.prepare(totals, state if state is not None
                                             else view.prepare_state())
    return totals


def _table(view: ClientsView) -> tuple:
    model = view.model
    return (model.rowCount(), [model.data(model.index(i, c)) for i in (0, 1, 999, 1000, 2500)
                               for c in range(4)], view.summary.text())


def _chart(chart: TotalsChart) -> tuple:
    return ([(b.row, b.value) for b in chart.shown], chart.scope_label.text(),
            chart._clients_per_currency, chart.ranked_count)


def _widgets(qtbot):
    made = []
    for cls in (ClientsView, ClientsView, TotalsChart, TotalsChart):
        w = cls()
        qtbot.addWidget(w)
        w.resize(700, 500)
        w.show()
        made.append(w)
    return made


def test_prepared_and_worked_out_reads_show_the_same(qtbot):
    plain_table, prep_table, plain_chart, prep_chart = _widgets(qtbot)
    first, second = _snapshot(2_000, seed=3), _snapshot(2_100, seed=4)
    for rows in (first, second):
        plain_table.set_stats(rows)
        prep_table.set_stats(_prepared(rows, clients=(prep_table, None)))
        assert _table(prep_table) == _table(plain_table)
        plain_chart.set_stats(rows)
        prep_chart.set_stats(_prepared(rows, chart=(prep_chart, None)))
        assert _chart(prep_chart) == _chart(plain_chart)

    # another sort, a search, another metric, currency and number of bars: prepared for them
    for table in (plain_table, prep_table):
        table.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        table.search.setText("client 001")
    for chart in (plain_chart, prep_chart):
        chart.metric_box.setCurrentText("Count")
        chart.currency.setCurrentIndex(chart.currency.findData("GBP"))
        chart.top_n.setValue(7)
    plain_table.set_stats(first)
    prep_table.set_stats(_prepared(first, clients=(prep_table, None)))
    assert _table(prep_table) == _table(plain_table)
    assert prep_table.summary.text().startswith("100 of 2,000 clients")
    plain_chart.set_stats(first)
    prep_chart.set_stats(_prepared(first, chart=(prep_chart, None)))
    assert _chart(prep_chart) == _chart(plain_chart)
    assert len(prep_chart.shown) == 7


def test_a_preparation_for_another_state_is_not_used(qtbot):
    """The user sorted, searched or picked another currency between asking for the read and
    its arrival: the view works the rows out for what it shows now."""
    plain_table, prep_table, plain_chart, prep_chart = _widgets(qtbot)
    rows = _snapshot(2_000, seed=5)
    stale_table = prep_table.prepare_state()  # sorted by total, no search
    stale_chart = prep_chart.prepare_state()  # no currency chosen yet, Total, default bars
    for table in (plain_table, prep_table):
        table.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)  # by count
        table.search.setText("client 00")
    plain_table.set_stats(rows)
    prep_table.set_stats(_prepared(rows, clients=(prep_table, stale_table)))
    assert _table(prep_table) == _table(plain_table)

    for chart in (plain_chart, prep_chart):
        chart.set_stats(rows[:10])  # a currency is chosen
        chart.metric_box.setCurrentText("Average")
    stale_chart = (prep_chart.currency.currentData(), "Total", prep_chart.top_n.value())
    plain_chart.set_stats(rows)
    prep_chart.set_stats(_prepared(rows, chart=(prep_chart, stale_chart)))
    assert _chart(prep_chart) == _chart(plain_chart)
    assert prep_chart.metric_box.currentText() == "Average"


def test_the_window_takes_what_the_reader_lane_prepared(qtbot, window):
    """Through the real bridge: the read of the totals arrives as Totals with both views'
    preparations, and the table and chart agree with the database."""
    from .helpers import send, totals

    seen = []
    window.bridge.statsChanged.connect(seen.append)
    lines = "\n".join(f'{{"client": "c{i % 37}", "amount": "{i}.25", "currency": "EUR"}}'
                      for i in range(300))
    assert send(qtbot, window, lines).accepted == 300
    db = {(t.client, t.currency): (t.count, t.total) for t in window.service.stats()}
    qtbot.waitUntil(lambda: totals(window) == db, timeout=10_000)
    seen.clear()
    window.bridge.refresh()  # read again, now that the chart has chosen its currency
    qtbot.waitUntil(lambda: bool(seen) and window.bridge.settled(), timeout=10_000)
    last = seen[-1]
    assert last.prepared["chart"].state[0] == "EUR"
    assert isinstance(last, Totals) and set(last.prepared) == {"chart", "clients"}
    assert window.clients.model.prep_holds(last.prepared["clients"])
    assert [b.row.client for b in window.totals_chart.shown] == \
        [b.row.client for b in last.prepared["chart"].ranked]
