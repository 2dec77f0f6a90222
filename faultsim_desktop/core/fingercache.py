"""The fingerprint cache: stored rows of recent events, so that answering a duplicate needs
no read of the database."""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Callable, Iterable, NamedTuple

from .counters import Ticket
from .model import Outcome, StoredEvent
from .errors import StorageError


class _Entry(NamedTuple):
    event_id: int
    row: StoredEvent
    epoch: object


class FingerprintCache:
    """The stored rows of recent events by fingerprint (LRU). It never decides an outcome:
    every event still goes through the writer's transaction (UNIQUE index, log row, crash
    switch), and a row is used only for the event id the writer named, under the same writer
    epoch it was stored with (a reset, another connection's commit or a reopened file starts a
    new epoch)."""

    def __init__(self, size: int):
        self.size = size
        self.hits = self.misses = 0
        self._rows: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, fingerprint: bytes, event_id: int, epoch: object) -> StoredEvent | None:
        with self._lock:
            entry = self._rows.get(fingerprint)
            if entry is None or entry.event_id != event_id or entry.epoch != epoch:
                self.misses += 1
                return None
            self._rows.move_to_end(fingerprint)
            self.hits += 1
            return entry.row

    def put(self, fingerprint: bytes, event_id: int, row: StoredEvent, epoch: object) -> None:
        with self._lock:
            self._rows[fingerprint] = _Entry(event_id, row, epoch)
            self._rows.move_to_end(fingerprint)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def __len__(self) -> int:
        return len(self._rows)


def stored_rows(ticket: Ticket, cache: FingerprintCache | None,
                read: Callable[[Iterable[int]], dict[int, tuple]]) -> dict[int, StoredEvent]:
    """The stored row of every event of a finished ticket (kept records) that was accepted or
    found stored. An accepted event's row is what its own transaction wrote (the store inserts
    these values as they are, and received_at is the outcome's time); a duplicate's comes from
    ``cache`` when it holds that very row (same event id, same writer epoch), else ``read``
    (``events_by_id``) reads it back."""
    epoch = ticket.epoch
    if epoch is None:
        cache = None
    rows: dict[int, StoredEvent] = {}
    wanted = {}
    for r, p in zip(ticket.records, ticket.items):
        if r.outcome is Outcome.ACCEPTED:
            rows[r.event_id] = row = StoredEvent(
                r.event_id, p.fingerprint, p.client, p.currency, p.amount, p.event_time,
                r.at, p.idempotency_key, json.dumps(p.warnings, ensure_ascii=False)
                if p.warnings else None, p.source, p.line)
            if cache is not None:
                cache.put(p.fingerprint, r.event_id, row, epoch)
        elif r.outcome is Outcome.DUPLICATE:
            row = cache.get(r.fingerprint, r.event_id, epoch) if cache is not None else None
            if row is not None:
                rows[r.event_id] = row
            else:
                wanted[r.event_id] = r.fingerprint
    wanted = {i: fp for i, fp in wanted.items() if i not in rows}
    if wanted:
        found = {i: StoredEvent._make(row) for i, row in read(wanted).items()}
        missing = [i for i in wanted if i not in found]
        if missing:  # deleted meanwhile (a reset of the database)
            raise StorageError(f"stored event #{missing[0]} could not be read back.")
        rows.update(found)
        if cache is not None:
            for i, fp in wanted.items():
                cache.put(fp, i, found[i], epoch)
    return rows
