"""Messy event -> NormalizedEvent: finds the client, amount, currency, time and idempotency key.

Runs on every event of multi-million-event files, so the common shapes take fast paths (a
per-key classification cache, one pass over the top-level keys, precompiled patterns) and the
general rules run only when those do not apply. Money is ``Decimal`` end to end, never float.
"""
from __future__ import annotations

from decimal import Decimal

from faultsim_desktop.core.model import NormalizedEvent, RejectCode

from .amounts import (
    _AMOUNT_TEXTS, CURRENCY_SIGNS, ISO_4217, _parse_amount_text,
    _parse_amount_value, _parse_cents, currency_beside, parse_amount,
)
from .fields import (
    _AMOUNT, _CENTS, _CLIENT, _CURRENCY, _IDEMPOTENCY, _INT_LIMIT, _TIME,
    AMOUNT_NAMES, CLIENT_NAMES, CURRENCY_NAMES, IDEMPOTENCY_NAMES, MAX_DIGITS, TIME_NAMES,
    _client_from, _integral_text, _key_info, _reject, _scan, _show,
    client_display, field_key, name_rule, time_rank,
)
from .times import (_MILLIS_BELOW, _SECONDS_BELOW, _TEXT_TIME, _receipt_time, _time_from_micros,
                    _time_from_seconds, _time_from_text, parse_time)

__all__ = [
    "AMOUNT_NAMES", "CLIENT_NAMES", "CURRENCY_NAMES", "CURRENCY_SIGNS", "IDEMPOTENCY_NAMES",
    "ISO_4217", "MAX_DIGITS", "TIME_NAMES", "TIME_TIE", "client_display", "field_key",
    "find_client", "normalize", "normalize_with_time_value", "parse_amount", "parse_time",
    "time_rank",
]

_new = tuple.__new__


def _idempotency_key(obj: dict, hit: tuple, warnings: list, trace: dict | None = None
                     ) -> str | None:
    candidates = [hit]
    best_rank, _, value = hit
    if value is None or (type(value) is str and not value.strip()):
        # Null or blank counts as absent, so a lower-ranked name may still supply the key.
        for key, other in obj.items():
            role, rank, _ = _key_info(key)
            if role == _IDEMPOTENCY and rank != best_rank:
                candidates.append((rank, key, other))
        candidates.sort(key=lambda candidate: candidate[0])
    for _, key, value in candidates:
        kind = type(value)
        if kind is str:
            text = value.strip()
            if text:
                if trace is not None:
                    trace["key"] = (key, value, _key_rule(key, candidates))
                return text
            warnings.append(f'idempotency key in field "{key}" is blank; treated as absent')
            continue
        if value is None:
            warnings.append(f'idempotency key in field "{key}" is null; treated as absent')
            continue
        if kind is int or kind is Decimal:
            try:
                text = _integral_text(value)
            except ValueError:
                pass
            else:
                if trace is not None:
                    trace["key"] = (key, value, _key_rule(key, candidates) + "; an integer, "
                                    "kept as its decimal text")
                return text
        if trace is not None:
            trace["key"] = (key, value, _key_rule(key, candidates))
        raise _reject(
            RejectCode.BAD_IDEMPOTENCY_KEY,
            f'idempotency key {_show(value)} in field "{key}" is not a string or an integer',
        )
    if trace is not None:
        trace["key"] = (hit[1], hit[2], "every idempotency key field is null or blank: "
                                        "treated as absent")
    return None


def _key_rule(key: str, candidates: list) -> str:
    rule = name_rule(IDEMPOTENCY_NAMES, key, what="idempotency key")
    if key != candidates[0][1]:
        rule += f'; "{candidates[0][1]}" ranks higher but is null or blank'
    return rule


_MAX_SAME_FIELD_WARNINGS = 10
_NO_CLIENT_MESSAGE = "no client field (looked for " + ", ".join(CLIENT_NAMES) + ")"
_NO_AMOUNT_MESSAGE = (
    "no amount field (looked for " + ", ".join(AMOUNT_NAMES) + " and their *_cents forms)"
)


def _one_level_down(children: list | None, nested: list | None, role: int
                    ) -> tuple[list | None, tuple | None]:
    """The best hit for ``role`` one level down, name-major (best rank, ties to the earlier
    object), scanning the children first if ``nested`` does not hold their scans yet.

    Returns the scans one level down and the pick, ``(parent key, hit, found of that
    object)``, or None when nothing there has the role."""
    if not children:
        return nested, None
    if nested is None:
        nested = []
        for parent, child in children:  # a loop, not a comprehension: one call fewer
            nested.append((parent, _scan(child)[0]))
    best = None
    for parent, found in nested:
        hit = found[role]
        if hit is not None and (best is None or hit[0] < best[1][0]):
            best = (parent, hit, found)
    return nested, best


def _find_client(found: list, children: list | None, trace: dict | None = None
                 ) -> tuple[str, list | None]:
    """The heuristic client of a scanned object (display form) and the scans one level down
    when they were needed; raises RejectedEvent when there is none. ``trace`` (core/explain.py),
    when given, gets the field, its value and the rule that chose it."""
    nested = None  # one level down is scanned only when the top level lacks something
    hit = found[_CLIENT]
    if hit is not None:
        _, client_field, value = hit
        if trace is not None:
            trace["client"] = (client_field, value, name_rule(CLIENT_NAMES, client_field,
                                                              what="client"))
    else:
        nested, pick = _one_level_down(children, nested, _CLIENT)
        if pick is None:
            raise _reject(RejectCode.NO_CLIENT, _NO_CLIENT_MESSAGE)
        parent, (_, key, value), _ = pick
        client_field = f"{parent}.{key}"
        if trace is not None:
            trace["client"] = (client_field, value, name_rule(CLIENT_NAMES, key, parent,
                                                              "client"))
    if _in_display_form(value):
        client = value  # the common case
    else:
        client = _client_from(value, client_field)
    return client, nested


def _in_display_form(value: object) -> bool:
    """A client text that display normalization would leave as it is: printable ASCII, no
    space at either end, no run of spaces."""
    return (type(value) is str and value.isascii() and value.isprintable() and value != ""
            and value[0] != " " and value[-1] != " " and "  " not in value)


def find_client(obj: dict) -> str:
    """The client the heuristics find in ``obj`` (display form); raises RejectedEvent."""
    found, children, _ = _scan(obj)
    return _find_client(found, children)[0]


def normalize(obj: dict, *, received_at: str, trace: dict | None = None) -> NormalizedEvent:
    """One parsed JSON object -> NormalizedEvent, or raises RejectedEvent saying why not.
    ``trace``, when given, collects which field gave each role and why (core/explain.py)."""
    found, children, dups = _scan(obj)
    client, nested = _find_client(found, children, trace)
    return _normalize_found(obj, found, children, dups, client, nested, received_at, trace)


TIME_TIE = object()  # two spellings of the best time name: the caller settles which

# a client text found in display form -> its casefold, or "" when that is the text itself;
# clients repeat from event to event (bounded: past the bound it starts afresh)
_DISPLAY_CLIENT_KEYS: dict[str, str] = {}
_DISPLAY_CLIENT_KEYS_MAX = 8192


def normalize_with_time_value(obj: dict, *, received_at: str) -> tuple[NormalizedEvent, object]:
    """``normalize``, and what its one scan of the keys found for the time at the top level:
    the value of the best-ranked time name that is not an object, None when there is none,
    or ``TIME_TIE`` when two spellings of that name tie (normalization takes the first;
    ``fingerprint.time_bucket`` must not depend on key order and takes the smallest)."""
    found, children, dups = _scan(obj)
    # _find_client's common case, without its call: a client text already in display form
    hit = found[_CLIENT]
    if hit is not None:
        client = hit[2]
        nested = None
    else:
        nested, pick = _one_level_down(children, None, _CLIENT)
        client = pick[1][2] if pick is not None else None
    client_key = _DISPLAY_CLIENT_KEYS.get(client) if type(client) is str else None
    if client_key is None:
        if _in_display_form(client):
            client_key = client.casefold()
            if client_key == client:
                client_key = ""
            if len(_DISPLAY_CLIENT_KEYS) >= _DISPLAY_CLIENT_KEYS_MAX:
                _DISPLAY_CLIENT_KEYS.clear()
            _DISPLAY_CLIENT_KEYS[client] = client_key
        else:  # not in display form, or no client: the general way says which
            client, nested = _find_client(found, children)
    event = _normalize_found(obj, found, children, dups, client, nested, received_at, None,
                             client_key)
    if dups is not None and any(role == _TIME for role, _, _ in dups):
        return event, TIME_TIE
    hit = found[_TIME]
    return event, (hit[2] if hit is not None else None)


def _normalize_found(obj: dict, found: list, children: list | None, dups: list | None,
                     client: str, nested: list | None, received_at: str,
                     trace: dict | None = None, client_key: str | None = None
                     ) -> NormalizedEvent:
    """The rest of ``normalize`` once ``obj`` is scanned and its client found (the schema
    registry finds the client first, then hands the event here when no mapping applies).
    ``client_key``, when known: the client's casefold, or "" when that is ``client`` itself."""
    warnings: list[str] = []
    amount_found = found
    hit = found[_AMOUNT]
    if hit is not None:
        _, amount_key, value = hit
        amount_field = amount_key
    else:
        nested, pick = _one_level_down(children, nested, _AMOUNT)
        if pick is not None:
            parent, hit, amount_found = pick
            _, amount_key, value = hit
            amount_field = f"{parent}.{amount_key}"
    if hit is not None:
        if trace is not None:
            trace["amount"] = (amount_field, value, name_rule(
                AMOUNT_NAMES, amount_key, amount_field[:-len(amount_key) - 1] or None, "amount"))
        if type(value) is int and -_INT_LIMIT < value < _INT_LIMIT:
            amount, currency = Decimal(value), None
            if trace is not None:
                trace["reading"] = {"how": "a JSON integer: exact"}
        elif type(value) is str:
            reading = _AMOUNT_TEXTS.get(value) if trace is None else None
            if reading is None:
                reading = _parse_amount_text(value, amount_field, trace)
            amount, currency = reading
        else:
            amount, currency = _parse_amount_value(value, amount_field, trace)
    else:
        hit = found[_CENTS]
        if hit is not None:
            _, amount_key, value = hit
            amount_field = amount_key
        else:
            nested, pick = _one_level_down(children, nested, _CENTS)
            if pick is None:
                raise _reject(RejectCode.NO_AMOUNT, _NO_AMOUNT_MESSAGE)
            parent, (_, amount_key, value), amount_found = pick
            amount_field = f"{parent}.{amount_key}"
        if trace is not None:
            parent = amount_field[:-len(amount_key) - 1]
            name = AMOUNT_NAMES[_key_info(amount_key)[1]] + "_cents"
            trace["amount"] = (amount_field, value, (
                f'heuristic: cents field "{amount_key}"'
                + (f' (read as "{name}")' if name != amount_key else "")
                + ", as no amount name is present"
                + (f'; one level down in "{parent}"' if parent else "")))
        amount, currency = _parse_cents(value, amount_field, trace), None
    currency_hit = amount_found[_CURRENCY]
    if currency_hit is None and amount_found is not found:
        # {"order": {"total": 75}, "currency": "USD"}: a top-level currency covers a nested amount
        currency_hit, prefix = found[_CURRENCY], ""
    else:
        # the currency sits beside the amount, so it shares the amount's parent, if any
        prefix = amount_field[: len(amount_field) - len(amount_key)]
    if currency_hit is not None or trace is not None:  # else: the amount's own currency
        currency = currency_beside(currency_hit, prefix, currency, value, amount_field, trace)

    hit = found[_TIME]
    if hit is not None:
        _, time_field, when = hit
    else:
        nested, pick = _one_level_down(children, nested, _TIME)
        if pick is not None:
            parent, hit, _ = pick
            _, time_key, when = hit
            time_field = f"{parent}.{time_key}"
    if hit is None:
        event_time = _receipt_time(received_at)
        warnings.append("no event time; used the time of receipt")
        if trace is not None:
            trace["time"] = (None, None, "no time field (looked for " + ", ".join(TIME_NAMES)
                             + "): the time of receipt")
    else:
        kind = type(when)
        if kind is int and -_SECONDS_BELOW < when < _SECONDS_BELOW:
            event_time = _time_from_seconds(when)  # the commonest case, without two more calls
            if trace is not None:
                trace["time_read"] = "whole epoch seconds"
        elif kind is int and _SECONDS_BELOW <= when < _MILLIS_BELOW and trace is None:
            event_time = _time_from_micros(when * 1_000)  # epoch milliseconds, as parse_time
        elif kind is str:
            remembered = _TEXT_TIME.get(when)  # parse_time's own cache, read here
            if remembered is not None and trace is None:
                event_time = remembered[0]
            else:
                event_time = _time_from_text(when, trace)
        else:
            event_time = parse_time(when, trace)
        if trace is not None:
            rule = name_rule(TIME_NAMES, hit[1], time_field[:-len(hit[1]) - 1] or None, "time")
            read = trace.pop("time_read", None)
            trace["time"] = (time_field, when, rule + (
                f"; read as {read}" if event_time is not None
                else "; not a recognised time: the time of receipt"))
        if event_time is None:
            event_time = _receipt_time(received_at)
            warnings.append(
                f'time {_show(when)} in field "{time_field}" is not a recognised time; '
                "used the time of receipt"
            )

    hit = found[_IDEMPOTENCY]
    idempotency_key = _idempotency_key(obj, hit, warnings, trace) if hit is not None else None

    if dups is not None:
        same = [(first, second) for role, first, second in dups
                if found[role] is not None and found[role][1] == first]
        # a hostile event may spell one field 100,000 ways: its warnings stay a few lines
        for first, second in same[:_MAX_SAME_FIELD_WARNINGS]:
            warnings.append(f"fields {_show(first)} and {_show(second)} mean the same; "
                            f"used {_show(first)}")
        if len(same) > _MAX_SAME_FIELD_WARNINGS:
            warnings.append(f"{len(same) - _MAX_SAME_FIELD_WARNINGS:,} more fields repeat "
                            "fields already used; the first spelling of each was used")

    if client_key is None:
        client_key = client.casefold()
        if client_key == client:  # one object: pickled once between processes, not twice
            client_key = client
    elif not client_key:
        client_key = client
    return _new(NormalizedEvent, (  # not NormalizedEvent(): its __new__ is Python code
        client, client_key, amount, currency, event_time, idempotency_key, tuple(warnings)))
