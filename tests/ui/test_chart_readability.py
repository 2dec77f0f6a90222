"""The per-client chart stays legible: one row per client with its name on the left axis, money
axes with grouped digits, hover text inside the plot, other currencies named, no client hidden
without saying so."""
import json
from decimal import Decimal

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QImage, QPainter

from faultsim_desktop.core.model import ClientTotal
from faultsim_desktop.ui.charts import GroupedAxis, TotalsChart, format_money

from .helpers import send


def _rows(n, currency="USD", start=0):
    return [ClientTotal(f"Long-named holdings group, subsidiary {i:03d}", currency,
                        i + 1, Decimal(1_500_000 + 1_000 * i) + Decimal("0.25"),
                        "2024-05-01T08:00:00", "2024-05-02T09:00:00")
            for i in range(start, start + n)]


def _chart(qtbot, width=530, height=540):  # about the chart's size in a 1440x900 window
    chart = TotalsChart()
    qtbot.addWidget(chart)
    chart.resize(width, height)
    chart.show()
    qtbot.waitExposed(chart)
    return chart


def _drawn_texts(qtbot, axis, count):
    """The (rect, text) of every label ``axis`` draws, once it draws ``count`` of them."""
    def texts():
        image = QImage(10, 10, QImage.Format.Format_ARGB32)  # the painter only measures text
        painter = QPainter(image)
        try:
            return [(QRectF(r), t) for r, _, t in axis.generateDrawSpecs(painter)[2]]
        finally:
            painter.end()
    qtbot.waitUntil(lambda: len(texts()) >= count)
    return texts()


def test_fifteen_clients_each_get_their_own_row(qtbot, window):
    """In the 1440x900 window, 15 long-named clients: every name is drawn, elided to fit, in a
    row of its own (no two label rects overlap), ranked from the top."""
    assert (window.width(), window.height()) == (1440, 900)
    events = [{"client": f"Long-named holdings group, subsidiary {i:02d}",
               "amount": f"{1_500_000 + 1_000 * i}.25", "currency": "USD"} for i in range(15)]
    send(qtbot, window, json.dumps(events))
    chart = window.totals_chart
    qtbot.waitUntil(lambda: len(chart.shown) == 15)
    texts = _drawn_texts(qtbot, chart.plot.getAxis("left"), 15)
    assert len(texts) == 15
    rects = sorted((r for r, _ in texts), key=lambda r: r.top())
    for upper, lower in zip(rects, rects[1:]):
        assert upper.bottom() <= lower.top() + 0.5, "two client names overlap"
    labels = [t for _, t in texts]
    assert all("…" in t for t in labels)  # long names are cut, not run into each other
    assert len(set(labels)) == 15  # and stay distinct: the middle goes, the number stays
    assert not chart.row_scroll.isVisible()  # 15 rows fit at 1440x900
    assert chart.bar_values()[0][0].endswith("subsidiary 14")  # the largest on top
    bottom = [t for _, t in _drawn_texts(qtbot, chart.plot.getAxis("bottom"), 2)]
    assert "1,500,000" in bottom or any(t.endswith(",000") for t in bottom), bottom
    assert not any("e+" in t for t in bottom)


def test_hundreds_of_clients_scroll_and_are_counted(qtbot):
    """412 clients, top 30: the chart says so, and the bars that do not fit scroll."""
    chart = _chart(qtbot, 600, 400)
    chart.top_n.setValue(30)
    chart.set_stats(_rows(412))
    _drawn_texts(qtbot, chart.plot.getAxis("left"), 1)
    assert chart.scope_label.text().startswith("Showing top 30 of 412 clients in USD")
    assert chart.visible_rows() < 30 and chart.row_scroll.isVisible()
    assert chart.row_scroll.maximum() == 30 - chart.visible_rows()
    chart.row_scroll.setValue(chart.row_scroll.maximum())
    low, high = chart.plot.getPlotItem().vb.viewRange()[1]
    assert low < 29 < high  # the last ranked bar is in view after scrolling
    chart.top_n.setValue(1000)
    qtbot.waitUntil(lambda: len(chart.shown) == 412)
    assert chart.scope_label.text().startswith("All 412 clients in USD")


def test_money_axis_groups_digits():
    axis = GroupedAxis("bottom")
    assert axis.tickStrings([0, 500_000, 1_000_000, 1_500_000], 1.0, 500_000) == \
        ["0", "500,000", "1,000,000", "1,500,000"]
    assert axis.tickStrings([1_234_567.5, 2_500.25], 1.0, 0.25) == ["1,234,567.50", "2,500.25"]
    assert axis.tickStrings([-2_000_000.0], 1.0, 1_000_000) == ["-2,000,000"]
    assert format_money(Decimal("1500000.2500")) == "1,500,000.2500"  # exact: Decimal as stored


def test_axis_labels_do_not_overlap_on_a_narrow_axis(qtbot):
    chart = _chart(qtbot, 420, 300)
    chart.set_stats(_rows(15))
    axis = chart.plot.getAxis("bottom")
    texts = _drawn_texts(qtbot, axis, 2)
    assert axis.width() < 400
    rects = sorted((r for r, _ in texts), key=lambda r: r.left())
    assert all("," in t for _, t in texts if t != "0")
    for left, right in zip(rects, rects[1:]):
        assert left.right() <= right.left(), [t for _, t in texts]


def test_hover_text_stays_inside_the_plot(qtbot):
    """The first bar is the longest: its exact figures are drawn inside the plot, not cut off."""
    chart = _chart(qtbot)
    chart.set_stats(_rows(15))
    _drawn_texts(qtbot, chart.plot.getAxis("left"), 15)
    vb = chart.plot.getPlotItem().vb
    area = vb.sceneBoundingRect()
    for i in (0, 7, 14):
        value = chart.shown[i].value
        chart._on_mouse_moved(vb.mapViewToScene(QPointF(float(value) / 2, float(i))))
        assert chart.hover_text.isVisible()
        text = chart.hover_text.textItem  # the text as drawn, in pixels
        qtbot.waitUntil(lambda: area.contains(text.mapRectToScene(text.boundingRect())))
        assert format_money(chart.shown[i].row.total) in chart.hover_text.toPlainText()
        assert chart.hover_label.text() == chart.describe(i)


def test_other_currencies_are_announced(qtbot):
    chart = _chart(qtbot)
    stats = _rows(5, "USD") + _rows(3, "EUR", 10) + _rows(1, "GBP", 20) + _rows(2, None, 30)
    chart.set_stats(stats)
    chart.currency.setCurrentText("USD")
    assert len(chart.shown) == 5
    assert chart.scope_label.isVisible()
    assert chart.scope_label.text() == ("All 5 clients in USD · also: 3 clients in EUR, "
                                        "2 with no currency, 1 in GBP")
    chart.currency.setCurrentText("EUR")
    assert chart.scope_label.text() == ("All 3 clients in EUR · also: 5 clients in USD, "
                                        "2 with no currency, 1 in GBP")
