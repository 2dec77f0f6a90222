"""pyqtgraph charts: per-client totals (bars) and events per second by outcome (lines).

Plot items are created once and updated with setOpts/setData from the bridge's tick (at most
about ten times a second); they are never cleared and re-added.
"""
from __future__ import annotations

from collections import deque
from decimal import Decimal

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from ..core.model import Outcome
from ..core.store import ClientTotal
from .theme import is_dark, outcome_color

NO_CURRENCY = "(no currency)"
METRICS = ("Total", "Count", "Average")
_LABEL_CHARS = 14


def _short(name: str) -> str:
    name = "".join(ch if ch.isprintable() else "?" for ch in name)
    return name if len(name) <= _LABEL_CHARS else name[:_LABEL_CHARS - 1] + "…"


def metric_value(row: ClientTotal, metric: str) -> Decimal:
    if metric == "Count":
        return Decimal(row.count)
    if metric == "Average":
        return row.total / row.count if row.count else Decimal(0)
    return row.total


def format_metric(value: Decimal, metric: str) -> str:
    if metric == "Count":
        return f"{int(value):,}"
    if metric == "Average":
        return f"{value.quantize(Decimal('0.0001')).normalize():f}" if value else "0"
    return f"{value:f}"


def _style_plot(plot: pg.PlotWidget, palette: QPalette) -> None:
    plot.setBackground(palette.color(QPalette.ColorRole.Base))
    fg = palette.color(QPalette.ColorRole.Text)
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(fg))
        axis.setTextPen(pg.mkPen(fg))


class TotalsChart(QWidget):
    """Top-N clients of one currency, as total, count or average; hover shows exact values."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.metric_box = QComboBox(self)
        self.metric_box.setObjectName("chartMetric")
        self.metric_box.addItems(METRICS)
        self.currency = QComboBox(self)
        self.currency.setObjectName("chartCurrency")
        self.currency.setMinimumContentsLength(6)
        self.top_n = QSpinBox(self)
        self.top_n.setRange(1, 100)
        self.top_n.setValue(15)
        self.top_n.setPrefix("top ")
        self.hover_label = QLabel(" ", self)
        self.hover_label.setObjectName("chartHover")
        self.hover_label.setTextFormat(Qt.TextFormat.PlainText)
        self.metric_box.setToolTip("What the bars show")
        self.currency.setToolTip("One currency at a time: totals in different currencies do not add up")
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        title = QLabel("Per-client totals", self)
        title.setStyleSheet("font-weight: 600;")
        controls.addWidget(title, 1)
        controls.addWidget(self.metric_box)
        controls.addWidget(self.currency)
        controls.addWidget(self.top_n)

        self.plot = pg.PlotWidget(self)
        self.plot.setObjectName("totalsPlot")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(y=True, alpha=0.25)
        self.bars = pg.BarGraphItem(x=np.zeros(0), height=np.zeros(0), width=0.7)
        self.plot.addItem(self.bars)
        self.hover_text = pg.TextItem(anchor=(0.5, 1.0))
        self.hover_text.setZValue(10)
        self.hover_text.hide()
        self.plot.addItem(self.hover_text, ignoreBounds=True)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.empty_text = pg.TextItem("No events yet: send some from the editor", anchor=(0.5, 0.5))
        self.plot.addItem(self.empty_text, ignoreBounds=True)
        self.empty_text.setPos(0, 0.5)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.hover_label)

        self.stats: list[ClientTotal] = []
        self.shown: list[tuple[ClientTotal, Decimal]] = []  # what the bars show, in order
        self._dark = False
        self.metric_box.currentIndexChanged.connect(self._redraw)
        self.currency.currentIndexChanged.connect(self._redraw)
        self.top_n.valueChanged.connect(self._redraw)
        self.apply_palette(self.palette())

    def apply_palette(self, palette: QPalette) -> None:
        self._dark = is_dark(palette)
        _style_plot(self.plot, palette)
        self.hover_text.setColor(palette.color(QPalette.ColorRole.Text))
        self.empty_text.setColor(palette.color(QPalette.ColorRole.PlaceholderText))
        self._redraw()

    @Slot(list)
    def set_stats(self, stats: list[ClientTotal]) -> None:
        self.stats = stats
        self._sync_currencies()
        self._redraw()

    def selected_currency(self) -> str | None:
        data = self.currency.currentData()
        return None if data in (None, "") else data

    def _sync_currencies(self) -> None:
        counts: dict[str, int] = {}
        for r in self.stats:
            key = r.currency or ""
            counts[key] = counts.get(key, 0) + r.count
        wanted = sorted(counts, key=lambda c: (c == "", c))
        have = [self.currency.itemData(i) for i in range(self.currency.count())]
        if wanted == have:
            return
        current = self.currency.currentData() if self.currency.count() else None
        if current not in counts:
            current = max(counts, key=lambda c: (counts[c], c != "")) if counts else None
        self.currency.blockSignals(True)
        self.currency.clear()
        for c in wanted:
            self.currency.addItem(c or NO_CURRENCY, c)
        if current is not None:
            self.currency.setCurrentIndex(wanted.index(current))
        self.currency.blockSignals(False)

    @Slot()
    def _redraw(self, *args) -> None:
        metric = self.metric_box.currentText()
        cur = self.currency.currentData() if self.currency.count() else None
        rows = [r for r in self.stats if (r.currency or "") == cur] if cur is not None else []
        ranked = sorted(((r, metric_value(r, metric)) for r in rows),
                        key=lambda rv: (-rv[1], rv[0].client.casefold()))[:self.top_n.value()]
        self.shown = ranked
        n = len(ranked)
        x = np.arange(n, dtype=float)
        heights = np.array([float(v) for _, v in ranked], dtype=float)
        color = outcome_color(Outcome.ACCEPTED, self._dark)
        self.bars.setOpts(x=x, height=heights, width=0.7, brush=pg.mkBrush(color),
                          pen=pg.mkPen(color.darker(130)))
        axis = self.plot.getAxis("bottom")
        axis.setTicks([[(float(i), _short(r.client)) for i, (r, _) in enumerate(ranked)], []])
        self.plot.setXRange(-0.6, max(n, 1) - 0.4, padding=0)
        top = float(heights.max()) if n else 1.0
        bottom = min(0.0, float(heights.min())) if n else 0.0
        self.plot.setYRange(bottom, top * 1.1 if top > 0 else 1.0, padding=0)
        self.plot.getAxis("left").setLabel(
            f"{metric.lower()}" + (f" ({cur or NO_CURRENCY})" if cur is not None and metric != "Count" else ""))
        self.hover_text.hide()
        self.empty_text.setVisible(n == 0)
        self.changed.emit()

    def bar_values(self) -> list[tuple[str, Decimal]]:
        return [(r.client, v) for r, v in self.shown]

    def describe(self, i: int) -> str:
        r, _ = self.shown[i]
        avg = r.total / r.count if r.count else Decimal(0)
        return (f"{r.client} — {r.currency or NO_CURRENCY}: total {r.total:f}, "
                f"count {r.count:,}, average {format_metric(avg, 'Average')}")

    def _on_mouse_moved(self, pos) -> None:
        vb = self.plot.getPlotItem().vb
        if not self.shown or not self.plot.sceneBoundingRect().contains(pos):
            self.hover_text.hide()
            return
        p = vb.mapSceneToView(pos)
        i = int(round(p.x()))
        if 0 <= i < len(self.shown) and abs(p.x() - i) <= 0.35:
            _, v = self.shown[i]
            text = self.describe(i)
            self.hover_text.setText(text.replace(" — ", "\n", 1))
            self.hover_text.setPos(i, float(v))
            self.hover_text.show()
            self.hover_label.setText(text)
        else:
            self.hover_text.hide()


class RateChart(QWidget):
    """Events per second by outcome over the last minutes, from the engine's counters."""

    BIN_S = 0.5
    WINDOW_S = 300

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(self)
        self.plot.setObjectName("ratePlot")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "seconds ago")
        self.plot.setLabel("left", "events/s")
        self.plot.setXRange(-self.WINDOW_S, 0, padding=0)
        self.legend = self.plot.addLegend(offset=(10, 5), colCount=5)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._keys = {"accepted": Outcome.ACCEPTED, "duplicates": Outcome.DUPLICATE,
                      "rejected": Outcome.REJECTED, "failed": Outcome.FAILED,
                      "retries": Outcome.RETRYING}
        for key, outcome in self._keys.items():
            curve = self.plot.plot([], [], name=outcome.value)
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
        title = QLabel("Events per second by outcome", self)
        title.setStyleSheet("font-weight: 600;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(title)
        layout.addWidget(self.plot, 1)
        self.apply_palette(self.palette())

    def apply_palette(self, palette: QPalette) -> None:
        dark = is_dark(palette)
        _style_plot(self.plot, palette)
        for key, outcome in self._keys.items():
            self.curves[key].setPen(pg.mkPen(outcome_color(outcome, dark), width=2))
        self.legend.setLabelTextColor(palette.color(QPalette.ColorRole.Text))

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
        self._redraw()

    def _redraw(self) -> None:
        top = 1.0
        for k, curve in self.curves.items():
            y = np.fromiter(self.bins[k], dtype=float, count=len(self._x))
            curve.setData(self._x, y)
            top = max(top, float(y.max()))
        self.plot.setYRange(0, top * 1.15, padding=0)

    def recent_rate(self, key: str, seconds: float = 5.0) -> float:
        n = max(1, int(seconds / self.BIN_S))
        values = list(self.bins[key])[-n:]
        return max(values) if values else 0.0
