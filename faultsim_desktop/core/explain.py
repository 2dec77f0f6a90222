"""Why an event is what it is: the raw text as received, its canonical form and fingerprint,
for each role (client, amount, currency, time, key) the field it came from, the value there and
the rule that chose it, how an amount text was read, and every copy folded into the event.

The provenance comes from normalization itself: the event is normalized again by the same
functions, with a ``trace`` collector they fill in as they decide (``core/normalize``,
``core/schemas.py``), so the explanation cannot disagree with what ingestion did. What it gives
is checked against the stored row; a difference (a stored event from an older version of the
rules) is reported, never hidden.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

import orjson

from .fingerprint import NotCanonicalizable, _default, _widen, canonical_json, fingerprint
from .model import NormalizedEvent, RejectCode, RejectedEvent, Rejection
from .normalize import AMOUNT_NAMES, CLIENT_NAMES, IDEMPOTENCY_NAMES
from .parsing import split_text
from .schemas import Mapping, Registry, normalize_event

__all__ = ["ROLES", "Copy", "Explanation", "explain_event", "explain_input"]

ROLES = ("client", "amount", "currency", "time", "key")
# why a role has no field: the rejection that names it, else normalization stopped before it
_MISSING = {"client": (RejectCode.NO_CLIENT, "no client field (looked for "
                       + ", ".join(CLIENT_NAMES) + ")"),
            "amount": (RejectCode.NO_AMOUNT, "no amount field (looked for "
                       + ", ".join(AMOUNT_NAMES) + " and their *_cents forms)")}
_NO_KEY = "no idempotency key field (looked for " + ", ".join(IDEMPOTENCY_NAMES) + ")"


@dataclass(frozen=True)
class Copy:
    """One later arrival folded into a stored event: a duplicate (same content) or a key
    conflict (same client and idempotency key, other content: quarantined)."""

    seq: int  # the log row
    at: str  # when it arrived
    outcome: str  # "duplicate" or "key conflict"
    source: str
    line: int
    attempt: int
    reason: str
    quarantine_id: int | None = None
    import_id: int | None = None

    def as_dict(self) -> dict:
        return {"log_seq": self.seq, "received_at": self.at, "outcome": self.outcome,
                "source": self.source, "line": self.line, "attempt": self.attempt,
                "reason": self.reason, "quarantine_id": self.quarantine_id,
                "import_id": self.import_id}


@dataclass
class Explanation:
    """An event (``event_id``) or a quarantined input (``quarantine_id``), explained."""

    raw: str | bytes
    canonical: str | None
    fingerprint: str | None  # hex SHA-256 of the canonical form
    fields: dict  # role -> {"field", "value", "rule"}; fields["amount"] also has "reading"
    event_id: int | None = None
    quarantine_id: int | None = None
    stored: dict | None = None  # the stored row's normalized values, as stored
    normalized: dict | None = None  # what the rules give now (None: they reject it)
    mapping: str | None = None  # "the heuristics" or the mapping that normalized it
    differences: list[str] = field(default_factory=list)  # stored vs normalized now
    warnings: list[str] = field(default_factory=list)
    rejection: dict | None = None  # why it was rejected (quarantine), with line and column
    matched_event: int | None = None  # the event a key conflict lost to
    copies: list[Copy] = field(default_factory=list)
    received: dict | None = None  # source, line, received_at of the stored event
    import_: dict | None = None
    source_count: int = 1  # candidates in a quarantined input (only the first is explained)

    @property
    def consistent(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict:
        """The JSON document of ``faultsim explain --json``."""
        raw = self.raw.decode("utf-8", "replace") if isinstance(self.raw, bytes) else self.raw
        doc = {"event_id": self.event_id, "quarantine_id": self.quarantine_id, "raw": raw,
               "canonical": self.canonical, "fingerprint": self.fingerprint,
               "fields": self.fields, "normalized_by": self.mapping,
               "stored": self.stored, "normalized_now": self.normalized,
               "consistent": self.consistent, "differences": self.differences,
               "warnings": self.warnings, "received": self.received,
               "copies": [c.as_dict() for c in self.copies], "import": self.import_}
        if self.quarantine_id is not None:
            doc["rejection"] = self.rejection
            doc["matched_event"] = self.matched_event
            doc["pieces"] = self.source_count
        return doc

    def to_json(self) -> str:
        """``as_dict`` as JSON text: numbers exactly as parsed (never through float)."""
        return orjson.dumps(_widen(self.as_dict()), default=_default,
                            option=orjson.OPT_INDENT_2).decode("utf-8")

    def to_text(self) -> str:
        return "\n".join(_text_lines(self))


def show_value(value) -> str:
    """A field's value as JSON text (exact numbers), cut short for one line."""
    if value is None:
        return "null"
    try:
        text = canonical_json(value).decode("utf-8")
    except (NotCanonicalizable, TypeError):
        text = repr(value)
    if type(value) is str:
        text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:199] + "…"


def _fields_of(trace: dict, ev: NormalizedEvent | None,
               rejection: Rejection | None = None) -> dict:
    """The trace as role -> {"field", "value", "rule"}; ``ev`` None when normalization
    rejected the event (``rejection``), so a role it did not reach says so."""
    out = {}
    for role in ROLES:
        hit = trace.get(role)
        if hit is None:
            if ev is not None:  # normalized: only the key can be absent
                rule = _NO_KEY
            elif role in _MISSING and rejection is not None \
                    and rejection.code is _MISSING[role][0]:
                rule = _MISSING[role][1]
            else:
                rule = "not reached: normalization stopped before it"
            out[role] = {"field": None, "value": None, "rule": rule}
            continue
        where, value, rule = hit
        out[role] = {"field": where, "value": value, "rule": rule}
    reading = trace.get("reading")
    if reading is not None and trace.get("amount") is not None:
        value = trace["amount"][1]
        out["amount"]["reading"] = {
            "text": value,
            "amount": format(ev.amount, "f") if ev is not None else None,
            "currency": ev.currency if ev is not None else None,
            "how": reading["how"], "currency_from": reading.get("currency_from")}
    return out


def _normalized(ev: NormalizedEvent, received_at: str) -> dict:
    return {"client": ev.client, "amount": format(ev.amount, "f"), "currency": ev.currency,
            "event_time": ev.event_time or received_at, "idempotency_key": ev.idempotency_key}


def _parse(raw: str | bytes, source: str = "stored"):
    """The candidates of a raw text, as ingestion splits it."""
    return split_text(raw, source)


def explain_event(row: dict, mapping: Mapping | None, copies: list[Copy] = (),
                  import_row: dict | None = None) -> Explanation:
    """Explain a stored event (``row``: the events table's columns, as ``event`` reads them),
    normalized again by ``mapping`` (the version stored with it; None: the heuristics)."""
    raw = row["raw"]
    stored_fp = row["fingerprint"]
    stored = {"client": row["client"], "amount": str(row["amount"]),
              "currency": row["currency"] or None, "event_time": row["event_time"],
              "idempotency_key": row["idempotency_key"]}
    exp = Explanation(raw=raw, canonical=None,
                      fingerprint=bytes(stored_fp).hex() if stored_fp is not None else None,
                      fields={role: {"field": None, "value": None, "rule": "not reached"}
                              for role in ROLES},
                      event_id=row["id"], stored=stored, copies=list(copies),
                      import_=import_row,
                      received={"source": row["source"], "line": row["line"],
                                "received_at": row["received_at"]})
    exp.mapping = _mapping_label(mapping, row.get("mapping_version"))
    if row.get("warnings"):
        try:
            exp.warnings = list(json.loads(row["warnings"]))
        except ValueError:
            exp.warnings = [str(row["warnings"])]
    candidates = [c for c in _parse(raw) if c.obj is not None or c.rejection is not None]
    if len(candidates) != 1 or candidates[0].obj is None:
        exp.differences.append("the stored raw text no longer parses as one JSON object")
        return exp
    obj = candidates[0].obj
    exp.canonical = canonical_json(obj).decode("utf-8")
    if fingerprint(obj) != bytes(stored_fp):
        exp.differences.append("the fingerprint of the raw text today differs from the stored "
                               "one")
    registry = Registry([mapping]) if mapping is not None else None
    trace: dict = {}
    try:
        # the stored event time stands in for the time of receipt: normalization uses that
        # only when the event has no time of its own, and then it is exactly what was stored
        ev, _ = normalize_event(obj, received_at=row["event_time"], registry=registry,
                                trace=trace)
    except RejectedEvent as exc:
        exp.fields = _fields_of(trace, None, exc.rejection)
        exp.differences.append(f"the rules reject it today: {exc.rejection}")
        return exp
    exp.fields = _fields_of(trace, ev)
    exp.normalized = _normalized(ev, row["event_time"])
    for key, now in exp.normalized.items():
        then = stored[key]
        same = (Decimal(then) == Decimal(now)) if key == "amount" else then == now
        if not same:
            exp.differences.append(f"{key}: stored {then!r}, the rules give {now!r} today")
    return exp


def explain_input(raw: str | bytes, registry: Registry | None, *, quarantine_id: int | None,
                  source: str, line: int, column: int, code: str, reason: str
                  ) -> Explanation:
    """Explain a quarantined input: what parsing and normalization (with ``registry``, the
    mappings in force now) make of it, and why it was rejected (``code``, ``reason``)."""
    candidates = [c for c in _parse(raw, source) if c.obj is not None or c.rejection is not None]
    exp = Explanation(raw=raw, canonical=None, fingerprint=None,
                      fields={role: {"field": None, "value": None, "rule": "not reached"}
                              for role in ROLES},
                      quarantine_id=quarantine_id, source_count=len(candidates),
                      received={"source": source, "line": line, "column": column})
    exp.rejection = {"code": code, "message": reason, "stage": "storage",
                     "line": line, "column": column}
    if not candidates:
        exp.rejection["stage"] = "parsing"
        return exp
    first = candidates[0]
    if first.rejection is not None:
        exp.rejection = _rejection(first.rejection, "parsing", line, column)
        for f in exp.fields.values():
            f["rule"] = "not reached: the input is not a JSON object"
        return exp
    obj = first.obj
    try:
        exp.canonical = canonical_json(obj).decode("utf-8")
        exp.fingerprint = fingerprint(obj).hex()
    except NotCanonicalizable as exc:
        exp.rejection = {"code": "unpaired_surrogate", "message": str(exc),
                         "stage": "fingerprint", "line": line, "column": column}
        return exp
    trace: dict = {}
    try:
        ev, version = normalize_event(obj, received_at=_NOW, registry=registry, trace=trace)
    except RejectedEvent as exc:
        exp.fields = _fields_of(trace, None, exc.rejection)
        exp.rejection = _rejection(exc.rejection, "normalization", line, column)
        return exp
    exp.fields = _fields_of(trace, ev)
    exp.normalized = _normalized(ev, "")
    exp.warnings = list(ev.warnings)
    exp.mapping = _mapping_label(registry.get(ev.client) if registry and version else None,
                                 version)
    return exp


_NOW = ""  # a quarantined event has no stored time of receipt: a missing time shows as ""


def _rejection(r: Rejection, stage: str, line: int, column: int) -> dict:
    # a rejection inside the input is placed relative to it: shift to where the input began
    at_line = line + (r.line - 1) if r.line is not None else line
    at_column = (column + r.column - 1 if r.line == 1 else r.column) \
        if r.column is not None else column
    return {"code": r.code.value, "message": r.message, "stage": stage,
            "line": at_line, "column": at_column}


def _mapping_label(mapping: Mapping | None, version: int | None) -> str:
    if version is None:
        return "the heuristics (no mapping)"
    if mapping is None:
        return f"mapping v{version} (no longer stored)"
    return f'mapping v{version} of client "{mapping.client}": {mapping.describe()}'


def _text_lines(exp: Explanation):
    if exp.event_id is not None:
        s = exp.stored or {}
        yield (f"Event #{exp.event_id}: {s.get('client')}, {s.get('amount')}"
               f"{' ' + s['currency'] if s.get('currency') else ''}")
        r = exp.received or {}
        yield (f"Received {r.get('received_at')} from {r.get('source')}, line {r.get('line')}")
    else:
        r = exp.received or {}
        yield (f"Quarantine entry #{exp.quarantine_id} from {r.get('source')}, line "
               f"{r.get('line')}, column {r.get('column')}")
        rej = exp.rejection or {}
        yield f"Rejected ({rej.get('code')}, at {rej.get('stage')}): {rej.get('message')}"
        if exp.matched_event is not None:
            yield f"Matched event #{exp.matched_event} (faultsim explain {exp.matched_event})"
        if exp.source_count > 1:
            yield f"The input holds {exp.source_count} pieces; the first is explained."
    if exp.import_:
        imp = exp.import_
        yield (f"Import #{imp['id']}: {imp['kind']} {imp['source']}, started "
               f"{imp['started_at']}; received {imp['received']:,}, accepted "
               f"{imp['accepted']:,}, duplicates {imp['duplicates']:,}, rejected "
               f"{imp['rejected']:,}" + (f"; undone {imp['undone_at']}"
                                         if imp.get("undone_at") else ""))
    if exp.mapping:
        yield f"Normalized by {exp.mapping}"
    if exp.fingerprint:
        yield f"Fingerprint {exp.fingerprint}"
    yield ""
    yield "Fields"
    for role in ROLES:
        f = exp.fields[role]
        where = f["field"] if f["field"] is not None else "(none)"
        value = f" = {show_value(f['value'])}" if f["field"] is not None else ""
        yield f"  {role:<9}{where}{value}"
        yield f"  {'':<9}{f['rule']}"
        reading = f.get("reading")
        if reading is not None:
            yield f"  {'':<9}read: {reading_text(reading)}"
    if exp.differences:
        yield ""
        yield "Differences from the stored row"
        for d in exp.differences:
            yield f"  {d}"
    if exp.warnings:
        yield ""
        yield "Warnings"
        for w in exp.warnings:
            yield f"  {w}"
    yield ""
    yield "Raw"
    raw = exp.raw.decode("utf-8", "replace") if isinstance(exp.raw, bytes) else exp.raw
    for line in raw.splitlines() or [""]:
        yield f"  {line}"
    if exp.canonical is not None:
        yield ""
        yield "Canonical"
        yield f"  {exp.canonical}"
    if exp.event_id is not None:
        yield ""
        yield f"Copies ({len(exp.copies)})" if exp.copies else "Copies: none folded into it"
        for c in exp.copies:
            yield (f"  {c.outcome:<13}{c.at}  {c.source}, line {c.line}, attempt {c.attempt}"
                   + (f", quarantine #{c.quarantine_id}" if c.quarantine_id else "")
                   + (f", import #{c.import_id}" if c.import_id else ""))


def reading_text(reading: dict) -> str:
    """``"1.234,56 €" → 1234.56 EUR: both separators, ...``"""
    shown = show_value(reading["text"])
    result = reading.get("amount")
    result = f"{result} {reading['currency']}" if result and reading.get("currency") else result
    out = f"{shown} → {result}: {reading['how']}" if result else f"{shown}: {reading['how']}"
    if reading.get("currency_from"):
        out += f"; currency from {reading['currency_from']}"
    return out
