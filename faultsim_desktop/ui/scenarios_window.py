"""Simulate ▸ Scenarios…: pick a scenario (built in or opened), play, pause or step it against
an engine of its own, watch the timeline, the charts and the convergence panel, and read the
verdict; save the run as an HTML report.

A run is a ``ScenarioRun`` held by a ``RunHost`` (scenario_runs.py): its own thread plays the
script and its engine is a child process, so nothing here waits on either; the window reads a
snapshot at most ten times a second after the runner reports a change.

The scenario modules are imported when a window is made, not when this module is: the main
window imports this module at start-up and the runner brings multiprocessing with it.
"""
from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QMainWindow,
                               QSizePolicy, QSplitter, QToolButton, QVBoxLayout, QWidget)

from ..core.dburl import short_label
from ..scenario.model import RunSnapshot, RunState
from .convergence import ConvergencePanel
from .scenario_charts import OutcomeChart, StoredChart, TimelineChart, restart_times, view_end
from .scenario_picker import ScenarioEntry, ScenarioPicker
from .scenario_runs import RunHost
from .theme import plain_tooltip

SPEEDS = (0.5, 1.0, 2.0, 5.0, 10.0)
REFRESH_MS = 100  # at most ten repaints a second, however often the runner reports
GEOMETRY_KEY = "scenarios/geometry"


class ScenariosWindow(QMainWindow):
    """A top-level window of the main window (not modal); closing it ends its run."""

    message = Signal(str)  # every status message, also for tests
    snapshotShown = Signal(object)  # the RunSnapshot now on screen
    runFinished = Signal(object)  # the final RunSnapshot of a run that played to its end

    def __init__(self, settings: QSettings | None = None, parent=None):
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("scenariosWindow")
        self.setWindowTitle("Scenarios — faultsim-desktop")
        self.settings = settings
        self.host = RunHost(self)
        self.run_entry: ScenarioEntry | None = None
        self.last_snapshot: RunSnapshot | None = None  # what the panels show
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setObjectName("scenario-refresh")
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.timeout.connect(self._refresh)
        self.host.changed.connect(self._on_changed)
        self.host.started.connect(self._on_started)
        self.host.failed.connect(self._on_failed)
        self.host.ended.connect(self._on_ended)

        self._build()
        self.picker.load_entries()
        self._place()
        self._sync_controls()

    def _build(self) -> None:
        self.open_action = self._action("&Open scenario…", self.open_scenario_dialog,
                                        QKeySequence.StandardKey.Open, "openScenario",
                                        "Add a scenario file (TOML) to the list")
        self.picker = left = ScenarioPicker(self.settings, self.open_action, self)
        left.chosen.connect(self._on_chosen)
        left.message.connect(self.message)
        # the pane's parts, as tests and the rest of the window name them
        self.scenario_list, self.steps_tree = left.scenario_list, left.steps_tree
        self.error_label, self.db_label = left.error_label, left.db_label

        self.play_action = self._action("&Play", self.play, "F5", "playScenario",
                                        "Play the scenario (or go on after a pause)")
        self.pause_action = self._action("P&ause", self.pause, "F6", "pauseScenario",
                                         "Pause the timeline (sends under way go on)")
        self.step_action = self._action("S&tep", self.step, "F10", "stepScenario",
                                        "Run the next step now, then stay paused")
        self.stop_action = self._action("&Stop", self.stop, "Shift+F5", "stopScenario",
                                        "End the run: its engine is killed, a temporary "
                                        "database removed")
        self.report_action = self._action("Save &report…", self.save_report_dialog,
                                          QKeySequence.StandardKey.Save, "saveScenarioReport",
                                          "Save the run as one self-contained HTML file")
        controls = QHBoxLayout()
        controls.setContentsMargins(4, 4, 4, 0)
        for a in (self.play_action, self.pause_action, self.step_action, self.stop_action):
            b = QToolButton(self)
            b.setDefaultAction(a)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            controls.addWidget(b)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Speed", self))
        self.speed_box = QComboBox(self)
        self.speed_box.setObjectName("scenarioSpeed")
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g}×", s)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.setToolTip("How fast the timeline runs (the gaps between steps and the "
                                  "rate of generated events); it changes a run under way too")
        self.speed_box.currentIndexChanged.connect(self._on_speed_chosen)
        controls.addWidget(self.speed_box)
        self.position_label = QLabel(self)
        self.position_label.setObjectName("scenarioPosition")
        self.position_label.setTextFormat(Qt.TextFormat.PlainText)
        self.position_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        controls.addWidget(self.position_label, 1)
        report_button = QToolButton(self)
        report_button.setDefaultAction(self.report_action)
        controls.addWidget(report_button)

        self.timeline = TimelineChart(self)
        self.stored_chart = StoredChart(self)
        self.outcome_chart = OutcomeChart(self)
        self.outcome_chart.plot.setXLink(self.stored_chart.plot)
        self.convergence = ConvergencePanel(self)
        charts = QSplitter(Qt.Orientation.Vertical, self)
        charts.setObjectName("scenarioCharts")
        charts.addWidget(self.stored_chart)
        charts.addWidget(self.outcome_chart)
        body = QSplitter(Qt.Orientation.Horizontal, self)
        body.setObjectName("scenarioBody")
        body.addWidget(charts)
        body.addWidget(self.convergence)
        # the convergence table's seven columns need about 600 px to show every total without
        # scrolling: it gets the larger share, the charts keep theirs legible
        body.setStretchFactor(0, 2)
        body.setStretchFactor(1, 3)
        body.setSizes([440, 640])
        right = QWidget(self)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.setSpacing(2)
        rl.addLayout(controls)
        rl.addWidget(self.timeline)
        rl.addWidget(body, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("scenarioSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 4)
        self.splitter.setSizes([230, 1130])
        self.setCentralWidget(self.splitter)
        self.statusBar().setSizeGripEnabled(True)
        self.message.connect(lambda text: self.statusBar().showMessage(text, 15000))

    def _place(self) -> None:
        """Where the user left it, else as large as a laptop screen allows."""
        saved = self.settings.value(GEOMETRY_KEY) if self.settings is not None else None
        if saved is not None and self.restoreGeometry(saved):
            return
        screen = self.screen().availableGeometry()
        self.resize(min(1366, screen.width()), min(820, screen.height()))

    def _action(self, text, slot, shortcut, name, tip) -> QAction:
        a = QAction(text, self)
        a.setShortcut(QKeySequence(shortcut))
        a.setObjectName(name)
        a.setToolTip(f"{tip} ({a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})")
        a.setStatusTip(tip)
        a.triggered.connect(lambda checked=False: slot())
        self.addAction(a)
        return a

    # -- the scenario and the database (ScenarioPicker)

    @property
    def entries(self) -> list[ScenarioEntry]:
        return self.picker.entries

    @property
    def db_target(self) -> Path | str | None:
        """Where runs store their events: None for a temporary database per run."""
        return self.picker.db_target

    def current_entry(self) -> ScenarioEntry | None:
        return self.picker.current_entry()

    def select(self, name_or_path: str | Path) -> ScenarioEntry:
        """Select a built-in by short name, or a listed file by path."""
        return self.picker.select(name_or_path)

    def open_scenario_dialog(self) -> None:
        self.picker.open_scenario_dialog()

    def open_scenario(self, path: Path) -> ScenarioEntry:
        """Add a scenario file to the list (read again when listed already) and select it."""
        return self.picker.open_scenario(path)

    def set_database(self, target: Path | str | None) -> None:
        self.picker.set_database(target)

    @Slot(object)
    def _on_chosen(self, entry: ScenarioEntry | None) -> None:
        if self.run is None and not self.host.launching:
            self.timeline.set_scenario(entry.scenario if entry is not None else None)
            self.last_snapshot = None
            self._show_snapshot(None)
        self._sync_controls()

    # -- playing

    def speed(self) -> float:
        return float(self.speed_box.currentData())

    @Slot(int)
    def _on_speed_chosen(self, _index: int) -> None:
        why = self.host.set_speed(self.speed())
        if why:
            self.message.emit(f"Cannot change the speed: {why}")

    @property
    def run(self):
        """The live ScenarioRun (None while one is being made, and between runs)."""
        return self.host.run

    @property
    def live(self) -> bool:
        """A run is being made, plays, is paused or settles."""
        return self.host.live

    def play(self) -> None:
        if self.run is not None:
            self._command("resume")
        elif not self.host.launching:
            self._launch("start")

    def pause(self) -> None:
        if self.run is not None:
            self._command("pause")

    def step(self) -> None:
        if self.run is not None:
            self._command("step")
        elif not self.host.launching:
            self._launch("step")

    def stop(self) -> None:
        """End the live run; the panels keep what it showed last."""
        if not self.host.let_go():
            return
        self._refresh_timer.stop()
        self.message.emit("Stopping the run: its engine is being killed")
        self._sync_controls()

    def _command(self, what: str) -> None:
        why = self.host.command(what)
        if why:
            self.message.emit(f"Cannot {what}: {why}")
        self._on_changed()

    def _launch(self, first: str) -> None:
        entry = self.picker.reload_current()
        if entry is None:
            return
        if entry.scenario is None:
            self.message.emit(f"Cannot play {entry.path.name}: {entry.error}")
            return
        scenario = entry.scenario
        self.run_entry = entry
        self.host.launch(scenario, self.db_target, self.speed(), first)
        self.timeline.set_scenario(scenario)
        self.last_snapshot = None
        self._show_snapshot(None)
        self._sync_controls()
        self.message.emit(f"Starting {scenario.name}: computing the expected totals and "
                          "starting its engine…")

    @Slot()
    def _on_started(self) -> None:
        self._on_speed_chosen(0)  # a speed chosen while the run was being made
        self.message.emit(f"Playing {self.run_entry.title}" + (
            "" if self.host.tmp is not None else f" in {short_label(self.db_target)}"))
        self._refresh()

    @Slot(str)
    def _on_failed(self, why: str) -> None:
        self.picker.show_error(f"The run could not start:\n{why}")
        self.message.emit(f"The run could not start: {why}")
        self._sync_controls()

    @Slot(object)
    def _on_ended(self, last: RunSnapshot | None) -> None:
        if last is not None and not self.live and self.last_snapshot is not None \
                and self.last_snapshot.verdict is None:
            self._show_snapshot(last)  # a stopped run: where it got to
        self.message.emit("The run ended: its engine is stopped"
                          + ("" if self.db_target is not None
                             else " and its temporary database removed"))
        self._sync_controls()

    @Slot()
    def _on_changed(self) -> None:
        if self.run is None:
            return
        if not self._refresh_timer.isActive():
            self._refresh_timer.start(REFRESH_MS)

    @Slot()
    def _refresh(self) -> None:
        run = self.run
        if run is None:
            return
        snapshot = run.snapshot()
        self._show_snapshot(snapshot)
        if snapshot.state is RunState.FINISHED:
            self._refresh_timer.stop()
            self.host.let_go()  # its engine closes; a temporary database goes
            self.message.emit(f"{self.run_entry.title}: " + (
                f"verdict {snapshot.verdict.value}" if snapshot.verdict is not None
                else f"ended without a verdict ({snapshot.error or 'stopped'})"))
            self._sync_controls()
            self.runFinished.emit(snapshot)

    def _show_snapshot(self, snapshot: RunSnapshot | None) -> None:
        self.last_snapshot = snapshot
        scenario = self.timeline.scenario
        end = view_end(scenario, snapshot)
        if snapshot is not None:
            self.timeline.show_snapshot(snapshot)
            restarts = restart_times(snapshot, scenario)
            for chart in (self.stored_chart, self.outcome_chart):
                chart.show_snapshot(snapshot, self.timeline.colors, end)
                chart.show_restarts(restarts)
        else:
            self.stored_chart.clear(end)
            self.outcome_chart.clear(end)
        self.convergence.show_snapshot(snapshot, scenario.duration_s if scenario else 0.0)
        self.picker.mark_steps(snapshot)
        self._sync_controls()
        self.snapshotShown.emit(snapshot)

    def _sync_controls(self) -> None:
        entry = self.current_entry()
        playable = entry is not None and entry.scenario is not None
        run_state = self.last_snapshot.state if (self.run is not None and self.last_snapshot
                                                 is not None) else None
        live = self.live
        self.play_action.setEnabled(playable and not self.host.launching and (
            not live or run_state is RunState.PAUSED))
        self.pause_action.setEnabled(run_state in (RunState.PLAYING, RunState.SETTLING))
        self.step_action.setEnabled(playable and not self.host.launching and (
            not live or run_state in (RunState.PLAYING, RunState.PAUSED, RunState.READY)))
        self.stop_action.setEnabled(live)
        self.report_action.setEnabled(self.last_snapshot is not None
                                      and self.timeline.scenario is not None)
        self.picker.set_live(live)
        s = self.last_snapshot
        if self.host.launching:
            text = "Starting…"
        elif s is None:
            text = "Ready" if playable else ""
        else:
            steps = len(self.timeline.scenario.steps) if self.timeline.scenario else 0
            text = (f"{s.state.value} · {s.position_s:.1f} s · step {min(s.next_step, steps)} "
                    f"of {steps}" + (f" · {s.timeline[-1].text}" if s.timeline else ""))
        self.position_label.setText(text)
        self.position_label.setToolTip(plain_tooltip(text))

    # -- the report

    def save_report_dialog(self) -> None:
        if self.last_snapshot is None or self.timeline.scenario is None:
            return
        name = "".join(c if c.isalnum() or c in "-_" else "-"
                       for c in self.timeline.scenario.name.lower()).strip("-") or "scenario"
        path, _ = QFileDialog.getSaveFileName(self, "Save report", f"{name}-report.html",
                                              "HTML (*.html)")
        if path:
            self.save_report(Path(path))

    def save_report(self, path: Path) -> bool:
        """Write the run on screen (finished or not) as one HTML document."""
        from ..scenario.report import render_report

        snapshot = self.run.snapshot() if self.run is not None else self.last_snapshot
        scenario = self.timeline.scenario
        if snapshot is None or scenario is None:
            return False
        try:
            Path(path).write_text(render_report(scenario, snapshot), encoding="utf-8")
        except Exception as exc:  # a full disk or a folder without write access
            self.message.emit(f"Could not save the report: {exc}")
            return False
        self.message.emit(f"Saved the report to {path}")
        return True

    # -- closing

    def closeEvent(self, event) -> None:
        self.stop()  # a closed window leaves no engine behind
        if self.settings is not None:
            self.settings.setValue(GEOMETRY_KEY, self.saveGeometry())
        super().closeEvent(event)

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            pal = self.palette()
            self.timeline.apply_palette(pal)
            self.stored_chart.apply_palette(pal)
            self.outcome_chart.apply_palette(pal)
            self.convergence.apply_palette(pal)
        super().changeEvent(event)

    def shutdown(self) -> None:
        """End the run and wait until its engine is gone (the main window is closing)."""
        self.close()
        self.host.shutdown()
        self._refresh_timer.stop()
        self.statusBar().clearMessage()  # stops the status bar's message timer

    def threads(self) -> list[threading.Thread]:
        return self.host.threads()


__all__ = ["ScenarioEntry", "ScenariosWindow"]
