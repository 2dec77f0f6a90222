"""Reading imports, with their counts, on either backend's read session."""
from __future__ import annotations

import json

from ..model import ImportRow

_OUTCOMES = ("duplicate", "rejected", "failed")


class ImportReads:
    """Mixed into both read sessions; a backend provides ``_rows(sql, params)`` with ``?``
    placeholders (``_read``)."""

    def imports(self, pending: dict[int | None, int], import_id: int | None = None
                ) -> list[ImportRow]:
        """Every import (or the one ``import_id``), oldest first. Accepted events are counted
        off the events table and other outcomes off the log, so the counts stay true when an
        undo hands events over; ``pending`` (import uid -> events waiting in the outbox)
        comes from the outbox."""
        where, args = ("WHERE id = ?", (import_id,)) if import_id is not None else ("", ())
        rows = self._read("SELECT id, uid, source, kind, started_at, finished_at, faults,"
                          f" undone_at, counts FROM imports {where} ORDER BY id", args)
        if not rows:
            return []
        one = " AND import_id = ?" if import_id is not None else ""
        accepted = dict(self._read(
            "SELECT import_id, count(*) FROM events WHERE import_id IS NOT NULL"
            f"{one} GROUP BY import_id", args))
        logged: dict[tuple[int, str], int] = {
            (i, o): n for i, o, n in self._read(
                "SELECT import_id, outcome, count(*) FROM log WHERE import_id IS NOT NULL"
                f"{one} AND outcome IN ('duplicate', 'rejected', 'failed')"
                " GROUP BY import_id, outcome", args)}
        out = []
        for iid, uid, source, kind, started, finished, faults, undone, frozen in rows:
            if undone is not None and frozen:
                c = json.loads(frozen)
                counts = [c.get(k, 0) for k in ("accepted", "duplicates", "rejected", "failed",
                                                "pending")]
            else:
                counts = [accepted.get(iid, 0)] + [logged.get((iid, o), 0) for o in _OUTCOMES]
                counts.append(pending.get(uid, 0))
            acc, dup, rej, failed, waiting = counts
            out.append(ImportRow(iid, uid, source, kind, started, finished, faults, undone,
                                 acc + dup + rej + waiting, acc, dup, rej, failed, waiting))
        return out
