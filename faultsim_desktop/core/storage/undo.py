"""Undoing an import exactly, in one transaction, on either backend.

Undone, an import leaves the database as if it had never been ingested and the imports that
remain had been ingested in order (by import id). Only the events it stored, and the arrivals
they decided, can change:

- An event of the import that no remaining import sent again leaves the events and the totals.
- An event some remaining import also sent (a copy recorded as a duplicate, or an event that
  lost the idempotency key to it, kept in ``conflicts``) goes to the first such arrival in
  import order, and the later arrivals are decided again against that one: a copy of the same
  content becomes a copy of the new holder; other content under the same key becomes (or
  stays) a key conflict with it.
- Its key conflicts and quarantine entries no remaining import shares are withdrawn; its log
  rows stay, as history, under an import marked undone.

Everything happens in the caller's transaction, so an undo killed half-way leaves nothing
half-done: the database is as before, and the undo can be run again.
"""
from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from typing import NamedTuple

from ..model import RejectCode, UndoResult
from .common import MONEY

_ZERO = Decimal(0)
_IN_LIST = 500  # client keys per IN (...) list, well under either backend's limit
_CONFLICT = RejectCode.IDEMPOTENCY_CONFLICT.value


class _Arrival(NamedTuple):
    """A later arrival of an undone event's content or key."""

    order: tuple  # (import id, line, kind, row id): the order a replay meets them in
    kind: str  # "copy": a log row, outcome duplicate; "conflict": a conflicts row
    row_id: int  # log.seq or conflicts.id
    import_id: int
    source: str
    line: int
    at: str
    fingerprint: bytes | None  # a conflict's own content; a copy's is the event's


class _Delta:
    """How one (client, currency) total changes: counts and sums, and the earliest and
    latest event times that left it or joined it (not every time: a million would not fit)."""

    __slots__ = ("count", "total", "removed", "added", "display", "gone")

    def __init__(self) -> None:
        self.display: str | None = None  # the client's display form, for a new total's row
        self.gone: set[str] = set()  # the spellings of the client's events that left
        self.count = 0
        self.total = _ZERO
        self.removed: tuple[str, str] | None = None  # (earliest, latest)
        self.added: tuple[str, str] | None = None

    def remove(self, amount, event_time: str) -> None:
        self.count -= 1
        self.total = MONEY.subtract(self.total, Decimal(amount))
        self.removed = _widen(self.removed, event_time)

    def add(self, amount, event_time: str) -> None:
        self.count += 1
        self.total = MONEY.add(self.total, Decimal(amount))
        self.added = _widen(self.added, event_time)


def _widen(span: tuple[str, str] | None, t: str) -> tuple[str, str]:
    if span is None:
        return (t, t)
    return (t if t < span[0] else span[0], t if t > span[1] else span[1])


def _timed_by_receipt(warnings: str | None) -> bool:
    """Whether an event's time is its time of receipt (it gave none, or none readable): the
    normalizer says so in its warnings."""
    return warnings is not None and "used the time of receipt" in warnings


def conflict_reason(key: str, client: str, holder: int) -> str:
    return (f"idempotency key {key!r} of client {client!r} was already used by event "
            f"#{holder} with different content; the first one stands")


class UndoMethods:
    """Mixed into both write sessions. A backend provides ``_x(sql, params)`` (``?``
    placeholders, returns a cursor), ``_xm(sql, rows)`` (many rows), ``_KEPT_COLUMNS`` (the columns that differ: raw text and
    index keys), ``_event_raw(id)``, ``_money(Decimal)`` and ``_undo_done()``."""

    _KEPT_COLUMNS = ""

    def undo_import(self, import_id: int, now: str, counts: dict) -> UndoResult:
        row = self._x("SELECT undone_at FROM imports WHERE id = ?", (import_id,)).fetchone()
        if row is None:
            raise KeyError(f"there is no import #{import_id}")
        if row[0] is not None:
            return UndoResult(import_id, 0, 0, 0, already=True)
        undone = {i for (i,) in self._x("SELECT id FROM imports WHERE undone_at IS NOT NULL",
                                        ())} | {import_id}
        deltas: dict[tuple[str, str], _Delta] = defaultdict(_Delta)
        arrivals, copied = self._arrivals(import_id, undone)
        handed = accepted = 0
        moves: list[tuple] = []  # the hand-overs' statements, run together (a server's round
        dropped: list[tuple] = []  # trip per event would take longer than the ingest did)
        for event_id, later in arrivals.items():
            later.sort()
            if later[0].kind == "copy":
                self._hand_over(event_id, copied[event_id], later[0], deltas, moves, dropped)
                handed += 1
            else:
                self._replace(event_id, later, deltas, now)
                accepted += 1
        if moves:
            self._xm("UPDATE events SET import_id = ?, source = ?, line = ?, received_at = ?,"
                     " event_time = ?, receipt = NULL WHERE id = ?", moves)
            self._xm("DELETE FROM log WHERE seq = ?", dropped)
        removed = self._remove_rest(import_id, deltas)
        self._withdraw(import_id, undone)
        # Undone imports' log rows keep their history but let go of events that are gone:
        # SQLite gives the highest deleted ids to the next events stored, and a row naming
        # one would call an unrelated later event a copy of it.
        self._x("UPDATE log SET event_id = NULL WHERE event_id IS NOT NULL AND (import_id = ?"
                " OR import_id IN (SELECT id FROM imports WHERE undone_at IS NOT NULL))"
                " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.id = log.event_id)",
                (import_id,))
        self._apply(deltas)
        self._rename(deltas)
        self._x("UPDATE imports SET undone_at = ?, counts = ? WHERE id = ?",
                (now, json.dumps(counts), import_id))
        self._undo_done()
        return UndoResult(import_id, removed + accepted, handed, accepted)

    def _arrivals(self, import_id: int, undone: set[int]
                  ) -> tuple[dict[int, list[_Arrival]], dict[int, tuple]]:
        """Undone events' later arrivals from remaining imports, by event id; and for each
        event a remaining import copied, its (client key, currency, time, warnings, client)."""
        out: dict[int, list[_Arrival]] = defaultdict(list)
        copied: dict[int, tuple] = {}
        for seq, eid, iid, source, line, at, *event in self._x(
                "SELECT l.seq, l.event_id, l.import_id, l.source, l.line, l.at, e.client_key,"
                " e.currency, e.event_time, e.warnings, e.client FROM log l"
                " JOIN events e ON e.id = l.event_id WHERE e.import_id = ?"
                " AND l.outcome = 'duplicate' AND l.import_id IS NOT NULL",
                (import_id,)).fetchall():
            if iid not in undone:
                out[eid].append(_Arrival((iid, line, 0, seq), "copy", seq, iid, source, line,
                                         at, None))
                copied[eid] = tuple(event)
        for cid, eid, iid, source, line, at, fp in self._x(
                "SELECT c.id, e.id, c.import_id, c.source, c.line, c.received_at, c.fingerprint"
                " FROM conflicts c JOIN events e ON e.client_key = c.client_key"
                " AND e.idempotency_key = c.idempotency_key"
                " WHERE e.import_id = ? AND c.import_id IS NOT NULL", (import_id,)).fetchall():
            if iid not in undone:
                out[eid].append(_Arrival((iid, line, 1, cid), "conflict", cid, iid, source,
                                         line, at, bytes(fp)))
        return out, copied

    def _hand_over(self, event_id: int, event: tuple, first: _Arrival, deltas,
                   moves: list[tuple], dropped: list[tuple]) -> None:
        """The event stays, as the first copy's: that copy becomes its import's accepted
        event (its log row goes: an accepted event's row is its log entry). An event timed
        by its receipt takes the copy's, as ingesting only the later import gives it."""
        key_, currency, event_time, warnings, client = event
        new_time = first.at if _timed_by_receipt(warnings) else event_time
        moves.append((first.import_id, first.source, first.line, first.at, new_time, event_id))
        dropped.append((first.row_id,))
        d = deltas[(key_, currency)]  # the count and total stay
        d.gone.add(client)  # it moves later in import order: it may no longer name the client
        if new_time != event_time:  # first or last seen may move
            d.removed = _widen(d.removed, event_time)
            d.added = _widen(d.added, new_time)

    def _replace(self, event_id: int, later: list[_Arrival], deltas, now: str) -> None:
        """The first later arrival holds other content under the event's key: it is accepted
        in the event's place, and every later arrival is decided again against it."""
        fp, client, key_, currency, amount, event_time, idem, warnings = self._x(
            "SELECT fingerprint, client, client_key, currency, amount, event_time,"
            " idempotency_key, warnings FROM events WHERE id = ?", (event_id,)).fetchone()
        fp = bytes(fp)
        first = later[0]
        # arrivals of the undone event's own content now conflict with the new holder: they
        # need its row whole, so they are kept before it goes
        copies = [a for a in later[1:] if a.kind == "copy"]
        raw = self._event_raw(event_id) if copies else None
        kept = []
        for a in copies:
            (cid,) = self._x(
                "INSERT INTO conflicts (import_id, quarantine_id, fingerprint, client,"
                " client_key, currency, amount, event_time, received_at, idempotency_key,"
                f" warnings, source, line, {self._KEPT_COLUMNS}) SELECT ?, NULL, fingerprint,"
                " client, client_key, currency, amount, ?, ?, idempotency_key,"
                f" warnings, ?, ?, {self._KEPT_COLUMNS} FROM events WHERE id = ? RETURNING id",
                (a.import_id, a.at if _timed_by_receipt(warnings) else event_time, a.at,
                 a.source, a.line, event_id)).fetchone()
            kept.append((a, cid))
        self._x("DELETE FROM events WHERE id = ?", (event_id,))
        d = deltas[(key_, currency)]
        d.remove(amount, event_time)
        d.gone.add(client)
        (new_id, new_client, new_key, new_currency, new_amount, new_time) = self._x(
            "INSERT INTO events (fingerprint, client, client_key, currency, amount, event_time,"
            f" received_at, idempotency_key, warnings, source, line, import_id,"
            f" {self._KEPT_COLUMNS}) SELECT fingerprint, client, client_key, currency, amount,"
            " event_time, received_at, idempotency_key, warnings, source, line, import_id,"
            f" {self._KEPT_COLUMNS} FROM conflicts WHERE id = ?"
            " RETURNING id, client, client_key, currency, amount, event_time",
            (first.row_id,)).fetchone()
        d = deltas[(new_key, new_currency)]  # the same client; perhaps another currency
        d.display = new_client
        d.add(new_amount, new_time)
        self._settle_conflict(first, "accepted", new_id)
        self._x("UPDATE quarantine SET status = 'resolved' WHERE status = 'open'"
                " AND fingerprint = ?", (first.fingerprint,))
        reason = conflict_reason(idem, client, new_id)
        for a in later[1:]:
            if a.kind == "conflict" and a.fingerprint == first.fingerprint:
                self._settle_conflict(a, "duplicate", new_id)
            elif a.kind == "conflict":  # other content still: it now conflicts with new_id
                own_client, qid = self._x("SELECT client, quarantine_id FROM conflicts"
                                          " WHERE id = ?", (a.row_id,)).fetchone()
                own = conflict_reason(idem, own_client, new_id)
                self._x("UPDATE log SET event_id = ?, reason = ? WHERE outcome = 'rejected'"
                        " AND import_id = ? AND line = ? AND quarantine_id = ?",
                        (new_id, own, a.import_id, a.line, qid))
                self._x("UPDATE quarantine SET reason = ? WHERE id = ?", (own, qid))
        for a, cid in kept:
            qid = self.quarantine(raw, _CONFLICT, reason, a.source, a.line, 1, now, fp)
            self._x("UPDATE conflicts SET quarantine_id = ? WHERE id = ?", (qid, cid))
            self._x("UPDATE log SET outcome = 'rejected', reason = ?, event_id = ?,"
                    " quarantine_id = ? WHERE seq = ?", (reason, new_id, qid, a.row_id))

    def _settle_conflict(self, a: _Arrival, becomes: str, holder: int) -> None:
        """A kept conflict is decided again: ``accepted`` (its log row goes) or a
        ``duplicate`` of ``holder``; either way it leaves ``conflicts``."""
        (qid,) = self._x("SELECT quarantine_id FROM conflicts WHERE id = ?",
                         (a.row_id,)).fetchone()
        seq = self._x("SELECT min(seq) FROM log WHERE outcome = 'rejected' AND import_id = ?"
                      " AND line = ? AND quarantine_id = ?",
                      (a.import_id, a.line, qid)).fetchone()[0]
        if seq is not None and becomes == "accepted":
            self._x("DELETE FROM log WHERE seq = ?", (seq,))
        elif seq is not None:
            self._x("UPDATE log SET outcome = 'duplicate', reason = ?, event_id = ?,"
                    " quarantine_id = NULL WHERE seq = ?",
                    (f"same as event #{holder}", holder, seq))
        self._x("DELETE FROM conflicts WHERE id = ?", (a.row_id,))

    def _remove_rest(self, import_id: int, deltas) -> int:
        """The import's events no remaining import sent: out of the totals, then deleted."""
        n = 0
        for key_, currency, amount, event_time, client in self._x(
                "SELECT client_key, currency, amount, event_time, client FROM events"
                " WHERE import_id = ?", (import_id,)):
            d = deltas[(key_, currency)]
            d.remove(amount, event_time)
            d.gone.add(client)
            n += 1
        # in slices: one DELETE of a million rows makes SQLite hold them all in memory
        while n and self._x("DELETE FROM events WHERE id IN (SELECT id FROM events"
                            " WHERE import_id = ? LIMIT 20000)", (import_id,)).rowcount:
            pass
        return n

    def _withdraw(self, import_id: int, undone: set[int]) -> None:
        """The import's own key conflicts go; so do its open quarantine entries that no
        remaining import (or an event logged before imports were recorded) also sent."""
        self._x("DELETE FROM conflicts WHERE import_id = ?", (import_id,))
        for (qid,) in self._x("SELECT DISTINCT quarantine_id FROM log WHERE import_id = ?"
                              " AND outcome = 'rejected' AND quarantine_id IS NOT NULL",
                              (import_id,)).fetchall():
            others = {i for (i,) in self._x(
                "SELECT DISTINCT import_id FROM log WHERE quarantine_id = ?"
                " AND outcome = 'rejected'", (qid,))}
            if others <= undone:  # a NULL import (older rows) keeps it
                self._x("UPDATE quarantine SET status = 'undone' WHERE id = ?"
                        " AND status = 'open'", (qid,))
            else:
                self._as_sent_by_the_rest(qid, import_id, undone)

    def _as_sent_by_the_rest(self, qid: int, import_id: int, undone: set[int]) -> None:
        """A rejected input some remaining import also sent is shown as they sent it: seen
        that many times, first and last when they sent it, where and why the last one."""
        marks = ", ".join("?" * len(undone))
        rest = (f" FROM log WHERE quarantine_id = ? AND outcome = 'rejected' AND"
                f" (import_id IS NULL OR import_id NOT IN ({marks}))")
        args = (qid, *sorted(undone))
        first = self._x(f"SELECT min(at){rest}", args).fetchone()[0]
        last = self._x(f"SELECT at, source, line, reason{rest} ORDER BY seq DESC LIMIT 1",
                       args).fetchone()
        (mine,) = self._x("SELECT count(*) FROM log WHERE quarantine_id = ? AND"
                          " outcome = 'rejected' AND import_id = ?", (qid, import_id)).fetchone()
        (seen,) = self._x("SELECT times_seen FROM quarantine WHERE id = ?", (qid,)).fetchone()
        at, source, line, reason = last  # the caller knows a remaining import sent it
        self._x("UPDATE quarantine SET times_seen = ?, first_seen = ?, last_seen = ?,"
                " source = ?, line = ?, reason = ? WHERE id = ?",
                (max(seen - mine, 1), first, at, source, line, reason, qid))

    def _apply(self, deltas: dict[tuple[str, str], _Delta]) -> None:
        """The aggregates change by the deltas; a first or last time that left with an
        undone event is read again from the events that remain."""
        recheck, emptied, updates = [], set(), []
        # one read of the totals (a row per client and currency: small beside the events)
        rows = {(k, c): rest for k, c, *rest in self._x(
            "SELECT client_key, currency, count, total, first_seen, last_seen FROM aggregates",
            ())}
        for (key_, currency), d in sorted(deltas.items()):
            row = rows.get((key_, currency))
            if row is None:  # an accepted conflict in a currency the client had no total in
                self._x("INSERT INTO clients (client_key, display) VALUES (?, ?)"
                        " ON CONFLICT DO NOTHING", (key_, d.display))
                self._x("INSERT INTO aggregates (client_key, currency, count, total, first_seen,"
                        " last_seen) VALUES (?, ?, ?, ?, ?, ?)",
                        (key_, currency, d.count, self._money(d.total), *d.added))
                continue
            count, total, first, last = row
            count += d.count
            if count <= 0:
                self._x("DELETE FROM aggregates WHERE client_key = ? AND currency = ?",
                        (key_, currency))
                emptied.add(key_)
                continue
            total = MONEY.add(Decimal(total), d.total)
            if d.removed and (d.removed[0] <= first or d.removed[1] >= last):
                recheck.append((key_, currency))
            elif d.added:
                first, last = min(first, d.added[0]), max(last, d.added[1])
            if (count, total, first, last) != (row[0], Decimal(row[1]), row[2], row[3]):
                updates.append((count, self._money(total), first, last, key_, currency))
        if updates:
            self._xm("UPDATE aggregates SET count = ?, total = ?, first_seen = ?, last_seen = ?"
                     " WHERE client_key = ? AND currency = ?", updates)
        for key_ in sorted(emptied):
            self._x("DELETE FROM clients WHERE client_key = ? AND NOT EXISTS (SELECT 1"
                    " FROM aggregates WHERE client_key = ?)", (key_, key_))
        if recheck:
            wanted = set(recheck)
            # one pass over the events, however many totals lost their first or last event
            for key_, currency, first, last in self._x(
                    "SELECT client_key, currency, min(event_time), max(event_time) FROM events"
                    " GROUP BY client_key, currency", ()):
                if (key_, currency) in wanted:
                    self._x("UPDATE aggregates SET first_seen = ?, last_seen = ?"
                            " WHERE client_key = ? AND currency = ?",
                            (first, last, key_, currency))

    def _rename(self, deltas: dict[tuple[str, str], _Delta]) -> None:
        """A client shown by a spelling that left takes the spelling of its first remaining
        event in import order, as ingesting only the remaining imports names it (a total's
        display is its client's first accepted spelling)."""
        gone: dict[str, set[str]] = defaultdict(set)
        for (key_, _currency), d in deltas.items():
            gone[key_] |= d.gone
        keys = sorted(k for k, names in gone.items() if names)
        for part in (keys[i:i + _IN_LIST] for i in range(0, len(keys), _IN_LIST)):
            marks = ", ".join("?" * len(part))
            shown = dict(self._x(f"SELECT client_key, display FROM clients"
                                 f" WHERE client_key IN ({marks})", tuple(part)).fetchall())
            stale = [k for k in part if shown.get(k) in gone[k]]
            if stale:  # most clients are spelled one way: only another spelling can name them
                marks = ", ".join("?" * len(stale))
                stale = sorted({k for (k,) in self._x(
                    "SELECT DISTINCT e.client_key FROM events e JOIN clients c"
                    f" ON c.client_key = e.client_key WHERE e.client_key IN ({marks})"
                    " AND e.client <> c.display", tuple(stale)).fetchall()})
            if not stale:
                continue
            marks = ", ".join("?" * len(stale))
            for key_, name in self._x(
                    "SELECT client_key, client FROM (SELECT client_key, client, row_number()"
                    " OVER (PARTITION BY client_key ORDER BY import_id IS NOT NULL, import_id,"
                    f" line, id) AS n FROM events WHERE client_key IN ({marks})) AS f"
                    " WHERE n = 1", tuple(stale)).fetchall():
                if name != shown[key_]:
                    self._x("UPDATE clients SET display = ? WHERE client_key = ?",
                            (name, key_))
