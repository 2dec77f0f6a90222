"""The clients table: per client and currency, count, exact total, first and last seen."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QPushButton, QTableView, QVBoxLayout, QWidget)

from ..core.model import ClientTotal
from .charts import NO_CURRENCY, format_money
from .paged import TitledColumns
from .theme import plain_tooltip

COLUMNS = ("Client", "Currency", "Count", "Total", "First seen", "Last seen", "Schema")
TOTAL_COLUMN = 3
SCHEMA_COLUMN = 6
# what a narrow dock shows first: the client and its total, then currency and count
VISUAL_ORDER = (0, TOTAL_COLUMN, 1, 2, 4, 5, SCHEMA_COLUMN)
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_CLIENT_MAX_CHARS = 28  # longer names are elided in the middle; the tooltip has them whole
_SORT_KEYS = (
    lambda r: (r.client.casefold(), r.currency or ""),
    lambda r: (r.currency or "", r.client.casefold()),
    lambda r: r.count,
    lambda r: r.total,  # Decimal compares exactly
    lambda r: r.first_seen,
    lambda r: r.last_seen,
)


class ClientsModel(TitledColumns, QAbstractTableModel):
    """Sorts in Python with a key (fast), so a refresh at 10 Hz stays cheap."""

    COLUMNS = COLUMNS

    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[ClientTotal] = []
        self._sort = (3, Qt.SortOrder.DescendingOrder)
        self._versions: dict[str, int] = {}  # client key -> active mapping version
        self._all: list[ClientTotal] = []  # every row; the search shows those that match
        self.search = ""  # casefolded; "" shows every client

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index, role=_DISPLAY):
        # Qt asks seven roles of every cell it paints: plain int comparisons, the rare ones last
        if role == _DISPLAY:
            r = self._rows[index.row()]
            c = index.column()
            if c == 0:
                return r.client
            if c == 1:
                return r.currency or NO_CURRENCY
            if c == 2:
                return f"{r.count:,}"
            if c == 3:
                return format_money(r.total)
            if c == 4:
                return r.first_seen[:19].replace("T", " ")
            if c == 5:
                return r.last_seen[:19].replace("T", " ")
            version = self._versions.get(r.client.casefold())
            return f"v{version}" if version else ""
        if role == _ALIGNMENT:
            return _RIGHT if index.column() in (2, 3) else None
        if role != _TOOLTIP:
            return None
        c = index.column()
        if c == 0:
            return plain_tooltip(self._rows[index.row()].client)
        if c == SCHEMA_COLUMN:
            version = self._versions.get(self._rows[index.row()].client.casefold())
            return (f"Normalized by this client's mapping v{version} (Edit ▸ Client schemas)"
                    if version else "No mapping: the heuristics normalize this client's events")
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        self._sort_rows()
        self.layoutChanged.emit()

    def _key(self):
        if self._sort[0] == SCHEMA_COLUMN:
            return lambda r: self._versions.get(r.client.casefold(), 0)
        return _SORT_KEYS[self._sort[0]]

    def _sort_rows(self) -> None:
        self._rows.sort(key=self._key(), reverse=self._sort[1] == Qt.SortOrder.DescendingOrder)

    def set_versions(self, versions: dict[str, int]) -> None:
        """The active mapping version of every client that has one, by client key."""
        if versions != self._versions:
            self._versions = dict(versions)
            if self._rows:
                self.dataChanged.emit(self.index(0, SCHEMA_COLUMN),
                                      self.index(len(self._rows) - 1, SCHEMA_COLUMN))

    def set_search(self, text: str) -> None:
        """Show only the clients whose name contains ``text`` (case-insensitive)."""
        needle = text.strip().casefold()
        if needle != self.search:
            self.search = needle
            self.set_rows(self._all)

    def set_rows(self, rows: list[ClientTotal]) -> None:
        self._all = list(rows)
        rows = [r for r in rows if self.search in r.client.casefold()] if self.search \
            else list(rows)
        rows.sort(key=self._key(), reverse=self._sort[1] == Qt.SortOrder.DescendingOrder)
        if rows and len(rows) == len(self._rows) and all(
                (a.client, a.currency) == (b.client, b.currency) for a, b in zip(rows, self._rows)):
            self._rows = rows  # same rows in the same order: repaint values only
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(COLUMNS) - 1))
            return
        if len(rows) == len(self._rows):
            self.layoutAboutToBeChanged.emit()
            self._rows = rows
            self._sort_rows()
            self.layoutChanged.emit()
            if rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self._rows = rows
        self._sort_rows()
        self.endResetModel()

    def rows(self) -> list[ClientTotal]:
        return list(self._rows)

    def all_rows(self) -> list[ClientTotal]:
        """Every row, those the search hides too."""
        return list(self._all)

    def rows_between(self, first: int, stop: int) -> list[ClientTotal]:
        return self._rows[first:stop]


class ClientsView(QWidget):
    exportRequested = Signal()
    schemaRequested = Signal(str)  # a client name ("" for none): open the Client schemas dialog
    # a click (no modifier) or Enter on a row: the client's events, in the row's currency
    clientActivated = Signal(str, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._client_width = 0
        self._fitted_rows = -1
        self.model = ClientsModel(self)
        self.table = QTableView(self)
        self.table.setObjectName("clientsTable")
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalScrollBar().valueChanged.connect(self._fit_visible)
        self.table.clicked.connect(self._on_click)
        self.table.installEventFilter(self)
        self.table.setToolTip("Click a row for the client's events; Ctrl+click selects "
                              "several (View ▸ Client history); double-click for its schema")
        self.search = QLineEdit(self)
        self.search.setObjectName("clientsSearch")
        self.search.setPlaceholderText("Search clients by name")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._on_search)
        hh = self.table.horizontalHeader()
        hh.setStretchLastSection(True)
        for visual, logical in enumerate(VISUAL_ORDER):
            hh.moveSection(hh.visualIndex(logical), visual)
        self.summary = QLabel(self)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.summary.setWordWrap(True)
        self.export_button = QPushButton("Export CSV…", self)
        self.export_button.clicked.connect(self.exportRequested)
        self.schemas_button = QPushButton("Schemas…", self)
        self.schemas_button.setObjectName("clientsSchemas")
        self.schemas_button.setToolTip("Map the selected client's fields explicitly "
                                       "(double-click a row does the same)")
        self.schemas_button.clicked.connect(lambda: self.schemaRequested.emit(self.selected_client()))
        self.table.doubleClicked.connect(
            lambda index: self.schemaRequested.emit(self.model.rows()[index.row()].client))
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        row.addWidget(self.schemas_button)
        row.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)  # a line of its own: beside the buttons it wraps to four
        layout.addLayout(row)
        self.set_stats([])

    def _fit_columns(self, stats: list[ClientTotal], reset: bool = False) -> None:
        """Size each column to the widest of ``stats`` (the client capped); columns only grow
        (unless ``reset``), so they do not jump while totals change ten times a second."""
        fm = self.table.fontMetrics()
        hh = self.table.horizontalHeader()
        pad = 2 * self.table.style().pixelMetric(self.table.style().PixelMetric.PM_FocusFrameHMargin) + 12

        def widest(texts) -> int:
            longest = sorted(texts, key=len, reverse=True)[:8]  # measure the few longest only
            return max((fm.horizontalAdvance(t) for t in longest), default=0)
        samples = {
            0: [r.client[:_CLIENT_MAX_CHARS] for r in stats] or ["Client name"],
            1: [r.currency or NO_CURRENCY for r in stats] or ["USD"],
            2: [f"{r.count:,}" for r in stats] or ["8,888"],
            TOTAL_COLUMN: [format_money(r.total) for r in stats] or ["88,888.88"],
            4: ["8888-88-88 88:88:88"],
            5: ["8888-88-88 88:88:88"],
        }
        for col, texts in samples.items():
            header = hh.sectionSizeFromContents(col).width()  # with room for the sort arrow
            width = max(header, widest(texts) + pad)
            if col == 0:
                self._client_width = width if reset else max(self._client_width, width)
            elif width > self.table.columnWidth(col) or reset:
                self.table.setColumnWidth(col, width)
        self._fit_client_column()

    @Slot()
    def _fit_visible(self, *args) -> None:
        """Fit the columns to the rows in view: cheap enough for every refresh."""
        rows = self.model.rowCount()
        first = self.table.rowAt(0)
        if first < 0:
            return
        last = self.table.rowAt(self.table.viewport().height() - 1)
        self._fit_columns(self.model.rows_between(first, rows if last < 0 else last + 1))

    def _fit_client_column(self) -> None:
        """The client column gives way (names elide) so that Total stays in view."""
        room = self.table.viewport().width() - self.table.columnWidth(TOTAL_COLUMN)
        self.table.setColumnWidth(0, max(90, min(self._client_width, room)))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_client_column()

    def preferred_width(self) -> int:
        """The width that shows every column whole."""
        columns = sum(self.table.columnWidth(c) for c in range(len(COLUMNS)))
        frame = 2 * self.table.frameWidth() + self.table.verticalScrollBar().sizeHint().width()
        margins = self.layout().contentsMargins()
        return columns + frame + margins.left() + margins.right()

    @Slot(QModelIndex)
    def _on_click(self, index: QModelIndex) -> None:
        if QApplication.keyboardModifiers() & (Qt.KeyboardModifier.ControlModifier
                                               | Qt.KeyboardModifier.ShiftModifier):
            return  # selecting several rows (for the history chart), not opening one
        self._activate(index.row())

    def _activate(self, row: int) -> None:
        if 0 <= row < self.model.rowCount():
            r = self.model.rows_between(row, row + 1)[0]
            self.clientActivated.emit(r.client, r.currency)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.table and event.type() == QEvent.Type.KeyPress \
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._activate(self.table.currentIndex().row())
            return True
        return super().eventFilter(watched, event)

    @Slot(str)
    def _on_search(self, text: str) -> None:
        self.model.set_search(text)
        self._show_summary()

    def selected_clients(self) -> list[str]:
        """The distinct clients of the selected rows, in the table's order."""
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        names = [self.model.rows_between(r, r + 1)[0].client for r in rows]
        return list(dict.fromkeys(names))

    def selected_client(self) -> str:
        rows = self.table.selectionModel().selectedRows()
        return self.model.rows()[rows[0].row()].client if rows else ""

    @Slot(object)
    def set_stats(self, stats: list[ClientTotal]) -> None:
        self.model.set_rows(stats)
        if len(stats) != self._fitted_rows:  # new rows: measure them all, once
            self._fitted_rows = len(stats)
            self._fit_columns(stats, reset=not stats)
        else:
            self._fit_visible()
        self._show_summary()

    def _show_summary(self) -> None:
        every, shown = self.model.all_rows(), self.model.rows()
        clients = len({r.client.casefold() for r in every})
        if self.model.search:
            matching = len({r.client.casefold() for r in shown})
            text = f"{matching:,} of {clients:,} clients"
        else:
            text = f"{clients:,} clients"
        events = sum(r.count for r in shown)
        self.summary.setText(f"{text}, {len(shown):,} client/currency rows, {events:,} events")
