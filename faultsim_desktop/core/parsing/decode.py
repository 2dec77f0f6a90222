"""The text of one JSON value -> a candidate event, or a typed rejection placed in the input."""
from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from ..model import Candidate, RejectCode
from .messages import _kind, _reject, _stray, _syntax_rejection, _too_large
from .scan import (
    MAX_DEPTH, MAX_EVENT_BYTES, MAX_NUMBER_DIGITS, _LONE_SURROGATE_ESCAPE, _LONG_RUN, _NON_FINITE,
    _NUMBER, _NUMBER_OUTSIDE_STRINGS, _RAW_SURROGATE, _WS, _clip, _too_deep_at, _utf8_len, _where,
)

__all__ = ["decode_value"]


class _Problem(Exception):
    """Raised from a decoder hook; carries a typed rejection without a position yet."""

    def __init__(self, code: RejectCode, message: str, needle: re.Pattern | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.needle = needle


def _pairs_to_dict(pairs: list) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                break
            seen.add(key)
        shown = json.dumps(key, ensure_ascii=False)
        raise _Problem(RejectCode.DUPLICATE_KEY,
                       f"the key {_clip(shown)} appears twice in one object",
                       re.compile(re.escape(shown) + r"\s*:"))
    return d


def _reject_constant(name: str):
    raise _Problem(RejectCode.NON_FINITE_NUMBER,
                   f"{name} is not JSON: write a number or null", _NON_FINITE)


def _digits(s: str) -> int:
    return sum(ch.isdigit() for ch in s) if len(s) < 200 else len(re.findall(r"[0-9]", s))


def _too_long(n: int) -> _Problem:
    return _Problem(RejectCode.NUMBER_TOO_LONG,
                    f"a number with {n} digits is too long (the limit is {MAX_NUMBER_DIGITS})",
                    _NUMBER)


def _checked_int(s: str) -> int:
    n = len(s) - (s[0] == "-")
    if n > MAX_NUMBER_DIGITS:
        raise _too_long(n)
    return int(s)


def _checked_decimal(s: str) -> Decimal:
    n = _digits(s)
    if n > MAX_NUMBER_DIGITS:
        raise _too_long(n)
    return Decimal(s)


def _huge_exponent(s: str) -> bool:
    try:
        Decimal(s)
    except InvalidOperation:
        return True
    return False


_FAST_SCAN = json.JSONDecoder(object_pairs_hook=_pairs_to_dict, parse_float=Decimal,
                              parse_constant=_reject_constant).scan_once
_SLOW_SCAN = json.JSONDecoder(object_pairs_hook=_pairs_to_dict, parse_float=_checked_decimal,
                              parse_int=_checked_int, parse_constant=_reject_constant).scan_once


def _has_lone_surrogate(obj) -> bool:
    stack = [obj]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k, x in v.items():
                if not k.isascii():
                    try:
                        k.encode("utf-8")
                    except UnicodeEncodeError:
                        return True
                stack.append(x)
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str) and not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def decode_value(text: str, *, line: int = 1, column: int = 1, source: str = "pasted") -> Candidate:
    """Decode the text of ONE JSON value that should be an event object.

    ``line``/``column`` say where ``text`` starts in the whole input; every position in a
    rejection is in the whole input. Never raises.
    """
    return _decode(text, line, column, source, 0)


def _decode(text: str, line: int, column: int, source: str, index: int) -> Candidate:
    n = len(text)
    if n > MAX_EVENT_BYTES // 4 and _utf8_len(text) > MAX_EVENT_BYTES:
        return _too_large(text, source, line, column, _utf8_len(text))
    i = 0
    if n and text[0] in " \t\r\n":
        i = _WS.match(text).end()
        if i == n:
            return _reject(text, source, line, column, RejectCode.INVALID_JSON,
                           "expected an event object, found only whitespace")
        line, column = _where(text, i, line, column)
        text = text[i:]
        n -= i
    if text.count("{") + text.count("[") > MAX_DEPTH:
        deep = _too_deep_at(text, 0)
        if deep is not None:
            return _reject(text, source, line, column, RejectCode.TOO_DEEP,
                           f"nesting is deeper than {MAX_DEPTH} levels",
                           _where(text, deep, line, column))
    try:
        obj, end = (_SLOW_SCAN if _LONG_RUN.search(text) else _FAST_SCAN)(text, 0)
    except StopIteration as exc:
        return Candidate(text, source, line, column,
                         rejection=_syntax_rejection(text, exc.value, "Expecting value", line,
                                                     column))
    except json.JSONDecodeError as exc:
        return Candidate(text, source, line, column,
                         rejection=_syntax_rejection(text, exc.pos, exc.msg, line, column))
    except _Problem as exc:
        return _problem(text, source, line, column, exc)
    except RecursionError:
        return _reject(text, source, line, column, RejectCode.TOO_DEEP,
                       f"nesting is deeper than {MAX_DEPTH} levels")
    except InvalidOperation:  # valid JSON, but Decimal holds exponents of 18 digits at most
        m = next((x for x in _NUMBER_OUTSIDE_STRINGS.finditer(text)
                  if x.group(1) and _huge_exponent(x.group(1))), None)
        return _reject(text, source, line, column, RejectCode.NUMBER_TOO_LONG,
                       f"the exponent of the number {_clip(m.group(1) if m else '', 30)} is too "
                       "large (the limit is 18 digits)",
                       _where(text, m.start(), line, column) if m else None)
    except ValueError as exc:  # int() over its digit limit; cannot happen after the checks above
        return _reject(text, source, line, column, RejectCode.NUMBER_TOO_LONG, str(exc))
    except Exception as exc:  # noqa: BLE001 - no input may crash the engine
        return _reject(text, source, line, column, RejectCode.INVALID_JSON,
                       f"could not be read: {type(exc).__name__}")
    if end != n:
        j = _WS.match(text, end).end()
        if j != n:
            return _reject(text, source, line, column, RejectCode.INVALID_JSON,
                           _stray(text[j]) or "extra data after the event (one event per "
                           "line, or wrap several in [ ])", _where(text, j, line, column))
    if type(obj) is not dict:
        what = f"array element {index}" if index else "the value"
        return _reject(text, source, line, column, RejectCode.NOT_AN_OBJECT,
                       f"{what} is {_kind(obj)}, not an event object {{...}}")
    if "\\ud" in text or "\\uD" in text or (not text.isascii() and _RAW_SURROGATE.search(text)):
        if _has_lone_surrogate(obj):
            m = _LONE_SURROGATE_ESCAPE.search(text) or _RAW_SURROGATE.search(text)
            at = _where(text, m.start(), line, column) if m else None
            return _reject(text, source, line, column, RejectCode.UNPAIRED_SURROGATE,
                           "a lone surrogate (\\ud800-\\udfff without its pair) cannot be "
                           "stored as UTF-8", at)
    return Candidate(text, source, line, column, obj=obj)


def _problem(text: str, source: str, line: int, column: int, exc: _Problem) -> Candidate:
    at = None
    if exc.needle is not None:
        matches = exc.needle.finditer(text)
        m = None
        if exc.code is RejectCode.DUPLICATE_KEY:
            m = next(matches, None)
            m = next(matches, m)
        elif exc.code is RejectCode.NUMBER_TOO_LONG:
            m = next((x for x in matches if _digits(x.group()) > MAX_NUMBER_DIGITS), None)
        else:
            m = next(matches, None)
        if m is not None:
            at = _where(text, m.start(), line, column)
    return _reject(text, source, line, column, exc.code, exc.message, at)
