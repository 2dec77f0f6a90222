"""The Quarantine panel (rejected input: open in the editor, fix, resubmit) and the Pending
panel (events whose retries ran out: retry now, or automatically when the crash switch goes off)."""
from __future__ import annotations

from typing import Callable, Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from .theme import plain_tooltip


def raw_text(raw) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


class RowsModel(QAbstractTableModel):
    """A read-only table over a list of tuples, with one getter per column."""

    def __init__(self, columns: Sequence[tuple[str, Callable]], tooltip: Callable | None = None,
                 parent=None):
        super().__init__(parent)
        self.columns = list(columns)
        self.tooltip = tooltip
        self._rows: list = []

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section][0]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.columns[index.column()][1](row)
        if role == Qt.ItemDataRole.ToolTipRole and self.tooltip is not None:
            return plain_tooltip(self.tooltip(row))
        return None

    def set_rows(self, rows: list) -> None:
        if [r[0] for r in rows] == [r[0] for r in self._rows]:
            self._rows = list(rows)
            if rows:
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(len(rows) - 1, len(self.columns) - 1))
            return
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row(self, i: int):
        return self._rows[i]

    def rows(self) -> list:
        return list(self._rows)


def _table(model: QAbstractTableModel, name: str, parent: QWidget) -> QTableView:
    t = QTableView(parent)
    t.setObjectName(name)
    t.setModel(model)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.setWordWrap(False)
    t.setAlternatingRowColors(True)
    t.verticalHeader().setVisible(False)
    t.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    t.verticalHeader().setDefaultSectionSize(t.fontMetrics().height() + 6)
    t.horizontalHeader().setStretchLastSection(True)
    return t


class QuarantinePanel(QWidget):
    openInEditor = Signal(object)  # QuarantineEntry
    resubmitAsIs = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = RowsModel([
            ("#", lambda e: e.id),
            ("Reason", lambda e: _one_line(e.reason)),
            ("Source", lambda e: f"{e.source}:{e.line}"),
            ("Seen", lambda e: e.times_seen),
            ("Raw", lambda e: _one_line(raw_text(e.raw), 120)),
        ], tooltip=lambda e: f"{e.reason}\n\n{raw_text(e.raw)[:2000]}", parent=self)
        self.table = _table(self.model, "quarantineTable", self)
        cw = self.fontMetrics().averageCharWidth()
        for col, chars in enumerate((5, 44, 18, 5)):
            self.table.setColumnWidth(col, cw * chars + 16)
        self.summary = QLabel(self)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.open_button = QPushButton("Open in editor", self)
        self.open_button.setObjectName("quarantineOpen")
        self.open_button.setToolTip("Load the rejected input into the editor to fix and resubmit it")
        self.resubmit_button = QPushButton("Resubmit as is", self)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.summary, 1)
        row.addWidget(self.resubmit_button)
        row.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        self.open_button.clicked.connect(self._open)
        self.resubmit_button.clicked.connect(self._resubmit)
        self.table.doubleClicked.connect(self._open)
        self.set_entries([])

    @Slot(list)
    def set_entries(self, entries: list) -> None:
        self.model.set_rows(entries)
        n = len(entries)
        self.summary.setText(f"{n:,} open entr{'y' if n == 1 else 'ies'}" +
                             (" (showing the first 1,000)" if n >= 1000 else "") +
                             (" — select one, open it in the editor, fix it, resubmit" if n else ""))

    def selected(self):
        rows = self.table.selectionModel().selectedRows()
        if rows:
            return self.model.row(rows[0].row())
        if self.model.rowCount() == 1:
            return self.model.row(0)
        return None

    def select_id(self, qid: int) -> bool:
        for i, e in enumerate(self.model.rows()):
            if e.id == qid:
                self.table.selectRow(i)
                return True
        return False

    def _open(self, *args) -> None:
        entry = self.selected()
        if entry is not None:
            self.openInEditor.emit(entry)

    def _resubmit(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.resubmitAsIs.emit(entry.id)


class PendingPanel(QWidget):
    retryRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = RowsModel([
            ("#", lambda p: p.id),
            ("Source", lambda p: f"{p.source}:{p.line}"),
            ("Attempts", lambda p: p.attempts),
            ("Failed at", lambda p: p.failed_at[:19].replace("T", " ")),
            ("Last error", lambda p: _one_line(p.last_error)),
        ], tooltip=lambda p: f"{p.last_error}\n\n{raw_text(p.raw)[:2000]}", parent=self)
        self.table = _table(self.model, "pendingTable", self)
        cw = self.fontMetrics().averageCharWidth()
        for col, chars in enumerate((6, 18, 8, 19)):
            self.table.setColumnWidth(col, cw * chars + 16)
        self.summary = QLabel(self)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.retry_button = QPushButton("Retry now", self)
        self.retry_button.setObjectName("retryNow")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.summary, 1)
        row.addWidget(self.retry_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        self.retry_button.clicked.connect(self.retryRequested)
        self.set_pending([])

    @Slot(list)
    def set_pending(self, rows: list) -> None:
        self.model.set_rows(rows)
        n = len(rows)
        self.retry_button.setEnabled(n > 0)
        self.summary.setText(
            f"{n:,} event{'s' if n != 1 else ''} waiting" + (" (showing 1,000)" if n >= 1000 else "")
            + (": their retries ran out. They are sent again when the crash switch is turned off, "
               "or now with Retry now." if n else ": nothing is waiting."))
