"""A client's history: cumulative total (or count) over event time, one line per client and
currency, updated live while events arrive.

Series are read off the GUI thread (a lane of the chart's own) and turned into numpy arrays in
bulk there: the running sums are exact Decimals (the hover shows them), converted to float only
for drawing. While events arrive, only the events after the last one drawn are read and
appended; a reload happens when the appended events would not continue a line (an event older
than the line's end) or the counts disagree with the totals (an undo, a reset). Curves are
created once per series and fed with setData; long ones are downsampled (peak) and clipped to
the view, so a million events draw as fast as a few thousand."""
from __future__ import annotations

import html
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from itertools import accumulate
from typing import NamedTuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QComboBox, QDialog, QHBoxLayout, QLabel, QSizePolicy,
                               QVBoxLayout, QWidget)

from ..core.client_events import HistorySeries
from ..core.model import ClientTotal
from .charts import NO_CURRENCY, GroupedAxis, _style_plot, format_money
from .bridge import ReadLane
from .theme import is_dark

METRICS = ("Cumulative total", "Cumulative count")
EVERY_CURRENCY = "*"  # the currency box's data for "all currencies" (None is a currency: none)
# a client keeps its colour; its currencies differ by line style (and legend glyph)
# ten hues that stay apart on light and dark backgrounds (Tableau 10)
_COLORS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")
_DASHES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine,
           Qt.PenStyle.DashDotLine)
_GLYPHS = ("━━", "╍╍", "┅┅", "━┅")
# Past ten clients, or four currencies of one client, hue and dash repeat: each further cycle
# draws in another shade of the hue (deeper on a light background, paler on a dark one), a
# thicker pen, or both. Four cycles in all keep every line apart: up to 40 clients in up to
# four currencies, 20 in up to eight, or ten in up to 16.
_CYCLES = ((False, 2), (True, 2), (False, 4), (True, 4))  # (shaded, pen width)
BUILD_SLICE = 32_768
# running totals stay exact: any rounding raises instead of passing silently
_EXACT = Context(prec=1000, traps=[Inexact, InvalidOperation, Overflow])


def series_name(client: str, currency: str | None) -> str:
    return f"{client} ({currency or NO_CURRENCY})"


class Line(NamedTuple):
    """One series ready to draw (built on the reader lane): x in epoch seconds, the exact
    running totals, and their floats."""

    client: str
    currency: str | None
    last_id: int
    x: np.ndarray
    exact: list[Decimal]
    y: np.ndarray


def _seconds(times: list[str]) -> np.ndarray:
    # ISO text (no zone letter: numpy reads it as UTC) parsed in one call
    return np.array(times, dtype="datetime64[us]").astype(np.int64) / 1e6


def build_lines(series: list[HistorySeries], start: dict[tuple, Decimal] | None = None
                ) -> list[Line]:
    """Series -> lines; ``start`` holds the running total each series continues from. Runs on
    a reader thread in slices of BUILD_SLICE points: each bulk call holds the GIL while it
    runs, and the GUI thread needs it between slices to paint."""
    out = []
    add = _EXACT.add
    for s in series:
        total = (start or {}).get((s.client.casefold(), s.currency), Decimal(0))
        exact: list[Decimal] = []
        xs, ys = [], []
        for i in range(0, len(s.amounts), BUILD_SLICE):
            part = list(accumulate(s.amounts[i:i + BUILD_SLICE], add, initial=total))[1:]
            total = part[-1]
            exact += part
            xs.append(_seconds(s.times[i:i + BUILD_SLICE]))
            ys.append(np.array(part, dtype=np.float64))  # for drawing only
        out.append(Line(s.client, s.currency, max(s.ids), np.concatenate(xs), exact,
                        np.concatenate(ys)))
    return out


class _Drawn:
    """A series on the chart: its curve and the arrays it draws (grown, never rebuilt)."""

    def __init__(self, curve: pg.PlotDataItem, line: Line):
        self.curve = curve
        self.client, self.currency = line.client, line.currency
        self.x, self.y = line.x, line.y
        self.exact = line.exact

    @property
    def count(self) -> int:
        return len(self.exact)

    def extend(self, line: Line) -> None:
        self.x = np.concatenate((self.x, line.x))
        self.y = np.concatenate((self.y, line.y))
        self.exact.extend(line.exact)


class HistoryChart(QWidget):
    """The chart and its metric box; ``set_clients`` chooses what it shows, ``on_stats``
    keeps it live."""

    updated = Signal()  # after lines were drawn or extended

    def __init__(self, parent=None):
        super().__init__(parent)
        self.metric_box = QComboBox(self)
        self.metric_box.setObjectName("historyMetric")
        self.metric_box.addItems(METRICS)
        self.metric_box.currentIndexChanged.connect(self._redraw_all)
        self.currency_box = QComboBox(self)
        self.currency_box.setObjectName("historyCurrency")
        self.currency_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.currency_box.setToolTip("Totals in different currencies do not add up: one "
                                     "currency at a time, or every currency's own lines")
        self.currency_box.addItem("All currencies", EVERY_CURRENCY)
        self.currency_box.activated.connect(self._on_currency_chosen)
        self._currency_chosen = False  # the user picked one: keep it across reloads
        self.title = QLabel(self)
        self.title.setObjectName("historyTitle")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setStyleSheet("font-weight: 600;")
        self.title.setWordWrap(True)
        self.legend = QLabel(self)
        self.legend.setObjectName("historyLegend")
        self.legend.setTextFormat(Qt.TextFormat.RichText)  # names escaped (html.escape)
        self.legend.setWordWrap(True)
        self.hover_label = QLabel("Point at a line for its exact running total", self)
        self.hover_label.setObjectName("historyHover")
        self.hover_label.setTextFormat(Qt.TextFormat.PlainText)
        self.hover_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.hover_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plot = pg.PlotWidget(self, axisItems={"bottom": pg.DateAxisItem("bottom", utcOffset=0),
                                                   "left": GroupedAxis("left")})
        self.plot.setObjectName("historyPlot")
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.getAxis("bottom").setLabel("event time (UTC)")
        # every curve added to the plot takes these (the plot item sets them on addItem)
        self.plot.getPlotItem().setDownsampling(auto=True, mode="peak")
        self.plot.getPlotItem().setClipToView(True)
        self.marker = pg.ScatterPlotItem(size=9)
        self.marker.setZValue(10)
        self.plot.addItem(self.marker, ignoreBounds=True)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.empty_text = pg.TextItem("Select clients in the Clients table (Ctrl+click "
                                      "for several)", anchor=(0.5, 0.5))
        self.plot.addItem(self.empty_text, ignoreBounds=True)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title, 1)
        top.addWidget(self.currency_box)
        top.addWidget(self.metric_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.hover_label)

        self.clients: list[str] = []
        self.lines: dict[tuple[str, str | None], _Drawn] = {}  # (client key, currency)
        self.last_id = 0  # the newest event drawn
        self._reader: ReadLane | None = None
        self._generation = 0  # a read made for other clients is dropped
        self._busy = False
        self._want: str | None = None  # "reload" or "append", waiting for the read under way
        self._expected: dict[tuple[str, str | None], int] = {}  # counts in the latest totals
        self._dark = False
        self.apply_palette(self.palette())
        self._redraw_all()

    def bind(self, bridge) -> None:
        """Read the bridge's service from now on, on a lane of the chart's own: a million
        events take seconds to read, and the window's totals must not wait for them."""
        if self._reader is None:
            self._reader = ReadLane(bridge, "history", self)
        bridge.serviceChanged.connect(lambda _s: self._request("reload"))

    def shutdown(self) -> None:
        """Stop the chart's reader thread (waits for a read under way). Idempotent."""
        if self._reader is not None:
            self._reader.stop()

    def threads(self) -> list:
        return self._reader.threads() if self._reader is not None else []

    def apply_palette(self, palette: QPalette) -> None:
        self._dark = is_dark(palette)
        _style_plot(self.plot, palette)
        self.empty_text.setColor(palette.color(QPalette.ColorRole.PlaceholderText))
        for drawn in self.lines.values():
            drawn.curve.setPen(self._pen(drawn))
        self._show_legend()

    def _look(self, drawn: "_Drawn") -> tuple[QColor, int, int]:
        """The line's colour, its index in ``_DASHES`` and its pen width: the client's hue,
        the currency's dash, and ``_CYCLES`` for the repeats of either."""
        keys = [c.casefold() for c in self.clients]
        key = drawn.client.casefold()
        i = keys.index(key) if key in keys else len(keys)
        currencies = self.currencies()
        j = currencies.index(drawn.currency) if drawn.currency in currencies else 0
        dash_cycles = -(-max(len(currencies), 1) // len(_DASHES))
        shaded, width = _CYCLES[((i // len(_COLORS)) * dash_cycles + j // len(_DASHES))
                                % len(_CYCLES)]
        color = QColor(_COLORS[i % len(_COLORS)])
        if self._dark:
            color = color.lighter(160 if shaded else 125)
        elif shaded:
            color = color.darker(170)
        return color, j % len(_DASHES), width

    def _color(self, drawn: "_Drawn") -> QColor:
        return self._look(drawn)[0]

    def _pen(self, drawn: "_Drawn") -> pg.QtGui.QPen:
        color, dash, width = self._look(drawn)
        return pg.mkPen(color, width=width, style=_DASHES[dash])

    def currencies(self) -> list[str | None]:
        """The currencies of the lines, by code, none last."""
        return sorted({d.currency for d in self.lines.values()},
                      key=lambda c: (c is None, c or ""))

    def _shown(self, drawn: "_Drawn") -> bool:
        cur = self.currency_box.currentData()
        return cur == EVERY_CURRENCY or (drawn.currency or "") == cur

    @Slot(int)
    def _on_currency_chosen(self, _index: int) -> None:
        self._currency_chosen = True
        self._show_currency()

    def _sync_currencies(self) -> None:
        """Offer the lines' currencies; unless the user chose, several clients show the
        currency most of their events are in, one client all of its currencies."""
        box = self.currency_box
        current = box.currentData()
        wanted = [EVERY_CURRENCY] + [c or "" for c in self.currencies()]
        if [box.itemData(i) for i in range(box.count())] != wanted:
            box.blockSignals(True)
            box.clear()
            for c in wanted:
                box.addItem("All currencies" if c == EVERY_CURRENCY else c or NO_CURRENCY, c)
            box.blockSignals(False)
        if not self._currency_chosen:
            counts: dict[str, int] = {}
            for d in self.lines.values():
                counts[d.currency or ""] = counts.get(d.currency or "", 0) + d.count
            several = len({d.client.casefold() for d in self.lines.values()}) > 1
            current = max(counts, key=lambda c: (counts[c], c != "")) \
                if several and len(counts) > 1 else EVERY_CURRENCY
        box.blockSignals(True)
        box.setCurrentIndex(max(0, box.findData(current)))
        box.blockSignals(False)

    def _show_currency(self) -> None:
        for drawn in self.lines.values():
            drawn.curve.setVisible(self._shown(drawn))
        self._show_legend()
        self._axis_label()
        self.marker.clear()
        self.plot.enableAutoRange()

    def set_clients(self, clients: list[str]) -> None:
        """Show these clients' histories (all their currencies), read afresh."""
        self.clients = list(dict.fromkeys(clients))
        self._currency_chosen = False
        names = ", ".join(self.clients[:4]) + (f" and {len(self.clients) - 4} more"
                                               if len(self.clients) > 4 else "")
        self.title.setText(f"History of {names}" if self.clients else "Client history")
        self._request("reload")

    @Slot(object)
    def on_stats(self, stats: list[ClientTotal]) -> None:
        """New totals: read what arrived for the clients shown (only when their counts moved)."""
        keys = {c.casefold() for c in self.clients}
        expected = {(r.client.casefold(), r.currency): r.count for r in stats
                    if r.client.casefold() in keys}
        if expected == self._expected:
            return
        self._expected = expected
        if self._drawn_counts() != expected:
            self._request("append")

    def _drawn_counts(self) -> dict[tuple[str, str | None], int]:
        return {k: d.count for k, d in self.lines.items()}

    def _request(self, what: str) -> None:
        if what == "reload":
            self._generation += 1
        if self._want != "reload":
            self._want = what
        self._next()

    def _next(self) -> None:
        if self._busy or self._reader is None or self._want is None:
            return
        what, self._want = self._want, None
        clients = list(self.clients)
        generation = self._generation
        svc = self._reader.service
        if what == "reload" or not self.lines:
            def read():
                return "reload", build_lines(svc.client_history(clients)), None
        else:
            since = self.last_id
            start = {k: d.exact[-1] for k, d in self.lines.items()}

            def read():
                lines = build_lines(svc.client_history(clients, since), start)
                # read after the events: a count below what is drawn means events were removed
                counts = {(c.casefold(), r.currency): r.count
                          for c in clients for r in svc.client_totals(c)}
                return "append", lines, counts
        self._busy = True

        def done(result) -> None:
            self._busy = False
            if generation == self._generation:
                self._apply(*result)
            self._next()

        def failed(message: str) -> None:
            self._busy = False
            self.hover_label.setText(f"Could not read the history: {message}")
            self._next()
        self._reader.read(read, done, failed)

    def _apply(self, what: str, lines: list[Line], counts: dict | None) -> None:
        if what == "reload":
            for drawn in self.lines.values():
                self.plot.removeItem(drawn.curve)
            self.lines = {}
            self.last_id = 0
        else:
            for line in lines:
                drawn = self.lines.get((line.client.casefold(), line.currency))
                if drawn is not None and len(line.x) and drawn.count \
                        and line.x[0] < drawn.x[-1]:
                    self._request("reload")  # an older event: the line must be rebuilt
                    return
        for line in lines:
            key = (line.client.casefold(), line.currency)
            drawn = self.lines.get(key)
            if drawn is None:
                curve = pg.PlotDataItem()
                self.plot.addItem(curve)  # downsampled (peak) and clipped to the view
                self.lines[key] = drawn = _Drawn(curve, line)
            else:
                drawn.extend(line)
            self._set_data(drawn)
            self.last_id = max(self.last_id, line.last_id)
        if counts is not None and any(n > counts.get(k, 0)
                                      for k, n in self._drawn_counts().items()):
            self._request("reload")  # fewer events than drawn: an undo or a reset
        for drawn in self.lines.values():  # a new currency may restyle the others
            drawn.curve.setPen(self._pen(drawn))
        self._sync_currencies()
        self._show_currency()
        self.empty_text.setVisible(not self.lines)
        if not self.lines:
            self.empty_text.setPos(0.5, 0.5)
        self.plot.enableAutoRange()
        self.updated.emit()

    def _set_data(self, drawn: _Drawn) -> None:
        if self.metric_box.currentIndex() == 1:
            drawn.curve.setData(drawn.x, np.arange(1, drawn.count + 1, dtype=np.float64))
        else:
            drawn.curve.setData(drawn.x, drawn.y)

    @Slot()
    def _redraw_all(self, *args) -> None:
        for drawn in self.lines.values():
            self._set_data(drawn)
        self._axis_label()
        self.plot.enableAutoRange()

    def _axis_label(self) -> None:
        if self.metric_box.currentIndex() == 1:
            self.plot.getAxis("left").setLabel("events so far")
            return
        cur = self.currency_box.currentData()
        unit = "" if cur == EVERY_CURRENCY else f" ({cur or NO_CURRENCY})"
        self.plot.getAxis("left").setLabel(f"total so far{unit}")

    def _show_legend(self) -> None:
        parts = []
        for drawn in self.lines.values():
            if not self._shown(drawn):
                continue
            name = html.escape(series_name(drawn.client, drawn.currency)).replace(" ", "&nbsp;")
            color, dash, width = self._look(drawn)
            weight = "font-weight:bold;" if width > 2 else ""
            parts.append(f"<span style='color:{color.name()};{weight}'>"
                         f"{_GLYPHS[dash]}</span>&nbsp;{name}")
        self.legend.setText(" &nbsp; ".join(parts))

    def legend_names(self) -> list[str]:
        """The series the legend names (those of the currency shown)."""
        return [series_name(d.client, d.currency) for d in self.lines.values()
                if self._shown(d)]

    def point_text(self, key: tuple[str, str | None], i: int) -> str:
        """What the hover says of point ``i`` of a series: its exact running total."""
        d = self.lines[key]
        when = np.datetime64(int(d.x[i] * 1e6), "us").astype(str)[:19].replace("T", " ")
        return (f"{series_name(d.client, d.currency)} · {when} UTC · total "
                f"{format_money(d.exact[i])} after {i + 1:,} event{'s' if i else ''}")

    def nearest(self, x: float, y: float) -> tuple[tuple[str, str | None], int] | None:
        """The series and point nearest to view position (x, y), in pixels."""
        vb = self.plot.getPlotItem().vb
        sx, sy = vb.viewPixelSize()
        counting = self.metric_box.currentIndex() == 1
        best, found = float("inf"), None
        for key, d in self.lines.items():
            if not d.count or not self._shown(d):
                continue
            # the last point at or before x (the running total in force there)
            i = max(0, min(d.count - 1, int(np.searchsorted(d.x, x, side="right")) - 1))
            value = float(i + 1) if counting else float(d.y[i])
            dist = ((d.x[i] - x) / sx) ** 2 + ((value - y) / sy) ** 2
            if dist < best:
                best, found = dist, (key, i)
        return found

    def _on_mouse_moved(self, pos) -> None:
        item = self.plot.getPlotItem()
        if not self.lines or not item.vb.sceneBoundingRect().contains(pos):
            self.marker.clear()
            return
        p = item.vb.mapSceneToView(pos)
        found = self.nearest(p.x(), p.y())
        if found is None:
            return
        key, i = found
        d = self.lines[key]
        value = float(i + 1) if self.metric_box.currentIndex() == 1 else float(d.y[i])
        self.marker.setData([d.x[i]], [value], brush=self._color(d))
        self.hover_label.setText(self.point_text(key, i))


class HistoryDialog(QDialog):
    """The history chart in a window of its own (one per main window), non-modal."""

    def __init__(self, bridge, parent=None):
        super().__init__(parent)
        self.setObjectName("historyDialog")
        self.setWindowTitle("Client history")
        self.chart = HistoryChart(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.chart)
        self.resize(1000, 560)
        self.chart.bind(bridge)
        bridge.statsChanged.connect(self.chart.on_stats)

    def shutdown(self) -> None:
        self.close()
        self.chart.shutdown()

    def show_clients(self, clients: list[str]) -> None:
        self.chart.set_clients(clients)
        if self.isVisible():
            self.raise_()
            self.activateWindow()
        else:
            self.show()


__all__ = ["HistoryChart", "HistoryDialog", "Line", "build_lines", "series_name"]
