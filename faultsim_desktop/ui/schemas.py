"""The Client schemas dialog: every client's mapping, an editor for its next version, and a live
preview of sample events normalized by the proposed version.

The preview goes through ``IngestService.preview`` (the ingestion's own ``prepare_one``), on the
bridge's check lane; reads and the save run on lanes too, so the dialog never blocks painting.
Every text shown here is plain text: client names and field names are untrusted.
"""
from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QModelIndex, QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (QComboBox, QCompleter, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QPushButton, QSplitter, QVBoxLayout, QWidget)

from ..core.normalize import ISO_4217, client_display
from ..core.schemas import TIME_FORMATS, Mapping, MappingError, new_mapping
from .quarantine import _one_line, _table, raw_text
from .schema_preview import REASON_COLUMN, PreviewModel, StaticRows

SAMPLE_LIMIT = 20  # stored events loaded as samples
_UNIT_CHOICES = (("units", "units — 12.50 means 12.50"), ("cents", "cents — 1250 means 12.50"),
                 ("milli", "thousandths — 12500 means 12.500"))
_TIME_CHOICES = {"auto": "recognise it (ISO text or epoch number)", "iso": "ISO 8601 text",
                 "epoch_s": "epoch seconds", "epoch_ms": "epoch milliseconds",
                 "epoch_us": "epoch microseconds"}


class _Result:
    """What a lane task brings back: a value, or the error's message (never raised there, so
    the dialog knows which of its tasks failed)."""

    __slots__ = ("value", "error")

    def __init__(self, value=None, error: str | None = None):
        self.value, self.error = value, error


def _attempt(fn: Callable[[], object]) -> Callable[[], _Result]:
    def run() -> _Result:
        try:
            return _Result(fn())
        except Exception as exc:  # reported in the dialog
            return _Result(error=str(exc) or type(exc).__name__)
    return run


def _plain_label(text: str = "", parent=None, name: str | None = None) -> QLabel:
    label = QLabel(text, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


class SchemasDialog(QDialog):
    """Non-modal; one per window. ``saved`` carries the stored Mapping."""

    saved = Signal(object)
    message = Signal(str)

    def __init__(self, bridge, known_clients: Callable[[], list[str]] = lambda: [], parent=None):
        super().__init__(parent)
        self.bridge = bridge
        self.known_clients = known_clients
        self.setObjectName("schemasDialog")
        self.setWindowTitle("Client schemas")
        self.resize(1180, 760)
        self._mappings: list[Mapping] = []
        self._history: list[Mapping] = []
        self._usage: dict = {}
        self._generation = 0
        self._preview_generation = -1  # generation of the rows shown
        self._saving = False
        self._history_for: str | None = None  # the client whose versions were asked for last
        self._build()
        self._preview_timer = QTimer(self)
        self._preview_timer.setObjectName("schemas-preview")
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(150)
        self._preview_timer.timeout.connect(self._start_preview)
        bridge.taskDone.connect(self._on_task_done)
        bridge.serviceChanged.connect(self._on_service_changed)

    def _build(self) -> None:
        # built in reading order: widgets join the tab focus chain as they are created
        left = self._build_mappings()
        right = self._build_form()
        top = QSplitter(Qt.Orientation.Horizontal, self)
        top.addWidget(left)
        top.addWidget(right)
        top.setStretchFactor(0, 5)
        top.setStretchFactor(1, 4)
        top.setChildrenCollapsible(False)
        bottom = self._build_preview()
        outer = QSplitter(Qt.Orientation.Vertical, self)
        outer.setObjectName("schemasSplitter")
        outer.addWidget(top)
        outer.addWidget(bottom)
        outer.setStretchFactor(0, 2)
        outer.setStretchFactor(1, 3)
        outer.setSizes([340, 420])
        outer.setChildrenCollapsible(False)
        buttons = self._build_buttons()
        layout = QVBoxLayout(self)
        layout.addWidget(outer, 1)
        layout.addWidget(buttons)
        self._connect_form()

    def _build_mappings(self) -> QWidget:
        """Left: the clients with a mapping, and the selected client's versions."""
        self.list_model = StaticRows([
            ("Client", lambda m: m.client),
            ("Active", lambda m: f"v{m.version}"),
            ("Mapping", lambda m: m.describe()),
        ], tooltip=lambda m: f"{m.label}\n{m.describe()}\nsaved {m.created_at}"
           + (f"\n{m.note}" if m.note else ""), parent=self)
        self.list_table = _table(self.list_model, "schemasTable", self)
        cw = self.fontMetrics().averageCharWidth()
        self.list_table.setColumnWidth(0, cw * 18 + 16)
        self.list_table.setColumnWidth(1, cw * 6 + 16)
        self.list_table.selectionModel().currentRowChanged.connect(self._on_list_row)
        self.history_model = StaticRows([
            ("Version", lambda m: f"v{m.version}"),
            ("Saved", lambda m: (m.created_at or "")[:16].replace("T", " ")),
            ("Events", lambda m: f"{self._usage.get(m.version, 0):,}"),
            ("Note", lambda m: _one_line(m.note, 80)),
            ("Mapping", lambda m: m.describe()),
        ], tooltip=lambda m: f"{m.label}\n{m.describe()}" + (f"\n{m.note}" if m.note else ""),
            parent=self)
        self.history_table = _table(self.history_model, "schemaHistory", self)
        fm = self.history_table.fontMetrics()
        for col, sample in enumerate(("Version", "2024-01-01 00:00", "Events", "a short note")):
            self.history_table.setColumnWidth(col, fm.horizontalAdvance(sample) + 18)
        self.history_table.doubleClicked.connect(self._load_version)
        self.history_label = _plain_label("Versions", self)
        self.heuristics_label = _plain_label("", self, "schemaHeuristicsCount")
        left = QWidget(self)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(_bold(_plain_label("Clients with a mapping", self)))
        ll.addWidget(self.list_table, 1)
        ll.addWidget(_bold(self.history_label))
        ll.addWidget(self.history_table, 1)
        ll.addWidget(self.heuristics_label)
        return left

    def _build_form(self) -> QWidget:
        """Right: the form for the next version, its status and the matching rules."""
        self.client = QComboBox(self)
        self.client.setObjectName("schemaClient")
        self.client.setEditable(True)
        self.client.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.client.lineEdit().setPlaceholderText("client name, as events spell it")
        self.client_field = self._line("schemaClientField",
                                       "optional — e.g. merchant (default: the usual client fields)")
        self.amount_field = self._line("schemaAmountField", "required — e.g. total_cents or "
                                                            "payment.value")
        self.units = QComboBox(self)
        self.units.setObjectName("schemaUnits")
        for value, text in _UNIT_CHOICES:
            self.units.addItem(text, value)
        self.currency = self._line("schemaCurrency", "optional — ISO 4217, e.g. EUR")
        self.currency.setMaxLength(3)
        completer = QCompleter(sorted(ISO_4217), self.currency)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.currency.setCompleter(completer)
        self.time_field = self._line("schemaTimeField", "optional — default: the usual time fields")
        self.time_format = QComboBox(self)
        self.time_format.setObjectName("schemaTimeFormat")
        for value in TIME_FORMATS:
            self.time_format.addItem(_TIME_CHOICES[value], value)
        self.key_field = self._line("schemaKeyField", "optional — default: the usual key fields")
        self.note = self._line("schemaNote", "why this version (kept with it)")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.addRow("Client", self.client)
        form.addRow("Client field", self.client_field)
        form.addRow("Amount field", self.amount_field)
        form.addRow("Amount units", self.units)
        form.addRow("Default currency", self.currency)
        form.addRow("Time field", self.time_field)
        form.addRow("Time format", self.time_format)
        form.addRow("Idempotency key field", self.key_field)
        form.addRow("Note", self.note)
        box = QGroupBox("Next version", self)
        box.setLayout(form)
        self.status = _plain_label("", self, "schemaStatus")
        self.rules = _plain_label(
            "Names match exactly, else as the heuristics match them (case, _ - and spaces "
            "ignored); dotted paths reach nested fields. A field the mapping names that an event "
            "lacks rejects the event. The currency applies when the event names none. Saving "
            "stores a new version: events sent from then on use it; stored events keep theirs.",
            self, "schemaRules")
        self.rules.setEnabled(False)  # secondary text, in the palette's disabled colour
        right = QWidget(self)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(box)
        rl.addWidget(self.status)
        rl.addWidget(self.rules)
        rl.addStretch(1)
        return right

    def _build_preview(self) -> QSplitter:
        """Bottom: the sample events, and the preview of them under the proposed version."""
        self.samples = QPlainTextEdit(self)
        self.samples.setObjectName("schemaSamples")
        self.samples.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.samples.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.samples.setPlaceholderText("Paste sample events (JSON, NDJSON), or load the "
                                        "client's recent events")
        self.load_recent_button = QPushButton("Load recent events", self)
        self.load_recent_button.setObjectName("schemaLoadRecent")
        self.load_recent_button.setToolTip("The client's newest stored events, as received")
        self.load_file_button = QPushButton("Load file…", self)
        sample_tools = QHBoxLayout()
        sample_tools.setContentsMargins(0, 0, 0, 0)
        sample_tools.addWidget(_bold(_plain_label("Sample events", self)), 1)
        sample_tools.addWidget(self.load_recent_button)
        sample_tools.addWidget(self.load_file_button)
        samples_box = QWidget(self)
        sl = QVBoxLayout(samples_box)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addLayout(sample_tools)
        sl.addWidget(self.samples, 1)
        self.preview_model = PreviewModel(self)
        self.preview_table = _table(self.preview_model, "schemaPreview", self)
        fm = self.preview_table.fontMetrics()
        for col, sample in enumerate(("Line", "normalized", "heuristics", "client name",
                                      "-1,234.5678", "Currency", "2024-01-01 00:00:00.000",
                                      "order-1234")):
            self.preview_table.setColumnWidth(col, fm.horizontalAdvance(sample) + 18)
        self.preview_label = _plain_label("Preview", self, "schemaPreviewLabel")
        preview_box = QWidget(self)
        pl = QVBoxLayout(preview_box)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(_bold(self.preview_label))
        pl.addWidget(self.preview_table, 1)
        bottom = QSplitter(Qt.Orientation.Horizontal, self)
        bottom.addWidget(samples_box)
        bottom.addWidget(preview_box)
        bottom.setStretchFactor(0, 2)
        bottom.setStretchFactor(1, 5)
        bottom.setChildrenCollapsible(False)
        return bottom

    def _build_buttons(self) -> QDialogButtonBox:
        self.buttons = QDialogButtonBox(self)
        self.save_button = self.buttons.addButton("Save", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setObjectName("schemaSave")
        self.save_button.setDefault(True)
        self.revert_button = self.buttons.addButton("Revert to active",
                                                    QDialogButtonBox.ButtonRole.ResetRole)
        self.retire_button = self.buttons.addButton("Hand back to heuristics",
                                                    QDialogButtonBox.ButtonRole.ResetRole)
        self.retire_button.setObjectName("schemaRetire")
        self.retire_button.setToolTip("Save a version that maps nothing: events sent from then "
                                      "on are normalized by the heuristics; stored events and "
                                      "the history stay")
        self.retire_button.setEnabled(False)
        self.retire_button.clicked.connect(self.retire)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.save_button.clicked.connect(self.save)
        self.revert_button.clicked.connect(self._revert)
        self.close_button.clicked.connect(self.close)
        return self.buttons

    def _connect_form(self) -> None:
        for edit in (self.client_field, self.amount_field, self.currency, self.time_field,
                     self.key_field):
            edit.textChanged.connect(self._changed)
        self.client.currentTextChanged.connect(self._on_client_changed)
        self.units.currentIndexChanged.connect(self._changed)
        self.time_format.currentIndexChanged.connect(self._changed)
        self.samples.textChanged.connect(self._changed)
        self.load_recent_button.clicked.connect(self.load_recent)
        self.load_file_button.clicked.connect(self._load_file)

    def _line(self, name: str, placeholder: str) -> QLineEdit:
        edit = QLineEdit(self)
        edit.setObjectName(name)
        edit.setPlaceholderText(placeholder)
        edit.setClearButtonEnabled(True)
        return edit

    def client_name(self) -> str:
        return self.client.currentText()

    def active(self) -> Mapping | None:
        key = client_display(self.client_name()).casefold()
        return next((m for m in self._mappings if m.client_key == key), None)

    def proposed(self) -> Mapping:
        """The mapping the form describes; raises MappingError."""
        return new_mapping(self.client_name(), self.amount_field.text(),
                           units=self.units.currentData(), currency=self.currency.text(),
                           time_field=self.time_field.text(),
                           time_format=self.time_format.currentData(),
                           key_field=self.key_field.text(),
                           client_field=self.client_field.text(), note=self.note.text())

    def set_form(self, m: Mapping | None) -> None:
        """Fill the form from ``m`` (the client stays); empty fields when None."""
        edits = ((self.client_field, m.client_field if m else None),
                 (self.amount_field, m.amount_field if m else None),
                 (self.currency, m.currency if m else None),
                 (self.time_field, m.time_field if m else None),
                 (self.key_field, m.key_field if m else None))
        for edit, value in edits:
            with QSignalBlocker(edit):
                edit.setText(value or "")
        with QSignalBlocker(self.units):
            self.units.setCurrentIndex(max(0, self.units.findData(m.units if m else "units")))
        with QSignalBlocker(self.time_format):
            self.time_format.setCurrentIndex(
                max(0, self.time_format.findData(m.time_format if m else "auto")))
        self.note.clear()
        self._changed()

    def select_client(self, client: str) -> None:
        """Show ``client``: its active mapping in the form, its versions, its recent events."""
        with QSignalBlocker(self.client):
            self.client.setEditText(client)
        self._on_client_changed(client)

    @Slot(str)
    def _on_client_changed(self, text: str) -> None:
        active = self.active()
        if active is not None:
            self.set_form(active)
        else:  # a client without a mapping: the form stays as a starting point
            self._changed()
        self._select_in_list()

    def _select_in_list(self) -> None:
        m = self.active()
        rows = self.list_model.rows()
        index = rows.index(m) if m in rows else -1
        with QSignalBlocker(self.list_table.selectionModel()):
            if index >= 0:
                self.list_table.selectRow(index)
            else:
                self.list_table.clearSelection()

    @Slot(QModelIndex, QModelIndex)
    def _on_list_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            m = self.list_model.row(current.row())
            if client_display(self.client_name()).casefold() != m.client_key:
                self.select_client(m.client)

    @Slot(QModelIndex)
    def _load_version(self, index: QModelIndex) -> None:
        m = self.history_model.row(index.row())
        self.set_form(m)
        self.message.emit(f"Loaded {m.label} into the form: saving makes it the newest version")

    @Slot()
    def _revert(self) -> None:
        self.set_form(self.active())

    @Slot()
    def _changed(self) -> None:
        self._generation += 1
        active = self.active()
        try:
            m = self.proposed()
        except MappingError as exc:
            self.status.setText(f"Not saveable yet: {exc}")
            self.save_button.setEnabled(False)
            self.save_button.setText("Save")
        else:
            version = self._next_version()
            same = active is not None and m.fields() == active.fields()
            self.save_button.setEnabled(not same and not self._saving)
            self.save_button.setText(f"Save as v{version}")
            if same:
                self.status.setText(f"This is {active.label}, the active mapping.")
            elif active is not None:
                self.status.setText(f"Saving makes this client \"{m.client}\" v{version}; "
                                    f"v{active.version} stays in the history.")
            else:
                self.status.setText(f"Client \"{m.client}\" has no active mapping; saving makes "
                                    f"this v{version}.")
        self.retire_button.setEnabled(active is not None and not self._saving)
        if self.isVisible():  # a reload after closing (a mapping saved elsewhere) needs none
            self._preview_timer.start()

    def _next_version(self) -> int:
        """The version a save makes: after the newest in the history (a retired one too)."""
        key = client_display(self.client_name()).casefold()
        known = [m.version or 0 for m in (*self._history, *self._mappings)
                 if m.client_key == key]
        return max(known, default=0) + 1

    def retire(self) -> None:
        """Hand the client back to the heuristics (a new version that maps nothing)."""
        active = self.active()
        if active is None:
            return
        self._saving = True
        self.save_button.setEnabled(False)
        self.retire_button.setEnabled(False)
        svc, note = self.bridge.service, self.note.text()
        self.bridge.run_task("schemas:save", _attempt(
            lambda: svc.retire_mapping(active.client, note)))

    @Slot()
    def _start_preview(self) -> None:
        if self.client_name() != self._history_for:
            self._request_history()
        text = self.samples.toPlainText()
        gen = self._generation
        active = self.active()
        try:
            m = self.proposed()
        except MappingError:
            m = None  # the events as ingestion would treat them now
        if m is not None and active is not None and m.fields() == active.fields():
            m = None  # nothing new: the active version itself
        proposed = None if m is None else self._next_version()
        if not text.strip():
            self._show_preview(gen, [], proposed)
            return
        svc = self.bridge.service
        self.bridge.run_task("schemas:preview", _attempt(
            lambda: (gen, proposed, svc.preview(text, m))), lane="check")

    def preview_now(self) -> None:
        """Start the preview at once (tests; the timer otherwise waits for typing to pause)."""
        self._preview_timer.stop()
        self._start_preview()

    @property
    def preview_is_current(self) -> bool:
        return self._preview_generation == self._generation

    def _show_preview(self, gen: int, rows: list, proposed: int | None) -> None:
        active = self.active()
        self.preview_model.proposed = proposed
        self.preview_model.set_rows(rows)
        table = self.preview_table
        table.clearSpans()
        span = self.preview_model.columnCount() - REASON_COLUMN
        for i, p in enumerate(rows):
            if p.reject_code is not None:
                table.setSpan(i, REASON_COLUMN, 1, span)
        self._preview_generation = gen
        bad = sum(1 for p in rows if p.reject_code is not None)
        mapped = sum(1 for p in rows if p.mapping_version is not None)
        what = (f"proposed v{proposed}" if proposed else
                f"active {active.label}" if active is not None else "the current mappings")
        self.preview_label.setText(
            f"Preview — {len(rows):,} event{'s' if len(rows) != 1 else ''} under {what}: "
            f"{mapped:,} by a mapping, {len(rows) - mapped - bad:,} by the heuristics, "
            f"{bad:,} rejected" if rows else "Preview — no sample events")

    def reload(self) -> None:
        """Read the mappings (and the selected client's history) again."""
        self._history_for = None
        svc = self.bridge.service
        self.bridge.run_task("schemas:list", _attempt(svc.mappings), lane="check")

    def _request_history(self) -> None:
        client = self._history_for = self.client_name()
        if not client_display(client):
            self._show_history([], {})
            return
        svc = self.bridge.service
        self.bridge.run_task("schemas:history", _attempt(
            lambda: (client, svc.mapping_history(client), svc.mapping_usage(client))), lane="check")

    def load_recent(self) -> None:
        client = self.client_name()
        if not client_display(client):
            self.message.emit("Choose a client first")
            return
        svc = self.bridge.service
        self.bridge.run_task("schemas:samples", _attempt(
            lambda: (client, svc.recent_raw(client, SAMPLE_LIMIT))), lane="check")

    def _load_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Sample events", "",
                                              "JSON (*.json *.ndjson *.jsonl *.txt);;All files (*)")
        if path:
            try:
                with open(path, "rb") as f:
                    data = f.read(1 << 20)  # a preview needs the first events only
            except OSError as exc:
                self.message.emit(f"Cannot read {path}: {exc.strerror or exc}")
                return
            self.samples.setPlainText(data.decode("utf-8", "replace"))

    def save(self) -> None:
        try:
            m = self.proposed()
        except MappingError as exc:
            self.status.setText(f"Not saved: {exc}")
            return
        self._saving = True
        self.save_button.setEnabled(False)
        svc = self.bridge.service
        self.bridge.run_task("schemas:save", _attempt(lambda: svc.save_mapping(m)))

    @Slot(str, object)
    def _on_task_done(self, tag: str, result: object) -> None:
        if not tag.startswith("schemas:") or not isinstance(result, _Result):
            return
        if result.error is not None:
            if tag == "schemas:save":
                self._saving = False
                self._changed()
                self.status.setText(f"Not saved: {result.error}")
            elif tag == "schemas:preview":
                self.preview_label.setText(f"Preview failed: {result.error}")
            else:
                self.status.setText(f"Could not read the mappings: {result.error}")
            return
        if tag == "schemas:list":
            self._set_mappings(result.value)
        elif tag == "schemas:history":
            client, history, usage = result.value
            if client == self.client_name():
                self._show_history(history, usage)
        elif tag == "schemas:samples":
            client, raws = result.value
            if not raws:
                self.message.emit(f"No stored events of client \"{client}\" yet")
                return
            self.samples.setPlainText("\n".join(raw_text(r) for r in reversed(raws)))
        elif tag == "schemas:preview":
            gen, proposed, rows = result.value
            if gen == self._generation:
                self._show_preview(gen, rows, proposed)
        elif tag == "schemas:save":
            self._saving = False
            m: Mapping = result.value
            self.note.clear()
            if m.retired:
                self.message.emit(f"Saved {m.label}: client \"{m.client}\" is normalized by "
                                  "the heuristics again; stored events keep their version")
            else:
                self.message.emit(f"Saved {m.label}: events sent from now on use it; stored "
                                  "events keep the version that normalized them")
            self.saved.emit(m)
            self._history_for = None  # its versions changed
            self.reload()

    def _set_mappings(self, mappings: list[Mapping]) -> None:
        self._mappings = list(mappings)
        self.list_model.set_rows(self._mappings)
        current = self.client_name()
        with QSignalBlocker(self.client):
            self.client.clear()
            names = [m.client for m in self._mappings]
            keys = {m.client_key for m in self._mappings}
            for name in self.known_clients():
                if client_display(name).casefold() not in keys:
                    keys.add(client_display(name).casefold())
                    names.append(name)
            self.client.addItems(names)
            self.client.setEditText(current)
        if not client_display(current) and self._mappings:
            self.select_client(self._mappings[0].client)
        else:
            self._on_client_changed(current)

    def _show_history(self, history: list[Mapping], usage: dict) -> None:
        self._history, self._usage = history, usage
        self.history_model.set_rows(history)
        client = client_display(self.client_name())
        self.history_label.setText(f"Versions of \"{client}\"" if client else "Versions")
        heuristics = usage.get(None, 0)
        self.heuristics_label.setText(
            f"{heuristics:,} stored event(s) of this client were normalized by the heuristics."
            if heuristics else "")

    @Slot(object)
    def _on_service_changed(self, _service) -> None:
        self.reload()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.reload()  # other windows, processes or the CLI may have changed the mappings

    def done(self, result: int) -> None:
        self._preview_timer.stop()
        super().done(result)

    def closeEvent(self, event) -> None:
        self._preview_timer.stop()
        super().closeEvent(event)


def _bold(label: QLabel) -> QLabel:
    font = QFont(label.font())
    font.setWeight(QFont.Weight.DemiBold)
    label.setFont(font)
    return label
