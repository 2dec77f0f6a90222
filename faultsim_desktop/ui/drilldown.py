"""The drill-down: one client's stored events, read from the database (not the log ring).

Opened by a click on a row of the Clients table or on a bar of the totals chart, it pages over
the client's events newest first (ui/paged.py: keyset pages on the bridge's reader lane) with
filters for event time, currency, import and text; its header shows how many events the
filters select and their exact total per currency, which with no filter equal the client's
rows in the Clients table. A double-click or Enter on an event asks for its explanation."""
from __future__ import annotations

import time
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from PySide6.QtCore import QEvent, QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QDialog, QLabel, QLineEdit, QPushButton,
                               QVBoxLayout)

from ..core.client_events import (CLIENT_EVENT_SORTS, ClientEvent, ClientImport, CurrencyTotal,
                                  EventFilter, filter_time)
from ..core.model import ClientTotal
from .charts import NO_CURRENCY, format_money

if TYPE_CHECKING:
    from .history_chart import HistoryDialog
from .bridge import ReadLane
from .paged import Column, PagedModel
from .quarantine import _PagedPanel, _one_line, _time

_DOWN = Qt.SortOrder.DescendingOrder
ANY = "any"  # the currency box's data for "every currency" (None is a currency: none)
REFRESH_EVERY_S = 1.0  # live changes re-read the sums (a scan of the client's events) this often


class DrillCount(NamedTuple):
    """What the header shows: the client's events, those the filters select, and their
    count and exact total per currency (a ViewCount with the sums added), and the imports
    that hold the client's events (for the import box)."""

    total: int
    matching: int
    sums: tuple[CurrencyTotal, ...]
    imports: tuple[ClientImport, ...] = ()


def _count(svc, scope: dict, text: str) -> DrillCount:
    client = scope["client"]
    if not client:
        return DrillCount(0, 0, ())
    sums = svc.client_events_summary(client, replace(scope["filter"], text=text))
    every = svc.client_totals(client)
    return DrillCount(sum(r.count for r in every), sum(r.count for r in sums), tuple(sums),
                      tuple(svc.client_imports(client)))


def import_label(i: ClientImport) -> str:
    """'#12 orders.ndjson (file, 2024-05-01 10:00) · 1,234 events'."""
    source = i.source if len(i.source) <= 40 else "…" + i.source[-39:]
    undone = " · undone" if i.undone_at else ""
    return (f"#{i.id} {source} ({i.kind}, {_time(i.started_at)[:16]}) · {i.events:,} "
            f"event{'s' if i.events != 1 else ''}{undone}")


def _page(svc, scope: dict, query) -> list[ClientEvent]:
    if not scope["client"]:
        return []
    return svc.client_events_page(scope["client"], replace(scope["filter"], text=query.text),
                                  query)


def sums_text(sums) -> str:
    """'EUR 1,234.50 in 12 events · (no currency) 3 in 1 event'."""
    return " · ".join(f"{r.currency or NO_CURRENCY} {format_money(r.total)} in {r.count:,} "
                      f"event{'s' if r.count != 1 else ''}" for r in sums)


AMOUNT_COLUMN = 2


class _EventsModel(PagedModel):
    """Amounts right-aligned, so that their digits line up."""

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() == AMOUNT_COLUMN:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return super().data(index, role)


class DrillDownPanel(_PagedPanel):
    """The events table with its filters and header; ``show_client`` points it at a client."""

    explain_requested = Signal(int)  # an event id: show where its numbers came from
    historyRequested = Signal(list)  # [client]: open the history chart for it

    def __init__(self, parent=None):
        model = _EventsModel([
            Column("#", lambda e: e.id, "id", _DOWN),
            Column("Event time", lambda e: _time(e.event_time), "event_time", _DOWN),
            Column("Amount", lambda e: format_money(Decimal(e.amount))),
            Column("Currency", lambda e: e.currency or NO_CURRENCY),
            Column("Source", lambda e: f"{e.source}:{e.line}"),
            Column("Import", lambda e: f"#{e.import_id}" if e.import_id is not None else ""),
            Column("Received", lambda e: _time(e.received_at)),
            Column("Raw", lambda e: _one_line(e.raw, 160)),
        ], CLIENT_EVENT_SORTS, _count, _page, scope={"client": "", "filter": EventFilter()},
            tooltip=lambda e: f"Event #{e.id} from {e.source}, line {e.line}\n\n{e.raw}")
        super().__init__(model, "drillTable", "Filter by raw text or source", parent)
        self.client = ""
        self._signature: tuple | None = None  # the client's aggregate rows last seen
        self._stats: list[ClientTotal] = []  # the latest totals of every client
        self._refreshed_at = 0.0
        self._late = False  # a change waits for REFRESH_EVERY_S
        cw = self.fontMetrics().averageCharWidth()
        for col, chars in enumerate((8, 20, 16, 9, 30, 7, 20)):
            self.table.setColumnWidth(col, cw * chars + 16)
        self.table.setSelectionMode(self.table.SelectionMode.SingleSelection)
        self.table.doubleClicked.connect(self._explain)
        self.table.installEventFilter(self)
        self._count = DrillCount(0, 0, ())
        model.rowsInserted.connect(self._show_fetched)

        self.title = QLabel(self)
        self.title.setObjectName("drillTitle")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setStyleSheet("font-weight: 600; font-size: 14px;")
        self.title.setWordWrap(True)
        self.sums_label = QLabel(self)
        self.sums_label.setObjectName("drillSums")
        self.sums_label.setTextFormat(Qt.TextFormat.PlainText)
        self.sums_label.setWordWrap(True)
        self.sums_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.time_from = self._time_box("drillFrom", "from: 2024-01-31 12:00")
        self.time_to = self._time_box("drillTo", "to: 2024-01-31 (whole day)")
        self.currency_box = QComboBox(self)
        self.currency_box.setObjectName("drillCurrency")
        self.currency_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.currency_box.setToolTip("Only the events in this currency")
        self.currency_box.addItem("Any currency", ANY)
        self.currency_box.currentIndexChanged.connect(self._apply_filters)
        self.import_box = QComboBox(self)
        self.import_box.setObjectName("drillImport")
        self.import_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.import_box.setMinimumContentsLength(18)  # the list shows the labels whole
        self.import_box.setToolTip("Only the events of one import (a file, a paste, a request)")
        self.import_box.addItem("Any import", None)
        self.import_box.currentIndexChanged.connect(self._apply_filters)
        self.filter.setToolTip("Case-insensitive text in the event's raw JSON or its source")
        self.problem = QLabel(self)
        self.problem.setObjectName("drillProblem")
        self.problem.setTextFormat(Qt.TextFormat.PlainText)
        self.problem.setStyleSheet("color: #c62828;")
        self.problem.hide()
        self.clear_button = QPushButton("Clear filters", self)
        self.clear_button.setObjectName("drillClear")
        self.clear_button.clicked.connect(self.clear_filters)
        for w in (self.time_from, self.time_to, self.currency_box, self.import_box,
                  self.clear_button):
            self.filters.addWidget(w)
        self.history_button = QPushButton("History chart…", self)
        self.history_button.setObjectName("drillHistory")
        self.history_button.setToolTip("This client's cumulative total over event time")
        self.history_button.clicked.connect(lambda: self.historyRequested.emit([self.client]))
        self.explain_button = QPushButton("Explain…", self)
        self.explain_button.setObjectName("drillExplain")
        self.explain_button.setToolTip("Where the selected event's numbers came from "
                                       "(double-click or Enter does the same)")
        self.explain_button.clicked.connect(lambda: self._explain())
        self.buttons.addWidget(self.history_button)
        self.buttons.addWidget(self.explain_button)
        for button in (self.clear_button, self.history_button, self.explain_button):
            button.setAutoDefault(False)  # Enter in a filter box applies it, presses nothing
        layout = self.layout()
        layout.insertWidget(0, self.title)
        layout.insertWidget(1, self.sums_label)
        layout.insertWidget(3, self.problem)
        self.show_count(DrillCount(0, 0, ()))

    def _time_box(self, name: str, placeholder: str) -> QLineEdit:
        box = QLineEdit(self)
        box.setObjectName(name)
        box.setPlaceholderText(placeholder)
        box.setClearButtonEnabled(True)
        box.setToolTip("Event time, any form ingestion reads (UTC unless it says otherwise); "
                       "applied on Enter")
        box.editingFinished.connect(self._apply_filters)
        box.textChanged.connect(lambda text: self._apply_filters() if not text else None)
        box.setMinimumWidth(box.fontMetrics().horizontalAdvance(placeholder) + 36)
        return box

    def show_client(self, client: str, currency: str | None | object = ANY) -> None:
        """Show ``client``'s events (``currency``: preselect one, None for none; ANY: all)."""
        self.client = client
        # the totals seen so far: the reload below reads at least what they count
        self._signature = tuple((r.currency, r.count, r.total) for r in self._rows_of(self._stats))
        self._late = False
        self.title.setText(client)
        self._select_currency(currency)
        self.set_currencies([r.currency for r in self._rows_of(self._stats)])
        self.model.set_scope(client=client, filter=self.current_filter())

    def _rows_of(self, stats: list[ClientTotal]) -> list[ClientTotal]:
        key = self.client.casefold()
        return [r for r in stats if r.client.casefold() == key]

    def _select_currency(self, currency) -> None:
        box = self.currency_box
        wanted = ANY if currency is ANY else (currency or "")
        i = box.findData(wanted)
        if i < 0:
            box.addItem(wanted or NO_CURRENCY, wanted)
            i = box.count() - 1
        box.blockSignals(True)
        box.setCurrentIndex(i)
        box.blockSignals(False)

    def set_currencies(self, currencies: list[str | None]) -> None:
        """The currencies the client has events in (None: none), for the currency box."""
        box = self.currency_box
        current = box.currentData()
        wanted = [ANY] + sorted({c or "" for c in currencies} | ({current} - {ANY}),
                                key=lambda c: (c == "", c))
        if [box.itemData(i) for i in range(box.count())] == wanted:
            return
        box.blockSignals(True)
        box.clear()
        for c in wanted:
            box.addItem("Any currency" if c == ANY else c or NO_CURRENCY, c)
        box.setCurrentIndex(wanted.index(current))
        box.blockSignals(False)

    def set_imports(self, imports: list[tuple[int, str]]) -> None:
        """(id, label) of the imports the import box offers, newest first."""
        box = self.import_box
        current = box.currentData()
        wanted = [(None, "Any import")] + list(imports)
        if current is not None and current not in {i for i, _ in imports}:
            wanted.append((current, box.currentText()))  # chosen: it stays while filtered
        if [(box.itemData(i), box.itemText(i)) for i in range(box.count())] == wanted:
            return
        box.blockSignals(True)
        box.clear()
        for i, label in wanted:
            box.addItem(label, i)
        box.setCurrentIndex(max(0, box.findData(current)))
        box.blockSignals(False)
        fm = box.view().fontMetrics()
        box.view().setMinimumWidth(max(fm.horizontalAdvance(t) for _, t in wanted) + 40)

    def select_import(self, import_id: int | None) -> None:
        i = self.import_box.findData(import_id)
        if i < 0 and import_id is not None:
            self.import_box.addItem(f"#{import_id}", import_id)
            i = self.import_box.count() - 1
        self.import_box.setCurrentIndex(max(i, 0))

    def current_filter(self) -> EventFilter:
        """The filter the boxes describe (the text box goes in as the model's text); a time
        that cannot be read is left out, and said under the filters."""
        problems = []
        times = []
        for box, end in ((self.time_from, False), (self.time_to, True)):
            try:
                times.append(filter_time(box.text(), end=end))
            except ValueError as exc:
                problems.append(f"{'To' if end else 'From'}: {exc}")
                times.append(None)
        self.problem.setText("; ".join(problems))
        self.problem.setVisible(bool(problems))
        currency = self.currency_box.currentData()
        return EventFilter(time_from=times[0], time_to=times[1],
                           currency=None if currency == ANY else currency,
                           import_id=self.import_box.currentData())

    @Slot()
    def _apply_filters(self, *args) -> None:
        if self.client:
            self.model.set_scope(filter=self.current_filter())

    @Slot()
    def clear_filters(self) -> None:
        for box in (self.time_from, self.time_to, self.filter):
            box.blockSignals(True)
            box.clear()
            box.blockSignals(False)
        self._select_currency(ANY)
        self.import_box.blockSignals(True)
        self.import_box.setCurrentIndex(0)
        self.import_box.blockSignals(False)
        self.model.text = ""
        self.model.scope["filter"] = self.current_filter()
        self.model.reload()

    def filtered(self) -> bool:
        f = self.model.scope["filter"]
        return bool(self.model.text) or f != EventFilter()

    def show_count(self, count) -> None:
        if not isinstance(count, DrillCount):
            return
        self._count = count
        self.set_imports([(i.id, import_label(i)) for i in count.imports])
        noun = "event" if count.total == 1 else "events"
        if self.filtered():
            head = f"{count.matching:,} of {count.total:,} {noun} match the filters"
        else:
            head = f"{count.total:,} {noun}"
        self.title.setText(f"{self.client} — {head}" if self.client else "")
        self.sums_label.setText(("Total: " + sums_text(count.sums)) if count.sums
                                else "No events match." if self.client else "")
        self._show_fetched()

    @Slot()
    def _show_fetched(self, *args) -> None:
        count = self._count
        shown = self.model.rowCount()
        self.summary.setText(f"{shown:,} of {count.matching:,} shown, newest first"
                             " (scroll for more)" if shown < count.matching else
                             f"{shown:,} shown, newest first")

    @Slot(object)
    def on_stats(self, stats: list[ClientTotal]) -> None:
        """New totals: read the client's events again when its rows changed (at most once
        per REFRESH_EVERY_S: the sums scan every event of the client)."""
        self._stats = stats
        if not self.client:
            return
        mine = self._rows_of(stats)
        self.set_currencies([r.currency for r in mine])
        signature = tuple((r.currency, r.count, r.total) for r in mine)
        if signature != self._signature:
            self._signature = signature
            self._late = True
        if self._late and time.monotonic() - self._refreshed_at >= REFRESH_EVERY_S:
            self._late = False
            self._refreshed_at = time.monotonic()
            self.refresh()

    def selected_event(self) -> ClientEvent | None:
        row = self.selected_row()
        return self.model.row(row) if row >= 0 else None

    @Slot()
    def _explain(self, index=None) -> None:
        if isinstance(index, QModelIndex) and index.isValid():
            event = self.model.row(index.row())
        else:
            event = self.selected_event()
        if event is not None:
            self.explain_requested.emit(event.id)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.table and event.type() == QEvent.Type.KeyPress \
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._explain()
            return True
        return super().eventFilter(watched, event)


class DrillDownDialog(QDialog):
    """The drill-down in a window of its own (one per main window), non-modal."""

    def __init__(self, bridge, parent=None):
        super().__init__(parent)
        self.setObjectName("drillDownDialog")
        self.setWindowTitle("Client events")
        self.panel = DrillDownPanel(self)
        self.explain_requested = self.panel.explain_requested
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.panel)
        self.resize(1100, 620)
        self.reads = ReadLane(bridge, "drilldown", self)
        bridge.serviceChanged.connect(self.panel._on_service_changed)
        self.panel.model.bind(self.reads)
        bridge.statsChanged.connect(self.panel.on_stats)

    def shutdown(self) -> None:
        self.close()
        self.reads.stop()

    def show_client(self, client: str, currency=ANY) -> None:
        self.setWindowTitle(f"Client events — {client}")
        self.panel.show_client(client, currency)
        if self.isVisible():
            self.raise_()
            self.activateWindow()
        else:
            self.show()


class ClientDrilling:
    """Mixed into MainWindow: a click on a client row or a bar opens the client's events;
    View ▸ Client history charts the selected clients."""

    drilldown_dialog: DrillDownDialog | None = None
    history_dialog: "HistoryDialog | None" = None
    HISTORY_DEFAULT_CLIENTS = 10  # charted when no client is selected: the table's first ones

    def _connect_drilling(self) -> None:
        self.clients.clientActivated.connect(self.open_drilldown)
        self.totals_chart.barClicked.connect(self.open_drilldown)

    @Slot(str, object)
    def open_drilldown(self, client: str, currency=ANY) -> DrillDownDialog:
        """The drill-down window, showing ``client`` (in ``currency`` when given)."""
        dialog = self.drilldown_dialog
        if dialog is None:
            dialog = self.drilldown_dialog = DrillDownDialog(self.bridge, self)
            dialog.panel.historyRequested.connect(self.open_history)
            dialog.explain_requested.connect(self.show_explanation)
            dialog.panel.on_stats(self.clients.model.all_rows())
        dialog.show_client(client, currency)
        return dialog

    def open_history(self, clients: list[str] | None = None) -> "HistoryDialog":
        """The history window for ``clients``; by default the clients selected in the Clients
        table, else the table's first HISTORY_DEFAULT_CLIENTS."""
        from .history_chart import HistoryDialog

        if not clients:
            clients = self.clients.selected_clients() or list(dict.fromkeys(
                r.client for r in self.clients.model.rows()))[:self.HISTORY_DEFAULT_CLIENTS]
        dialog = self.history_dialog
        if dialog is None:
            dialog = self.history_dialog = HistoryDialog(self.bridge, self)
        dialog.show_clients(clients)
        return dialog

    @Slot(int)
    def show_explanation(self, event_id: int) -> None:
        """Where an event's numbers came from: the Explain panel shows it."""
        self.explain_panel.show_event(event_id)

    def _close_drilling(self) -> None:
        for dialog in (self.drilldown_dialog, self.history_dialog):
            if dialog is not None:
                dialog.shutdown()  # its reader thread stops with the window


__all__ = ["ANY", "ClientDrilling", "DrillCount", "DrillDownDialog", "DrillDownPanel",
           "sums_text"]
