"""IngestService's explain methods: why a stored event or a quarantined input is what it is
(core/explain.py). A base class of IngestService, which provides ``_reader`` and ``registry``."""
from __future__ import annotations

from .explain import Copy, Explanation, explain_event, explain_input
from .model import Outcome, RejectCode
from .normalize import client_display
from .schemas import Mapping
from .service_mappings import mappings_from

_KEY_CONFLICT = "key conflict"


class ExplainMethods:
    """The explain half of IngestService's public methods."""

    def event_copies(self, event_id: int) -> list[Copy]:
        """Every duplicate and key conflict folded into a stored event, oldest first."""
        with self._reader() as r:
            rows = r.event_copies(event_id)
        return [Copy(seq, at, outcome if outcome == Outcome.DUPLICATE.value else _KEY_CONFLICT,
                     source, line, attempt, reason or "", qid, import_id)
                for seq, at, outcome, source, line, attempt, reason, qid, import_id in rows]

    def explain_event(self, event_id: int) -> Explanation | None:
        """A stored event explained (None: there is no event ``event_id``): its raw text,
        canonical form and fingerprint, where each role came from and by which rule, how its
        amount was read, the import it belongs to, and every copy folded into it."""
        with self._reader() as r:
            row = r.event(event_id)
            if row is None:
                return None
            import_id = r.event_import(event_id)
            version = row.get("mapping_version")
            mapping = None
            if version is not None:
                found = r.mapping_version(client_display(row["client"]).casefold(), version)
                mapping = _mapping(found)
        info = self.import_info(import_id) if import_id is not None else None
        return explain_event(row, mapping, self.event_copies(event_id),
                             info.as_dict() if info is not None else None)

    def explain_quarantined(self, quarantine_id: int) -> Explanation | None:
        """A quarantined input explained (None: no such entry): what parsing and
        normalization, with the mappings in force now, make of it, and why it was rejected;
        for a key conflict, the event that holds the key."""
        entry = self.quarantine_entry(quarantine_id)
        if entry is None:
            return None
        exp = explain_input(entry.raw, self.registry(), quarantine_id=entry.id,
                            source=entry.source, line=entry.line, column=entry.column,
                            code=entry.code, reason=entry.reason)
        n = exp.normalized
        if entry.code == RejectCode.IDEMPOTENCY_CONFLICT.value and n and n["idempotency_key"]:
            with self._reader() as r:
                exp.matched_event = r.event_with_key(n["client"].casefold(),
                                                     n["idempotency_key"])
        return exp


def _mapping(row) -> Mapping | None:
    if row is None:
        return None
    found = mappings_from([row])
    return found[0] if found else None
