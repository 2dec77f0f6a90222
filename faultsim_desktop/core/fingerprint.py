"""Canonical JSON of a parsed event and its SHA-256 fingerprint.

Like sqlite-utils' ``hash_record``: keys sorted, no insignificant whitespace, strings as UTF-8
(so escaping does not matter), and numbers written in one canonical form so that numerically
equal numbers (``1``, ``1.0``, ``1e0``; ``12.50``, ``12.5``) hash alike.
"""
from __future__ import annotations

import hashlib
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal

import orjson

from .normalize import time_rank

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_PLAIN_EXPONENT_LIMIT = 100  # beyond this a number is written in normalized E-notation
# normalize() rounds to its context: the default one (28 digits, exponents to 999999) would
# give 0.1234567890123456789012345678901 and ...902 one fingerprint, and fail on 1e1000000.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


class NotCanonicalizable(ValueError):
    """The value cannot be written as canonical UTF-8 JSON (e.g. a lone surrogate)."""


def canonical_number(value: int | Decimal) -> str:
    """One text per numeric value: integers plain, others plain without trailing zeros."""
    if isinstance(value, int):
        return str(value)
    d = value.normalize(_EXACT)
    if d.is_zero():
        return "0"
    if -_PLAIN_EXPONENT_LIMIT <= d.adjusted() <= _PLAIN_EXPONENT_LIMIT:
        return format(d, "f")
    return str(d)


def _default(value):
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise NotCanonicalizable(f"non-finite number {value}")
        return orjson.Fragment(canonical_number(value).encode("ascii"))
    if isinstance(value, int):  # ints beyond 64 bits reach here only via _widen
        return orjson.Fragment(str(value).encode("ascii"))
    raise NotCanonicalizable(f"cannot canonicalize {type(value).__name__}")


def _widen(value):
    """Big ints become Decimals so orjson hands them to ``_default`` instead of failing."""
    if type(value) is int and not (_INT64_MIN <= value <= _INT64_MAX):
        return Decimal(value)
    if type(value) is dict:
        return {k: _widen(v) for k, v in value.items()}
    if type(value) is list:
        return [_widen(v) for v in value]
    return value


def canonical_json(obj) -> bytes:
    """Canonical UTF-8 bytes of a parsed JSON value (ints and Decimals for numbers)."""
    try:
        return orjson.dumps(obj, default=_default, option=orjson.OPT_SORT_KEYS)
    except NotCanonicalizable:
        raise
    except TypeError as exc:
        if "64-bit" in str(exc):
            return canonical_json(_widen(obj))
        if "surrogates" in str(exc) or "UTF-8" in str(exc):
            raise NotCanonicalizable("text contains an unpaired surrogate escape") from exc
        raise NotCanonicalizable(str(exc)) from exc


def fingerprint(obj) -> bytes:
    """SHA-256 (32 raw bytes) of the canonical form."""
    return hashlib.sha256(canonical_json(obj)).digest()


_NOT_DIGITS = bytes(b for b in range(256) if not 0x30 <= b <= 0x39)
_BUCKET_DIGITS = 18  # below 10**18: always a signed 64-bit SQLite INTEGER
_BUCKET_LOW, _BUCKET_HIGH = -(1 << 63), 1 << 63


def time_bucket(obj: dict) -> int:
    """A number read off the event's own time field: the first part of the SQLite store's
    UNIQUE key, (time_bucket, fingerprint), so that events arriving roughly in time order
    insert next to each other in that index instead of at random places all over it (inserts
    at random places grow slower as the index outgrows the page cache: docs/benchmarks.md).

    It must never split two events with equal fingerprints: it is a pure function of the
    canonical content, with no reference to key order or to any parser that may change.
    The top-level key whose name is a time name (``ts``, ``timestamp``, ...) and whose value
    is not an object gives it (the best-ranked name, as normalization picks it; among
    spellings of one name, the smallest key); see ``bucket_of`` for the value. No such key: 0.
    """
    best_rank = best_key = None
    value = None
    for key, v in obj.items():
        rank = time_rank(key)
        if rank is not None and type(v) is not dict and (
                best_rank is None or rank < best_rank or (rank == best_rank and key < best_key)):
            best_rank, best_key, value = rank, key, v
    return bucket_of(value)


def bucket_of(value) -> int:
    """A time value's bucket: a number as its integer part (toward zero; 0 beyond 64 bits), a
    string as the number its first 18 ASCII digits make (within its first 64 characters),
    anything else 0."""
    kind = type(value)
    if kind is str:
        digits = value[:64].encode("utf-8", "surrogatepass").translate(None, _NOT_DIGITS)
        return int(digits[:_BUCKET_DIGITS]) if digits else 0
    # numerically equal numbers (1e9, 1000000000) share a fingerprint, so they share this too
    if ((kind is int or (kind is Decimal and value.is_finite()))
            and _BUCKET_LOW < value < _BUCKET_HIGH):
        return int(value)
    return 0
