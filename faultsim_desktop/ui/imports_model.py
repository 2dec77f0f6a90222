"""The Imports panel's table model and the words it uses for an import: its short name, its
counts, its status, and what an undo did."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QFont, QGuiApplication, QPalette

from ..core.model import ImportRow, UndoResult
from .theme import plain_tooltip

COUNTS = ("received", "accepted", "duplicates", "rejected", "failed", "pending")
COLUMNS = ("#", "Kind", "Source", "Started", "Received", "Accepted", "Duplicates", "Rejected",
           "Failed", "Pending", "Faults", "Status")
ID, KIND, SOURCE, STARTED = 0, 1, 2, 3
FIRST_COUNT = 4
FAULTS, STATUS = 10, 11
SORT_ROLE = Qt.ItemDataRole.UserRole
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def when(text: str | None) -> str:
    return (text or "")[:19].replace("T", " ")


def undone_when(text: str, today: str | None = None) -> str:
    """When an import was undone, as its status says it: the time alone on the day itself."""
    today = today or datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return f"undone at {text[11:19]}" if text[:10] == today else f"undone at {when(text)[:16]}"


def import_name(row: ImportRow) -> str:
    """A short name for messages: a file's name, else the source as recorded."""
    if row.kind == "file" and row.source not in ("", "-", "<stdin>"):
        return Path(row.source).name or row.source
    return row.source if len(row.source) <= 60 else row.source[:28] + "…" + row.source[-28:]


def counts_text(row: ImportRow) -> str:
    return " · ".join(f"{k} {getattr(row, k):,}" for k in COUNTS)


class ImportsModel(QAbstractTableModel):
    """The imports, newest first; ``running`` holds the uids of imports still under way and
    ``undoing`` the id of the import an undo is taking back."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[ImportRow] = []
        self._index: dict[int, int] = {}  # import id -> row
        self.running: set[int] = set()  # as the service said at the last read
        self.window_running: set[int] = set()  # ingested by a child process for this window
        self.undoing: int | None = None
        self._italic = QFont()
        self._italic.setItalic(True)
        self._bold = QFont()
        self._bold.setBold(True)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole and FIRST_COUNT <= section < FAULTS:
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole:
            return _HEADER_TIPS.get(section)
        return None

    def row(self, i: int) -> ImportRow:
        return self._rows[i]

    def rows(self) -> list[ImportRow]:
        return list(self._rows)

    def row_of(self, import_id: int) -> int:
        return self._index.get(import_id, -1)

    def status(self, r: ImportRow) -> str:
        if r.undone_at is not None:
            return undone_when(r.undone_at)
        if self.undoing == r.id:
            return "undoing…"
        if self.is_running(r):
            return "running"
        return "done"

    def is_running(self, r: ImportRow) -> bool:
        return r.undone_at is None and (r.uid in self.running or r.uid in self.window_running)

    def set_window_running(self, uids: set[int]) -> None:
        if uids != self.window_running:
            self.window_running = set(uids)
            if self._rows:
                self.dataChanged.emit(self.index(0, STATUS),
                                      self.index(len(self._rows) - 1, STATUS))

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        r = self._rows[index.row()]
        c = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if c == ID:
                return str(r.id)
            if c == KIND:
                return r.kind
            if c == SOURCE:
                return r.source
            if c == STARTED:
                return when(r.started_at)
            if c < FAULTS:
                return f"{getattr(r, COUNTS[c - FIRST_COUNT]):,}"  # whole, never abbreviated
            if c == FAULTS:
                return r.faults
            return self.status(r)
        if role == SORT_ROLE:
            if c == ID:
                return r.id
            if FIRST_COUNT <= c < FAULTS:
                return getattr(r, COUNTS[c - FIRST_COUNT])
            if c == STARTED:
                return r.started_at
            return self.data(index, Qt.ItemDataRole.DisplayRole)
        if role == Qt.ItemDataRole.TextAlignmentRole and (c == ID or FIRST_COUNT <= c < FAULTS):
            return _RIGHT
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tooltip(self.describe(r))
        if role == Qt.ItemDataRole.ForegroundRole and r.undone_at is not None:
            return QGuiApplication.palette().color(QPalette.ColorGroup.Disabled,
                                                   QPalette.ColorRole.Text)
        if role == Qt.ItemDataRole.FontRole and c == STATUS:
            if r.undone_at is not None:
                return self._italic
            if self.is_running(r) or self.undoing == r.id:
                return self._bold
        return None

    def describe(self, r: ImportRow) -> str:
        lines = [f"Import #{r.id} ({r.kind}): {r.source}",
                 f"Started {when(r.started_at)} UTC; last outcome "
                 f"{when(r.finished_at) + ' UTC' if r.finished_at else '—'}",
                 f"Faults in force: {r.faults}", counts_text(r)]
        if r.undone_at is not None:
            lines.append(f"Undone at {when(r.undone_at)} UTC: these are the counts it had then")
        else:
            lines.append(f"Status: {self.status(r)}")
        return "\n".join(lines)

    def set_rows(self, rows: list[ImportRow], running: set[int]) -> None:
        """Show ``rows`` (newest first). Imports are only ever added, so new ones go on top and
        the rows already shown keep their place (and the view its selection)."""
        old_ids = [r.id for r in self._rows]
        new_ids = [r.id for r in rows]
        fresh = len(new_ids) - len(old_ids)
        if fresh < 0 or new_ids[fresh:] != old_ids:  # another database, or a reset one
            self.beginResetModel()
            self._rows, self.running = list(rows), set(running)
            self._reindex()
            self.endResetModel()
            return
        if fresh:
            self.beginInsertRows(QModelIndex(), 0, fresh - 1)
            self._rows[0:0] = rows[:fresh]
            self.running = set(running)
            self._reindex()
            self.endInsertRows()
        changed = [i for i in range(fresh, len(rows))
                   if rows[i] != self._rows[i]
                   or (rows[i].uid in running) != (rows[i].uid in self.running)]
        self._rows, self.running = list(rows), set(running)
        if changed:
            self.dataChanged.emit(self.index(changed[0], 0),
                                  self.index(changed[-1], len(COLUMNS) - 1))

    def set_undoing(self, import_id: int | None) -> None:
        before, self.undoing = self.undoing, import_id
        for i in (before, import_id):
            row = self.row_of(i) if i is not None else -1
            if row >= 0:
                self.dataChanged.emit(self.index(row, STATUS), self.index(row, STATUS))

    def _reindex(self) -> None:
        self._index = {r.id: i for i, r in enumerate(self._rows)}


_HEADER_TIPS = {
    ID: "The import's number: faultsim imports show|undo ID",
    KIND: "file, paste, http (a request to faultsim serve), resubmit (from the quarantine), demo",
    STARTED: "When the import started (UTC)",
    FIRST_COUNT: "Events read: accepted + duplicates + rejected + pending",
    FIRST_COUNT + 1: "Events this import stored: they count in the totals",
    FIRST_COUNT + 2: "Events already stored by an earlier import (or earlier in this one)",
    FIRST_COUNT + 3: "Inputs rejected into the quarantine",
    FIRST_COUNT + 4: "Write attempts that failed (the event then waits in the pending outbox)",
    FIRST_COUNT + 5: "Events waiting in the pending outbox",
    FAULTS: "The simulated database faults in force when the import started",
    STATUS: "running, done, or undone (then its counts are those it had when undone)",
}



def undo_headline(row: ImportRow, result: UndoResult) -> str:
    """The status bar's report of a finished undo: short, so the counters beside it never
    cut it (the whole report stays under the Imports panel)."""
    if result.already:
        return f"Import #{row.id} was undone already; nothing changed"
    return (f"Import #{row.id} undone: {result.removed:,} "
            f"event{'s' if result.removed != 1 else ''} left the totals")


def undo_text(row: ImportRow, result: UndoResult) -> str:
    """The whole report of a finished undo."""
    if result.already:
        return f"Import #{row.id} was undone already; nothing changed"
    text = (f"Import #{row.id} ({import_name(row)}) undone: {result.removed:,} "
            f"event{'s' if result.removed != 1 else ''} left the totals")
    if result.handed_over:
        text += (f", {result.handed_over:,} went to a later import that sent "
                 f"{'them' if result.handed_over != 1 else 'it'} too")
    if result.conflicts_accepted:
        text += (f", {result.conflicts_accepted:,} key conflict"
                 f"{'s' if result.conflicts_accepted != 1 else ''} accepted in their place")
    return text
