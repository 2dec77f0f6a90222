"""JSON Lines chunks through the whole CPU stage (parse, fingerprint, normalize) in one pass
per line: what worker processes run on the bulk of every file.

What it saves over running the stages one after another:

- The common line is decoded without the duplicate-key hook (a Python call per object) and
  the canonical form the fingerprint hashes proves it free of duplicate keys instead: every
  key has its colon, and the canonical form writes every colon of a string as it is, so a
  line with as many colons as its canonical form has no key that collapsed into another.
  Only a ``\\u003a`` escape spells a colon: lines with ``\\u003`` go the general way, as do
  lines the proof fails for (there the general way rejects the duplicate with its line and
  column).
- A line that repeats an earlier line of the same chunk byte for byte (a retry sent again as
  it was) gets that line's row with its own line number, not a second pass.
- One pass over the chunk tells whether any line holds more brackets than the depth limit
  allows; when none does, no line counts its own.
- Equal client, currency, time and warnings values of a chunk are one object, which the
  payload sent back to the parent writes once (``pipeline.process_chunk_packed``).

The elements of a JSON array (and objects one after another), which the stream splitter
cuts into items, go the same one pass (``process_items``).

The rows are the ones ``prepare_one`` makes of each candidate ``parse_chunk`` finds.
"""
from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import orjson

from .fingerprint import _BUCKET_HIGH, _BUCKET_LOW, _default, bucket_of, time_bucket
from .model import Candidate, RejectedEvent, Rejection
from .normalize import TIME_TIE, normalize_with_time_value
from .parsing.decode import _FAST_SCAN, _decode, _reject_constant
from .parsing.lines import _DIGIT_MAP, _LONG_RUN_MARK, _QUICK_CHARS, _other_line, _parse_lines_bytes
from .parsing.scan import MAX_DEPTH, _LINE_BREAK
from .parsing.splitter import _item_candidate
from .schemas import Registry, normalize_event

__all__ = ["process_items", "process_lines", "rejected_row"]

# parsing.decode's fast scanner without its duplicate-key hook: the colon count stands in
_SCAN_NO_HOOK = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant).scan_once
_SORT_KEYS = orjson.OPT_SORT_KEYS
_new = tuple.__new__
# A chunk without its other bytes, "[" read as "{" and every line break as "\n": a line
# with more than MAX_DEPTH brackets is a run of more than MAX_DEPTH "{" there ("{" and "["
# are never part of a longer UTF-8 sequence).
_BRACKET_MAP = bytes(0x7B if b == 0x5B else 0x0A if b == 0x0D else b for b in range(256))
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"{[\r\n")
_DEEP_RUN = b"{" * (MAX_DEPTH + 1)


def rejected_row(text, source: str, line: int, column: int, rejection: Rejection,
                 fp: bytes | None = None) -> tuple:
    """The row (without its import tag) of a rejected event, as ``prepare_one`` makes it: the
    rejection placed at the event's own line and column when it names none."""
    if rejection.line is None:
        rejection = Rejection(rejection.code, rejection.message, line, column)
    return (text, source, line, column, fp, None, None, None, None, None, None, (),
            rejection.code.value, str(rejection), None, None, None)


def process_lines(data: bytes, source: str, line: int, offset: int, received_at: str,
                  registry: Registry | None, out: list, prepare_candidate) -> None:
    """Append to ``out`` the row (without its import tag) of every event of a JSON Lines
    chunk (``Chunk.data``, whose first line is ``line``, at byte ``offset``).
    ``prepare_candidate(c, out)`` appends the row of a candidate that the fast lane leaves to
    the general path."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        for c in _parse_lines_bytes(data, source, line, offset):
            prepare_candidate(c, out)
        return
    lines = _LINE_BREAK.split(text) if "\r" in text else text.split("\n")
    quick, shallow = _chunk_checks(data)
    append = out.append
    seen: dict[str, tuple] = {}  # line text -> its accepted row, within this chunk
    # equal texts as one object: the rows pickle them once (memo references after that)
    shared: dict = {}
    share = shared.setdefault
    buckets: dict[str, int] = {}  # a time text -> its bucket (events share their seconds)
    for s in lines:
        if not s:
            line += 1
            continue
        if s[0] != "{":
            found: list[Candidate] = []
            _other_line(s, line, source, found)
            for c in found:
                prepare_candidate(c, out)
            line += 1
            continue
        row = seen.get(s)
        if row is not None:
            append(row[:2] + (line,) + row[3:])
            line += 1
            continue
        if not (quick and len(s) < _QUICK_CHARS
                and (shallow or s.count("{") + s.count("[") <= MAX_DEPTH)):
            prepare_candidate(_decode(s, line, 1, source, 0), out)
            line += 1
            continue
        row = _object_row(s, source, line, 1, received_at, registry, share, buckets)
        if row is None:
            # the general way, exactly as parsing.lines reads the line
            try:
                obj, end = _FAST_SCAN(s, 0)
            except Exception:  # noqa: BLE001 - _decode turns it into a rejection
                obj = end = None
            if end == len(s) and type(obj) is dict:
                prepare_candidate(_new(Candidate, (s, source, line, 1, obj, None)), out)
            else:
                prepare_candidate(_decode(s, line, 1, source, 0), out)
            line += 1
            continue
        append(row)
        if row[12] is None:  # accepted: a retry of the line sent as it was reuses it
            seen[s] = row
        line += 1


def process_items(items, source: str, received_at: str, registry: Registry | None,
                  out: list, prepare_candidate) -> None:
    """``process_lines`` for the items of a chunk that the stream splitter cut (the elements
    of a JSON array, or objects one after another): each object the same one pass, at its
    own line and column; anything else (``_item_candidate``) to ``prepare_candidate``."""
    texts = [item[0] for item in items if item[4] is None and type(item[0]) is str]
    quick, shallow = _chunk_checks("".join(texts).encode("utf-8", "surrogateescape"))
    append = out.append
    seen: dict[str, tuple] = {}  # an object's text -> its accepted row, within this chunk
    shared: dict = {}
    share = shared.setdefault
    buckets: dict[str, int] = {}
    for item in items:
        s, line, column, index, rejection = item
        if (not quick or rejection is not None or type(s) is not str or not s
                or s[0] != "{" or len(s) >= _QUICK_CHARS
                or not (shallow or s.count("{") + s.count("[") <= MAX_DEPTH)):
            prepare_candidate(_item_candidate(item, source), out)
            continue
        row = seen.get(s)
        if row is not None:
            append(row[:2] + (line, column) + row[4:])
            continue
        row = _object_row(s, source, line, column, received_at, registry, share, buckets)
        if row is None:
            prepare_candidate(_item_candidate(item, source), out)
            continue
        append(row)
        if row[12] is None:
            seen[s] = row


def _chunk_checks(data: bytes) -> tuple[bool, bool]:
    """Checks that are cheap over a whole chunk and let its events skip them, as in
    parsing.lines: (no run of digits long enough to need counting and no surrogate escape;
    no event with more than MAX_DEPTH brackets)."""
    quick = (_LONG_RUN_MARK not in data.translate(_DIGIT_MAP)
             and b"\\ud" not in data and b"\\uD" not in data)
    return quick, _DEEP_RUN not in data.translate(_BRACKET_MAP, _NOT_BRACKET)


def _object_row(s: str, source: str, line: int, column: int, received_at: str,
                registry: Registry | None, share, buckets: dict) -> tuple | None:
    """The row (without its import tag) of the event whose text ``s`` is a JSON object that
    the chunk's checks let through (short, shallow, no long digit runs or surrogate escapes),
    or None when it is not proved a well-formed object free of duplicate keys: the general
    way reads it then."""
    if "\\u003" in s:  # an escape here may spell a colon (\u003a)
        return None
    try:
        obj, end = _SCAN_NO_HOOK(s, 0)
        if end != len(s) or type(obj) is not dict:
            return None
        canon = orjson.dumps(obj, default=_default, option=_SORT_KEYS)
    except Exception:  # noqa: BLE001 - the general way says what is wrong
        return None
    if s.count(":") != canon.count(b":"):
        return None
    try:
        if registry is None:  # normalization's scan of the keys serves the bucket too
            ev, value = normalize_with_time_value(obj, received_at=received_at)
            version = None
            kind = type(value)
            if kind is str:
                bucket = buckets.get(value)
                if bucket is None:
                    bucket = buckets[value] = bucket_of(value)
            elif kind is int and _BUCKET_LOW < value < _BUCKET_HIGH:
                bucket = value  # bucket_of's integer part of an int
            elif value is None:
                bucket = 0
            else:
                bucket = time_bucket(obj) if value is TIME_TIE else bucket_of(value)
        else:
            ev, version = normalize_event(obj, received_at=received_at, registry=registry)
            bucket = time_bucket(obj)
    except RejectedEvent as exc:
        return rejected_row(s, source, line, column, exc.rejection,
                            hashlib.sha256(canon).digest())
    client, client_key, amount, currency, event_time, idem, warnings = ev
    if client_key is client:  # a client already in case-folded form: one shared object
        client = client_key = share(client, client)
    else:
        client = share(client, client)
        client_key = share(client_key, client_key)
    # str() is format(amount, "f") unless it chose an exponent (and costs less)
    amount_text = str(amount)
    return (s, source, line, column, hashlib.sha256(canon).digest(), client, client_key,
            amount_text if "E" not in amount_text and "e" not in amount_text
            else format(amount, "f"), currency and share(currency, currency),
            share(event_time, event_time) if event_time else received_at, idem,
            warnings and share(warnings, warnings), None, None, None, version, bucket)
