"""Per-client schemas: explicit, versioned mappings that win over the heuristics.

A mapping says, for one client, which field holds the amount (and in which units), the time
(and its format), the idempotency key, which currency to use when an event names none, and
optionally which field holds the client. The rules, also in the README:

* **Which mapping applies.** The client is found first. For every client field that some
  mapping names, the event's value there (if it has that field) is read as a client; when that
  client's active mapping names that same field, the mapping applies. Otherwise the heuristic
  client lookup finds the client (as without mappings), and that client's active mapping, if
  any, applies. Mappings are keyed by the client's grouping key (casefolded display form), so
  "ACME" and "acme" share one.
* **Field names.** A field is matched exactly when the event has that exact name, else by the
  heuristics' name normalization (lower case, without ``_``, ``-`` and spaces), first match in
  document order. A dotted path (``payment.value``) first matches a field whose whole name is
  the path, then descends one object per segment.
* **Missing fields reject.** Every field a mapping names must be present: an absent amount,
  time or idempotency-key field rejects the event (``mapping_field_missing``, naming the client
  and the mapping version), never a silent fallback to the heuristics, whatever path the
  event came by (an HTTP ``Idempotency-Key`` header names the request, never an event, so it
  fills no field). Roles a mapping does not name (time, idempotency key) are found by the
  heuristics. Present values are read by the heuristics' rules (a null amount is
  ``no_amount``; a null or blank key is treated as absent, with a warning), except that a
  mapped time must hold the mapping's time format (``bad_time`` otherwise) and a cents/milli
  amount must be a whole number.
* **Currency.** A currency in the amount itself (``"12.50 EUR"``, an amount object) or in a
  currency field beside the amount (or at the top level) wins; the mapping's currency is used
  only when the event names none.
* **Versions.** Saving a mapping stores a new version; the newest one is active. Stored events
  keep the version that normalized them and are never rewritten. Fingerprints are computed from
  the raw event, so a re-sent event is a duplicate whatever the mapping.

Everything here is plain data: a ``Registry`` pickles cheaply and goes to worker processes with
each chunk.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from .model import NormalizedEvent, RejectCode, RejectedEvent, Rejection
from .normalize import (
    ISO_4217, _find_client, _idempotency_key, _normalize_found, _one_level_down, client_display,
    field_key, find_client, normalize, parse_amount, parse_time,
)
from .normalize.amounts import _EXACT_CTX, _plain_digits, currency_beside
from .normalize.fields import (
    _CURRENCY, _IDEMPOTENCY, _INT_LIMIT, _TIME, MAX_DIGITS, TIME_NAMES, _client_from,
    _integral_text, _scan, _show, name_rule,
)
from .normalize.times import _NUMERIC_TIME, _TIME_CTX, _receipt_time, _time_from_micros

__all__ = ["Mapping", "MappingError", "Registry", "UNITS", "TIME_FORMATS", "new_mapping",
           "normalize_event", "retirement"]

UNITS = {"units": 0, "cents": -2, "milli": -3}  # the power of ten one unit of the field is worth
_UNIT_NAMES = {"units": "units", "cents": "cents", "milli": "thousandths"}
TIME_FORMATS = ("auto", "iso", "epoch_s", "epoch_ms", "epoch_us")
_EPOCH_SCALE = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}
MAX_FIELD_CHARS = 200
MAX_NOTE_CHARS = 1000
_WHOLE = re.compile(r"[-+]?[0-9]+")
_MISSING = object()


class MappingError(ValueError):
    """A mapping that cannot be saved; the message says which part and why."""


@dataclass(frozen=True)
class Mapping:
    """One version of one client's mapping. ``version``, ``created_at`` and ``note`` are set
    once it is stored; a proposed mapping has none."""

    client: str  # display form of the client it applies to
    amount_field: str
    units: str = "units"
    currency: str | None = None  # ISO 4217, used when the event names none
    time_field: str | None = None
    time_format: str = "auto"
    key_field: str | None = None
    client_field: str | None = None
    version: int | None = None
    created_at: str | None = None
    note: str = ""
    retired: bool = False  # a version that hands the client back to the heuristics

    @property
    def client_key(self) -> str:
        return self.client.casefold()

    @property
    def label(self) -> str:
        """How messages name it: client "acme" v3."""
        return f'client "{self.client}" ' + (f"v{self.version}" if self.version else "mapping")

    def fields(self) -> dict:
        """What is stored as the mapping's JSON (version, time and note are columns)."""
        if self.retired:
            return {"client": self.client, "retired": True}
        return {"client": self.client, "client_field": self.client_field,
                "amount_field": self.amount_field, "units": self.units,
                "currency": self.currency, "time_field": self.time_field,
                "time_format": self.time_format, "key_field": self.key_field}

    def to_json(self) -> str:
        return json.dumps(self.fields(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_row(cls, version: int, text: str, created_at: str | None = None,
                 note: str | None = "") -> "Mapping":
        d = json.loads(text)
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        known.setdefault("amount_field", "")  # a retired version names no fields
        return cls(**known, version=version, created_at=created_at, note=note or "")

    def describe(self) -> str:
        """One line a person reads: where each role comes from."""
        if self.retired:
            return "no mapping: the heuristics normalize this client's events again"
        parts = [f'amount in "{self.amount_field}"'
                 + (f" ({_UNIT_NAMES[self.units]})" if self.units != "units" else "")]
        if self.currency:
            parts.append(f"{self.currency} when the event names no currency")
        if self.time_field:
            parts.append(f'time in "{self.time_field}"'
                         + (f" ({self.time_format})" if self.time_format != "auto" else ""))
        if self.key_field:
            parts.append(f'idempotency key in "{self.key_field}"')
        if self.client_field:
            parts.append(f'client in "{self.client_field}"')
        return "; ".join(parts)


def _field(value, what: str, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise MappingError(f"the {what} field is required")
        return None
    if not isinstance(value, str):
        raise MappingError(f"the {what} field must be text")
    text = value.strip()
    if len(text) > MAX_FIELD_CHARS:
        raise MappingError(f"the {what} field is longer than {MAX_FIELD_CHARS} characters")
    if not text.isprintable():
        raise MappingError(f"the {what} field {text!r} holds control characters")
    if "" in text.split("."):
        raise MappingError(f'the {what} field "{text}" has an empty part in its dotted path')
    return text


def retirement(client: str, note: str = "") -> Mapping:
    """A version that hands ``client`` back to the heuristics (its history stays)."""
    if not isinstance(client, str) or not client_display(client):
        raise MappingError("the client is required")
    return Mapping(client=client_display(client), amount_field="", retired=True, note=note)


def new_mapping(client: str, amount_field: str, *, units: str = "units",
                currency: str | None = None, time_field: str | None = None,
                time_format: str = "auto", key_field: str | None = None,
                client_field: str | None = None, note: str = "") -> Mapping:
    """A validated, normalized mapping; raises MappingError saying what is wrong."""
    if not isinstance(client, str) or not client_display(client):
        raise MappingError("the client is required")
    display = client_display(client)
    if len(display) > MAX_FIELD_CHARS or not display.isprintable():
        raise MappingError("the client name is too long or holds control characters")
    units = (units or "units").strip().lower()
    if units not in UNITS:
        raise MappingError(f"units must be one of {', '.join(UNITS)}, not {units!r}")
    code = None
    if currency is not None and currency.strip():
        code = currency.strip().upper()
        if code not in ISO_4217:
            raise MappingError(f'"{currency.strip()}" is not an ISO 4217 currency code')
    time_format = (time_format or "auto").strip().lower()
    if time_format not in TIME_FORMATS:
        raise MappingError(f"the time format must be one of {', '.join(TIME_FORMATS)}, "
                           f"not {time_format!r}")
    time_field = _field(time_field, "time")
    if time_format != "auto" and time_field is None:
        raise MappingError(f"a time format ({time_format}) needs a time field")
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise MappingError(f"the note is longer than {MAX_NOTE_CHARS} characters")
    return Mapping(display, _field(amount_field, "amount", required=True), units, code,
                   time_field, time_format, _field(key_field, "idempotency key"),
                   _field(client_field, "client"), note=note)


class Registry:
    """The active mapping of every client that has one: the snapshot ingestion works with."""

    __slots__ = ("by_key", "client_fields")

    def __init__(self, mappings: Iterable[Mapping] = ()):
        self.by_key: dict[str, Mapping] = {m.client_key: m for m in mappings if not m.retired}
        self.client_fields = tuple(sorted({m.client_field for m in self.by_key.values()
                                           if m.client_field}))

    def __getstate__(self):
        return list(self.by_key.values())

    def __setstate__(self, state) -> None:
        Registry.__init__(self, state)

    def __bool__(self) -> bool:
        return bool(self.by_key)

    def __len__(self) -> int:
        return len(self.by_key)

    def __eq__(self, other) -> bool:
        return isinstance(other, Registry) and self.by_key == other.by_key

    def get(self, client: str) -> Mapping | None:
        return self.by_key.get(client_display(client).casefold())

    def with_mapping(self, mapping: Mapping) -> "Registry":
        """This registry with ``mapping`` as its client's active one (for previews)."""
        others = [m for k, m in self.by_key.items() if k != mapping.client_key]
        return Registry([*others, mapping])

    def _by_client_field(self, obj: dict, trace: dict | None = None
                         ) -> tuple[Mapping, str] | None:
        """A mapping whose client field names, in ``obj``, the client it belongs to."""
        for name in self.client_fields:
            hit = _resolve(obj, name)
            if hit is None:
                continue
            value, _, field = hit
            try:
                client = _client_from(value, field)
            except RejectedEvent:
                continue
            m = self.by_key.get(client.casefold())
            if m is not None and m.client_field == name:
                if trace is not None:
                    trace["client"] = (field, value, f'{_rule_of(m)}: client in "{name}"')
                return m, client
        return None

    def match(self, obj: dict) -> tuple[Mapping | None, str | None]:
        """The mapping that applies to ``obj`` and the client it found, or (None, None)."""
        hit = self._by_client_field(obj) if self.client_fields else None
        if hit is not None:
            return hit
        try:
            client = find_client(obj)
        except RejectedEvent:
            return None, None  # the heuristics reject it with their own reason
        m = self.by_key.get(client.casefold())
        return (m, client) if m is not None else (None, None)


def normalize_event(obj: dict, *, received_at: str, registry: Registry | None,
                    trace: dict | None = None) -> tuple[NormalizedEvent, int | None]:
    """``normalize`` with the client's mapping when it has one: the event and the version of
    the mapping that normalized it (None: the heuristics did). Raises RejectedEvent.
    ``trace``, when given, collects which field gave each role and why (core/explain.py)."""
    if not registry:
        return normalize(obj, received_at=received_at, trace=trace), None
    hit = registry._by_client_field(obj, trace) if registry.client_fields else None
    if hit is not None:
        mapping, client = hit
        return _apply(mapping, client, obj, received_at, trace), mapping.version
    # one scan serves the client lookup and, when no mapping applies, the heuristics
    found, children, dups = _scan(obj)
    client, nested = _find_client(found, children, trace)
    m = registry.by_key.get(client.casefold())
    if m is not None:
        if trace is not None:
            field, value, rule = trace["client"]
            trace["client"] = (field, value, f"{rule}; {_rule_of(m)} applies to this client")
        return _apply(m, client, obj, received_at, trace), m.version
    return _normalize_found(obj, found, children, dups, client, nested, received_at,
                            trace), None


def _rule_of(m: Mapping) -> str:
    return f'mapping v{m.version} of client "{m.client}"' if m.version else \
        f'proposed mapping of client "{m.client}"'



def _child(obj: dict, name: str):
    """``obj``'s field ``name`` as (key, value): the exact key, else the first key with the same
    normalized name; (None, _MISSING) when there is none."""
    if name in obj:
        return name, obj[name]
    fk = field_key(name)
    for key, value in obj.items():
        if field_key(key) == fk:
            return key, value
    return None, _MISSING


def _resolve(obj: dict, path: str) -> tuple[object, dict, str] | None:
    """The value at ``path``, the object holding it and the path as the event spells it."""
    key, value = _child(obj, path)
    if value is not _MISSING:
        return value, obj, key
    parts = path.split(".")
    if len(parts) == 1:
        return None
    current, shown = obj, []
    for i, part in enumerate(parts):
        if type(current) is not dict:
            return None
        key, value = _child(current, part)
        if value is _MISSING:
            return None
        shown.append(key)
        if i < len(parts) - 1:
            current = value
    return value, current, ".".join(shown)


def _reject(code: RejectCode, message: str) -> RejectedEvent:
    return RejectedEvent(Rejection(code, message))


def _require(obj: dict, path: str, role: str, m: Mapping) -> tuple[object, dict, str]:
    hit = _resolve(obj, path)
    if hit is None:
        raise _reject(RejectCode.MAPPING_FIELD_MISSING,
                      f'{m.label} says {role} is in "{path}"; not found')
    return hit


def _scaled(value, field: str, m: Mapping) -> Decimal:
    """A whole number of cents (or thousandths) -> the exact amount."""
    exponent = UNITS[m.units]
    kind = type(value)
    number = None
    if kind is int:
        if -_INT_LIMIT < value < _INT_LIMIT:
            number = Decimal(value)
    elif kind is str:
        text = value.strip()
        if not text:
            raise _reject(RejectCode.NO_AMOUNT, f'amount {_show(value)} in field "{field}" '
                                                "is blank")
        if _WHOLE.fullmatch(text) and len(text) <= MAX_DIGITS + 1:
            number = Decimal(text)
    elif kind is Decimal:
        if value.is_finite() and value == value.to_integral_value() \
                and _plain_digits(value) <= MAX_DIGITS:
            number = Decimal(int(value))
    elif value is None:
        raise _reject(RejectCode.NO_AMOUNT, f'amount field "{field}" is null')
    if number is None:
        raise _reject(RejectCode.BAD_AMOUNT,
                      f'amount {_show(value)} in field "{field}" is not a whole number of '
                      f"{_UNIT_NAMES[m.units]} ({m.label} counts it in {_UNIT_NAMES[m.units]})")
    return number.scaleb(exponent, _EXACT_CTX)


def _mapped_time(value, time_format: str, trace: dict | None = None) -> str | None:
    if time_format == "auto":
        return parse_time(value, trace)
    if time_format == "iso":
        if type(value) is not str or _NUMERIC_TIME.fullmatch(value.strip()):
            return None
        return parse_time(value, trace)
    kind = type(value)
    if kind is str:
        text = value.strip()
        if len(text) > 40 or not _NUMERIC_TIME.fullmatch(text):
            return None
        value = Decimal(text)
    elif kind is int:
        value = Decimal(value)
    elif kind is not Decimal:
        return None
    if not value.is_finite() or (not value.is_zero() and value.adjusted() > 20):
        return None
    micros = _TIME_CTX.multiply(value, _EPOCH_SCALE[time_format]).to_integral_value()
    if trace is not None:
        trace["time_read"] = f"{time_format}, as the mapping says"
    return _time_from_micros(int(micros))


def _mapped_key(value, field: str, warnings: list[str]) -> str | None:
    kind = type(value)
    if kind is str:
        text = value.strip()
        if text:
            return text
        warnings.append(f'idempotency key in field "{field}" is blank; treated as absent')
        return None
    if value is None:
        warnings.append(f'idempotency key in field "{field}" is null; treated as absent')
        return None
    if kind is int or kind is Decimal:
        try:
            return _integral_text(value)
        except ValueError:
            pass
    raise _reject(RejectCode.BAD_IDEMPOTENCY_KEY,
                  f'idempotency key {_show(value)} in field "{field}" is not a string or an '
                  "integer")


def _apply(m: Mapping, client: str, obj: dict, received_at: str, trace: dict | None = None
           ) -> NormalizedEvent:
    found, children, _ = _scan(obj)
    warnings: list[str] = []
    rule = _rule_of(m)

    value, parent, amount_field = _require(obj, m.amount_field, "amount", m)
    if trace is not None:
        trace["amount"] = (amount_field, value, f'{rule}: amount in "{m.amount_field}"'
                           + (f" ({_UNIT_NAMES[m.units]})" if m.units != "units" else ""))
    if m.units == "units":
        amount, currency = parse_amount(value, amount_field, trace)
    else:
        if trace is not None:
            trace["reading"] = {"how": f"a whole number of {_UNIT_NAMES[m.units]}, as the "
                                       f"mapping says: times 10^{UNITS[m.units]}",
                                "currency_from": None}
        amount, currency = _scaled(value, amount_field, m), None
    # a currency field beside the amount, else at the top level
    currency_hit = _scan(parent)[0][_CURRENCY] if parent is not obj else found[_CURRENCY]
    prefix = amount_field[: amount_field.rfind(".") + 1] if parent is not obj else ""
    if currency_hit is None and parent is not obj:
        currency_hit, prefix = found[_CURRENCY], ""
    currency = currency_beside(currency_hit, prefix, currency, value, amount_field, trace)
    if currency is None:
        currency = m.currency
        if trace is not None and currency is not None:
            trace["currency"] = (None, currency, f"{rule}: the client's currency, as the event "
                                                 "names none")

    if m.time_field is not None:
        value, _, time_field = _require(obj, m.time_field, "time", m)
        event_time = _mapped_time(value, m.time_format, trace)
        if trace is not None:
            read = trace.pop("time_read", None)
            trace["time"] = (time_field, value, f'{rule}: time in "{m.time_field}"'
                             + (f" ({m.time_format})" if m.time_format != "auto" else "")
                             + (f"; read as {read}" if event_time is not None else ""))
        if event_time is None:
            what = "a time" if m.time_format == "auto" else f"a time in {m.time_format} format"
            raise _reject(RejectCode.BAD_TIME, f'time {_show(value)} in field "{time_field}" '
                                               f"is not {what} ({m.label})")
    else:
        hit, time_field = found[_TIME], None
        if hit is not None:
            _, time_field, when = hit
        elif children:
            _, pick = _one_level_down(children, None, _TIME)
            if pick is not None:
                time_parent, hit, _ = pick
                _, time_key, when = hit
                time_field = f"{time_parent}.{time_key}"
        if hit is None:
            event_time = _receipt_time(received_at)
            warnings.append("no event time; used the time of receipt")
            if trace is not None:
                trace["time"] = (None, None, f"{rule} names no time field, and the heuristics "
                                             "find none: the time of receipt")
        else:
            event_time = parse_time(when, trace)
            if trace is not None:
                read = trace.pop("time_read", None)
                trace["time"] = (time_field, when, name_rule(
                    TIME_NAMES, hit[1], time_field[:-len(hit[1]) - 1] or None, "time")
                    + f" ({rule} names no time field)" + (
                    f"; read as {read}" if event_time is not None
                    else "; not a recognised time: the time of receipt"))
            if event_time is None:
                event_time = _receipt_time(received_at)
                warnings.append(f'time {_show(when)} in field "{time_field}" is not a '
                                "recognised time; used the time of receipt")

    if m.key_field is not None:
        value, _, key_field = _require(obj, m.key_field, "idempotency key", m)
        if trace is not None:
            trace["key"] = (key_field, value, f'{rule}: idempotency key in "{m.key_field}"')
        key = _mapped_key(value, key_field, warnings)
    else:
        hit = found[_IDEMPOTENCY]
        key = _idempotency_key(obj, hit, warnings, trace) if hit is not None else None

    return NormalizedEvent(client, client.casefold(), amount, currency, event_time, key,
                           tuple(warnings))
