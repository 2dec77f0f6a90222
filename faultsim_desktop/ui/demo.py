"""The scripted demo: samples, a send, a duplicate, a crash with retries, recovery, exact totals.

The demo plays in a temporary database of its own, never in the user's: the user's engine stays
open but idle meanwhile, and it comes back with every setting the demo changed (fault point and
mode, retries, chart, editor text, dock layout, the log) when the demo finishes, is stopped or
the window closes.

The script is a generator: it yields a number (pause, in milliseconds), a bound signal (wait for
it once) or a predicate (wait until it holds). Nothing sleeps; the GUI stays live throughout.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from PySide6.QtCore import QByteArray, QObject, Qt, QTimer, Signal, SignalInstance, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from ..core.faults import FaultMode, FaultPoint
from ..core.model import OutcomeRecord
from ..core.retry import RetryPolicy
from ..core.service import IngestService
from ..core.dburl import short_label

STEP_TIMEOUT_MS = 120_000
HOLD_MS = 4000  # the finished demo stays on screen this long before the user's database returns
DEMO_BLUE = "#1d4ed8"


@dataclass
class _UserState:
    """What the demo changes in the window, taken before it starts and put back after."""
    faults: dict
    metric: str
    top_n: int
    editor_text: str
    last_sent: str | None
    send_again: bool
    layout: QByteArray
    log: list[OutcomeRecord]
    remember_db: bool

    @classmethod
    def take(cls, w) -> "_UserState":
        return cls(w.fault_panel.state(), w.totals_chart.metric_box.currentText(),
                   w.totals_chart.top_n.value(), w.editor.text(), w.editor.last_sent,
                   w.send_again_action.isEnabled(), w.saveState(), w.log_view.model.rows(),
                   w.remember_db)

    def give_back_settings(self, w) -> None:
        w.fault_panel.set_state(self.faults)
        w.totals_chart.metric_box.setCurrentText(self.metric)
        w.totals_chart.top_n.setValue(self.top_n)
        w.editor.stop_fixing()
        w.editor.set_text(self.editor_text)
        w.editor.last_sent = self.last_sent
        w.send_again_action.setEnabled(self.send_again)
        w.restoreState(self.layout)
        w.remember_db = self.remember_db


class DemoBanner(QWidget):
    """Says, above the charts, that the demo's database is on screen; offers to stop it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("demoBanner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(f"QWidget#demoBanner {{ background: {DEMO_BLUE}; }}"
                           "QLabel { color: white; font-weight: 700; }")
        self.label = QLabel(self)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.stop_button = QPushButton("Stop the demo", self)
        self.stop_button.setObjectName("stopDemo")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.stop_button)
DEMO_SAMPLES = frozenset({"messy_field_names.ndjson", "money_locales.ndjson",
                          "retries_reordered_keys.ndjson", "bad_lines.ndjson",
                          "nested_clients.json"})


class DemoPlayer(QObject):
    step = Signal(str)  # a caption for what happens now
    scriptEnded = Signal(bool)  # the last step played; the demo's database still shows
    finished = Signal(bool)  # the user's database is back; True when the totals were verified

    def __init__(self, window, speed: float = 1.0):
        super().__init__(window)
        self.window = window
        self.speed = max(0.01, speed)
        self.running = False  # from start() until the user's database is back
        self.verified: bool | None = None
        self.user_service: IngestService | None = None  # kept open, idle, during the demo
        self._saved: _UserState | None = None
        self._serving = False
        self._dir: Path | None = None
        self._gen: Iterator | None = None
        self._timer = QTimer(self)
        self._timer.setObjectName("demo-step")
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._advance)
        self._poll: object = None
        self._waited_ms = 0
        self._connection = None
        self._idle_timer = QTimer(self)  # a stopped demo waits for its work before leaving
        self._idle_timer.setObjectName("demo-wind-down")
        self._idle_timer.setInterval(50)
        self._idle_timer.timeout.connect(self._give_back_when_idle)
        self.banner: DemoBanner | None = None
        self.step.connect(self._caption)

    @property
    def demo_db(self) -> Path | None:
        return self._dir / "demo.db" if self._dir is not None else None

    def start(self) -> bool:
        """Switch to a fresh temporary database and play; False when it cannot start now."""
        w = self.window
        if w.bridge.busy or w.bridge.ops_lane.busy:
            w.show_message("Wait for the running work to finish before playing the demo")
            return False
        self._dir = Path(tempfile.mkdtemp(prefix="faultsim-demo-"))
        factory = w.service_factory or IngestService
        try:
            service = factory(self.demo_db)
        except Exception as exc:  # StorageError explains itself
            self.discard()
            w.show_message(f"The demo cannot start: {exc}")
            return False
        self._saved = _UserState.take(w)
        w.remember_db = False  # the demo's database never becomes the one opened next time
        # HTTP clients of the user's server would otherwise write into the throwaway database
        self._serving = w.serve_control.suspend()
        self.user_service = w.use_service(service, remember=False, close_old=False)
        w.setWindowTitle(f"faultsim-desktop — DEMO database (yours, "
                         f"{short_label(self.user_service.db_path)}, returns after the demo)")
        self.banner = DemoBanner(w)
        self.banner.stop_button.clicked.connect(self.stop)
        self.banner.label.setText(
            "DEMO — playing in a temporary database; yours "
            f"({short_label(self.user_service.db_path)}) and your settings return when it ends")
        w.centralWidget().layout().insertWidget(0, self.banner)
        self.banner.show()
        self.running = True
        self._gen = self._script()
        self._timer.start(0)
        return True

    def stop(self) -> None:
        """Stop the script; the user's database returns once the demo's work has wound down
        (at once when the window is closing)."""
        self._timer.stop()
        self._disconnect()
        self._poll = None
        gen, self._gen = self._gen, None
        if gen is not None:
            gen.close()  # runs the script's clean-up (its taskDone connection)
        if not self.running:
            return
        w = self.window
        if w._closing:
            self._give_back_on_close()
            return
        self.banner.stop_button.setEnabled(False)
        self.banner.label.setText("DEMO stopping — your database returns in a moment")
        # pending demo events are kept in the demo's outbox at once instead of backing off
        w.bridge.set_retry_policy(RetryPolicy(attempts=1, base_delay_s=0.0, cap_s=0.0))
        w.bridge.cancel_files()
        self._give_back_when_idle()

    @Slot()
    def _give_back_when_idle(self) -> None:
        w = self.window
        if w.bridge.busy or w.bridge.ops_lane.busy:
            if not self._idle_timer.isActive():
                self._idle_timer.start()
            return
        self._idle_timer.stop()
        saved = self._saved
        saved.give_back_settings(w)  # before the switch, which applies them to the engine
        user, self.user_service = self.user_service, None
        w.use_service(user, remember=False)  # closes the demo's engine
        w.log_view.model.append(saved.log)
        w.serve_control.resume(self._serving)
        self.banner.hide()
        self.banner.deleteLater()
        self.banner = None
        self.discard()
        self.running = False
        w.show_message("Demo over: your database and settings are back"
                       if self.verified is None else
                       "Demo over (totals verified exact): your database and settings are back"
                       if self.verified else
                       "Demo over (the totals did NOT match the recount): your database and "
                       "settings are back")
        self.finished.emit(bool(self.verified))

    def _give_back_on_close(self) -> None:
        """The window is closing: its settings are the user's; its engine closes the demo's."""
        w = self.window
        self._idle_timer.stop()
        self._saved.give_back_settings(w)
        self.user_service.close()  # still named: the window saves it as the last database
        self.running = False

    def discard(self) -> None:
        """Delete the demo's temporary database (its engine is closed)."""
        self._idle_timer.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @Slot(str)
    def _caption(self, text: str) -> None:
        self.window.show_message(f"Demo: {text}")

    def _disconnect(self) -> None:
        if self._connection is not None:
            sig, slot = self._connection
            sig.disconnect(slot)
            self._connection = None

    @Slot()
    def _advance(self, *args) -> None:
        self._disconnect()
        if self._poll is not None:
            if not self._poll() and self._waited_ms < STEP_TIMEOUT_MS:
                self._waited_ms += 50
                self._timer.start(50)
                return
            self._poll = None
        if self._gen is None:
            return
        try:
            item = next(self._gen)
        except StopIteration:
            self._gen = None
            self._give_back_when_idle()
            return
        if isinstance(item, (int, float)):
            self._timer.start(int(item / self.speed))
        elif isinstance(item, SignalInstance):
            slot = self._on_signal
            item.connect(slot)
            self._connection = (item, slot)
        elif callable(item):
            self._poll = item
            self._waited_ms = 0
            self._timer.start(50)
        else:
            self._timer.start(0)

    @Slot()
    def _on_signal(self, *args) -> None:
        self._disconnect()
        self._timer.start(0)

    def _script(self):
        w = self.window
        ed = w.editor
        samples = {p.name: p for p in ed.sample_files()}
        missing = sorted(DEMO_SAMPLES - samples.keys())
        if missing:  # without them the crash never shows and the script would wait for it
            self.step.emit(f"cannot play: the samples {', '.join(missing)} are not installed")
            return
        bridge = w.bridge
        w.crash_action.setChecked(False)
        w.fault_panel.set_fault(FaultPoint.MID_TRANSACTION, FaultMode.ALWAYS)
        w.fault_panel.set_retry(3, 150, 600)

        def send(name: str, caption: str):
            if name in samples:
                self.step.emit(caption)
                ed.load_sample(samples[name])
                yield 700
                ed.send(anyway=True)
                yield bridge.textFinished
                yield 900

        yield from send("messy_field_names.ndjson",
                        "messy field names become one client, one amount, one currency")
        yield from send("money_locales.ndjson", "money strings in several locales, exact decimals")
        yield from send("retries_reordered_keys.ndjson",
                        "a retry with reordered keys is caught as a duplicate")
        self.step.emit("send the same text again: every event is a duplicate, totals unchanged")
        w.send_again()
        yield bridge.textFinished
        yield 900
        yield from send("bad_lines.ndjson", "bad lines go to quarantine with their reason")
        self.step.emit("the crash switch is ON: every write fails mid-transaction and rolls back")
        w.crash_action.setChecked(True)
        yield 600
        yield from send("nested_clients.json", "sends fail, are retried, then wait in Pending")
        w.docks["pending"].raise_()
        yield lambda: w.pending_panel.model.rowCount() > 0 or not w.crash_action.isChecked()
        yield 1500
        self.step.emit("the crash switch is off: pending events are sent again automatically")
        w.crash_action.setChecked(False)
        yield bridge.retryFinished
        yield lambda: w.pending_panel.model.rowCount() == 0
        yield 600
        w.docks["log"].raise_()
        self.step.emit("checking the totals against a recount of every stored event…")
        svc = w.service
        bridge.run_task("demo-verify", lambda: svc.stats() == svc.stats_from_events()
                        and svc.outbox.count() == 0)
        result = {}

        def got(tag, value):
            if tag == "demo-verify":
                result["ok"] = value
        bridge.taskDone.connect(got)
        try:
            yield lambda: "ok" in result
        finally:
            bridge.taskDone.disconnect(got)
        self.verified = bool(result.get("ok"))
        bridge.refresh()
        yield 300
        self.step.emit("finished — totals are exact: every event counted once" if self.verified
                       else "finished — the totals do NOT match the recount")
        self.banner.label.setText("DEMO finished — your database and settings return in a moment")
        self.banner.stop_button.setText("Back to my database")
        self.scriptEnded.emit(self.verified)
        yield HOLD_MS
