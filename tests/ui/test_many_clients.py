"""Tens of thousands of client/currency rows: the clients table and the totals chart show
exactly what a full sort of every row would, whichever rows are on screen, and say how many
clients, rows and events there are; the widest total sizes its column even when it is far
out of view."""
import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt

from faultsim_desktop.core.model import ClientTotal
from faultsim_desktop.ui.charts import METRICS, format_money, metric_value, top_bars
from faultsim_desktop.ui.clients import TOTAL_COLUMN, ClientsView, added_rows

CURRENCIES = ("EUR", "USD", None)


def _snapshot(n_clients: int, seed: int) -> list[ClientTotal]:
    """A reader's snapshot: ordered by client name (case-insensitive), then currency."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_clients):
        for currency in CURRENCIES[:rng.randrange(1, 4)]:
            count = rng.randrange(1, 50)
            total = Decimal(rng.randrange(-5_000, 500_000)) / 100
            rows.append(ClientTotal(f"Client {i:05d}", currency, count, total,
                                    "2026-03-01T00:00:00", "2026-03-02T00:00:00"))
    return rows


def _view(qtbot) -> ClientsView:
    view = ClientsView()
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    qtbot.waitExposed(view)
    return view


def _shown(view: ClientsView, row: int, column: int) -> str:
    model = view.model
    return model.data(model.index(row, column))


def test_a_large_table_shows_every_row_in_order_and_counts_them(qtbot):
    view = _view(qtbot)
    rows = _snapshot(12_000, seed=1)  # more rows than one refresh sorts (HEAD_ROWS)
    assert len(rows) > 2 * view.model.HEAD_ROWS
    view.set_stats(rows)

    by_total = sorted(rows, key=lambda r: r.total, reverse=True)  # the table's default order
    model = view.model
    assert model.rowCount() == len(rows)
    # the top, and rows far below what one refresh sorts, as a full sort places them
    for i in (0, 1, 500, model.HEAD_ROWS - 1, model.HEAD_ROWS, len(rows) // 2, len(rows) - 1):
        assert _shown(view, i, 0) == by_total[i].client
        assert _shown(view, i, TOTAL_COLUMN) == format_money(by_total[i].total)
    assert model.rows() == by_total
    events = sum(r.count for r in rows)
    assert view.summary.text() == f"12,000 clients, {len(rows):,} client/currency rows, {events:,} events"

    # sorted by the Client column (what a click on its header does): every row by name
    view.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    by_name = sorted(rows, key=lambda r: (r.client.casefold(), r.currency or ""))
    assert _shown(view, len(rows) - 1, 0) == by_name[-1].client
    assert model.rows() == by_name

    # a search shows and counts only the matching clients
    view.search.setText("client 0001")
    matching = [r for r in rows if "client 0001" in r.client.casefold()]
    assert model.rowCount() == len(matching)
    assert model.rows() == sorted(matching, key=lambda r: (r.client.casefold(), r.currency or ""))
    assert view.summary.text().startswith("10 of 12,000 clients")


def test_a_refresh_keeps_the_order_true_and_the_summary_current(qtbot):
    view = _view(qtbot)
    rows = _snapshot(9_000, seed=2)
    view.set_stats(rows)
    # a refresh: totals move, and a few clients are new
    rng = random.Random(3)
    moved = list(rows)
    for i in rng.sample(range(len(moved)), 2_000):
        r = moved[i]
        moved[i] = r._replace(count=r.count + 1, total=r.total + Decimal("999.99"))
    new = [ClientTotal(f"Zeta newcomer {i}", "EUR", 1, Decimal("1"), "2026-03-03T00:00:00",
                       "2026-03-03T00:00:00") for i in range(3)]
    moved.extend(new)  # their names sort last
    view.set_stats(moved)
    assert view.model.rows() == sorted(moved, key=lambda r: r.total, reverse=True)
    assert view.summary.text() == (f"9,003 clients, {len(moved):,} client/currency rows, "
                                   f"{sum(r.count for r in moved):,} events")


def test_the_widest_total_sizes_its_column_even_out_of_view(qtbot):
    view = _view(qtbot)
    rows = _snapshot(12_000, seed=4)
    # the widest total is the smallest: it sorts last, far out of view
    widest = Decimal("-987654321.125")
    rows[len(rows) // 2] = rows[len(rows) // 2]._replace(total=widest)
    view.set_stats(rows)
    assert _shown(view, len(rows) - 1, TOTAL_COLUMN) == format_money(widest)
    metrics = view.table.fontMetrics()
    needed = metrics.horizontalAdvance(format_money(widest))
    qtbot.waitUntil(lambda: view.table.columnWidth(TOTAL_COLUMN) >= needed)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ann", "Bob", "bob2", "Cy", "dee", "Éva"]),
                          st.integers(0, 4), st.integers(-3, 3)), max_size=40),
       st.sampled_from(METRICS), st.integers(1, 12))
def test_the_chart_ranks_exactly_as_a_full_sort(values, metric, n):
    rows = [ClientTotal(f"{name}{i}", "USD", count, Decimal(total) / 4, "", "")
            for i, (name, count, total) in enumerate(values)]
    want = sorted(((r, metric_value(r, metric)) for r in rows),
                  key=lambda bar: (-bar[1], bar[0].client.casefold()))[:n]
    assert [(b.row, b.value) for b in top_bars(rows, metric, n)] == want


@settings(max_examples=300, deadline=None)
@given(st.sets(st.tuples(st.integers(0, 60), st.sampled_from(CURRENCIES)), max_size=80),
       st.data())
def test_added_rows_are_the_rows_a_refresh_added(keys, data):
    def snapshot(ks):
        return [ClientTotal(f"c{k:03d}", cur, 1, Decimal(1), "", "")
                for k, cur in sorted(ks, key=lambda kc: (kc[0], kc[1] or ""))]
    before = data.draw(st.sets(st.sampled_from(sorted(keys, key=str)))) if keys else set()
    old, new = snapshot(before), snapshot(keys)
    added = added_rows(old, new)
    assert added == [r for r in new if (int(r.client[1:]), r.currency) not in before]
    if added:  # more rows than the limit: no answer; fewer rows than before: none either
        assert added_rows(old, new, limit=len(added) - 1) is None
        assert added_rows(new, old) is None
