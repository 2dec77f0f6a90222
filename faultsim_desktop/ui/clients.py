"""The clients table: per client and currency, count, exact total, first and last seen."""
from __future__ import annotations

from decimal import Decimal
from heapq import nlargest, nsmallest
from operator import attrgetter, itemgetter
from typing import NamedTuple

import numpy as np

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, Qt, QTimer, Signal, Slot
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
# itemgetter where it can be: a key in C, no Python call per row (tens of thousands of rows
# sort on the GUI thread at every refresh)
_SORT_KEYS = (
    lambda r: (r.client.casefold(), r.currency or ""),
    lambda r: (r.currency or "", r.client.casefold()),
    itemgetter(2),  # count
    itemgetter(3),  # total: Decimal compares exactly
    itemgetter(4),  # first seen
    itemgetter(5),  # last seen
)
_CLIENT, _CURRENCY, _COUNT, _TOTAL = (attrgetter(f) for f in ("client", "currency", "count",
                                                               "total"))


def sorted_rows(rows: list[ClientTotal], sort: tuple[int, Qt.SortOrder],
                versions: dict[str, int], head: int | None = None) -> list[ClientTotal]:
    """``rows`` in the order of ``sort`` (column, order; ties in the snapshot's order), or only
    its first ``head`` (``nlargest``/``nsmallest`` give exactly the first of the stable
    sort). ``versions``: client key -> active mapping version, for the Schema column."""
    key = ((lambda r: versions.get(r.client.casefold(), 0)) if sort[0] == SCHEMA_COLUMN
           else _SORT_KEYS[sort[0]])
    descending = sort[1] == Qt.SortOrder.DescendingOrder
    if head is not None and len(rows) > head:
        return (nlargest if descending else nsmallest)(head, rows, key=key)
    return sorted(rows, key=key, reverse=descending)


def search_rows(rows: list[ClientTotal], search: str) -> list[ClientTotal]:
    """The rows whose client's name contains ``search`` (casefolded); ``rows`` itself for ""."""
    return [r for r in rows if search in r.client.casefold()] if search else rows


def summary_counts(every: list[ClientTotal], shown: list[ClientTotal], searching: bool
                   ) -> tuple[int, int, int]:
    """Distinct clients among ``every`` row and among the ``shown`` ones, and the shown rows'
    events. A client's rows all carry its one display name (its key is the case-folded
    form), so distinct names are distinct clients: counted in C, no casefold per row."""
    clients = len(set(map(_CLIENT, every)))
    matching = len(set(map(_CLIENT, shown))) if searching else clients
    return clients, matching, sum(map(_COUNT, shown))


class TablePrep(NamedTuple):
    """What the clients table needs of every row, prepared on the reader lane
    (``ClientsView.prepare``) for the sort, search and mapping versions of the moment the read
    was asked for."""

    state: tuple  # (sort, search, versions): the versions dict itself, compared by identity
    shown: list[ClientTotal]  # the rows the search shows, in the snapshot's order
    head: list[ClientTotal]  # their first HEAD_ROWS in the table's order
    clients: int  # distinct clients among every row
    matching: int  # ... among the shown rows
    events: int  # events of the shown rows


def added_rows(old: list[ClientTotal], new: list[ClientTotal], limit: int | None = None
               ) -> list[ClientTotal] | None:
    """The rows of snapshot ``new`` that snapshot ``old`` lacks (by client and currency), when
    ``new`` is ``old`` with rows inserted and both keep the reader's order (each row's key
    unique); None when ``new`` has fewer rows, or more than ``limit`` more.

    Each inserted row is found by a binary search for the first place where the two stop
    lining up, so a refresh that adds a few rows to tens of thousands costs a few hundred
    comparisons. The answer only sizes columns: rows both removed and added (an undo while a
    file streams in) may give a wrong one, never an error."""
    extra = len(new) - len(old)
    if extra < 0 or (limit is not None and extra > limit):
        return None
    added: list[ClientTotal] = []
    start = 0  # rows of ``new`` before it are matched or added
    end = len(old)  # + len(added): where ``old`` runs out
    while len(added) < extra:
        k = len(added)
        lo, hi = start, end + k
        while lo < hi:  # the first j at or after start whose row is not old[j - k]
            mid = (lo + hi) // 2
            a, b = new[mid], old[mid - k]
            if a[0] == b[0] and a[1] == b[1]:
                lo = mid + 1
            else:
                hi = mid
        if lo >= end + k:  # old ran out: the rest of new is added
            added.extend(new[lo:lo + extra - k])
            break
        added.append(new[lo])
        start = lo + 1
    return added


def _longest_totals(rows: list[ClientTotal], few: int = 8) -> list[Decimal]:
    """The ``few`` totals whose grouped text (``format_money``) has the most characters, the
    longest first, found without formatting every row: the grouped text is the plain one
    (``str``) with a comma for every three digits of the integer part past the first, and
    every step here runs in C. Every total when one's plain text uses an exponent."""
    totals = list(map(_TOTAL, rows))
    texts = list(map(str, totals))
    if "E" in "".join(texts):
        return totals
    n = len(totals)
    plain = np.fromiter(map(len, texts), np.int64, n)
    places = np.fromiter(map(Decimal.adjusted, totals), np.int64, n)  # integer digits - 1
    return [totals[i] for i in _longest(plain + np.maximum(places, 0) // 3, few)]


def _longest_names(rows: list[ClientTotal], few: int = 8) -> list[str]:
    """The ``few`` longest client names, the longest first."""
    names = list(map(_CLIENT, rows))
    return [names[i] for i in _longest(np.fromiter(map(len, names), np.int64, len(names)), few)]


def _longest(lengths: np.ndarray, few: int) -> list[int]:
    """The indexes of the ``few`` largest ``lengths``, largest first, equal ones in order (as
    ``heapq.nlargest``, in C)."""
    n = len(lengths)
    if n > few:  # the rows at least as long as the few-th longest, in the rows' order
        candidates = np.flatnonzero(lengths >= np.partition(lengths, n - few)[n - few])
    else:
        candidates = np.arange(n)
    return candidates[np.argsort(-lengths[candidates], kind="stable")[:few]].tolist()


class ClientsModel(TitledColumns, QAbstractTableModel):
    """The rows sorted in Python with a key. A refresh sorts only the first ``HEAD_ROWS``
    rows of the new order (what a view shows unless scrolled far down): with tens of thousands
    of client/currency rows, sorting them all on the GUI thread at every refresh froze the
    window for tens of milliseconds. The rest are sorted when first asked for."""

    COLUMNS = COLUMNS
    HEAD_ROWS = 1000

    def __init__(self, parent=None):
        super().__init__(parent)
        self._all: list[ClientTotal] = []  # every row; the search shows those that match
        self._shown: list[ClientTotal] = []  # the rows the search shows, in the snapshot's order
        self._rows: list[ClientTotal] = []  # their display order: all, or the first HEAD_ROWS
        self._head_keys: tuple[list, list] = ([], [])  # client and currency of each of _rows
        self._sort = (3, Qt.SortOrder.DescendingOrder)
        self._versions: dict[str, int] = {}  # client key -> active mapping version
        self.search = ""  # casefolded; "" shows every client

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._shown)

    def _row(self, i: int) -> ClientTotal:
        rows = self._rows
        return rows[i] if i < len(rows) else self._sorted_all()[i]

    def data(self, index, role=_DISPLAY):
        # Qt asks seven roles of every cell it paints: plain int comparisons, the rare ones last
        if role == _DISPLAY:
            i = index.row()
            rows = self._rows
            r = rows[i] if i < len(rows) else self._sorted_all()[i]  # _row, inlined: hot
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
            return plain_tooltip(self._row(index.row()).client)
        if c == SCHEMA_COLUMN:
            version = self._versions.get(self._row(index.row()).client.casefold())
            return (f"Normalized by this client's mapping v{version} (Edit ▸ Client schemas)"
                    if version else "No mapping: the heuristics normalize this client's events")
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self._sort = (column, order)
        self.layoutAboutToBeChanged.emit()
        self._set_order(self._sorted(self._shown, self.HEAD_ROWS))
        self.layoutChanged.emit()

    def _sorted(self, rows: list[ClientTotal], head: int | None = None) -> list[ClientTotal]:
        """``rows`` in the table's order (ties in the snapshot's), or only its first ``head``."""
        return sorted_rows(rows, self._sort, self._versions, head)

    def prep_state(self) -> tuple:
        return self._sort, self.search, self._versions

    def prep_holds(self, prep: TablePrep | None) -> bool:
        """``prep`` was made for the sort, search and versions the table has now."""
        return (prep is not None and prep.state[2] is self._versions
                and prep.state[:2] == (self._sort, self.search))

    def _sorted_all(self) -> list[ClientTotal]:
        if len(self._rows) < len(self._shown):
            self._set_order(self._sorted(self._shown))
        return self._rows

    def _set_order(self, rows: list[ClientTotal]) -> None:
        self._rows = rows
        self._head_keys = (list(map(_CLIENT, rows)), list(map(_CURRENCY, rows)))

    def set_versions(self, versions: dict[str, int]) -> None:
        """The active mapping version of every client that has one, by client key."""
        if versions != self._versions:
            self._versions = dict(versions)
            if self._shown:
                self.dataChanged.emit(self.index(0, SCHEMA_COLUMN),
                                      self.index(len(self._shown) - 1, SCHEMA_COLUMN))

    def set_search(self, text: str) -> None:
        """Show only the clients whose name contains ``text`` (case-insensitive)."""
        needle = text.strip().casefold()
        if needle != self.search:
            self.search = needle
            self.set_rows(self._all)

    def set_rows(self, rows: list[ClientTotal], prep: TablePrep | None = None) -> None:
        self._all = list(rows)
        if self.prep_holds(prep):  # filtered and ranked on the reader lane
            shown, head = list(prep.shown), prep.head
        else:
            shown = list(search_rows(rows, self.search))
            head = self._sorted(shown, self.HEAD_ROWS)
        if len(shown) == len(self._shown):
            old_keys = self._head_keys
            self._shown = shown
            self._set_order(head)
            same_order = self._head_keys == old_keys
            if not same_order:
                self.layoutAboutToBeChanged.emit()
                self.layoutChanged.emit()
            if shown:  # the values, whether or not the order changed
                self.dataChanged.emit(self.index(0, 0),
                                      self.index(len(shown) - 1, len(COLUMNS) - 1))
            return
        self.beginResetModel()
        self._shown = shown
        self._set_order(head)
        self.endResetModel()

    def rows(self) -> list[ClientTotal]:
        """The rows the search shows, in the table's order."""
        return list(self._sorted_all())

    def shown_rows(self) -> list[ClientTotal]:
        """The rows the search shows, in no particular order (cheap: nothing to sort)."""
        return list(self._shown)

    def all_rows(self) -> list[ClientTotal]:
        """Every row, those the search hides too."""
        return list(self._all)

    def rows_between(self, first: int, stop: int) -> list[ClientTotal]:
        rows = self._rows if stop <= len(self._rows) else self._sorted_all()
        return rows[first:stop]


class ClientsView(QWidget):
    FIT_SLICE_ROWS = 8192  # rows measured at a time for the columns' widths
    FIT_ADDED_ROWS = 256  # a refresh adding at most this many rows to a large table: those only
    exportRequested = Signal()
    schemaRequested = Signal(str)  # a client name ("" for none): open the Client schemas dialog
    # a click (no modifier) or Enter on a row: the client's events, in the row's currency
    clientActivated = Signal(str, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._client_width = 0
        self._fitted_rows = -1
        # a large table's rows measured a slice at a time (_fit_later), between other events
        self._unfitted: list[ClientTotal] = []
        self._fit_timer = QTimer(self)
        self._fit_timer.setObjectName("clients-fit-slices")
        self._fit_timer.setSingleShot(True)
        self._fit_timer.timeout.connect(self._fit_slice)
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
            longest = nlargest(8, texts, key=len)  # measure the few longest only
            return max((fm.horizontalAdvance(t) for t in longest), default=0)
        samples = {
            0: [name[:_CLIENT_MAX_CHARS] for name in _longest_names(stats)] or ["Client name"],
            1: [c or NO_CURRENCY for c in set(map(_CURRENCY, stats))] or ["USD"],
            2: [f"{max(map(_COUNT, stats)):,}"] if stats else ["8,888"],
            TOTAL_COLUMN: [format_money(t) for t in _longest_totals(stats)] or ["88,888.88"],
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

    def prepare_state(self) -> tuple:
        """On the GUI thread, when a read of the totals is asked for: what ``prepare`` needs."""
        return self.model.prep_state()

    @staticmethod
    def prepare(rows: list[ClientTotal], state: tuple) -> TablePrep:
        """On the reader lane (no widget touched): the search's rows, the first
        ``HEAD_ROWS`` of the table's order and the summary's counts, as ``set_stats`` would
        work them out."""
        sort, search, versions = state
        shown = search_rows(rows, search)
        return TablePrep(state, shown, sorted_rows(shown, sort, versions, ClientsModel.HEAD_ROWS),
                         *summary_counts(rows, shown, bool(search)))

    @Slot(object)
    def set_stats(self, stats: list[ClientTotal]) -> None:
        previous = self.model._all  # replaced by set_rows, never changed in place
        prep = getattr(stats, "prepared", {}).get("clients")
        prep = prep if isinstance(prep, TablePrep) else None
        self.model.set_rows(stats, prep)
        if len(stats) != self._fitted_rows:  # new rows: measure them, once
            self._fitted_rows = len(stats)
            added = (added_rows(previous, stats, limit=self.FIT_ADDED_ROWS)
                     if previous and len(stats) > self.FIT_SLICE_ROWS else None)
            if added is not None:
                self._fit_columns(added)  # columns only grow: the new rows are enough
            elif len(stats) > self.FIT_SLICE_ROWS:
                self._fit_later(stats)
            else:
                self._fit_later([])
                self._fit_columns(stats, reset=not stats)
        self._fit_visible()
        self._show_summary(prep if self.model.prep_holds(prep) else None)

    def _fit_later(self, rows: list[ClientTotal]) -> None:
        """Measure ``rows`` a slice at a time, each slice its own event: measuring a hundred
        thousand rows at once held the GUI thread for tens of milliseconds."""
        self._unfitted = rows
        if rows:
            self._fit_timer.start(0)
        else:
            self._fit_timer.stop()

    @Slot()
    def _fit_slice(self) -> None:
        rows = self._unfitted
        self._fit_columns(rows[:self.FIT_SLICE_ROWS])
        self._fit_later(rows[self.FIT_SLICE_ROWS:])

    def _show_summary(self, prep: TablePrep | None = None) -> None:
        shown = self.model._shown
        clients, matching, events = (  # counted on the reader lane, for these very rows
            (prep.clients, prep.matching, prep.events) if prep is not None
            else summary_counts(self.model._all, shown, bool(self.model.search)))
        text = f"{matching:,} of {clients:,} clients" if self.model.search \
            else f"{clients:,} clients"
        self.summary.setText(f"{text}, {len(shown):,} client/currency rows, {events:,} events")
