"""The live log: a table over a bounded ring buffer of the latest outcomes."""
from __future__ import annotations

import csv
from bisect import bisect_left
from collections import deque
from operator import itemgetter
from typing import Iterable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QAction, QColor, QFont, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QMenu, QTableView, QToolButton, QVBoxLayout, QWidget)

from ..core.model import Outcome, OutcomeRecord
from .paged import TitledColumns
from .theme import outcome_color

CAPACITY = 100_000
COLUMNS = ("Time", "Outcome", "Client", "Amount", "Currency", "Fingerprint", "Attempt", "Reason")
_ORDER = (Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.REJECTED, Outcome.FAILED, Outcome.RETRYING)
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_STYLED = frozenset((_FOREGROUND, _FONT, _ALIGNMENT, _TOOLTIP))
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_outbox_id = itemgetter(OutcomeRecord._fields.index("outbox_id"))


class OutcomeRing:
    """A fixed-capacity circular buffer addressed by absolute sequence numbers."""

    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self._buf: list[OutcomeRecord | None] = [None] * capacity
        self.start = 0  # sequence number of the oldest record kept
        self.end = 0  # one past the newest

    def __len__(self) -> int:
        return self.end - self.start

    def extend(self, records: list[OutcomeRecord]) -> None:
        cap = self.capacity
        if len(records) > cap:
            self.end += len(records) - cap
            records = records[-cap:]
        n = len(records)
        pos = self.end % cap
        first = min(n, cap - pos)
        self._buf[pos:pos + first] = records[:first]
        if first < n:
            self._buf[0:n - first] = records[first:]
        self.end += n
        self.start = max(self.start, self.end - cap)

    def get(self, seq: int) -> OutcomeRecord:
        return self._buf[seq % self.capacity]  # type: ignore[return-value]

    def put(self, seq: int, record: OutcomeRecord) -> None:
        self._buf[seq % self.capacity] = record

    def clear(self) -> None:
        self._buf = [None] * self.capacity
        self.start = self.end = 0


def _matches(r: OutcomeRecord, outcomes: frozenset, needle: str) -> bool:
    if r.outcome not in outcomes:
        return False
    if not needle:
        return True
    hay = " ".join(x for x in (r.client, r.amount, r.currency, r.reason, r.source) if x)
    return needle in hay.casefold()


class LogModel(TitledColumns, QAbstractTableModel):
    """Rows are the ring's records (oldest first), optionally filtered. While paused, incoming
    batches are held (bounded) so the rows a user reads do not move."""

    COLUMNS = COLUMNS

    heldChanged = Signal(int)

    def __init__(self, capacity: int = CAPACITY, parent=None):
        super().__init__(parent)
        self.ring = OutcomeRing(capacity)
        self._first = 0  # the visible window of the ring, in sequence numbers
        self._last = 0
        self._outcomes = frozenset(Outcome)
        self._needle = ""
        self._filtered = False
        self._matches: list[int] = []  # sequence numbers of matching records, ascending
        self._moff = 0  # matches before this offset have left the ring
        self._paused = False
        self._held: deque[list[OutcomeRecord]] = deque()
        self._held_count = 0
        # outbox id -> sequence number of the FAILED row of an event still waiting there
        self._waiting: dict[int, int] = {}
        self._colors: dict[Outcome, QColor] = {}
        self.undone: set[int] = set()  # uids of undone imports, whose rows show greyed
        self._undone_color = QColor("#8a8a8a")
        self._bold = QFont()
        self._bold.setBold(True)
        self.update_colors(dark=False)

    def update_colors(self, dark: bool) -> None:
        self._colors = {o: outcome_color(o, dark) for o in Outcome}
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 1), self.index(self.rowCount() - 1, 1))

    def rowCount(self, parent=QModelIndex()) -> int:
        if parent.isValid():
            return 0
        if self._filtered:
            return len(self._matches) - self._moff
        return self._last - self._first

    def record(self, row: int) -> OutcomeRecord:
        seq = self._matches[self._moff + row] if self._filtered else self._first + row
        return self.ring.get(seq)

    def data(self, index, role=_DISPLAY):
        # Qt asks seven roles of every cell it paints, ten times a second while a file streams
        # in: plain int comparisons first, the rare roles last
        if role == _DISPLAY:
            r = self.record(index.row())
            c = index.column()
            if c == 0:
                return r.at[11:23]
            if c == 1:
                return r.outcome.value
            if c == 2:
                return r.client or ""
            if c == 3:
                return r.amount or ""
            if c == 4:
                return r.currency or ""
            if c == 5:
                return r.fingerprint[:6].hex() if r.fingerprint else ""
            if c == 6:
                return r.attempt
            return r.reason or ""
        if role not in _STYLED:
            return None
        c = index.column()
        if role == _FOREGROUND and c == 1:
            return self._colors[self.record(index.row()).outcome]
        if role == _FONT:
            return self._bold if c == 1 else None
        if role == _ALIGNMENT:
            return _RIGHT if c in (3, 6) else None
        if self.undone:  # the foreground of another column, or a tooltip
            tag = self.record(index.row()).import_tag
            if tag is not None and tag.uid in self.undone:
                return (self._undone_color if role == _FOREGROUND
                        else "Its import was undone: this row is history and counts no more")
        return None

    def mark_undone(self, uid: int) -> None:
        """The rows of an undone import stay, as history, greyed."""
        self.undone.add(uid)
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(self.rowCount() - 1, len(COLUMNS) - 1))

    @Slot(object)
    def append(self, records: list[OutcomeRecord]) -> None:
        if not records:
            return
        if self._paused:
            self._held.append(records)
            self._held_count += len(records)
            while self._held_count - len(self._held[0]) >= self.ring.capacity:
                self._held_count -= len(self._held.popleft())
            self.heldChanged.emit(self._held_count)
            return
        self._apply(records)

    def _apply(self, records: list[OutcomeRecord]) -> None:
        old_end = self.ring.end
        self._extend(records)
        if any(map(_outbox_id, records)):  # only failures and retries from the outbox
            self._settle(old_end)

    def _extend(self, records: list[OutcomeRecord]) -> None:
        ring = self.ring
        old_end = ring.end
        ring.extend(records)
        if not self._filtered:
            dropped = ring.start - self._first
            if dropped >= self._last - self._first:  # everything shown is replaced
                self.beginResetModel()
                self._first, self._last = ring.start, ring.end
                self.endResetModel()
                return
            if dropped > 0:
                self.beginRemoveRows(QModelIndex(), 0, dropped - 1)
                self._first = ring.start
                self.endRemoveRows()
            self.beginInsertRows(QModelIndex(), self._last - self._first,
                                 ring.end - self._first - 1)
            self._last = ring.end
            self.endInsertRows()
            return
        first_new = max(old_end, ring.start)
        outcomes, needle = self._outcomes, self._needle
        new = [seq for seq in range(first_new, ring.end)
               if _matches(ring.get(seq), outcomes, needle)]
        gone = 0
        matches = self._matches
        while self._moff + gone < len(matches) and matches[self._moff + gone] < ring.start:
            gone += 1
        if gone:
            self.beginRemoveRows(QModelIndex(), 0, gone - 1)
            self._moff += gone
            if self._moff > 4096 and self._moff > len(matches) // 2:
                del matches[:self._moff]
                self._moff = 0
            self.endRemoveRows()
        if new:
            n = self.rowCount()
            self.beginInsertRows(QModelIndex(), n, n + len(new) - 1)
            matches.extend(new)
            self.endInsertRows()
        self._first, self._last = ring.start, ring.end

    def _settle(self, first_new: int) -> None:
        """A FAILED row was the event's outcome only until a retry from the pending outbox
        settled it: it is then shown as what it was, one attempt, and says how it ended."""
        ring, waiting = self.ring, self._waiting
        changed = []
        for seq in range(max(first_new, ring.start), ring.end):
            r = ring.get(seq)
            oid = r.outbox_id
            if oid is None or r.outcome is Outcome.RETRYING:
                continue
            if r.outcome is Outcome.FAILED:
                waiting[oid] = seq
                continue
            old = waiting.pop(oid, None)
            if old is None or old < ring.start:
                continue
            failed = ring.get(old)
            ring.put(old, failed._replace(
                outcome=Outcome.RETRYING,
                reason=f"{failed.reason} — settled by a retry from the pending outbox: "
                       f"{r.outcome.value}"))
            changed.append(old)
        if len(waiting) > ring.capacity:  # entries for rows long gone from the ring
            self._waiting = {k: v for k, v in waiting.items() if v >= ring.start}
        if not changed:
            return
        if self._filtered:  # a row's outcome changed: it may enter or leave the filter
            self._refilter()
            return
        rows = [seq - self._first for seq in changed if self._first <= seq < self._last]
        if rows:
            self.dataChanged.emit(self.index(min(rows), 1), self.index(max(rows), 7))

    def _refilter(self) -> None:
        self.beginResetModel()
        ring = self.ring
        o, n = self._outcomes, self._needle
        self._moff = 0
        self._matches = [s for s in range(ring.start, ring.end) if _matches(ring.get(s), o, n)]
        self._first, self._last = ring.start, ring.end
        self.endResetModel()

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        if paused == self._paused:
            return
        self._paused = paused
        if not paused and self._held:
            batch = [r for part in self._held for r in part]
            self._held.clear()
            self._held_count = 0
            self._apply(batch)
        self.heldChanged.emit(self._held_count)

    def set_filter(self, outcomes: Iterable[Outcome] | None, text: str) -> None:
        self.beginResetModel()
        self._outcomes = frozenset(outcomes) if outcomes else frozenset(Outcome)
        self._needle = text.strip().casefold()
        self._filtered = bool(self._needle) or self._outcomes != frozenset(Outcome)
        self._moff = 0
        ring = self.ring
        self._first, self._last = ring.start, ring.end
        if self._filtered:
            o, n = self._outcomes, self._needle
            self._matches = [s for s in range(ring.start, ring.end) if _matches(ring.get(s), o, n)]
        else:
            self._matches = []
        self.endResetModel()

    def clear(self) -> None:
        self.beginResetModel()
        self.ring.clear()
        self._first = self._last = 0
        self._matches = []
        self._moff = 0
        self._held.clear()
        self._held_count = 0
        self._waiting.clear()
        self.endResetModel()
        self.heldChanged.emit(0)

    def rows(self) -> list[OutcomeRecord]:
        return [self.record(i) for i in range(self.rowCount())]

    def seq_of(self, row: int) -> int:
        return self._matches[self._moff + row] if self._filtered else self._first + row

    def row_of_seq(self, seq: int) -> int:
        """The row showing record ``seq``; -1 when it left the ring or the filter hides it."""
        if not self.ring.start <= seq < self.ring.end:
            return -1
        if not self._filtered:
            return seq - self._first if self._first <= seq < self._last else -1
        i = bisect_left(self._matches, seq, self._moff)
        return i - self._moff if i < len(self._matches) and self._matches[i] == seq else -1

    def find_seq(self, match) -> int | None:
        """The newest record of the ring for which ``match(record)`` holds."""
        ring = self.ring
        for seq in range(ring.end - 1, ring.start - 1, -1):
            if match(ring.get(seq)):
                return seq
        return None


def write_log_csv(path: str, records: list[OutcomeRecord]) -> int:
    from ..core.service import safe_cell

    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["at", "outcome", "client", "amount", "currency", "fingerprint", "attempt",
                    "reason", "source", "line", "event_id", "quarantine_id"])
        for r in records:
            w.writerow([r.at, r.outcome.value, safe_cell(r.client), safe_cell(r.amount),
                        r.currency or "", r.fingerprint.hex() if r.fingerprint else "",
                        r.attempt, safe_cell(r.reason), safe_cell(r.source), r.line,
                        r.event_id or "", r.quarantine_id or ""])
    return len(records)


_EXPLAINABLE = (Outcome.ACCEPTED, Outcome.DUPLICATE)
_MATCHING = (Outcome.DUPLICATE, Outcome.REJECTED)  # rows that name the event they matched


class LogView(QWidget):
    """Filter bar, the table, and follow/pause. Double-click explains a row's event (or its
    rejected input); the context menu also goes to the event a duplicate or a key conflict
    matched, and back."""

    openRecord = Signal(object)  # OutcomeRecord
    exportRequested = Signal()
    explainEvent = Signal(int)  # event id
    explainQuarantined = Signal(int)  # quarantine entry id
    notice = Signal(str)

    def __init__(self, parent=None, capacity: int = CAPACITY):
        super().__init__(parent)
        self.model = LogModel(capacity, self)
        self.table = QTableView(self)
        self.table.setObjectName("logTable")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        vh = self.table.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 6)
        hh = self.table.horizontalHeader()
        hh.setStretchLastSection(True)
        for col, chars in enumerate((12, 9, 18, 11, 8, 12, 7)):
            self.table.setColumnWidth(col, self.fontMetrics().averageCharWidth() * chars + 16)
        self.table.doubleClicked.connect(self._on_double_click)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_context_menu)
        self.context_menu: QMenu | None = None
        self._came_from: list[int] = []  # sequence numbers "Back" returns to

        self.outcome_filter = QComboBox(self)
        self.outcome_filter.setObjectName("outcomeFilter")
        self.outcome_filter.addItem("All outcomes", "")
        for o in _ORDER:
            self.outcome_filter.addItem(o.value.capitalize(), o.value)
        self.outcome_filter.addItem("Problems", "problems")
        self.outcome_filter.setToolTip("Show one outcome; Problems = rejected, failed and retrying")
        self.text_filter = QLineEdit(self)
        self.text_filter.setObjectName("logTextFilter")
        self.text_filter.setPlaceholderText("Filter by client, amount, reason, source…")
        self.text_filter.setClearButtonEnabled(True)
        self.follow = QToolButton(self)
        self.follow.setObjectName("followTail")
        self.follow.setCheckable(True)
        self.follow.setChecked(True)
        self.follow.setText("Following")
        self.follow.setToolTip("Follow the newest outcomes; turn off to pause the log")
        self.copy_button = QToolButton(self)
        self.copy_button.setText("Copy")
        self.export_button = QToolButton(self)
        self.export_button.setText("Export CSV…")
        self.status = QLabel(self)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)  # a narrow window wraps the line instead of widening

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.outcome_filter)
        bar.addWidget(self.text_filter, 1)
        bar.addWidget(self.follow)
        bar.addWidget(self.copy_button)
        bar.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

        self.outcome_filter.currentIndexChanged.connect(self._apply_filter)
        self.text_filter.textChanged.connect(self._apply_filter)
        self.follow.toggled.connect(self.set_following)
        self.copy_button.clicked.connect(self.copy_selection)
        self.export_button.clicked.connect(self.exportRequested)
        self.model.heldChanged.connect(self._update_status)
        self.model.rowsInserted.connect(self._after_insert)
        self.model.modelReset.connect(self._after_insert)
        copy = QAction("Copy", self.table)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_selection)
        self.table.addAction(copy)
        self._update_status()

    @Slot(object)
    def append(self, records: list[OutcomeRecord]) -> None:
        self.model.append(records)

    @Slot()
    def _after_insert(self, *args) -> None:
        if self.follow.isChecked():
            self.table.scrollToBottom()
        self._update_status()

    @Slot(bool)
    def set_following(self, on: bool) -> None:
        if self.follow.isChecked() != on:
            self.follow.setChecked(on)
            return
        self.follow.setText("Following" if on else "Paused")
        self.model.set_paused(not on)
        self._update_status()

    def _apply_filter(self, *args) -> None:
        data = self.outcome_filter.currentData()
        if data == "problems":
            outcomes = {Outcome.REJECTED, Outcome.FAILED, Outcome.RETRYING}
        elif not data:
            outcomes = None
        else:
            outcomes = {Outcome(data)}
        self.model.set_filter(outcomes, self.text_filter.text())
        self._update_status()

    @Slot()
    def _update_status(self, *args) -> None:
        m = self.model
        text = f"{m.rowCount():,} rows shown of the last {len(m.ring):,} outcomes " \
               f"(keeps {m.ring.capacity:,}; older ones stay in the database)"
        if m.paused:
            text += f" — paused, {m._held_count:,} new outcomes held"
        self.status.setText(text)

    def selected_records(self) -> list[OutcomeRecord]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.record(r) for r in rows]

    @Slot()
    def copy_selection(self) -> None:
        lines = []
        for r in self.selected_records():
            lines.append("\t".join(str(x) for x in (
                r.at, r.outcome.value, r.client or "", r.amount or "", r.currency or "",
                r.fingerprint[:6].hex() if r.fingerprint else "", r.attempt, r.reason or "")))
        if lines:
            QGuiApplication.clipboard().setText("\n".join(lines))

    def _on_double_click(self, index) -> None:
        if not index.isValid():
            return
        r = self.model.record(index.row())
        if r.event_id is not None and r.outcome in _EXPLAINABLE:
            self.explainEvent.emit(r.event_id)
        elif r.quarantine_id is not None:
            self.explainQuarantined.emit(r.quarantine_id)
        else:
            self.openRecord.emit(r)

    def _on_context_menu(self, pos) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        r = self.model.record(index.row())
        menu = QMenu(self)
        menu.setObjectName("logContextMenu")
        if r.event_id is not None and r.outcome in _EXPLAINABLE:
            menu.addAction(f"Explain event #{r.event_id}",
                           lambda: self.explainEvent.emit(r.event_id))
        if r.quarantine_id is not None:
            menu.addAction(f"Explain rejected input (quarantine #{r.quarantine_id})",
                           lambda: self.explainQuarantined.emit(r.quarantine_id))
        if r.event_id is not None and r.outcome in _MATCHING:
            menu.addAction(f"Go to event #{r.event_id}", lambda: self.go_to_event(r.event_id))
        if self._came_from:
            menu.addAction("Back", self.back)
        menu.addSeparator()
        menu.addAction("Details…", lambda: self.openRecord.emit(r))
        menu.addAction("Copy", self.copy_selection)
        if self.context_menu is not None:
            self.context_menu.deleteLater()
        self.context_menu = menu
        menu.popup(self.table.viewport().mapToGlobal(pos))

    @Slot(int)
    def go_to_event(self, event_id: int) -> bool:
        """Select the accepted row of event ``event_id`` (the log pauses, so it stays put) and
        explain it; False when that row is older than the log keeps."""
        self.explainEvent.emit(event_id)
        seq = self.model.find_seq(lambda r: r.event_id == event_id
                                  and r.outcome is Outcome.ACCEPTED)
        if seq is None:
            self.notice.emit(f"Event #{event_id} arrived before the last "
                             f"{self.model.ring.capacity:,} outcomes the log keeps: it is "
                             "explained in the Explain panel")
            return False
        return self._go_to(seq)

    @Slot(int, object)
    def show_copy(self, event_id: int, copy) -> bool:
        """Select the log row of a copy folded into event ``event_id`` (core.explain.Copy)."""
        seq = self.model.find_seq(lambda r: r.event_id == event_id and r.outcome in _MATCHING
                                  and r.at == copy.at and r.source == copy.source
                                  and r.line == copy.line)
        if seq is None:
            self.notice.emit(f"That copy ({copy.source}, line {copy.line}) is older than the "
                             "outcomes the log keeps, or arrived in another session")
            return False
        return self._go_to(seq)

    @Slot()
    def back(self) -> bool:
        """Back to the row selected before the last go-to."""
        while self._came_from:
            seq = self._came_from.pop()
            if self._select_seq(seq):
                return True
        return False

    def selected_seq(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.seq_of(rows[0].row()) if rows else None

    def _go_to(self, seq: int) -> bool:
        here = self.selected_seq()
        if here is not None and here != seq:
            self._came_from.append(here)
        return self._select_seq(seq)

    def _select_seq(self, seq: int) -> bool:
        row = self.model.row_of_seq(seq)
        if row < 0 and seq >= self.model.ring.start:  # the filter hides it: show every row
            self.outcome_filter.setCurrentIndex(0)
            self.text_filter.clear()
            row = self.model.row_of_seq(seq)
        if row < 0:
            return False
        self.set_following(False)  # new rows must not scroll it away
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0),
                            QAbstractItemView.ScrollHint.PositionAtCenter)
        return True
