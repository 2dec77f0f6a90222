"""The left pane of Simulate ▸ Scenarios…: the list of scenarios (built in, and the files the
user opened), the chosen one's description and steps, and where runs store their events.

It knows nothing of runs: the window tells it when one is live (the pane then waits) and
which steps a run has reached, and hears from it which scenario is chosen."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFrame, QHBoxLayout, QHeaderView,
                               QInputDialog, QLabel, QListWidget, QListWidgetItem,
                               QPlainTextEdit, QToolButton, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from ..core.dburl import short_label
from ..scenario.model import RunSnapshot, RunState, Scenario
from .scenario_charts import steps_started
from .theme import CRASH_RED, plain_tooltip

OPENED_KEY = "scenarios/opened"
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


class ScenarioPicker(QWidget):
    """Which scenario to play, and on which database. ``open_action`` (the window's, so its
    shortcut works anywhere in the window) gets a button here."""

    chosen = Signal(object)  # the ScenarioEntry now shown (None: nothing is listed)
    message = Signal(str)  # a status message for the window

    def __init__(self, settings: QSettings | None, open_action: QAction, parent=None):
        super().__init__(parent)
        self.settings = settings
        self.open_action = open_action
        self.entries: list[ScenarioEntry] = []
        self.db_target: Path | str | None = None  # None: a temporary database per run
        self._build()

    def _build(self) -> None:
        self.scenario_list = QListWidget(self)
        self.scenario_list.setObjectName("scenarioList")
        self.scenario_list.setWordWrap(True)  # long names wrap instead of scrolling sideways
        self.scenario_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scenario_list.currentRowChanged.connect(self._on_selected)
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
        for column in (0, 1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
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

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        heading = QLabel("Scenarios", self)
        heading.setStyleSheet("font-weight: 600;")
        top.addWidget(heading, 1)
        top.addWidget(open_button)
        layout.addLayout(top)
        layout.addWidget(self.scenario_list, 2)
        layout.addWidget(self.description)
        layout.addWidget(self.error_label)
        layout.addWidget(self.steps_tree, 3)
        layout.addWidget(QLabel("Database", self))
        layout.addWidget(self.db_choice)
        layout.addWidget(self.db_label)
        self._show_db()

    # -- the list of scenarios

    def load_entries(self) -> None:
        """List the built-in scenarios, then the files opened before; select the first."""
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

    def reload_current(self) -> ScenarioEntry | None:
        """Read the selected file again (a file the user edits between runs plays as it is
        now); built-ins are read once."""
        entry = self.current_entry()
        if entry is not None and entry.builtin is None:
            entry.load()
            self._label_item(self.scenario_list.currentItem(), entry)
            self._show_entry(entry)
        return entry

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
        self.chosen.emit(entry)

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()

    def mark_steps(self, snapshot: RunSnapshot | None) -> None:
        """Tick the steps a run has started, with when they ran; point at the next one."""
        next_step = snapshot.next_step if snapshot is not None else 1
        ran = steps_started(snapshot)
        for i in range(self.steps_tree.topLevelItemCount()):
            item = self.steps_tree.topLevelItem(i)
            index = item.data(0, Qt.ItemDataRole.UserRole)
            mark = "✓ " if index in ran else "▶ " if index == next_step \
                and snapshot is not None and snapshot.state in _LIVE else ""
            item.setText(0, f"{mark}{index}")
            item.setText(2, f"{ran[index]:.2f}s" if index in ran else "")

    def set_live(self, live: bool) -> None:
        """What the window's panels show belongs to the live run: the pane waits for it."""
        self.scenario_list.setEnabled(not live)
        self.open_action.setEnabled(not live)
        self.db_choice.setEnabled(not live)

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


def _paragraphs(text: str) -> str:
    """A description as the file wrote it, rewrapped: lines joined, blank lines kept."""
    paras = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "".join(p + "\n\n" for p in paras if p)


__all__ = ["ScenarioEntry", "ScenarioPicker"]
