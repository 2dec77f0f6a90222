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
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFrame, QHBoxLayout, QHeaderView,
                               QInputDialog, QLabel, QListWidget, QListWidgetItem, QMainWindow,
                               QPlainTextEdit, QSizePolicy, QSplitter, QToolButton, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from ..core.dburl import short_label
from ..scenario.model import RunSnapshot, RunState, Scenario
from .convergence import ConvergencePanel
from .scenario_runs import RunHost
from .scenario_charts import (OutcomeChart, StoredChart, TimelineChart, restart_times,
                              steps_started, view_end)
from .theme import CRASH_RED, plain_tooltip

SPEEDS = (0.5, 1.0, 2.0, 5.0, 10.0)
REFRESH_MS = 100  # at most ten repaints a second, however often the runner reports
OPENED_KEY = "scenarios/opened"
GEOMETRY_KEY = "scenarios/geometry"
_LIVE = (RunState.READY, RunState.PLAYING, RunState.PAUSED, RunState.SETTLING)


@dataclass
class ScenarioEntry:
    """A line of the scenario list: a file, and what reading it gave."""

    path: Path
    builtin: str | None  # the built-in's short name; None for a file the user opened
    scenario: Scenario | None = None
    error: str | None = None

    @property
    def title(self) -> str:
        if self.scenario is not None:
            return self.scenario.name
        return self.path.name

    def load(self) -> None:
        from ..scenario.spec import load_scenario

        try:
            self.scenario, self.error = load_scenario(self.path), None
        except Exception as exc:  # ScenarioError names step and line; any other is said as is
            self.scenario = None
            self.error = str(exc) or type(exc).__name__


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
        self.entries: list[ScenarioEntry] = []
        self.host = RunHost(self)
        self.run_entry: ScenarioEntry | None = None
        self.last_snapshot: RunSnapshot | None = None  # what the panels show
        self.db_target: Path | str | None = None  # None: a temporary database per run
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setObjectName("scenario-refresh")
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.timeout.connect(self._refresh)
        self.host.changed.connect(self._on_changed)
        self.host.started.connect(self._on_started)
        self.host.failed.connect(self._on_failed)
        self.host.ended.connect(self._on_ended)

        self._build()
        self._load_entries()
        self._place()
        self._sync_controls()

    def _build(self) -> None:
        self.scenario_list = QListWidget(self)
        self.scenario_list.setObjectName("scenarioList")
        self.scenario_list.setWordWrap(True)  # long names wrap instead of scrolling sideways
        self.scenario_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scenario_list.currentRowChanged.connect(self._on_selected)
        self.open_action = self._action("&Open scenario…", self.open_scenario_dialog,
                                        QKeySequence.StandardKey.Open, "openScenario",
                                        "Add a scenario file (TOML) to the list")
        open_button = QToolButton(self)
        open_button.setDefaultAction(self.open_action)
        self.description = QPlainTextEdit(self)
        self.description.setObjectName("scenarioDescription")
        self.description.setReadOnly(True)
        self.description.setFrameShape(QFrame.Shape.NoFrame)
        self.description.viewport().setAutoFillBackground(False)
        self.description.setMaximumHeight(self.fontMetrics().lineSpacing() * 7 + 8)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("scenarioError")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(f"color: {CRASH_RED}; font-weight: 600;")
        self.error_label.hide()
        self.steps_tree = QTreeWidget(self)
        self.steps_tree.setObjectName("scenarioSteps")
        self.steps_tree.setHeaderLabels(["#", "at", "ran", "step"])
        self.steps_tree.headerItem().setToolTip(2, "When the step really ran: a wait or a "
                                                   "pause puts the steps after it later")
        self.steps_tree.setRootIsDecorated(False)
        self.steps_tree.setUniformRowHeights(True)
        header = self.steps_tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.db_choice = QComboBox(self)
        self.db_choice.setObjectName("scenarioDatabase")
        self.db_choice.addItems(["A temporary database of its own", "A SQLite file…",
                                 "A PostgreSQL database…"])
        self.db_choice.setToolTip("Where the run stores its events. The temporary database is "
                                  "made for each run and removed when it ends; a database of "
                                  "yours keeps the events (and its own events count against the "
                                  "verdict)")
        self.db_choice.activated.connect(self._on_db_chosen)
        self.db_label = QLabel(self)
        self.db_label.setObjectName("scenarioDatabaseLabel")
        self.db_label.setTextFormat(Qt.TextFormat.PlainText)
        self.db_label.setWordWrap(True)

        left = QWidget(self)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        heading = QLabel("Scenarios", left)
        heading.setStyleSheet("font-weight: 600;")
        top.addWidget(heading, 1)
        top.addWidget(open_button)
        ll.addLayout(top)
        ll.addWidget(self.scenario_list, 2)
        ll.addWidget(self.description)
        ll.addWidget(self.error_label)
        ll.addWidget(self.steps_tree, 3)
        ll.addWidget(QLabel("Database", left))
        ll.addWidget(self.db_choice)
        ll.addWidget(self.db_label)

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
        body.setStretchFactor(0, 1)
        body.setStretchFactor(1, 1)
        body.setSizes([500, 560])
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
        self._show_db()

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

    # -- the list of scenarios

    def _load_entries(self) -> None:
        from ..scenario.builtins import builtin_scenarios

        found = builtin_scenarios()
        # the window demo's sequence, judged, comes first; the rest as the package lists them
        for name in sorted(found, key=lambda n: n != "demo"):
            self._add_entry(ScenarioEntry(Path(found[name]), name))
        opened = self.settings.value(OPENED_KEY, []) if self.settings is not None else []
        for text in [opened] if isinstance(opened, str) else opened or []:
            if Path(text).is_file():
                self._add_entry(ScenarioEntry(Path(text), None))
        if self.entries:
            self.scenario_list.setCurrentRow(0)

    def _add_entry(self, entry: ScenarioEntry) -> QListWidgetItem:
        entry.load()
        item = QListWidgetItem(self.scenario_list)
        self.entries.append(entry)
        self._label_item(item, entry)
        return item

    def _label_item(self, item: QListWidgetItem, entry: ScenarioEntry) -> None:
        mark = "⚠ " if entry.error else ""
        where = "" if entry.builtin else f"  ({entry.path.name})"
        item.setText(f"{mark}{entry.title}{where}")
        item.setToolTip(plain_tooltip(entry.error or str(entry.path)))

    def current_entry(self) -> ScenarioEntry | None:
        row = self.scenario_list.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def select(self, name_or_path: str | Path) -> ScenarioEntry:
        """Select a built-in by short name, or a listed file by path."""
        for i, e in enumerate(self.entries):
            if e.builtin == name_or_path or e.path == Path(name_or_path):
                self.scenario_list.setCurrentRow(i)
                return e
        raise KeyError(f"no scenario {name_or_path!r} in the list")

    @Slot(int)
    def _on_selected(self, _row: int) -> None:
        self._show_entry(self.current_entry())

    def _show_entry(self, entry: ScenarioEntry | None) -> None:
        scenario = entry.scenario if entry is not None else None
        self.error_label.setVisible(bool(entry and entry.error))
        self.error_label.setText(f"This file cannot be played:\n{entry.error}"
                                 if entry and entry.error else "")
        if scenario is not None:
            bits = [f"{len(scenario.steps)} steps over {scenario.duration_s:g} s",
                    f"settles for up to {scenario.settle_s:g} s"]
            if scenario.seed is not None:
                bits.append(f"seed {scenario.seed}")
            self.description.setPlainText(_paragraphs(scenario.description)
                                          + " · ".join(bits))
        else:
            self.description.setPlainText(str(entry.path) if entry is not None else "")
        self.steps_tree.clear()
        # in the order they run (by ``at``, ties in file order); # is the step's number
        order = sorted(scenario.steps, key=lambda s: (s.at_s, s.index)) if scenario else ()
        for step in order:
            item = QTreeWidgetItem([str(step.index), f"{step.at_s:g}s", "", step.describe()])
            item.setData(0, Qt.ItemDataRole.UserRole, step.index)
            item.setToolTip(3, plain_tooltip(step.describe()))
            self.steps_tree.addTopLevelItem(item)
        if self.run is None and not self.host.launching:
            self.timeline.set_scenario(scenario)
            self.last_snapshot = None
            self._show_snapshot(None)
        self._sync_controls()

    def open_scenario_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open scenario", "",
                                                "Scenario files (*.toml);;All files (*)")
        for p in paths:
            self.open_scenario(Path(p))

    def open_scenario(self, path: Path) -> ScenarioEntry:
        """Add a scenario file to the list (read again when it is there already) and select
        it; a file that cannot be played is listed with its error (step and line)."""
        path = Path(path).resolve()
        for i, e in enumerate(self.entries):
            if e.builtin is None and e.path == path:
                e.load()
                self._label_item(self.scenario_list.item(i), e)
                self.scenario_list.setCurrentRow(i)
                self._show_entry(e)
                return e
        self._add_entry(ScenarioEntry(path, None))
        self._remember_opened()
        self.scenario_list.setCurrentRow(len(self.entries) - 1)
        entry = self.entries[-1]
        self.message.emit(f"Cannot play {path.name}: {entry.error}" if entry.error
                          else f"Opened {path.name}: {entry.title}")
        return entry

    def _remember_opened(self) -> None:
        if self.settings is not None:
            self.settings.setValue(OPENED_KEY, [str(e.path) for e in self.entries
                                                if e.builtin is None])

    # -- the database

    def set_database(self, target: Path | str | None) -> None:
        """Where runs store their events: None for a temporary database per run."""
        self.db_target = target
        self._show_db()

    def _show_db(self) -> None:
        target = self.db_target
        self.db_choice.blockSignals(True)
        if target is None:
            self.db_choice.setCurrentIndex(0)
            self.db_label.setText("Made for each run, removed when the run ends")
        else:
            is_url = isinstance(target, str) and "://" in target
            self.db_choice.setCurrentIndex(2 if is_url else 1)
            self.db_label.setText(f"{short_label(target)} (its events stay after the run)")
            self.db_label.setToolTip(plain_tooltip(str(target)))
        self.db_choice.blockSignals(False)

    @Slot(int)
    def _on_db_chosen(self, index: int) -> None:
        if index == 0:
            self.set_database(None)
            return
        if index == 1:
            path, _ = QFileDialog.getSaveFileName(
                self, "Database for scenario runs", "", "SQLite database (*.db *.sqlite);;"
                "All files (*)", options=QFileDialog.Option.DontConfirmOverwrite)
            self.set_database(Path(path) if path else self.db_target)
            return
        url, ok = QInputDialog.getText(self, "PostgreSQL database",
                                       "URL (postgresql://USER@HOST/DBNAME):")
        url = url.strip()
        if ok and url.startswith(("postgresql://", "postgres://")):
            self.set_database(url)
        else:
            if ok:
                self.message.emit("A PostgreSQL URL starts with postgresql://")
            self.set_database(self.db_target)

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
        entry = self.current_entry()
        if entry is None:
            return
        if entry.builtin is None:
            entry.load()  # a file the user edits between runs plays as it is now
            self._label_item(self.scenario_list.currentItem(), entry)
            self._show_entry(entry)
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
        self.error_label.setText(f"The run could not start:\n{why}")
        self.error_label.show()
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
        self._mark_steps(snapshot)
        self._sync_controls()
        self.snapshotShown.emit(snapshot)

    def _mark_steps(self, snapshot: RunSnapshot | None) -> None:
        next_step = snapshot.next_step if snapshot is not None else 1
        ran = steps_started(snapshot)
        for i in range(self.steps_tree.topLevelItemCount()):
            item = self.steps_tree.topLevelItem(i)
            index = item.data(0, Qt.ItemDataRole.UserRole)
            mark = "✓ " if index in ran else "▶ " if index == next_step \
                and snapshot is not None and snapshot.state in _LIVE else ""
            item.setText(0, f"{mark}{index}")
            item.setText(2, f"{ran[index]:.2f}s" if index in ran else "")

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
        # what the panels show belongs to the live run: the list waits for it to end
        self.scenario_list.setEnabled(not live)
        self.open_action.setEnabled(not live)
        self.db_choice.setEnabled(not live)
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


def _paragraphs(text: str) -> str:
    """A description as the file wrote it, rewrapped: lines joined, blank lines kept."""
    paras = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "".join(p + "\n\n" for p in paras if p)


__all__ = ["ScenarioEntry", "ScenariosWindow"]
