"""pyqtgraph charts: per-client totals (horizontal bars) and events per second by outcome (lines).

Plot items are created once and updated with setOpts/setData from the bridge's tick (at most
about ten times a second); they are never cleared and re-added.
"""
from __future__ import annotations

import heapq
import math
from collections import Counter, deque
from decimal import Decimal
from itertools import compress, repeat
from operator import attrgetter, eq
from typing import Callable, NamedTuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFontMetrics, QPalette
from PySide6.QtWidgets import (QApplication, QComboBox, QGraphicsItem, QHBoxLayout, QLabel,
                               QScrollBar, QSizePolicy, QSpinBox, QVBoxLayout, QWidget)

from ..core.model import Outcome
from ..core.model import ClientTotal
from .theme import is_dark, outcome_color, plain_tooltip

NO_CURRENCY = "(no currency)"
_count_of = attrgetter("count")
_total_of = attrgetter("total")
_currency_of = attrgetter("currency")
METRICS = ("Total", "Count", "Average")
MAX_TOP_N = 1000
_LABEL_MAX_PX = 220  # client names on the left axis are elided to this width at most
_LABEL_SHARE = 0.4  # ... and to this share of the plot's width
_TALLEST_ROW = 2.5  # a bar's row is at most this many legible rows tall


def _printable(name: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in name)


def axis_label(name: str, metrics: QFontMetrics, room_px: int) -> str:
    """A client's name for the axis: non-printable characters as '?' (so one label cannot
    reorder or hide another), long names cut in the middle to ``room_px`` pixels."""
    return metrics.elidedText(_printable(name), Qt.TextElideMode.ElideMiddle, room_px)


class Bar(NamedTuple):
    """One bar of the totals chart: the client's row and the value of the chosen metric."""

    row: ClientTotal
    value: Decimal


def metric_value(row: ClientTotal, metric: str) -> Decimal:
    if metric == "Count":
        return Decimal(row.count)
    if metric == "Average":
        return row.total / row.count if row.count else Decimal(0)
    return row.total


def top_bars(rows: list[ClientTotal], metric: str, n: int) -> list[Bar]:
    """The ``n`` rows of highest ``metric`` as bars, highest first, equal values by name.

    Only the rows that can rank are sorted and wrapped: with tens of thousands of clients a
    refresh used to build a ``Bar`` of every row and sort them all on the GUI thread."""
    if metric == "Total":
        values = list(map(_total_of, rows))
    elif metric == "Count":
        values = list(map(_count_of, rows))
    else:
        values = [metric_value(r, metric) for r in rows]
    if len(values) > n:
        cut = heapq.nlargest(n, values)[-1]
        picked = [i for i, v in enumerate(values) if v >= cut]  # every tie at the cut
    else:
        picked = range(len(values))
    bars = [Bar(rows[i], values[i]) for i in picked]
    if metric == "Count":
        bars = [Bar(r, Decimal(v)) for r, v in bars]
    bars.sort(key=lambda bar: (-bar.value, bar.row.client.casefold()))
    return bars[:n]


def rows_per_currency(rows: list[ClientTotal]) -> dict[str, int]:
    """Rows (clients) per currency, "" for none; counted in C."""
    return {c or "": n for c, n in Counter(map(_currency_of, rows)).items()}


def rows_in(rows: list[ClientTotal], currency: str) -> list[ClientTotal]:
    """The rows of ``currency`` ("" for none), in the snapshot's order; picked out in C."""
    return list(compress(rows, map(eq, map(_currency_of, rows), repeat(currency or None))))


class ChartPrep(NamedTuple):
    """What the totals chart needs of every row, prepared on the reader lane (``prepare``)
    for the currency, metric and number of bars shown when the read was asked for."""

    state: tuple[str | None, str, int]
    per_currency: dict[str, int]
    rows: list[ClientTotal] | None  # the state's currency's rows (None: no currency chosen)
    ranked: list[Bar] | None


def format_money(value: Decimal) -> str:
    """The exact figure with grouped digits: Decimal('1500000.25') -> '1,500,000.25'."""
    return f"{value:,f}"


def format_metric(value: Decimal, metric: str) -> str:
    if metric == "Count":
        return f"{int(value):,}"
    if metric == "Average":
        return format_money(value.quantize(Decimal("0.0001")).normalize()) if value else "0"
    return format_money(value)


def grouped_tick(value: float, places: int) -> str:
    """A tick label with grouped digits: 1500000 -> '1,500,000' (never '1.5e+06')."""
    text = f"{value:,.{places}f}"
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text


class GroupedAxis(pg.AxisItem):
    """An axis whose tick labels group digits, spaced so that the labels never overlap."""

    _GAP_PX = 18

    def tickStrings(self, values, scale, spacing):
        step = abs(spacing * scale)
        places = 0  # as many decimals as the step needs: 0.25 -> 2, 0.5 -> 1, 5 -> 0
        while places < 8 and step > 0 and abs(round(step, places) - step) > step * 1e-6:
            places += 1
        return [grouped_tick(v * scale, places) for v in values]

    def tickSpacing(self, minVal, maxVal, size):
        levels = super().tickSpacing(minVal, maxVal, size)
        dif = abs(maxVal - minVal)
        if not levels or dif == 0 or size <= 0 or self.orientation not in ("bottom", "top"):
            return levels
        major = levels[0][0]
        metrics = QFontMetrics(self.style["tickFont"] or self.font())
        while True:  # widen the major step (1, 2, 5, 10...) until the widest label fits
            widest = max(metrics.horizontalAdvance(t) for t in self.tickStrings(
                [minVal, maxVal, (minVal + maxVal) / 2], 1.0, major))
            if size * major / dif >= widest + self._GAP_PX or major >= dif:
                break
            major = _next_step(major)
        if major == levels[0][0]:
            return levels
        return [(major, 0), (major / 5 if _mantissa(major) in (1, 5) else major / 4, 0)]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``value`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= value * (1 - 1e-12):
            return m * power
    return 10 * power


def _mantissa(step: float) -> int:
    return round(step / 10 ** math.floor(math.log10(step)))


def _next_step(step: float) -> float:
    exp = 10 ** math.floor(math.log10(step))
    m = _mantissa(step)
    return (2 if m < 2 else 5 if m < 5 else 10) * exp


def _cache_axes(plot: pg.PlotWidget) -> None:
    """Draw each axis from a pixmap kept until the axis itself changes. With a grid an axis
    spans the plot, so every new bar or curve would repaint it by replaying its QPicture, which
    lays out each tick label again: the charts' costliest paint (docs/benchmarks.md)."""
    for name in ("left", "bottom"):
        plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def _style_plot(plot: pg.PlotWidget, palette: QPalette) -> None:
    plot.setBackground(palette.color(QPalette.ColorRole.Base))
    fg = palette.color(QPalette.ColorRole.Text)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(fg))
        axis.setTextPen(pg.mkPen(fg))


class TotalsChart(QWidget):
    """Top-N clients of one currency as horizontal bars, names on the left axis; the money axis
    groups digits, hover shows exact values, and the clients of other currencies are named."""

    changed = Signal()
    barClicked = Signal(str, object)  # client, currency (None: none): drill down into it

    def __init__(self, parent=None):
        super().__init__(parent)
        self.metric_box = QComboBox(self)
        self.metric_box.setObjectName("chartMetric")
        self.metric_box.addItems(METRICS)
        self.currency = QComboBox(self)
        self.currency.setObjectName("chartCurrency")
        self.currency.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.top_n = QSpinBox(self)
        self.top_n.setRange(1, MAX_TOP_N)
        self.top_n.setValue(15)
        self.top_n.setPrefix("top ")
        self.top_n.setToolTip("How many clients the chart ranks; the rest are counted in the line "
                              "above the chart and listed in the Clients table")
        self.hover_label = QLabel(" ", self)
        self.hover_label.setObjectName("chartHover")
        self.hover_label.setTextFormat(Qt.TextFormat.PlainText)
        self.hover_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.scope_label = QLabel(self)  # which clients the bars show, and which they leave out
        self.scope_label.setObjectName("chartScope")
        self.scope_label.setTextFormat(Qt.TextFormat.PlainText)
        self.scope_label.setWordWrap(True)
        self.metric_box.setToolTip("What the bars show")
        self.currency.setToolTip("One currency at a time: totals in different currencies do not add up")
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Per\u2011client totals", self)  # a hyphen that does not break
        title.setStyleSheet("font-weight: 600;")
        title.setWordWrap(True)  # two lines in a narrow window rather than a wider minimum
        controls.addWidget(title, 1)
        controls.addWidget(self.metric_box)
        controls.addWidget(self.currency)
        controls.addWidget(self.top_n)

        self.plot = pg.PlotWidget(self, axisItems={"bottom": GroupedAxis("bottom")})
        self.plot.setObjectName("totalsPlot")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, alpha=0.25)
        self.plot.setMinimumHeight(90)
        _cache_axes(self.plot)
        vb = self.plot.getPlotItem().vb
        vb.invertY(True)  # rank 1 at the top
        self.bars = pg.BarGraphItem(x0=np.zeros(0), y=np.zeros(0), width=np.zeros(0), height=0.7)
        self.plot.addItem(self.bars)
        self.hover_text = pg.TextItem(anchor=(0, 0))
        self.hover_text.setZValue(10)
        self.hover_text.hide()
        self.plot.addItem(self.hover_text, ignoreBounds=True)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.empty_text = pg.TextItem("No events yet: send some from the editor", anchor=(0.5, 0.5))
        self.plot.addItem(self.empty_text, ignoreBounds=True)
        self.empty_text.setPos(0.5, 0)
        # more bars than fit legibly scroll, with the money axis staying in view
        self.row_scroll = QScrollBar(Qt.Orientation.Vertical, self)
        self.row_scroll.setObjectName("chartScroll")
        self.row_scroll.setRange(0, 0)
        self.row_scroll.hide()
        self.row_scroll.valueChanged.connect(self._apply_rows)
        self.plot.viewport().installEventFilter(self)
        vb.sigResized.connect(self._apply_rows)

        plot_row = QHBoxLayout()
        plot_row.setContentsMargins(0, 0, 0, 0)
        plot_row.setSpacing(0)
        plot_row.addWidget(self.plot, 1)
        plot_row.addWidget(self.row_scroll)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.scope_label)
        layout.addLayout(plot_row, 1)
        layout.addWidget(self.hover_label)

        self.stats: list[ClientTotal] = []
        self._clients_per_currency: dict[str, int] = {}  # rows per currency ("" for none)
        self._rows_cache: tuple[str, list[ClientTotal]] | None = None  # _rows_of's last answer
        self._prep: ChartPrep | None = None  # what the reader lane prepared for self.stats
        self.shown: list[Bar] = []  # what the bars show, in order
        self._axis_labels: tuple | None = None  # the left axis' labels as last set, and their font
        self.ranked_count = 0  # clients of the selected currency, shown or not
        self._dark = False
        self.metric_box.currentIndexChanged.connect(self._redraw)
        self.currency.currentIndexChanged.connect(self._redraw)
        self.top_n.valueChanged.connect(self._redraw)
        self.apply_palette(self.palette())

    def apply_palette(self, palette: QPalette) -> None:
        self._dark = is_dark(palette)
        _style_plot(self.plot, palette)
        self.hover_text.fill = pg.mkBrush(palette.color(QPalette.ColorRole.ToolTipBase))
        self.hover_text.border = pg.mkPen(palette.color(QPalette.ColorRole.Mid))
        self.hover_text.setColor(palette.color(QPalette.ColorRole.ToolTipText))
        self.empty_text.setColor(palette.color(QPalette.ColorRole.PlaceholderText))
        self._redraw()

    def prepare_state(self) -> tuple[str | None, str, int]:
        """On the GUI thread, when a read of the totals is asked for: what ``prepare`` needs."""
        cur = self.currency.currentData() if self.currency.count() else None
        return cur, self.metric_box.currentText(), self.top_n.value()

    @staticmethod
    def prepare(rows: list[ClientTotal], state: tuple[str | None, str, int]) -> ChartPrep:
        """On the reader lane (no widget touched): the rows per currency, the shown
        currency's rows and its bars, as ``set_stats`` and ``_redraw`` would work them out."""
        cur, metric, n = state
        mine = rows_in(rows, cur) if cur is not None else None
        return ChartPrep(state, rows_per_currency(rows), mine,
                         top_bars(mine, metric, n) if mine is not None else None)

    @Slot(object)
    def set_stats(self, stats: list[ClientTotal]) -> None:
        self.stats = stats
        # what the reader lane prepared (a Totals from the bridge), else worked out here: rows
        # per currency counted in C, only the shown currency's rows picked out (_rows_of)
        prep = getattr(stats, "prepared", {}).get("chart")
        self._prep = prep if isinstance(prep, ChartPrep) else None
        if self._prep is not None:
            self._clients_per_currency = self._prep.per_currency
            self._rows_cache = ((self._prep.state[0], self._prep.rows)
                                if self._prep.rows is not None else None)
        else:
            self._clients_per_currency = rows_per_currency(stats)
            self._rows_cache = None
        self._sync_currencies()
        self._redraw()

    def _rows_of(self, currency: str) -> list[ClientTotal]:
        """The rows of ``currency`` ("" for none), in the snapshot's order."""
        cached = self._rows_cache
        if cached is None or cached[0] != currency:
            cached = self._rows_cache = (currency, rows_in(self.stats, currency))
        return cached[1]

    def _sync_currencies(self) -> None:
        wanted = sorted(self._clients_per_currency, key=lambda c: (c == "", c))
        have = [self.currency.itemData(i) for i in range(self.currency.count())]
        if wanted == have:
            return
        current = self.currency.currentData() if self.currency.count() else None
        if current not in self._clients_per_currency:  # the currency with the most events
            counts = {c: sum(map(_count_of, self._rows_of(c))) for c in wanted}
            current = max(counts, key=lambda c: (counts[c], c != "")) if counts else None
        self.currency.blockSignals(True)
        self.currency.clear()
        for c in wanted:
            self.currency.addItem(c or NO_CURRENCY, c)
        if current is not None:
            self.currency.setCurrentIndex(wanted.index(current))
        self.currency.blockSignals(False)

    def other_currencies(self) -> list[tuple[str, int]]:
        """(currency, clients) of every currency the bars do not show, most clients first."""
        cur = self.currency.currentData() if self.currency.count() else None
        clients = {key: n for key, n in self._clients_per_currency.items() if key != cur}
        return sorted(clients.items(), key=lambda kv: (-kv[1], kv[0] == "", kv[0]))

    def _scope_text(self, cur: str | None) -> str:
        if cur is None:
            return ""
        n, total = len(self.shown), self.ranked_count
        where = f"in {cur}" if cur else "with no currency"
        noun = "client" if total == 1 else "clients"
        text = (f"All {total:,} {noun} {where}" if n == total
                else f"Showing top {n:,} of {total:,} {noun} {where}")
        others = self.other_currencies()
        if others:
            parts = [f"{k:,} in {c}" if c else f"{k:,} with no currency" for c, k in others]
            # the first names its noun: "also: 3 clients in EUR, 1 in GBP"
            parts[0] = parts[0].replace(" ", " client " if others[0][1] == 1 else " clients ", 1)
            text += " · also: " + ", ".join(parts)
        return text

    @Slot()
    def _redraw(self, *args) -> None:
        metric = self.metric_box.currentText()
        cur = self.currency.currentData() if self.currency.count() else None
        rows = self._rows_of(cur) if cur is not None else []
        self.ranked_count = len(rows)
        prep, n_top = self._prep, self.top_n.value()
        if prep is not None and prep.ranked is not None and prep.rows is rows \
                and prep.state == (cur, metric, n_top):
            ranked = prep.ranked  # ranked on the reader lane, for this very state
        else:
            ranked = top_bars(rows, metric, n_top)
        self.shown = ranked
        n = len(ranked)
        values = np.array([float(v) for _, v in ranked], dtype=float)
        color = outcome_color(Outcome.ACCEPTED, self._dark)
        self.bars.setOpts(x0=np.zeros(n), y=np.arange(n, dtype=float), width=values, height=0.7,
                          brush=pg.mkBrush(color), pen=pg.mkPen(color.darker(130)))
        low = min(0.0, float(values.min())) if n else 0.0
        high = max(0.0, float(values.max())) if n else 1.0
        if high == low:
            high = low + 1.0
        self.plot.setXRange(low, high + (high - low) * 0.04, padding=0)
        unit = f" ({cur})" if cur else f" {NO_CURRENCY}" if cur == "" else ""
        self.plot.getAxis("bottom").setLabel(metric.lower() + (unit if metric != "Count" else ""))
        self.scope_label.setText(self._scope_text(cur))
        self.scope_label.setToolTip(plain_tooltip(self.scope_label.text()))
        self.hover_text.hide()
        self.empty_text.setVisible(n == 0)
        self._apply_rows()
        self.changed.emit()

    def row_height_px(self) -> int:
        return self.plot.fontMetrics().height() + 3

    def visible_rows(self) -> int:
        """How many bars fit the plot's height at a legible row height."""
        height = self.plot.getPlotItem().vb.height()
        return max(1, int(height // self.row_height_px()))

    @Slot()
    def _apply_rows(self, *args) -> None:
        """Fit the rows to the plot's height (scrolling the rest) and elide names to its width."""
        n = len(self.shown)
        fit = self.visible_rows()
        hidden = max(0, n - fit)
        self.row_scroll.blockSignals(True)
        self.row_scroll.setRange(0, hidden)
        self.row_scroll.setPageStep(fit)
        self.row_scroll.blockSignals(False)
        self.row_scroll.setVisible(hidden > 0)
        first = self.row_scroll.value()
        # a few bars stay bars: no row is drawn taller than _TALLEST_ROW text rows
        rows = fit if n >= fit else max(n, min(fit, math.ceil(fit / _TALLEST_ROW)))
        self.plot.setYRange(first - 0.5, first + rows - 0.5, padding=0)
        x_low, x_high = self.plot.getPlotItem().vb.viewRange()[0]
        self.empty_text.setPos((x_low + x_high) / 2, first + rows / 2 - 0.5)
        axis = self.plot.getAxis("left")
        metrics = QFontMetrics(axis.style["tickFont"] or axis.font())
        labels = [axis_label(r.client, metrics, self.label_room_px()) for r, _ in self.shown]
        # the same names (most refreshes during an ingest) keep the axis' drawn picture: its
        # repaint replays every label and costs the GUI thread more than the bars themselves
        key = (labels, metrics.height(), metrics.averageCharWidth())
        if key != self._axis_labels:
            self._axis_labels = key
            widest = max((metrics.horizontalAdvance(t) for t in labels), default=0)
            axis.setWidth(max(30, widest + 14))
            axis.setTicks([[(float(i), t) for i, t in enumerate(labels)], []])

    def label_room_px(self) -> int:
        """The widest a client's name may be drawn on the left axis."""
        return int(min(_LABEL_MAX_PX, max(60, self.plot.width() * _LABEL_SHARE)))

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Wheel and self.row_scroll.isVisible():
            QApplication.sendEvent(self.row_scroll, event)  # the wheel scrolls the bars
            return True
        return super().eventFilter(watched, event)

    def bar_values(self) -> list[tuple[str, Decimal]]:
        return [(r.client, v) for r, v in self.shown]

    def describe(self, i: int) -> str:
        r = self.shown[i].row
        avg = r.total / r.count if r.count else Decimal(0)
        return (f"{r.client} — {r.currency or NO_CURRENCY}: total {format_money(r.total)}, "
                f"count {r.count:,}, average {format_metric(avg, 'Average')}")

    def hover_lines(self, i: int) -> str:
        r = self.shown[i].row
        avg = r.total / r.count if r.count else Decimal(0)
        return (f"{r.client}\n{r.currency or NO_CURRENCY} total {format_money(r.total)}\n"
                f"count {r.count:,} · average {format_metric(avg, 'Average')}")

    def show_hover(self, i: int) -> None:
        """The exact figures of bar ``i`` beside its end, kept inside the plot."""
        v = self.shown[i].value
        text = self.describe(i)
        self.hover_text.setText(self.hover_lines(i))
        self.hover_label.setText(text)
        vb = self.plot.getPlotItem().vb
        area = vb.sceneBoundingRect()
        size = self.hover_text.textItem.boundingRect().size()  # in pixels, whatever the view's scale
        end = vb.mapViewToScene(QPointF(float(v), float(i)))
        zero = vb.mapViewToScene(QPointF(0.0, float(i)))
        gap = 6.0
        left = end.x() + gap if end.x() >= zero.x() else end.x() - gap - size.width()
        if left + size.width() > area.right():
            left = end.x() - gap - size.width()
        left = max(area.left(), min(left, area.right() - size.width()))
        top = max(area.top(), min(end.y() - size.height() / 2, area.bottom() - size.height()))
        self.hover_text.setPos(vb.mapSceneToView(QPointF(left, top)))
        self.hover_text.show()

    def bar_at(self, pos) -> int:
        """The index of the bar's row under scene position ``pos`` (-1: none)."""
        item = self.plot.getPlotItem()
        if not self.shown or not item.sceneBoundingRect().contains(pos):
            return -1
        p = item.vb.mapSceneToView(pos)
        i = int(round(p.y()))
        return i if 0 <= i < len(self.shown) and abs(p.y() - i) <= 0.45 else -1

    def _on_mouse_moved(self, pos) -> None:
        i = self.bar_at(pos)
        if i >= 0:
            self.show_hover(i)
        else:
            self.hover_text.hide()

    def _on_mouse_clicked(self, event) -> None:
        i = self.bar_at(event.scenePos())
        if i >= 0 and event.button() == Qt.MouseButton.LeftButton:
            row = self.shown[i].row
            self.barClicked.emit(row.client, row.currency)


class RateChart(QWidget):
    """Events per second by outcome over the last minutes, from the engine's counters."""

    BIN_S = 0.5
    WINDOW_S = 300

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(self, axisItems={"left": GroupedAxis("left")})
        self.plot.setObjectName("ratePlot")
        self.plot.setMinimumHeight(80)
        _cache_axes(self.plot)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("left", "events/s")
        self.plot.setXRange(-self.WINDOW_S, 0, padding=0)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._keys = {"accepted": Outcome.ACCEPTED, "duplicates": Outcome.DUPLICATE,
                      "rejected": Outcome.REJECTED, "failed": Outcome.FAILED,
                      "retries": Outcome.RETRYING}
        for key, outcome in self._keys.items():
            curve = self.plot.plot([], [])
            curve.setClipToView(True)
            curve.setDownsampling(auto=True)
            self.curves[key] = curve
        nbins = int(self.WINDOW_S / self.BIN_S)
        self.bins: dict[str, deque[float]] = {k: deque([0.0] * nbins, maxlen=nbins)
                                              for k in self._keys}
        self._x = (np.arange(nbins, dtype=float) - (nbins - 1)) * self.BIN_S
        self._last: dict[str, int] | None = None
        self._bin_start: float | None = None
        self._acc = {k: 0 for k in self._keys}
        self.y_top: float | None = None  # the top of the events/s scale
        self._drawn_quiet = False  # the curves drawn last were all zero
        # With ``redraw_delay`` (the window sets it: ms to wait) a closed bin is drawn a moment
        # later, between two of the bridge's ticks: the GUI thread then paints the log and this
        # chart in two short pauses instead of one long one
        self.redraw_delay: Callable[[], int] | None = None
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setObjectName("rate-chart-redraw")
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.timeout.connect(self._redraw)
        title = QLabel("Events per second, last 5 minutes (x: seconds ago)", self)
        title.setStyleSheet("font-weight: 600;")
        title.setWordWrap(True)
        # the legend sits under the title, so it never covers the curves in a short plot
        self.legend_label = QLabel(self)
        self.legend_label.setObjectName("rateLegend")
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)  # fixed outcome names only
        self.legend_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(title)
        layout.addWidget(self.legend_label)
        layout.addWidget(self.plot, 1)
        self.apply_palette(self.palette())

    def apply_palette(self, palette: QPalette) -> None:
        dark = is_dark(palette)
        _style_plot(self.plot, palette)
        for key, outcome in self._keys.items():
            # one-pixel (cosmetic) lines, which Qt strokes on its fast path: two-pixel smoothed
            # lines over five minutes of uneven rates cost each repaint ten times as much
            self.curves[key].setPen(pg.mkPen(outcome_color(outcome, dark), width=1))
        self.legend_label.setText(" ".join(
            f"<span style='color:{outcome_color(o, dark).name()}'>━&nbsp;{o.value}</span>"
            for o in self._keys.values()))

    @Slot(object)
    def add_counters(self, counters) -> None:
        now = counters.at
        values = {k: getattr(counters, k) for k in self._keys}
        if self._last is None:
            self._last, self._bin_start = values, now
            return
        for k, v in values.items():
            self._acc[k] += max(0, v - self._last[k])  # a reset moves the baseline back
        self._last = values
        if now - self._bin_start < self.BIN_S:
            return
        # close one bin (and add empty ones for a pause longer than a bin)
        elapsed = now - self._bin_start
        steps = min(int(elapsed / self.BIN_S), len(self._x))
        for k in self._keys:
            self.bins[k].append(self._acc[k] / elapsed)
            for _ in range(steps - 1):
                self.bins[k].append(0.0)
            self._acc[k] = 0
        self._bin_start = now
        if self.redraw_delay is not None:
            if not self._redraw_timer.isActive():
                self._redraw_timer.start(self.redraw_delay())
        else:
            self._redraw()

    def stop_redraws(self) -> None:
        self._redraw_timer.stop()

    @Slot()
    def _redraw(self) -> None:
        ys = {k: np.fromiter(self.bins[k], dtype=float, count=len(self._x)) for k in self.curves}
        # five minutes without an event: flat lines at zero, as already drawn; an idle window
        # then repaints nothing here
        quiet = not any(y.any() for y in ys.values())
        if quiet and self._drawn_quiet:
            return
        self._drawn_quiet = quiet
        top = 1.0
        for k, curve in self.curves.items():
            curve.setData(self._x, ys[k])
            top = max(top, float(ys[k].max()))
        # The scale moves in round steps, and only when the curves outgrow it or shrink well
        # below it: a new range re-renders both axes (the grid spans the plot), the GUI
        # thread's longest task in this chart, and a steady scale is easier to read.
        want = top * 1.15
        if self.y_top is None or want > self.y_top or want < self.y_top * 0.4:
            self.y_top = nice_ceiling(want)
            self.plot.setYRange(0, self.y_top, padding=0)
