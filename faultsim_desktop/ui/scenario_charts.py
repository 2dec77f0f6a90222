"""A scenario run over time: the timeline (steps, fault windows, where the run is) and two
charts on the same seconds axis (events stored against the expected count; outcomes per
second), fault windows shaded on both.

Everything reads a ``RunSnapshot``. Plot items are made when a scenario is shown (its steps)
or when a fault window first appears, and then only moved with setData/setRegion/setValue:
a snapshot never clears and re-adds them.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from ..core.model import Outcome
from ..scenario.model import FaultWindow, RunSnapshot, RunState, Scenario, StepKind
from .charts import GroupedAxis, _style_plot
from .theme import CRASH_RED, is_dark, outcome_color

# a fault point keeps its hue on the timeline and on both charts (Tableau 10, reds last)
_POINT_COLORS = ("#e15759", "#f28e2b", "#b07aa1", "#edc948", "#76b7b2", "#9c755f",
                 "#ff9da7", "#59a14f", "#4e79a7", "#bab0ac")
_SHADE_ALPHA = 46
# outcomes per second: (sample field, the outcome whose colour it takes)
RATE_SERIES = (("accepted", Outcome.ACCEPTED), ("duplicates", Outcome.DUPLICATE),
               ("failed", Outcome.FAILED), ("rejected", Outcome.REJECTED))
_STEP_LANE = 0.0


def view_end(scenario: Scenario | None, snapshot: RunSnapshot | None) -> float:
    """The right edge of every run chart: the whole script, and the run when it goes on longer."""
    end = (scenario.duration_s if scenario is not None else 0.0) * 1.08 + 1.0
    if snapshot is not None:
        end = max(end, snapshot.position_s * 1.03 + 0.5)
    return end


def view_start(end_s: float) -> float:
    """The left edge: a little before zero, so a step at 0 s shows its whole label."""
    return -0.02 * end_s


def window_end(window: FaultWindow, snapshot: RunSnapshot) -> float:
    """Where a window's shading stops: its end, or now while the point is still on."""
    return window.end_s if window.end_s is not None else max(window.start_s,
                                                             snapshot.position_s)


def rates_per_second(snapshot: RunSnapshot) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Outcomes per whole second of run time from the cumulative samples: the bin edges
    (seconds) and, per outcome, how many came in each second."""
    samples = snapshot.samples
    if len(samples) < 2:
        return np.zeros(0), {key: np.zeros(0) for key, _ in RATE_SERIES}
    t = np.array([s.t_s for s in samples], dtype=float)
    seconds = int(np.ceil(t[-1])) or 1
    edges = np.arange(seconds + 1, dtype=float)
    # the count in force at each edge: the last sample at or before it
    at_edge = np.clip(np.searchsorted(t, edges, side="right") - 1, 0, len(t) - 1)
    rates = {}
    for key, _ in RATE_SERIES:
        cum = np.array([getattr(s, key) for s in samples], dtype=float)
        cum = np.maximum.accumulate(cum)  # an engine restarted from zero never reads as negative
        rates[key] = np.diff(cum[at_edge])
    return edges, rates


class _Shading:
    """The fault windows of a run as unmovable regions on one plot, coloured by point."""

    def __init__(self, plot: pg.PlotWidget):
        self.plot = plot
        self.regions: list[pg.LinearRegionItem] = []

    def show(self, snapshot: RunSnapshot, colors: dict[str, QColor]) -> None:
        windows = snapshot.fault_windows
        while len(self.regions) < len(windows):
            region = pg.LinearRegionItem(movable=False)
            region.setZValue(-20)  # under the curves
            for line in region.lines:
                line.setPen(pg.mkPen(None))
            self.plot.addItem(region, ignoreBounds=True)
            self.regions.append(region)
        for i, region in enumerate(self.regions):
            if i >= len(windows):
                region.hide()
                continue
            w = windows[i]
            color = QColor(colors.get(w.point, QColor(_POINT_COLORS[0])))
            color.setAlpha(_SHADE_ALPHA)
            region.setBrush(pg.mkBrush(color))
            region.setRegion((w.start_s, window_end(w, snapshot)))
            region.setToolTip(f"{w.spec}: {w.start_s:g}s – "
                              + (f"{w.end_s:g}s" if w.end_s is not None else "still on"))
            region.show()


def _plot(parent: QWidget, name: str, left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(parent, axisItems={"left": GroupedAxis("left")})
    plot.setObjectName(name)
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setLabel("left", left)
    plot.setMinimumHeight(90)
    return plot


def steps_started(snapshot: RunSnapshot | None) -> dict[int, float]:
    """Step index -> when it started, from the run's timeline."""
    ran: dict[int, float] = {}
    for entry in snapshot.timeline if snapshot is not None else ():
        if entry.step is not None:
            ran.setdefault(entry.step, entry.t_s)
    return ran


def restart_times(snapshot: RunSnapshot, scenario: Scenario | None) -> list[float]:
    """When each restart step really ran (waits push steps later than their ``at``)."""
    if scenario is None:
        return []
    restarts = {s.index for s in scenario.steps if s.kind is StepKind.RESTART}
    seen: dict[int, float] = {}
    for entry in snapshot.timeline:
        if entry.step in restarts and entry.step not in seen:
            seen[entry.step] = entry.t_s
    return sorted(seen.values())


def _restart_legend(chart: "_RunChart") -> str:
    shown = any(line.isVisible() for line in chart.restart_lines)
    return f" &nbsp; <span style='color:{CRASH_RED}'>╎&nbsp;restart</span>" if shown else ""


class _RunChart(QWidget):
    """A titled plot over run time, with a legend line under the title (never over curves)."""

    def __init__(self, title: str, plot_name: str, left: str, parent=None):
        super().__init__(parent)
        heading = QLabel(title, self)
        heading.setStyleSheet("font-weight: 600;")
        heading.setWordWrap(True)
        self.legend_label = QLabel(self)
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)  # fixed names and numbers only
        self.legend_label.setWordWrap(True)
        self.legend_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.plot = _plot(self, plot_name, left)
        self.plot.setLabel("bottom", "run time (s)")
        self.shading = _Shading(self.plot)
        self.restart_lines: list[pg.InfiniteLine] = []
        self._restart_pen = pg.mkPen(CRASH_RED, width=1, style=Qt.PenStyle.DashLine)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        layout.addWidget(heading)
        layout.addWidget(self.legend_label)
        layout.addWidget(self.plot, 1)


    def show_restarts(self, times: list[float]) -> None:
        """A dashed line where the engine was killed and started again."""
        while len(self.restart_lines) < len(times):
            line = pg.InfiniteLine(angle=90, movable=False, pen=self._restart_pen)
            line.setZValue(-10)
            self.plot.addItem(line, ignoreBounds=True)
            self.restart_lines.append(line)
        for i, line in enumerate(self.restart_lines):
            line.setVisible(i < len(times))
            if i < len(times):
                line.setValue(times[i])
        self._legend()

    def _legend(self) -> None:
        pass


class StoredChart(_RunChart):
    """Events in the database over run time, against the count the inputs say to expect."""

    def __init__(self, parent=None):
        super().__init__("Events stored against the expected count", "storedPlot", "events",
                         parent)
        self.curve = self.plot.plot([], [])
        self.curve.setClipToView(True)
        self.curve.setDownsampling(auto=True)
        self.pending_curve = self.plot.plot([], [])
        self.pending_curve.setClipToView(True)
        self.expected_line = pg.InfiniteLine(angle=0, movable=False)
        self.expected_line.setZValue(5)
        self.plot.addItem(self.expected_line, ignoreBounds=True)
        self.expected = 0
        self.stored = 0
        self._dark = False
        self.apply_palette(self.palette())

    def apply_palette(self, palette: QPalette) -> None:
        self._dark = is_dark(palette)
        _style_plot(self.plot, palette)
        self.curve.setPen(pg.mkPen(outcome_color(Outcome.ACCEPTED, self._dark), width=2))
        self.pending_curve.setPen(pg.mkPen(outcome_color(Outcome.RETRYING, self._dark), width=1,
                                           style=Qt.PenStyle.DotLine))
        self.expected_line.setPen(pg.mkPen(palette.color(QPalette.ColorRole.Text), width=1,
                                           style=Qt.PenStyle.DashLine))
        self._legend()

    def show_snapshot(self, snapshot: RunSnapshot, colors: dict[str, QColor],
                      end_s: float) -> None:
        t = np.array([s.t_s for s in snapshot.samples], dtype=float)
        stored = np.array([s.stored for s in snapshot.samples], dtype=float)
        pending = np.array([s.pending for s in snapshot.samples], dtype=float)
        self.curve.setData(t, stored)
        self.pending_curve.setData(t, pending)
        self.expected = sum(f.count for f in snapshot.expected.values())
        self.stored = snapshot.samples[-1].stored if snapshot.samples else 0
        self.expected_line.setValue(self.expected)
        self.shading.show(snapshot, colors)
        top = max([1.0, float(self.expected)] + ([float(stored.max()), float(pending.max())]
                                                 if len(t) else []))
        self.plot.setYRange(0, top * 1.1, padding=0)
        self.plot.setXRange(view_start(end_s), end_s, padding=0)
        self._legend()

    def clear(self, end_s: float) -> None:
        self.show_snapshot(RunSnapshot(RunState.READY, 0.0, 1), {}, end_s)
        self.show_restarts([])

    def _legend(self) -> None:
        stored = outcome_color(Outcome.ACCEPTED, self._dark).name()
        pending = outcome_color(Outcome.RETRYING, self._dark).name()
        self.legend_label.setText(
            f"<span style='color:{stored}'>━&nbsp;stored {self.stored:,}</span> &nbsp; "
            f"╌&nbsp;expected {self.expected:,} &nbsp; "
            f"<span style='color:{pending}'>┈&nbsp;pending</span> &nbsp; shaded: faults on"
            + _restart_legend(self))


class OutcomeChart(_RunChart):
    """Accepted, duplicates, failed and rejected per second of run time."""

    def __init__(self, parent=None):
        super().__init__("Outcomes per second", "outcomesPlot", "events/s", parent)
        self.curves: dict[str, pg.PlotDataItem] = {}
        for key, _ in RATE_SERIES:
            curve = pg.PlotDataItem(stepMode="center")
            self.plot.addItem(curve)
            self.curves[key] = curve
        self._dark = False
        self.apply_palette(self.palette())

    def apply_palette(self, palette: QPalette) -> None:
        self._dark = is_dark(palette)
        _style_plot(self.plot, palette)
        for key, outcome in RATE_SERIES:
            self.curves[key].setPen(pg.mkPen(outcome_color(outcome, self._dark), width=2))
        self._legend()

    def _legend(self) -> None:
        self.legend_label.setText(" &nbsp; ".join(
            f"<span style='color:{outcome_color(o, self._dark).name()}'>━&nbsp;{key}</span>"
            for key, o in RATE_SERIES) + " &nbsp; shaded: faults on" + _restart_legend(self))

    def show_snapshot(self, snapshot: RunSnapshot, colors: dict[str, QColor],
                      end_s: float) -> None:
        edges, rates = rates_per_second(snapshot)
        top = 1.0
        for key, curve in self.curves.items():
            if len(edges) > 1:
                curve.setData(edges, rates[key])
                top = max(top, float(rates[key].max()))
            else:
                curve.setData([], [])
        self.shading.show(snapshot, colors)
        self.plot.setYRange(0, top * 1.15, padding=0)
        self.plot.setXRange(view_start(end_s), end_s, padding=0)

    def clear(self, end_s: float) -> None:
        self.show_snapshot(RunSnapshot(RunState.READY, 0.0, 1), {}, end_s)
        self.show_restarts([])


class TimelineChart(QWidget):
    """The script on one axis: a lane of steps (numbered as in the steps list), a lane per
    fault point with its windows, and a line where the run is now."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(self)
        self.plot.setObjectName("timelinePlot")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, alpha=0.15)
        self.plot.setLabel("bottom", "run time (s)")
        self.plot.getPlotItem().vb.invertY(True)  # steps on top
        self.plot.setMinimumHeight(90)
        self.plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.markers = pg.ScatterPlotItem(size=11)
        self.markers.setZValue(10)
        self.plot.addItem(self.markers)
        self.bars = pg.BarGraphItem(x0=np.zeros(0), y=np.zeros(0), width=np.zeros(0), height=0.6)
        self.plot.addItem(self.bars)
        self.position_line = pg.InfiniteLine(angle=90, movable=False)
        self.position_line.setZValue(20)
        self.plot.addItem(self.position_line, ignoreBounds=True)
        self.labels: list[pg.TextItem] = []
        self.scenario: Scenario | None = None
        self.points: list[str] = []  # fault points in the order they first come on
        self.colors: dict[str, QColor] = {}
        self.position_s = 0.0
        self._palette = self.palette()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.plot)
        self.apply_palette(self.palette())
        self.set_scenario(None)

    def apply_palette(self, palette: QPalette) -> None:
        self._palette = palette
        _style_plot(self.plot, palette)
        self.position_line.setPen(pg.mkPen(palette.color(QPalette.ColorRole.Highlight), width=2))
        for label in self.labels:
            label.setColor(palette.color(QPalette.ColorRole.Text))

    def set_scenario(self, scenario: Scenario | None) -> None:
        """Show a scenario's steps before it runs (its fault lanes come from its fault steps)."""
        self.scenario = scenario
        for label in self.labels:
            self.plot.removeItem(label)
        self.labels = []
        self.points = []
        if scenario is not None:
            for step in scenario.steps:
                if step.kind is StepKind.FAULT:
                    for spec in step.faults:
                        point = spec.partition(":")[0]
                        if spec != "off" and point not in self.points:
                            self.points.append(point)
            at: dict[float, list] = {}  # steps at the same moment share one label
            for step in scenario.steps:
                at.setdefault(step.at_s, []).append(step)
            for t, steps in at.items():
                label = pg.TextItem(",".join(str(s.index) for s in steps), anchor=(0.5, 1.2))
                label.setColor(self._palette.color(QPalette.ColorRole.Text))
                label.setPos(t, _STEP_LANE)
                label.setToolTip("\n".join(f"step {s.index} at {s.at_s:g}s: {s.describe()}"
                                           for s in steps))
                self.plot.addItem(label, ignoreBounds=True)
                self.labels.append(label)
        self._sync_colors()
        self.position_s = 0.0
        self._draw(None)

    def _sync_colors(self) -> None:
        self.colors = {p: QColor(_POINT_COLORS[i % len(_POINT_COLORS)])
                       for i, p in enumerate(self.points)}
        axis = self.plot.getAxis("left")
        axis.setTicks([[(_STEP_LANE, "steps")] + [(float(i + 1), p.replace("_", " "))
                                                   for i, p in enumerate(self.points)], []])

    def show_snapshot(self, snapshot: RunSnapshot) -> None:
        new = [w.point for w in snapshot.fault_windows if w.point not in self.points]
        if new:
            self.points.extend(dict.fromkeys(new))
            self._sync_colors()
        self.position_s = snapshot.position_s
        self._draw(snapshot)

    def _draw(self, snapshot: RunSnapshot | None) -> None:
        steps = self.scenario.steps if self.scenario is not None else ()
        ran = steps_started(snapshot)
        done = outcome_color(Outcome.ACCEPTED, is_dark(self._palette))
        ahead = self._palette.color(QPalette.ColorRole.PlaceholderText)
        self.markers.setData(
            x=[s.at_s for s in steps], y=[_STEP_LANE] * len(steps),
            symbol=["x" if s.kind is StepKind.RESTART else "t1" for s in steps],
            brush=[pg.mkBrush(done if s.index in ran else ahead) for s in steps],
            pen=[pg.mkPen(done if s.index in ran else ahead) for s in steps],
            data=[s.index for s in steps])
        windows = snapshot.fault_windows if snapshot is not None else ()
        lane = {p: i + 1 for i, p in enumerate(self.points)}
        if windows:
            x0 = np.array([w.start_s for w in windows], dtype=float)
            width = np.array([window_end(w, snapshot) - w.start_s for w in windows], dtype=float)
            colors = [QColor(self.colors[w.point]) for w in windows]
            self.bars.setOpts(x0=x0, width=np.maximum(width, 0.02),
                              y=np.array([lane[w.point] for w in windows], dtype=float),
                              height=0.6, brushes=[pg.mkBrush(c) for c in colors],
                              pens=[pg.mkPen(c.darker(130)) for c in colors])
        else:
            self.bars.setOpts(x0=np.zeros(0), y=np.zeros(0), width=np.zeros(0), brushes=None,
                              pens=None)
        self.position_line.setValue(self.position_s)
        self.plot.setYRange(-1.3, len(self.points) + 0.5, padding=0)
        end = view_end(self.scenario, snapshot)
        self.plot.setXRange(view_start(end), end, padding=0)
        lanes = len(self.points) + 1
        self.plot.setFixedHeight(min(230, 66 + 22 * lanes))


__all__ = ["OutcomeChart", "StoredChart", "TimelineChart", "rates_per_second", "restart_times",
           "steps_started", "view_end", "window_end"]
