"""The event dialog: the full raw event, its normalized fields and warnings, as plain text."""
from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFormLayout, QLabel, QPlainTextEdit,
                               QVBoxLayout)

from ..core.model import OutcomeRecord
from .quarantine import raw_text


def _label(text: str, parent) -> QLabel:
    label = QLabel(text, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)  # untrusted text is never rich text
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class EventDialog(QDialog):
    def __init__(self, record: OutcomeRecord, event: dict | None, quarantine=None, parent=None):
        super().__init__(parent)
        self.setObjectName("eventDialog")
        self.setWindowTitle(f"Event — {record.outcome.value}")
        self.resize(720, 560)
        form = QFormLayout()
        fields: list[tuple[str, str]] = [
            ("Outcome", f"{record.outcome.value} (attempt {record.attempt}) at {record.at}"),
            ("Source", f"{record.source}, line {record.line}"),
        ]
        raw = ""
        warnings: list[str] = []
        if event is not None:
            fields += [
                ("Stored as", f"event #{event['id']}"),
                ("Client", event["client"]),
                ("Amount", event["amount"]),
                ("Currency", event["currency"] or "(none)"),
                ("Event time", event["event_time"]),
                ("Received", event["received_at"]),
                ("Idempotency key", event["idempotency_key"] or "(none)"),
                ("Normalized by", f"this client's schema v{event['mapping_version']}"
                 if event.get("mapping_version") else "the heuristics (no schema)"),
                ("Fingerprint", event["fingerprint"].hex() if isinstance(event["fingerprint"], bytes)
                 else str(event["fingerprint"])),
            ]
            raw = raw_text(event["raw"])
            if event.get("warnings"):
                try:
                    warnings = list(json.loads(event["warnings"]))
                except ValueError:
                    warnings = [str(event["warnings"])]
        else:
            fields += [("Client", record.client or "(unknown)"),
                       ("Amount", record.amount or "(unknown)"),
                       ("Currency", record.currency or "(none)"),
                       ("Fingerprint", record.fingerprint.hex() if record.fingerprint else "(none)")]
        if quarantine is not None:
            fields.append(("Quarantine", f"#{quarantine.id}, {quarantine.status}, seen "
                                         f"{quarantine.times_seen} time(s)"))
            raw = raw or raw_text(quarantine.raw)
        if record.reason:
            fields.append(("Reason", record.reason))
        for name, value in fields:
            form.addRow(name, _label(str(value), self))
        form.addRow("Warnings", _label("\n".join(warnings) if warnings else "(none)", self))
        self.raw = QPlainTextEdit(self)
        self.raw.setObjectName("eventRaw")
        self.raw.setReadOnly(True)
        self.raw.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.raw.setPlainText(raw or "(the raw text of this event is not stored: it was not "
                                     "accepted, duplicated or quarantined)")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(_label("Raw event", self))
        layout.addWidget(self.raw, 1)
        layout.addWidget(buttons)
