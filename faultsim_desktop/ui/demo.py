"""The scripted demo: samples, a send, a duplicate, a crash with retries, recovery, exact totals.

The script is a generator: it yields a number (pause, in milliseconds), a bound signal (wait for
it once) or a predicate (wait until it holds). Nothing sleeps; the GUI stays live throughout.
"""
from __future__ import annotations

from typing import Iterator

from PySide6.QtCore import QObject, QTimer, Signal, SignalInstance, Slot

from ..core.faults import FaultMode, FaultPoint

STEP_TIMEOUT_MS = 120_000
DEMO_SAMPLES = frozenset({"messy_field_names.ndjson", "money_locales.ndjson",
                          "retries_reordered_keys.ndjson", "bad_lines.ndjson",
                          "nested_clients.json"})


class DemoPlayer(QObject):
    step = Signal(str)  # a caption for what happens now
    finished = Signal(bool)  # True when the totals were verified exact

    def __init__(self, window, speed: float = 1.0):
        super().__init__(window)
        self.window = window
        self.speed = max(0.01, speed)
        self.running = False
        self.verified: bool | None = None
        self._gen: Iterator | None = None
        self._timer = QTimer(self)
        self._timer.setObjectName("demo-step")
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._advance)
        self._poll: object = None
        self._waited_ms = 0
        self._connection = None
        self.step.connect(self._caption)

    def start(self) -> None:
        self.running = True
        self._gen = self._script()
        self._timer.start(0)

    def stop(self) -> None:
        self._timer.stop()
        self._disconnect()
        if self.running:
            self.running = False
            self._gen = None

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
            self.running = False
            self._gen = None
            self.finished.emit(bool(self.verified))
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
        yield lambda: "ok" in result
        bridge.taskDone.disconnect(got)
        self.verified = bool(result.get("ok"))
        bridge.refresh()
        yield 300
        self.step.emit("finished — totals are exact: every event counted once" if self.verified
                       else "finished — the totals do NOT match the recount")
