"""The fault panel: where and how the simulated crash strikes, the seed, retry settings, and
while the window serves HTTP, the faults on the wire."""
from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QDoubleSpinBox, QFormLayout, QGridLayout,
                               QGroupBox, QHBoxLayout, QComboBox, QLabel, QRadioButton,
                               QScrollArea, QSpinBox, QToolButton, QVBoxLayout, QWidget)

from ..core.faults import DEFAULT_DELAY_S, FaultConfig, FaultMode, FaultPoint
from ..core.retry import RetryPolicy

POINT_LABELS = {
    FaultPoint.BEFORE_WRITE: "Before write (the database refuses)",
    FaultPoint.MID_TRANSACTION: "Mid-transaction (rows written, then rolled back)",
    FaultPoint.AFTER_COMMIT: "Lost acknowledgement (committed, reply lost)",
    FaultPoint.LATENCY: "Latency (every write is slow)",
}
# what one injected fault did, as the panel's tally names it
POINT_TALLY = {
    FaultPoint.BEFORE_WRITE: "refused before writing",
    FaultPoint.MID_TRANSACTION: "rolled back mid-transaction",
    FaultPoint.AFTER_COMMIT: "acknowledgements lost after commit",
    FaultPoint.LATENCY: "writes delayed",
    FaultPoint.DROP_RESPONSE: "answers dropped after commit",
    FaultPoint.DROP_REQUEST: "requests dropped unread",
    FaultPoint.SLOW_RESPONSE: "answers delayed",
    FaultPoint.HTTP_503: "requests answered 503",
}
WIRE_LABELS = {
    FaultPoint.DROP_RESPONSE: "Drop the answer",
    FaultPoint.DROP_REQUEST: "Drop the request",
    FaultPoint.SLOW_RESPONSE: "Slow answer",
    FaultPoint.HTTP_503: "Answer 503",
}
WIRE_TIPS = {
    FaultPoint.DROP_RESPONSE: "The request runs and commits, then the connection is cut: the "
                              "client sees a network error and retries (a lost acknowledgement)",
    FaultPoint.DROP_REQUEST: "The connection is cut before the body is read: nothing is stored",
    FaultPoint.SLOW_RESPONSE: "The answer waits this long after the request ran",
    FaultPoint.HTTP_503: "Answered 503 with Retry-After before anything is read or stored",
}
_WIRE_MODES = [(FaultMode.ALWAYS, "every request"), (FaultMode.PROBABILITY, "with probability"),
               (FaultMode.NEXT_N, "the next N")]


def _spin(parent, low: int, high: int, value: int, suffix: str = "") -> QSpinBox:
    box = QSpinBox(parent)
    box.setRange(low, high)
    box.setValue(value)
    if suffix:
        box.setSuffix(suffix)
    return box


def _probability(parent) -> QDoubleSpinBox:
    """A chance from 0 to 1 in steps of 0.05 (a chance, not money: a float)."""
    box = QDoubleSpinBox(parent)
    box.setRange(0.0, 1.0)
    box.setSingleStep(0.05)
    box.setDecimals(2)
    box.setValue(0.3)
    return box


class WireFaultBox(QGroupBox):
    """The faults on the wire of the window's HTTP server, one row per point: on or off, how
    it strikes (every request, a probability, the next N), and for a slow answer how slow.
    They act on POST /events only, whatever the database crash switch says."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__("HTTP faults (while serving)", parent)
        self.setObjectName("wireFaults")
        grid = QGridLayout(self)
        self.enabled_boxes: dict[FaultPoint, QCheckBox] = {}
        self.modes: dict[FaultPoint, QComboBox] = {}
        self.probabilities: dict[FaultPoint, QDoubleSpinBox] = {}
        self.counts: dict[FaultPoint, QSpinBox] = {}
        self.delay_ms = _spin(self, 1, 600_000,
                              int(DEFAULT_DELAY_S[FaultPoint.SLOW_RESPONSE] * 1000), " ms")
        self.delay_ms.setObjectName("wireDelay")
        row = 0
        for point, label in WIRE_LABELS.items():
            box = QCheckBox(label, self)
            box.setObjectName(f"wire-{point.value}")
            box.setToolTip(WIRE_TIPS[point])
            mode = QComboBox(self)
            for m, text in _WIRE_MODES:
                mode.addItem(text, m.value)
            mode.setCurrentIndex(1)
            probability = _probability(self)
            count = _spin(self, 1, 1_000_000, 3, " requests")
            self.enabled_boxes[point], self.modes[point] = box, mode
            self.probabilities[point], self.counts[point] = probability, count
            # two rows a point, the value of the chosen mode only: the dock stays narrow
            grid.addWidget(box, row, 0, 1, 2)
            grid.addWidget(mode, row + 1, 0)
            grid.addWidget(probability, row + 1, 1)
            grid.addWidget(count, row + 1, 1)
            row += 2
            if point is FaultPoint.SLOW_RESPONSE:
                grid.addWidget(QLabel("held for", self), row, 0,
                               alignment=Qt.AlignmentFlag.AlignRight)
                grid.addWidget(self.delay_ms, row, 1)
                row += 1
            box.toggled.connect(self._changed)
            mode.currentIndexChanged.connect(self._changed)
            probability.valueChanged.connect(self._changed)
            count.valueChanged.connect(self._changed)
        grid.setColumnStretch(0, 1)
        self.delay_ms.valueChanged.connect(self._changed)
        self._sync_enabled()

    @Slot()
    def _changed(self, *args) -> None:
        self._sync_enabled()
        self.changed.emit()

    def _sync_enabled(self) -> None:
        for point, box in self.enabled_boxes.items():
            on = box.isChecked()
            mode = self._mode(point)
            self.modes[point].setEnabled(on)
            self.probabilities[point].setEnabled(on)
            self.counts[point].setEnabled(on)
            self.probabilities[point].setVisible(mode is not FaultMode.NEXT_N)
            self.counts[point].setVisible(mode is FaultMode.NEXT_N)
            self.probabilities[point].setEnabled(on and mode is FaultMode.PROBABILITY)
        self.delay_ms.setEnabled(self.enabled_boxes[FaultPoint.SLOW_RESPONSE].isChecked())

    def _mode(self, point: FaultPoint) -> FaultMode:
        return FaultMode(self.modes[point].currentData())

    def configs(self) -> dict[FaultPoint, FaultConfig]:
        """Every wire point's setting (off when its box is unchecked)."""
        out = {}
        for point, box in self.enabled_boxes.items():
            if not box.isChecked():
                out[point] = FaultConfig()
                continue
            out[point] = FaultConfig(mode=self._mode(point),
                                     probability=self.probabilities[point].value(),
                                     remaining=self.counts[point].value(),
                                     delay_s=self.delay_ms.value() / 1000)
        return out

    def set_wire_fault(self, point: FaultPoint, mode: FaultMode, probability: float = 0.3,
                       count: int = 3) -> None:
        """Set one point (``FaultMode.OFF`` unchecks it)."""
        self.enabled_boxes[point].setChecked(mode is not FaultMode.OFF)
        if mode is not FaultMode.OFF:
            self.modes[point].setCurrentIndex(self.modes[point].findData(mode.value))
        self.probabilities[point].setValue(probability)
        self.counts[point].setValue(count)

    def describe(self) -> str:
        """The points that are on ("drop_response p=0.3, http_503 always"), or "off"."""
        on = [f"{p.value} {c.describe()}" + (f" {self.delay_ms.value():,} ms"
                                             if p is FaultPoint.SLOW_RESPONSE else "")
              for p, c in self.configs().items() if c.mode is not FaultMode.OFF]
        return ", ".join(on) or "off"

    def save(self, s: QSettings) -> None:
        """How each point strikes; never whether it is on: like the crash switch, every wire
        fault starts off."""
        s.beginGroup("wire")
        for point in WIRE_LABELS:
            s.setValue(f"{point.value}/mode", self._mode(point).value)
            s.setValue(f"{point.value}/probability", self.probabilities[point].value())
            s.setValue(f"{point.value}/count", self.counts[point].value())
        s.setValue("delay_ms", self.delay_ms.value())
        s.endGroup()

    def load(self, s: QSettings) -> None:
        s.beginGroup("wire")
        try:
            for point in WIRE_LABELS:
                mode = self.modes[point].findData(str(s.value(f"{point.value}/mode", "")))
                if mode >= 0:
                    self.modes[point].setCurrentIndex(mode)
                self.probabilities[point].setValue(
                    _float(s.value(f"{point.value}/probability", 0.3), 0.3))
                self.counts[point].setValue(_int(s.value(f"{point.value}/count", 3), 3))
            self.delay_ms.setValue(_int(s.value("delay_ms", 200), 200))
        finally:
            s.endGroup()


class FaultPanel(QWidget):
    """Edits a fault point configuration and a retry policy; ``changed`` fires on every edit."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.switch_button = QToolButton(self)
        self.switch_button.setObjectName("panelCrashSwitch")
        self.switch_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)

        self.point = QComboBox(self)
        self.point.setObjectName("faultPoint")
        for p, label in POINT_LABELS.items():
            self.point.addItem(label, p)
        self.point.setCurrentIndex(list(POINT_LABELS).index(FaultPoint.MID_TRANSACTION))

        self.always = QRadioButton("Every write", self)
        self.sometimes = QRadioButton("With probability", self)
        self.next_n = QRadioButton("The next N writes", self)
        self.always.setChecked(True)
        self.mode_group = QButtonGroup(self)
        for i, b in enumerate((self.always, self.sometimes, self.next_n)):
            self.mode_group.addButton(b, i)
        self.probability = _probability(self)
        self.count = _spin(self, 1, 1_000_000, 3, " writes")
        self.latency = _spin(self, 0, 10_000, 50, " ms")
        self.seed = _spin(self, 0, 2_000_000_000, 7)

        self.attempts = _spin(self, 1, 50, 4)
        self.attempts.setToolTip("Tries in all per write, the first one included")
        self.base_delay = _spin(self, 0, 60_000, 100, " ms")
        self.cap = _spin(self, 0, 600_000, 2000, " ms")

        fault_box = QGroupBox("Fault", self)
        form = QFormLayout(fault_box)
        form.addRow("Point", self.point)
        prob_row = QHBoxLayout()
        prob_row.addWidget(self.sometimes)
        prob_row.addWidget(self.probability)
        prob_row.addStretch(1)
        next_row = QHBoxLayout()
        next_row.addWidget(self.next_n)
        next_row.addWidget(self.count)
        next_row.addStretch(1)
        modes = QVBoxLayout()
        modes.addWidget(self.always)
        modes.addLayout(prob_row)
        modes.addLayout(next_row)
        form.addRow("Strikes", modes)
        form.addRow("Latency", self.latency)
        form.addRow("Seed", self.seed)

        retry_box = QGroupBox("Retries", self)
        rform = QFormLayout(retry_box)
        rform.addRow("Attempts", self.attempts)
        rform.addRow("First backoff", self.base_delay)
        rform.addRow("Longest backoff", self.cap)

        self.wire = WireFaultBox(self)
        self.wire.setVisible(False)  # shown while the window's HTTP server runs

        self.injected = QLabel(self)
        self.injected.setTextFormat(Qt.TextFormat.PlainText)
        self.injected.setWordWrap(True)

        inner = QWidget(self)
        layout = QVBoxLayout(inner)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.switch_button)
        layout.addWidget(self.injected)  # under the switch: seen without scrolling
        layout.addWidget(self.wire)  # only while serving: then what a presenter reaches for
        layout.addWidget(fault_box)
        layout.addWidget(retry_box)
        layout.addStretch(1)
        scroll = QScrollArea(self)  # a short dock scrolls instead of clipping the form
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        for w in (self.point,):
            w.currentIndexChanged.connect(self._changed)
        self.mode_group.idToggled.connect(self._changed)
        for w in (self.probability, self.count, self.latency, self.seed, self.attempts,
                  self.base_delay, self.cap):
            w.valueChanged.connect(self._changed)
        self._sync_enabled()

    @Slot()
    def _changed(self, *args) -> None:
        self._sync_enabled()
        self.changed.emit()

    def _sync_enabled(self) -> None:
        self.probability.setEnabled(self.sometimes.isChecked())
        self.count.setEnabled(self.next_n.isChecked())
        self.latency.setEnabled(self.fault_point() is FaultPoint.LATENCY)

    @Slot(bool)
    def set_serving(self, on: bool) -> None:
        """Show the wire faults while the window's HTTP server runs."""
        self.wire.setVisible(on)

    def fault_point(self) -> FaultPoint:
        return FaultPoint(self.point.currentData())  # Qt hands str-enums back as plain str

    def fault_config(self) -> FaultConfig:
        if self.sometimes.isChecked():
            mode = FaultMode.PROBABILITY
        elif self.next_n.isChecked():
            mode = FaultMode.NEXT_N
        else:
            mode = FaultMode.ALWAYS
        return FaultConfig(mode=mode, probability=self.probability.value(),
                           remaining=self.count.value(), delay_s=self.latency.value() / 1000)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.attempts.value(),
                           base_delay_s=self.base_delay.value() / 1000,
                           cap_s=max(self.cap.value(), self.base_delay.value()) / 1000)

    def set_fault(self, point: FaultPoint, mode: FaultMode, probability: float = 0.3,
                  count: int = 3) -> None:
        self.point.setCurrentIndex(list(POINT_LABELS).index(point))
        {FaultMode.PROBABILITY: self.sometimes, FaultMode.NEXT_N: self.next_n}.get(
            mode, self.always).setChecked(True)
        self.probability.setValue(probability)
        self.count.setValue(count)

    def set_retry(self, attempts: int, base_ms: int, cap_ms: int) -> None:
        self.attempts.setValue(attempts)
        self.base_delay.setValue(base_ms)
        self.cap.setValue(cap_ms)

    def describe(self) -> str:
        point = self.fault_point()
        name = point.value.replace("_", " ")
        if point is FaultPoint.LATENCY:
            name += f" {self.latency.value():,} ms"
        return f"{name}, {self.fault_config().describe()}"

    def effect(self) -> str:
        """What the switched-on fault does to writes, in words a user can check."""
        point = self.fault_point()
        if point is FaultPoint.LATENCY:
            return (f"writes are delayed by {self.latency.value():,} ms each; none fails, "
                    "every event is stored")
        if point is FaultPoint.AFTER_COMMIT:
            return ("writes commit but their acknowledgement is lost; the retries find the "
                    "events stored")
        if point is FaultPoint.BEFORE_WRITE:
            return "the database refuses writes: they are retried, then wait in Pending"
        return "writes fail mid-transaction and roll back: they are retried, then wait in Pending"

    def show_injected(self, injected: dict) -> None:
        """Show how often each point fired (in this process and in child ingest processes)."""
        counts = {FaultPoint(p): n for p, n in injected.items() if n}
        if not counts:
            text = "Faults injected so far: none"
        else:
            parts = [f"{POINT_TALLY[p]}: {n:,}" for p, n in counts.items()]
            text = (f"Faults injected so far: {sum(counts.values()):,}\n"
                    + "\n".join(parts))
        if text != self.injected.text():
            self.injected.setText(text)

    def state(self) -> dict:
        """Every setting of the panel, to give back with ``set_state`` (the demo does)."""
        return {"point": self.point.currentIndex(), "mode": self.mode_group.checkedId(),
                **{name: getattr(self, name).value() for name in _VALUES}}

    def set_state(self, state: dict) -> None:
        self.point.setCurrentIndex(state["point"])
        (self.mode_group.button(state["mode"]) or self.always).setChecked(True)
        for name in _VALUES:
            getattr(self, name).setValue(state[name])

    def save(self, s: QSettings) -> None:
        s.beginGroup("faults")
        s.setValue("point", self.fault_point().value)
        s.setValue("mode", self.mode_group.checkedId())
        s.setValue("probability", self.probability.value())
        s.setValue("count", self.count.value())
        s.setValue("latency_ms", self.latency.value())
        s.setValue("seed", self.seed.value())
        s.setValue("attempts", self.attempts.value())
        s.setValue("base_delay_ms", self.base_delay.value())
        s.setValue("cap_ms", self.cap.value())
        self.wire.save(s)
        s.endGroup()

    def load(self, s: QSettings) -> None:
        s.beginGroup("faults")
        try:
            try:
                point = FaultPoint(s.value("point", FaultPoint.MID_TRANSACTION.value))
            except ValueError:
                point = FaultPoint.MID_TRANSACTION
            self.point.setCurrentIndex(list(POINT_LABELS).index(point))
            button = self.mode_group.button(_int(s.value("mode", 0)))
            (button or self.always).setChecked(True)
            self.probability.setValue(_float(s.value("probability", 0.3)))
            self.count.setValue(_int(s.value("count", 3), 3))
            self.latency.setValue(_int(s.value("latency_ms", 50), 50))
            self.seed.setValue(_int(s.value("seed", 7), 7))
            self.attempts.setValue(_int(s.value("attempts", 4), 4))
            self.base_delay.setValue(_int(s.value("base_delay_ms", 100), 100))
            self.cap.setValue(_int(s.value("cap_ms", 2000), 2000))
            self.wire.load(s)
        finally:
            s.endGroup()


_VALUES = ("probability", "count", "latency", "seed", "attempts", "base_delay", "cap")


def _int(v, default: int = 0) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _float(v, default: float = 0.0) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return default
