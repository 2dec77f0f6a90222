"""The Quarantine panel (rejected input: open in the editor, fix, resubmit) and the Pending
panel (events whose retries ran out: retry now, or automatically when the crash switch goes off).

Both page over the database (ui/paged.py): true counts, newest first, sorted by a click on a
column header and filtered by text, in the database."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, Qt, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QPushButton, QTableView, QVBoxLayout, QWidget)

from ..core.paging import PENDING_SORTS, QUARANTINE_SORTS, ViewCount
from .paged import Column, PagedModel

_DOWN = Qt.SortOrder.DescendingOrder


def raw_text(raw) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


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


def _time(text: str) -> str:
    return text[:19].replace("T", " ")


class _PagedPanel(QWidget):
    """A table over a PagedModel, a filter box above it and a summary line below it. Keeps the
    user's place while rows change: the top visible row stays on top (unless the view is at
    the top, where new rows show), and a selection survives a new sort or filter when the
    selected row is still fetched."""

    def __init__(self, model: PagedModel, name: str, placeholder: str, parent=None):
        super().__init__(parent)
        self.model = model
        model.setParent(self)
        self.table = _table(model, name, self)
        header = self.table.horizontalHeader()
        header.setSortIndicator(model.sort_column(), _DOWN)  # newest first
        self.table.setSortingEnabled(True)  # the model sorts, in the database
        header.sortIndicatorChanged.connect(self._on_sort_indicator)
        self.filter = QLineEdit(self)
        self.filter.setObjectName(f"{name}Filter")
        self.filter.setPlaceholderText(placeholder)
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(lambda text: model.set_text(text.strip()))
        self.summary = QLabel(self)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.filters = QHBoxLayout()
        self.filters.setContentsMargins(0, 0, 0, 0)
        self.filters.addWidget(self.filter, 1)
        self.buttons = QHBoxLayout()
        self.buttons.setContentsMargins(0, 0, 0, 0)
        self.buttons.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self.filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(self.buttons)
        self._place: tuple[int | None, bool, int | None] = (None, True, None)
        model.aboutToRefresh.connect(self._remember_place)
        model.refreshed.connect(self._restore_place)
        model.countChanged.connect(self.show_count)
        model.readFailed.connect(self._on_read_failed)

    def bind(self, bridge) -> None:
        """Read through the bridge; a new database (serviceChanged) starts the view afresh."""
        bridge.serviceChanged.connect(self._on_service_changed)
        self.model.bind(bridge)

    @Slot(object)
    def _on_service_changed(self, _service) -> None:
        self.model.reload()

    @Slot()
    def refresh(self) -> None:
        """Rows changed in the database: read again what the user has before their eyes."""
        t = self.table
        bottom = t.rowAt(t.viewport().height() - 1)
        if bottom < 0:
            bottom = self.model.rowCount() - 1
        selected = self.selected_row()
        anchored = t.verticalScrollBar().value() > 0 or selected >= 0
        self.model.refresh(max(bottom, selected), anchored)

    def selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def selected(self):
        row = self.selected_row()
        if row >= 0:
            return self.model.row(row)
        if self.model.rowCount() == 1:
            return self.model.row(0)
        return None

    def select_id(self, row_id: int) -> bool:
        row = self.model.row_of(row_id)
        if row >= 0:
            self.table.selectRow(row)
        return row >= 0

    def _remember_place(self) -> None:
        t = self.table
        top, selected = t.rowAt(0), self.selected_row()
        self._place = (self.model.row(top).id if top >= 0 else None,
                       t.verticalScrollBar().value() == 0,
                       self.model.row(selected).id if selected >= 0 else None)

    def _restore_place(self) -> None:
        top_id, at_top, selected_id = self._place
        if selected_id is not None and self.selected_row() < 0:
            self.select_id(selected_id)  # a reload (new sort or filter) dropped it
        if at_top:
            self.table.verticalScrollBar().setValue(0)
            return
        row = self.model.row_of(top_id) if top_id is not None else -1
        if row >= 0:
            self.table.scrollTo(self.model.index(row, 0),
                                QAbstractItemView.ScrollHint.PositionAtTop)

    def _on_sort_indicator(self, section: int, _order) -> None:
        if self.model.columns[section].sort is None:  # this column does not sort: undo
            order = _DOWN if self.model.descending else Qt.SortOrder.AscendingOrder
            self.table.horizontalHeader().setSortIndicator(self.model.sort_column(), order)

    def _on_read_failed(self, message: str) -> None:
        self.summary.setText(f"Could not read the database: {message}")

    def show_count(self, count: ViewCount) -> None:
        raise NotImplementedError


class QuarantinePanel(_PagedPanel):
    openInEditor = Signal(object)  # QuarantineEntry
    resubmitAsIs = Signal(int)
    explainRequested = Signal(int)  # quarantine entry id

    STATUSES = (("Open", "open"), ("Resolved", "resolved"), ("All", None))

    def __init__(self, parent=None):
        model = PagedModel([
            Column("#", lambda e: e.id, "id", _DOWN),
            Column("Reason", lambda e: _one_line(e.reason), "reason"),
            Column("Source", lambda e: f"{e.source}:{e.line}", "source"),
            Column("Seen", lambda e: e.times_seen, "times_seen", _DOWN),
            Column("Last seen", lambda e: _time(e.last_seen), "last_seen", _DOWN),
            Column("Status", lambda e: e.status, "status"),
            Column("Raw", lambda e: _one_line(raw_text(e.raw), 120)),
        ], QUARANTINE_SORTS,
            lambda svc, scope, text: svc.quarantine_count(scope["status"], text),
            lambda svc, scope, query: svc.quarantine_page(scope["status"], query),
            scope={"status": "open"},
            tooltip=lambda e: f"{e.reason}\n\n{raw_text(e.raw)[:2000]}")
        super().__init__(model, "quarantineTable", "Filter by client, reason or raw text",
                         parent)
        cw = self.fontMetrics().averageCharWidth()
        for col, chars in enumerate((6, 44, 18, 5, 21, 9)):
            self.table.setColumnWidth(col, cw * chars + 16)
        self.table.setColumnHidden(5, True)  # the status shows when every status does
        self.status_box = QComboBox(self)
        self.status_box.setObjectName("quarantineStatus")
        self.status_box.setToolTip("Which entries to show: open ones wait to be fixed")
        for label, status in self.STATUSES:
            self.status_box.addItem(label, status)
        self.status_box.currentIndexChanged.connect(self._on_status)
        self.filters.addWidget(self.status_box)
        self.open_button = QPushButton("Open in editor", self)
        self.open_button.setObjectName("quarantineOpen")
        self.open_button.setToolTip("Load the rejected input into the editor to fix and resubmit it")
        self.resubmit_button = QPushButton("Resubmit as is", self)
        self.explain_button = QPushButton("Explain", self)
        self.explain_button.setObjectName("quarantineExplain")
        self.explain_button.setToolTip("What normalization makes of the raw text, field by "
                                       "field, and why it was rejected")
        self.explain_button.clicked.connect(self._explain)
        self.buttons.addWidget(self.explain_button)
        self.buttons.addWidget(self.resubmit_button)
        self.buttons.addWidget(self.open_button)
        self.open_button.clicked.connect(self._open)
        self.resubmit_button.clicked.connect(self._resubmit)
        self.table.doubleClicked.connect(self._open)
        self.show_count(ViewCount(0, 0))

    def set_status(self, status: str | None) -> None:
        """Show the entries with ``status`` ("open", "resolved"; None: every entry)."""
        self.status_box.setCurrentIndex(next(i for i, (_, s) in enumerate(self.STATUSES)
                                             if s == status))

    def _on_status(self, index: int) -> None:
        status = self.status_box.itemData(index)
        self.table.setColumnHidden(5, status is not None)
        self.model.set_scope(status=status)

    def show_count(self, count: ViewCount) -> None:
        status = self.model.scope["status"]
        kind = f"{status} " if status else ""
        noun = "entry" if count.total == 1 else "entries"
        if self.model.text:
            text = (f"{count.matching:,} of {count.total:,} {kind}{noun} "
                    f"{'matches' if count.matching == 1 else 'match'}")
        else:
            text = f"{count.total:,} {kind}{noun}"
            if status == "open" and count.total:
                text += " — select one, open it in the editor, fix it, resubmit"
        self.summary.setText(text)

    def _open(self, *args) -> None:
        entry = self.selected()
        if entry is not None:
            self.openInEditor.emit(entry)

    def _explain(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.explainRequested.emit(entry.id)

    def _resubmit(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.resubmitAsIs.emit(entry.id)


class PendingPanel(_PagedPanel):
    retryRequested = Signal()

    def __init__(self, parent=None):
        model = PagedModel([
            Column("#", lambda p: p.id, "id", _DOWN),
            Column("Source", lambda p: f"{p.source}:{p.line}", "source"),
            Column("Attempts", lambda p: p.attempts, "attempts", _DOWN),
            Column("Failed at", lambda p: _time(p.failed_at), "failed_at", _DOWN),
            Column("Last error", lambda p: _one_line(p.last_error), "last_error"),
        ], PENDING_SORTS,
            lambda svc, _scope, text: svc.pending_count(text),
            lambda svc, _scope, query: svc.pending_page(query),
            tooltip=lambda p: f"{p.last_error}\n\n{raw_text(p.raw)[:2000]}")
        super().__init__(model, "pendingTable", "Filter by client, error or raw text", parent)
        cw = self.fontMetrics().averageCharWidth()
        for col, chars in enumerate((7, 18, 8, 21)):
            self.table.setColumnWidth(col, cw * chars + 16)
        self.retry_button = QPushButton("Retry now", self)
        self.retry_button.setObjectName("retryNow")
        self.buttons.addWidget(self.retry_button)
        self.retry_button.clicked.connect(self.retryRequested)
        self.show_count(ViewCount(0, 0))

    def show_count(self, count: ViewCount) -> None:
        n = count.total
        self.retry_button.setEnabled(n > 0)
        if self.model.text:
            self.summary.setText(f"{count.matching:,} of {n:,} waiting event"
                                 f"{'s' if n != 1 else ''} "
                                 f"{'matches' if count.matching == 1 else 'match'}")
            return
        self.summary.setText(
            f"{n:,} event{'s' if n != 1 else ''} waiting"
            + (": their retries ran out. They are sent again when the crash switch is turned off, "
               "or now with Retry now." if n else ": nothing is waiting."))
