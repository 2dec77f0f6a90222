"""The schemas dialog's tables: a small read-only model over a list of records, and the preview
of each sample event as the proposed mapping normalizes it."""
from __future__ import annotations

import re
from typing import Callable, Sequence

from PySide6.QtCore import Qt

from ..core.model import Outcome, Prepared
from .paged import Column, ColumnsModel
from .quarantine import _one_line, raw_text
from .theme import outcome_color

_WHERE = re.compile(r"^line [0-9]+(?:, column [0-9]+)?: ")  # the Line column says it already


def _mapping_cell(p: Prepared, proposed: int | None) -> str:
    if p.reject_code is not None:
        return ""
    if p.mapping_version is None:
        return "heuristics"
    return f"v{p.mapping_version}" + (" (new)" if p.mapping_version == proposed else "")


REASON_COLUMN = 3  # a rejected row's reason spans from here to the last column


class StaticRows(ColumnsModel):
    """A read-only table over a short list of records, one (title, getter) per column; the
    records carry no id, so each update resets the model."""

    def __init__(self, columns: Sequence[tuple[str, Callable]], tooltip: Callable | None = None,
                 parent=None):
        super().__init__([Column(title, value) for title, value in columns], tooltip, parent)

    def set_rows(self, rows: list) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row(self, i: int):
        return self._rows[i]

    def rows(self) -> list:
        return list(self._rows)


class PreviewModel(StaticRows):
    """The preview table: one row per sample event; rejected rows in the rejection colour."""

    def __init__(self, parent=None):
        super().__init__([
            ("Line", lambda p: p.line),
            ("Result", lambda p: "rejected" if p.reject_code else "normalized"),
            ("Mapping", lambda p: _mapping_cell(p, self.proposed)),
            ("Client", lambda p: p.client or ""),
            ("Amount", lambda p: p.amount or ""),
            ("Currency", lambda p: p.currency or ("" if p.reject_code else "(none)")),
            ("Event time", lambda p: (p.event_time or "")[:23].replace("T", " ")),
            ("Key", lambda p: p.idempotency_key or ""),
            ("Warnings", lambda p: _one_line("; ".join(p.warnings))),
        ], tooltip=lambda p: (f"{p.reject_code}: {p.reason}" if p.reject_code else
                              "\n".join(p.warnings) or "no warnings")
           + "\n\n" + raw_text(p.raw)[:2000], parent=parent)
        self.proposed: int | None = None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        p = self._rows[index.row()]
        if p.reject_code is not None:
            if role == Qt.ItemDataRole.ForegroundRole:
                return outcome_color(Outcome.REJECTED)
            if role == Qt.ItemDataRole.DisplayRole and index.column() >= REASON_COLUMN:
                # one cell spanning the event's columns (see SchemasDialog._show_preview)
                return _one_line(f"{p.reject_code}: {_WHERE.sub('', p.reason or '')}", 400) \
                    if index.column() == REASON_COLUMN else ""
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in (0, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return super().data(index, role)
