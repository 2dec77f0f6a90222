"""Colours that work on the system's light and dark palettes, and plain-text helpers."""
from __future__ import annotations

import html

from PySide6.QtGui import QColor, QGuiApplication, QPalette

from ..core.model import Outcome

_LIGHT = {
    Outcome.ACCEPTED: "#1b7f3a",
    Outcome.DUPLICATE: "#1f5fbf",
    Outcome.REJECTED: "#b26a00",
    Outcome.FAILED: "#c62828",
    Outcome.RETRYING: "#8e24aa",
}
_DARK = {
    Outcome.ACCEPTED: "#5cd17e",
    Outcome.DUPLICATE: "#6fa8ff",
    Outcome.REJECTED: "#ffb74d",
    Outcome.FAILED: "#ff6b6b",
    Outcome.RETRYING: "#ce93d8",
}
CRASH_RED = "#c62828"


def is_dark(palette: QPalette | None = None) -> bool:
    pal = palette or QGuiApplication.palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def outcome_color(outcome: Outcome, dark: bool | None = None) -> QColor:
    if dark is None:
        dark = is_dark()
    return QColor((_DARK if dark else _LIGHT)[outcome])


def plain_tooltip(text: str) -> str:
    """A tooltip that shows untrusted text literally (Qt guesses rich text in tooltips)."""
    return "<p style='white-space:pre-wrap'>" + html.escape(text) + "</p>"
