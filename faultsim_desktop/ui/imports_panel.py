"""The Imports panel: every file, paste, request and resubmit ingested, newest first, with its
counts by outcome, and Undo, which takes one import back exactly (core/storage/undo.py).

The list is read on the bridge's reader lane, at most every READ_GAP_S and never more often
than READ_COST_FACTOR times what the last read took, and only while the panel shows. An undo
runs on the ops lane (the service hands it to its writer) while the window goes on.
"""
from __future__ import annotations

import os
import time
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QDockWidget, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QMenu, QMessageBox, QProgressBar, QPushButton,
                               QStyledItemDelegate, QTableView, QVBoxLayout, QWidget)

from ..core.errors import StorageError
from ..core.model import ImportRow, OutcomeRecord, UndoResult
from ..core.service import ImportBusy
from .imports_model import (COLUMNS, COUNTS, FAULTS, FIRST_COUNT, ID, KIND, SORT_ROLE, SOURCE,
                            STARTED, STATUS, ImportsModel, counts_text, import_name,
                            undo_headline, undo_text, when)

_IMPORT_TAG = itemgetter(OutcomeRecord._fields.index("import_tag"))
READ_GAP_S = 0.5
READ_COST_FACTOR = 4  # a list that takes 0.3 s to read is read every 1.2 s at most


class _Undo(NamedTuple):
    """What the undo task brings back: the result, or why there is none."""

    row: ImportRow
    result: UndoResult | None
    error: str = ""


class _MiddleElide(QStyledItemDelegate):
    """A long path keeps its start and its file name."""

    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


class ImportsPanel(QWidget):
    """The table, a filter, a summary line and Undo. ``bind(bridge)`` connects it to the
    engine; ``undo_status`` is the status-bar widget that shows an undo under way."""

    message = Signal(str)
    undoAvailable = Signal(bool)  # Undo import… can be chosen now
    undoFinished = Signal(object, object)  # ImportRow, UndoResult
    undoFailed = Signal(object, str)  # ImportRow, message

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = ImportsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.table = QTableView(self)
        self.table.setObjectName("importsTable")
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(ID, Qt.SortOrder.DescendingOrder)  # newest first
        self.table.setItemDelegateForColumn(SOURCE, _MiddleElide(self.table))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_context_menu)
        vh = self.table.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(SOURCE, QHeaderView.ResizeMode.Stretch)
        hh.setMinimumSectionSize(24)
        self._fm = self.table.fontMetrics()
        # the source takes what the others leave: they are as narrow as their contents allow
        for col, sample in ((ID, "000"), (KIND, "resubmit"), (STARTED, "2026-12-31 23:59:59"),
                            (FAULTS, "Faults"), (STATUS, "undone at 2026-12-31 23:59")):
            self.table.setColumnWidth(col, self._fm.horizontalAdvance(sample) + 14)
        for col in range(FIRST_COUNT, FAULTS):
            self.table.setColumnWidth(col, self._count_width(col, 0))

        self.filter_box = QLineEdit(self)
        self.filter_box.setObjectName("importsFilter")
        self.filter_box.setPlaceholderText("Filter by source, kind or status")
        self.filter_box.setClearButtonEnabled(True)
        self.filter_box.textChanged.connect(self._on_filter)
        self._last_report = ""  # what the latest undo did, in full
        self.summary = QLabel(self)
        self.summary.setObjectName("importsSummary")
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.undo_button = QPushButton("Undo import…", self)
        self.undo_button.setObjectName("undoImport")
        self.undo_button.setToolTip("Take the selected import back exactly, as if it had never "
                                    "been ingested: its events leave the totals")
        self.undo_button.clicked.connect(lambda: self.request_undo())
        self.undo_progress = QProgressBar(self)
        self.undo_progress.setObjectName("undoProgress")
        self.undo_progress.setRange(0, 0)  # an undo is one transaction: no steps to count
        self.undo_progress.setMaximumWidth(120)
        self.undo_progress.setTextVisible(False)
        self.undo_progress.hide()

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.filter_box, 1)
        bottom = QHBoxLayout()
        bottom.setContentsMargins(0, 0, 0, 0)
        bottom.addWidget(self.summary, 1)
        bottom.addWidget(self.undo_progress)
        bottom.addWidget(self.undo_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

        # the status bar's sign of an undo under way (the window adds it to its status bar)
        self.undo_status = QWidget(self)
        self.undo_status.setObjectName("undoStatus")
        sl = QHBoxLayout(self.undo_status)
        sl.setContentsMargins(0, 0, 0, 0)
        self.undo_status_label = QLabel(self.undo_status)
        self.undo_status_label.setTextFormat(Qt.TextFormat.PlainText)
        status_bar = QProgressBar(self.undo_status)
        status_bar.setRange(0, 0)
        status_bar.setMaximumWidth(90)
        status_bar.setTextVisible(False)
        sl.addWidget(self.undo_status_label)
        sl.addWidget(status_bar)
        self.undo_status.hide()

        self.confirm_box: QMessageBox | None = None
        self.confirm_button = None  # the confirmation's "Undo import #N" button
        self.error_box: QMessageBox | None = None
        self.context_menu: QMenu | None = None
        self._bridge = None
        self._dirty = True
        self._reading = False
        self._read_at = 0.0
        self._read_cost = 0.0
        self._read_error = ""
        self._undo: ImportRow | None = None  # the import an undo is taking back
        # imports a child process ingests for this window (large files): the service does not
        # know them as running, so the window tracks them: uid -> source, and the file under way
        self._child_imports: dict[int, str] = {}
        self._file_under_way: str | None = None
        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        self.proxy.modelReset.connect(self._update_actions)
        self.proxy.dataChanged.connect(self._update_actions)
        self._show_summary()
        self._update_actions()

    def bind(self, bridge) -> None:
        self._bridge = bridge
        bridge.countersChanged.connect(self._tick)  # the bridge's 10 Hz tick
        bridge.outcomes.connect(self._on_outcomes)
        bridge.statsChanged.connect(self.refresh)  # after commits (this window's, other writers')
        # the outbox may have changed (events that failed, a drain, every 2 s for other
        # processes): each import shows how many of its events wait there
        bridge.pendingChanged.connect(self.refresh)
        bridge.textFinished.connect(self.refresh)
        bridge.filesFinished.connect(self._on_files_done)
        bridge.fileProgress.connect(self._on_file_progress)
        bridge.busyChanged.connect(self._on_ingest_busy)
        bridge.resetFinished.connect(self.reload)
        bridge.serviceChanged.connect(self.reload)
        bridge.taskDone.connect(self._on_task_done)

    @Slot()
    def refresh(self, *args) -> None:
        """The imports may have changed: read them again at the next tick."""
        self._dirty = True

    @Slot()
    def reload(self, *args) -> None:
        """Another (or a reset) database: start afresh."""
        self._child_imports.clear()
        self._file_under_way = None
        self.model.set_rows([], set())
        self.model.set_window_running(set())
        self._read_error = ""
        self._dirty = True
        self._read_at = 0.0
        self._show_summary()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._dirty = True
        self._tick()

    def _on_screen(self) -> bool:
        """Shown, and not behind another dock's tab: Qt keeps a dock whose tab is not the
        current one visible, out of sight, and its list would be counted again (a scan of
        every stored event) for nobody while a large file streams in."""
        return self.isVisible() and not self.visibleRegion().isEmpty()

    @Slot()
    def _tick(self, *args) -> None:
        bridge = self._bridge
        if (bridge is None or not self._dirty or self._reading or not self._on_screen()
                or time.monotonic() - self._read_at < max(READ_GAP_S,
                                                          READ_COST_FACTOR * self._read_cost)):
            return
        self._dirty = False
        self._reading = True
        self._read_at = time.monotonic()
        svc = bridge.service

        def read():
            started = time.perf_counter()
            rows = svc.imports()
            running = {r.uid for r in rows if r.undone_at is None and svc.import_running(r.uid)}
            return rows, running, time.perf_counter() - started

        def done(result) -> None:
            self._reading = False
            if svc is not bridge.service:  # the window changed databases meanwhile
                self._dirty = True
                return
            rows, running, cost = result
            self._read_cost = cost
            self._read_error = ""
            self.model.set_rows(rows[::-1], running)
            self.model.set_window_running(self._window_running())
            self._widen_counts()
            self._show_summary()

        def failed(text: str) -> None:
            self._reading = False
            # tried again after the gap, which grows with what the failed read took: while
            # the database cannot be reached, each read waits out a connection attempt on the
            # reader lane the window's totals and pending count need too
            self._read_cost = time.monotonic() - self._read_at
            self._dirty = True
            self._read_error = text
            self._show_summary()
        bridge.read(read, done, failed)

    def _window_running(self) -> set[int]:
        under_way = self._file_under_way
        return {uid for uid, source in self._child_imports.items() if source == under_way}

    @Slot(object)
    def _on_outcomes(self, batch: list[OutcomeRecord]) -> None:
        self._dirty = True
        if self._bridge is not None and self._bridge.busy:
            for tag in set(map(_IMPORT_TAG, batch)):  # in C: a batch holds up to 50,000
                if tag is not None and tag.kind == "file":
                    self._child_imports[tag.uid] = tag.source

    @Slot(object)
    def _on_file_progress(self, p) -> None:
        under_way = str(Path(p.path)) if p.total is None or p.done < p.total else None
        if under_way != self._file_under_way:
            self._file_under_way = under_way
            self.model.set_window_running(self._window_running())
            self._dirty = True

    @Slot(object)
    def _on_files_done(self, *args) -> None:
        self._child_imports.clear()
        self._file_under_way = None
        self.model.set_window_running(set())
        self._dirty = True

    @Slot(bool)
    def _on_ingest_busy(self, busy: bool) -> None:
        if not busy:
            self._on_files_done()

    def _count_width(self, col: int, value: int) -> int:
        return max(self._fm.horizontalAdvance(f"{value:,}"),
                   self._fm.horizontalAdvance(COLUMNS[col])) + 14

    def _widen_counts(self) -> None:
        """Count columns grow to their widest value: a count is never cut short."""
        rows = self.model.rows()
        if not rows:
            return
        for col in range(FIRST_COUNT, FAULTS):
            name = COUNTS[col - FIRST_COUNT]
            need = self._count_width(col, max(getattr(r, name) for r in rows))
            if self.table.columnWidth(col) < need:
                self.table.setColumnWidth(col, need)
        need = self._fm.horizontalAdvance(str(max(r.id for r in rows))) + 14
        if self.table.columnWidth(ID) < need:
            self.table.setColumnWidth(ID, need)

    def _on_filter(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        self._show_summary()

    def _show_summary(self) -> None:
        rows = self.model.rows()
        undone = sum(r.undone_at is not None for r in rows)
        running = sum(self.model.is_running(r) for r in rows)
        parts = [f"{len(rows):,} import{'s' if len(rows) != 1 else ''}"]
        if self.filter_box.text().strip():
            parts[0] = f"{self.proxy.rowCount():,} of {parts[0]} match"
        if running:
            parts.append(f"{running:,} running")
        if undone:
            parts.append(f"{undone:,} undone")
        text = " · ".join(parts)
        if self._undo is not None:
            text += f" — undoing import #{self._undo.id}…"
        elif self._read_error:
            text += f" — could not read the imports: {self._read_error}"
        elif not rows:
            text = "No imports yet: every file, paste and request ingested is listed here"
        elif self._last_report:
            text += f" — {self._last_report}"
        self.summary.setText(text)

    def selected_import(self) -> ImportRow | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.row(self.proxy.mapToSource(rows[0]).row())

    def select_import(self, import_id: int) -> bool:
        row = self.model.row_of(import_id)
        if row < 0:
            return False
        self.table.selectRow(self.proxy.mapFromSource(self.model.index(row, 0)).row())
        return True

    def why_not_undo(self, row: ImportRow) -> str:
        """Why ``row`` cannot be undone now; "" when it can."""
        if self._undo is not None:
            return f"Import #{self._undo.id} is being undone: wait for it to finish"
        if row.undone_at is not None:
            return f"Import #{row.id} was undone at {when(row.undone_at)} UTC already"
        if self.model.is_running(row):
            return (f"Import #{row.id} ({import_name(row)}) is still being ingested: cancel it "
                    "or wait for it to finish, then undo it")
        return ""

    def request_undo(self, row: ImportRow | None = None) -> None:
        """Ask to confirm undoing ``row`` (the selected import when None), then undo it."""
        row = row or self.selected_import()
        if row is None:
            self._reveal()
            self.message.emit("Select the import to undo in the Imports panel, then choose "
                              "Undo import… again")
            return
        why = self.why_not_undo(row)
        if why:
            self.message.emit(why)
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Undo import",
                          f"Undo import #{row.id} ({import_name(row)}): {row.accepted:,} "
                          f"accepted event{'s' if row.accepted != 1 else ''} leave the totals.",
                          parent=self.window())
        box.setObjectName("confirmUndoImport")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setInformativeText(self._consequences(row))
        self.confirm_button = box.addButton(f"Undo import #{row.id}",
                                            QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.finished.connect(lambda _r, box=box, row=row: self._confirmed(box, row))
        if self.confirm_box is not None:
            self.confirm_box.deleteLater()
        self.confirm_box = box
        box.open()

    def _consequences(self, row: ImportRow) -> str:
        lines = [f"It is taken back as if it had never been ingested ({row.kind}, started "
                 f"{when(row.started_at)} UTC): {counts_text(row)}.",
                 "Those of its events that a later import sent too stay in the totals, as "
                 "that import's accepted events; a key it claimed goes to the next import "
                 "that used it."]
        if row.pending:
            lines.append(f"Its {row.pending:,} events waiting in the pending outbox are dropped.")
        lines.append("Its log rows stay as history; the import stays listed, marked undone.")
        return "\n\n".join(lines)

    def _confirmed(self, box: QMessageBox, row: ImportRow) -> None:
        if box is not self.confirm_box:
            return
        self.confirm_box = None
        box.deleteLater()
        if box.clickedButton() is not self.confirm_button:
            self.message.emit(f"Import #{row.id} was not undone")
            return
        # it may have changed while the question waited
        current = self.model.row_of(row.id)
        row = self.model.row(current) if current >= 0 else row
        why = self.why_not_undo(row)
        if why:
            self.message.emit(why)
            return
        self._start_undo(row)

    def _start_undo(self, row: ImportRow) -> None:
        svc = self._bridge.service

        def run() -> _Undo:
            try:
                return _Undo(row, svc.undo_import(row.id))
            except ImportBusy as exc:
                return _Undo(row, None, str(exc))
            except KeyError:
                return _Undo(row, None, f"there is no import #{row.id} in this database")
            except StorageError as exc:
                return _Undo(row, None, f"the database could not be changed, so nothing was "
                                        f"undone: {exc}")
            except Exception as exc:  # reported in the window, never lost
                return _Undo(row, None, f"{type(exc).__name__}: {exc}")
        self._set_undoing(row)
        self.message.emit(f"Undoing import #{row.id} ({import_name(row)}): "
                          f"{row.accepted:,} accepted events…")
        self._bridge.run_task("imports-undo", run)

    def _set_undoing(self, row: ImportRow | None) -> None:
        self._undo = row
        self.model.set_undoing(row.id if row is not None else None)
        self.undo_progress.setVisible(row is not None)
        self.undo_status.setVisible(row is not None)
        if row is not None:
            self.undo_status_label.setText(f"Undoing import #{row.id}…")
        self._update_actions()
        self._show_summary()

    @Slot(str, object)
    def _on_task_done(self, tag: str, outcome: object) -> None:
        if tag != "imports-undo":
            return
        row, result, error = outcome  # type: ignore[misc]
        self._set_undoing(None)
        self._dirty = True
        self._read_at = 0.0  # read the list at the next tick
        if self._bridge is not None:
            self._bridge.refresh()  # totals, charts, quarantine, pending
        if result is None:
            self.message.emit(f"Import #{row.id} was not undone: {error}")
            self._show_error(row, error)
            self.undoFailed.emit(row, error)
            return
        self._last_report = undo_text(row, result)
        self._show_summary()
        self.message.emit(undo_headline(row, result))
        self.undoFinished.emit(row, result)

    def _show_error(self, row: ImportRow, error: str) -> None:
        if os.environ.get("FAULTSIM_NO_DIALOGS") or not self.isVisible():
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Undo import",
                          f"Import #{row.id} ({import_name(row)}) was not undone",
                          parent=self.window())
        box.setObjectName("undoImportFailed")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setInformativeText(error)
        if self.error_box is not None:
            self.error_box.deleteLater()
        self.error_box = box
        box.open()

    @Slot()
    def _update_actions(self, *args) -> None:
        row = self.selected_import()
        ok = row is not None and not self.why_not_undo(row)
        self.undo_button.setEnabled(ok)
        if row is not None:
            why = self.why_not_undo(row)
            self.undo_button.setToolTip(why or f"Undo import #{row.id} ({import_name(row)}): "
                                               "take it back as if it had never been ingested")
        # the menu's Undo import… stays available to say what to select
        self.undoAvailable.emit(self._undo is None and (row is None or ok))

    def _reveal(self) -> None:
        dock = self.parentWidget()
        while dock is not None and not isinstance(dock, QDockWidget):
            dock = dock.parentWidget()
        if dock is not None:
            dock.show()
            dock.raise_()
        self.table.setFocus()

    def _on_context_menu(self, pos) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        row = self.selected_import()
        if row is None:
            return
        menu = QMenu(self)
        menu.setObjectName("importsContextMenu")
        undo = menu.addAction(f"Undo import #{row.id}…", lambda: self.request_undo(row))
        undo.setEnabled(not self.why_not_undo(row))
        menu.addAction("Copy source", lambda: QGuiApplication.clipboard().setText(row.source))
        menu.addAction("Copy details", lambda: QGuiApplication.clipboard().setText(
            self.model.describe(row)))
        if self.context_menu is not None:
            self.context_menu.deleteLater()
        self.context_menu = menu
        menu.popup(self.table.viewport().mapToGlobal(pos))
