"""One client's stored events, as the drill-down and the history chart read them: the filter,
the rows, the per-currency sums and the columns of a history series (no I/O here)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from .normalize import parse_time
from .paging import SortColumn

RAW_PREVIEW_CHARS = 300  # a page row carries this much of the raw text; explain shows it whole


@dataclass(frozen=True)
class EventFilter:
    """What the drill-down selects of one client's events; every part is optional."""

    time_from: str | None = None  # ISO UTC as stored (parse_time's form), inclusive
    time_to: str | None = None  # ISO UTC, inclusive
    currency: str | None = None  # None: any; "": the events that have no currency
    import_id: int | None = None  # events.import_id
    text: str = ""  # case-insensitive substring of the raw text or the source


class ClientEvent(NamedTuple):
    """One row of the drill-down (``raw`` cut to RAW_PREVIEW_CHARS)."""

    id: int
    event_time: str
    amount: str  # exact decimal text
    currency: str | None
    source: str
    line: int
    received_at: str
    import_id: int | None
    raw: str


class CurrencyTotal(NamedTuple):
    """Count and exact total of some events of a client in one currency (None: none)."""

    currency: str | None
    count: int
    total: Decimal


class ClientImport(NamedTuple):
    """An import that holds events of a client, and how many (the drill-down's import box)."""

    id: int
    source: str
    kind: str
    started_at: str
    undone_at: str | None
    events: int


class HistorySeries(NamedTuple):
    """A client's events in one currency in event-time order (then id), as columns: the
    history chart accumulates ``amounts`` exactly and draws the sums."""

    client: str  # as the caller named it
    currency: str | None
    ids: list[int]
    times: list[str]  # ISO UTC without the zone letter ("2024-01-02T03:04:05.000000")
    amounts: list[Decimal]


# The drill-down sorts by arrival (id) or by event time, newest first either way.
CLIENT_EVENT_SORTS: dict[str, tuple[SortColumn, ...]] = {
    "id": (),
    "event_time": (SortColumn("event_time", "event_time", True),),
}

_DATE_ONLY = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")


def filter_time(text: str, *, end: bool = False) -> str | None:
    """A time the user typed as the filter stores it; None for empty text. A bare date as the
    end of a range means the end of that day. ValueError, saying what was typed, otherwise."""
    if not text.strip():
        return None
    found = parse_time(text.strip())
    if found is None:
        raise ValueError(f"{text.strip()!r} is not a time this tool reads "
                         "(try 2024-01-31 or 2024-01-31T12:00:00Z)")
    if end and _DATE_ONLY.fullmatch(text):
        found = found[:10] + "T23:59:59.999999Z"
    return found


__all__ = ["CLIENT_EVENT_SORTS", "ClientEvent", "ClientImport", "CurrencyTotal", "EventFilter", "HistorySeries",
           "RAW_PREVIEW_CHARS", "filter_time"]
