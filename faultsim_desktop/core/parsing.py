"""Raw text or bytes -> candidate events, each with the line and column where it starts.

Two modes. When the first non-blank line is a complete JSON value by itself the input is JSON
Lines: every line is one event (or one array of events) and a broken line is rejected alone.
Otherwise it is a stream of values (pretty-printed objects one after another, or a top-level
array that may span gigabytes): a string-aware structural scanner finds the extent of each value
and splits a top-level array into its elements.

Files stream in ``Chunk``s of about a mebibyte: ``iter_chunks`` does the cheap sequential work
(finding line or value boundaries) and ``parse_chunk`` the expensive decoding, so chunks can be
shipped to worker processes. Memory stays flat: nothing ever holds more than about two chunks
plus one event (an event over the limit keeps only a 64 KiB prefix).
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import typing
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .model import Candidate, RejectCode, Rejection

__all__ = [
    "MAX_EVENT_BYTES", "MAX_DEPTH", "MAX_NUMBER_DIGITS", "Chunk", "decode_value", "split_text",
    "iter_chunks", "parse_chunk", "iter_file", "first_error", "not_json_text",
]

MAX_EVENT_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 100
PREFIX_CHARS = 64 * 1024  # what an over-limit event keeps as its text

_BOM = b"\xef\xbb\xbf"
_DEFAULT_CHUNK = 1 << 20

# One item of a stream-mode chunk: (text, line, column, array element number or 0, rejection).
Item = tuple[str | bytes, int, int, int, Rejection | None]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A picklable slice of one input, ready for ``parse_chunk`` in any process.

    JSON Lines mode fills ``data`` (complete lines, starting at ``line`` and byte ``offset``);
    stream mode and over-limit lines fill ``items`` (value texts already cut out, with their
    positions, or rejections found while splitting). ``offset`` is exact for ``data``; for
    ``items`` it is the byte offset of the read that produced them (for progress only).
    ``refused`` marks the one chunk of an input refused as a whole (UTF-16, not JSON text).
    """

    source: str
    line: int
    offset: int
    data: bytes = b""
    items: tuple[Item, ...] = ()
    refused: bool = False


# ---------------------------------------------------------------------------------------------
# Regular expressions: they jump over uninteresting text in C instead of a Python loop per char.

_WS = re.compile(r"[ \t\r\n]*")
_WS_INLINE = re.compile(r"[ \t]*")
# Everything up to the next bracket or the next string that does not close on its line. JSON
# strings cannot hold a raw line break, so a string ends at one structurally: the scanner
# resynchronises at every line and a lost quote cannot swallow the rest of the input.
_SKIP = re.compile(r'[^"{}\[\]]*(?:"[^"\\\r\n]*(?:\\[^\r\n][^"\\\r\n]*)*"[^"{}\[\]]*)*')
_STR_BODY = re.compile(r'[^"\\\r\n]*(?:\\[^\r\n][^"\\\r\n]*)*')
_TOKEN = re.compile(r'[^ \t\r\n\[\]{},:"]*')
_SCALAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null")
_NEXT_OPEN_LINE = re.compile(r"[\r\n][ \t]*[{\[]")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_BREAK_B = re.compile(rb"\r\n|\r|\n")
# A number with more than 100 digits has a run of at least 34 (integer, fraction, exponent).
_LONG_RUN = re.compile(r"[0-9]{34}")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_NUMBER_OUTSIDE_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|(' + _NUMBER.pattern + ")")
_NON_FINITE = re.compile(r'(?<![\w."])-?(?:NaN|Infinity)(?![\w"])')
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # invalid UTF-8 kept by surrogateescape
_RAW_SURROGATE = re.compile("[\ud800-\udfff]")
_LONE_SURROGATE_ESCAPE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


# ---------------------------------------------------------------------------------------------
# Decoders


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


def _checked_int(s: str) -> int:
    n = len(s) - (s[0] == "-")
    if n > MAX_NUMBER_DIGITS:
        raise _Problem(RejectCode.NUMBER_TOO_LONG,
                       f"a number with {n} digits is too long (the limit is "
                       f"{MAX_NUMBER_DIGITS})", _NUMBER)
    return int(s)


def _checked_decimal(s: str) -> Decimal:
    n = _digits(s)
    if n > MAX_NUMBER_DIGITS:
        raise _Problem(RejectCode.NUMBER_TOO_LONG,
                       f"a number with {n} digits is too long (the limit is "
                       f"{MAX_NUMBER_DIGITS})", _NUMBER)
    return Decimal(s)


def _huge_exponent(s: str) -> bool:
    try:
        Decimal(s)
    except InvalidOperation:
        return True
    return False


def _ignore(_s):
    return 0


_FAST_SCAN = json.JSONDecoder(object_pairs_hook=_pairs_to_dict, parse_float=Decimal,
                              parse_constant=_reject_constant).scan_once
_SLOW_SCAN = json.JSONDecoder(object_pairs_hook=_pairs_to_dict, parse_float=_checked_decimal,
                              parse_int=_checked_int, parse_constant=_reject_constant).scan_once
# Syntax only: used to find where a value that does not close went wrong.
_SYNTAX_SCAN = json.JSONDecoder(parse_float=_ignore, parse_int=_ignore,
                                parse_constant=_ignore).scan_once


# ---------------------------------------------------------------------------------------------
# Small helpers


def _clip(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[:n] + "…"


def _where(text: str, pos: int, line: int, column: int) -> tuple[int, int]:
    """Line and column of ``text[pos]`` when ``text`` starts at ``line``/``column``."""
    head = text[:pos]
    n = head.count("\n")
    if "\r" in head:
        n += head.count("\r") - head.count("\r\n")
    if n == 0:
        return line, column + pos
    last = max(head.rfind("\n"), head.rfind("\r"))
    return line + n, pos - last


def _utf8_len(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _brackets(text: str, i: int = 0, end: int | None = None) -> Iterator[tuple[int, str]]:
    """Positions of the brackets outside strings in ``text[i:end]``."""
    n = len(text) if end is None else end
    while i < n:
        i = _SKIP.match(text, i, n).end()
        if i >= n:
            return
        c = text[i]
        if c == '"':
            i = _STR_BODY.match(text, i + 1, n).end()
            if i < n and text[i] == '"':
                i += 1
            continue
        yield i, c
        i += 1


def _too_deep_at(text: str, i: int) -> int | None:
    depth = 0
    for pos, c in _brackets(text, i):
        if c in "{[":
            depth += 1
            if depth > MAX_DEPTH:
                return pos
        else:
            depth -= 1
    return None


def _innermost_open(text: str, pos: int) -> tuple[int, str] | None:
    """The innermost bracket still open at ``pos`` (the outermost when nesting is too deep)."""
    stack: list[tuple[int, str]] = []
    for p, c in _brackets(text, 0, pos):
        if c in "{[":
            stack.append((p, c))
        elif stack:
            stack.pop()
    if not stack:
        return None
    return stack[0] if len(stack) > MAX_DEPTH else stack[-1]


def _kind(value) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


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


def _reject(text, source, line, column, code, message, at=None) -> Candidate:
    eline, ecol = at if at is not None else (line, column)
    return Candidate(text, source, line, column, rejection=Rejection(code, message, eline, ecol))


def _too_large(text: str, source: str, line: int, column: int, size: int | None = None,
               note: str = "") -> Candidate:
    size_note = f"{size:,} bytes" if size is not None else "over 1 MiB"
    return _reject(text[:PREFIX_CHARS], source, line, column, RejectCode.TOO_LARGE,
                   f"the event is {size_note}; the limit is {MAX_EVENT_BYTES:,} bytes (1 MiB)"
                   + note)


# ---------------------------------------------------------------------------------------------
# Error messages in plain words


def _syntax_rejection(text: str, pos: int, msg: str, line: int, column: int) -> Rejection:
    """A stdlib decoder error at ``text[pos]`` -> a rejection in plain words, placed in the
    whole input (``text`` starts at ``line``/``column``)."""
    code = RejectCode.INVALID_JSON
    rest = text[pos:pos + 10]
    at_end = pos >= len(text.rstrip())
    if at_end and not msg.startswith(("Unterminated", "Invalid")):
        opened = _innermost_open(text, len(text))
        if opened is not None:
            oline, ocol = _where(text, opened[0], line, column)
            what = "object" if opened[1] == "{" else "array"
            message = (f"unexpected end of input: the {what} opened at line {oline}, column "
                       f"{ocol} is not closed")
        else:
            message = "unexpected end of input"
    elif msg.startswith("Expecting value"):
        before = text[:pos].rstrip()
        if rest.startswith(("NaN", "Infinity", "-Infinity", "-NaN")):
            code, message = (RejectCode.NON_FINITE_NUMBER,
                             "NaN/Infinity is not JSON: write a number or null")
        elif rest[:1] == "'":
            message = "expected a value; single quotes are not JSON"
        elif rest[:1] in ("]", "}") and before.endswith(","):
            message = "expected a value after ',' (a trailing comma is not JSON)"
        elif rest[:1] in ("]", "}", ",", ":"):
            message = f"expected a value, found '{rest[0]}'"
        else:
            message = "expected a value"
    elif msg.startswith(("Expecting property name", "Illegal trailing comma")):
        if rest[:1] == "'":
            message = "expected a key in double quotes; single quotes are not JSON"
        elif rest[:1] == "}" or msg.startswith("Illegal trailing comma"):
            message = "expected a key in double quotes after ',' (a trailing comma is not JSON)"
        else:
            message = "expected a key in double quotes"
    elif msg.startswith("Expecting ':'"):
        message = "expected ':' after the key"
    elif msg.startswith("Expecting ','"):
        opened = _innermost_open(text, pos)
        message = f"expected ',' or '{']' if opened is not None and opened[1] == '[' else '}'}'"
    elif msg.startswith("Unterminated string"):
        message = "unterminated string: the closing '\"' is missing"
    elif msg.startswith("Invalid control character"):
        c = text[pos] if pos < len(text) else " "
        if c == "\x00":
            message = "a raw NUL character is not allowed in a string (write \\u0000)"
        elif c in ("\n", "\r"):
            message = "a string cannot span lines: the closing '\"' is missing"
        elif c == "\t":
            message = "a raw tab is not allowed in a string (write \\t)"
        else:
            message = f"the control character U+{ord(c):04X} is not allowed in a string"
    elif msg.startswith("Invalid \\u"):
        message = "invalid \\u escape: it needs four hex digits"
    elif msg.startswith("Invalid \\escape"):
        message = "invalid escape: a backslash must be followed by one of \" \\ / b f n r t u"
    else:
        message = msg[:1].lower() + msg[1:]
    if code is RejectCode.INVALID_JSON and msg.startswith("Expecting") and pos < len(text):
        message = _stray(text[pos]) or message
    eline, ecol = _where(text, pos, line, column)
    return Rejection(code, message, eline, ecol)


_CONTROL_NAMES = {"\x00": "NUL", "\x0b": "vertical tab", "\x0c": "form feed", "\x85": "next line"}


def _stray(c: str) -> str | None:
    """Plain words for an invisible character where JSON expects a token (else None)."""
    if c == "\ufeff":
        return "a byte order mark (U+FEFF) is allowed only at the very start of the input"
    if c.isspace() or unicodedata.category(c) in ("Cc", "Cf"):
        name = _CONTROL_NAMES.get(c) or unicodedata.name(c, "control character").lower()
        return (f"U+{ord(c):04X} ({name}) is not allowed here: JSON allows only space, tab, "
                "CR and LF between tokens")
    return None


def _syntax_error(text: str) -> tuple[int, str] | None:
    """Where a value's text first breaks JSON syntax, ignoring numbers, depth and semantics."""
    try:
        _SYNTAX_SCAN(text, _WS.match(text).end())
    except StopIteration as exc:
        return exc.value, "Expecting value"
    except json.JSONDecodeError as exc:
        return exc.pos, exc.msg
    except Exception:  # noqa: BLE001 - too deep or huge numbers: not a syntax error
        return None
    return None


# ---------------------------------------------------------------------------------------------
# One value


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


# ---------------------------------------------------------------------------------------------
# Stream mode: the structural splitter

_TOP, _ARR, _VAL, _SKIP_STATE = range(4)
_FIRST, _COMMA, _ELEM = range(3)  # what a top-level array expects next
_FIRST_CHECK = 4096  # an unclosed value is syntax-checked at 4 KiB, 16 KiB, 64 KiB, ...


class _Splitter:
    """Finds the extent of each top-level value (and of each element of a top-level array).

    Fed text piece by piece; returns items ``(text, line, column, element, rejection)``. Holds
    only the value being scanned (an over-limit one as a 64 KiB prefix). All positions are
    absolute character offsets; ``buf`` starts at ``base``.
    """

    def __init__(self, line: int = 1, column: int = 1, byte_offset: int = 0):
        self.buf = ""
        self.base = 0
        self.pos = 0
        self.bytes_total = byte_offset
        self.t_abs, self.t_line, self.t_ls = 0, line, -(column - 1)
        self.state = _TOP
        self.out: list[Item] = []
        self.arr_at = (line, column)
        self.expect = _FIRST
        self.count = 0
        self.stray_comma = False
        # the value being scanned
        self.v_start = self.v_line = self.v_col = self.v_index = 0
        self.v_kind = "c"
        self.v_scan = 0
        self.v_depth = 0
        self.v_in_str = False
        self.v_check = 0
        self.v_big = False
        self.v_prefix = ""
        self.v_big_bytes = 0
        # the garbage being skipped
        self.g_rej: Rejection | None = None
        self.g_text = ""
        self.g_at = (line, column)
        self.g_index = 0

    # -- positions

    def _lc(self, a: int) -> tuple[int, int]:
        """Line and column of absolute offset ``a`` (monotonic: ``a`` never goes back)."""
        seg = self.buf[self.t_abs - self.base:a - self.base]
        n = seg.count("\n")
        if "\r" in seg:
            n += seg.count("\r") - seg.count("\r\n")
        if n:
            self.t_line += n
            self.t_ls = self.t_abs + max(seg.rfind("\n"), seg.rfind("\r")) + 1
        self.t_abs = a
        return self.t_line, a - self.t_ls + 1

    def _where_abs(self, a: int) -> tuple[int, int]:
        """Line and column of ``a`` at or after the tracked position, without moving it."""
        seg = self.buf[self.t_abs - self.base:a - self.base]
        return _where(seg, len(seg), self.t_line, self.t_abs - self.t_ls + 1)

    def _byte_pos(self, a: int) -> int:
        tail = self.buf[a - self.base:]
        return self.bytes_total - len(tail.encode("utf-8", "surrogateescape"))

    # -- feeding

    def feed(self, text: str, final: bool = False) -> list[Item]:
        keep = self._keep_from()
        if keep - self.base > 1 << 16:
            self._lc(keep)
            self.buf = self.buf[keep - self.base:]
            self.base = keep
        if text:
            self.buf += text
            self.bytes_total += len(text) if text.isascii() else len(
                text.encode("utf-8", "surrogateescape"))
        self._run(final)
        out, self.out = self.out, []
        return out

    def _keep_from(self) -> int:
        if self.state == _VAL:
            return self.v_scan if self.v_big else self.v_start
        return self.pos

    def _emit(self, text, line, column, index, rej=None) -> None:
        self.out.append((text, line, column, index, rej))

    def _emit_rej(self, a: int, text: str, message: str, code=RejectCode.INVALID_JSON) -> None:
        line, col = self._lc(a)
        self._emit(text, line, col, 0, Rejection(code, message, line, col))

    def _after_value(self, index: int) -> None:
        if index:
            self.state, self.expect = _ARR, _COMMA
        else:
            self.state = _TOP

    # -- the main loop

    def _run(self, final: bool) -> None:
        while True:
            st = self.state
            if st == _VAL:
                if not self._scan_value(final):
                    return
                continue
            if st == _SKIP_STATE:
                if not self._skip(final):
                    return
                continue
            buf, base = self.buf, self.base
            n = len(buf)
            i = _WS.match(buf, self.pos - base).end()
            self.pos = base + i
            if i == n:
                if final and st == _ARR:
                    line, col = self.arr_at
                    self._emit("", line, col, 0, Rejection(
                        RejectCode.INVALID_JSON, f"unexpected end of input: the array opened at "
                        f"line {line}, column {col} is not closed", *self._lc(base + n)))
                    self.state = _TOP
                return
            c = buf[i]
            if st == _TOP:
                if c == "[":
                    self.arr_at = self._lc(base + i)
                    self.state, self.expect, self.count = _ARR, _FIRST, 0
                    self.pos += 1
                elif c in "{\"":
                    self._start_value(i, 0, "c" if c == "{" else "s")
                elif c in "]},:":
                    self._start_skip(i, 0)
                else:
                    self._start_value(i, 0, "t")
                continue
            # inside a top-level array
            if c == "]":
                if self.expect == _ELEM:
                    self._emit_rej(base + i, c, "expected an event after ',' (a trailing comma "
                                   "is not JSON)")
                self.state = _TOP
                self.pos += 1
            elif c == ",":
                if self.expect == _FIRST or (self.expect == _ELEM and not self.stray_comma):
                    self._emit_rej(base + i, c, "expected an event before ','")
                    self.stray_comma = True  # a run of commas is reported once
                self.expect = _ELEM
                self.pos += 1
            elif c in "}:":
                self._emit_rej(base + i, c, f"unexpected '{c}' in the array")
                self.pos += 1
            else:
                if self.expect == _COMMA:
                    self._emit_rej(base + i, c, "expected ',' or ']' between array elements")
                self.count += 1
                self.stray_comma = False
                self._start_value(i, self.count, "c" if c in "{[" else "s" if c == '"' else "t")

    def _start_value(self, i: int, index: int, kind: str) -> None:
        a = self.base + i
        self.v_start = a
        self.v_line, self.v_col = self._lc(a)
        self.v_index, self.v_kind = index, kind
        self.v_depth = 0
        self.v_in_str = kind == "s"
        self.v_scan = a + 1 if kind == "s" else a
        self.v_check = a + _FIRST_CHECK
        self.v_big = False
        self.state = _VAL

    def _scan_value(self, final: bool) -> bool:
        """Advance through the current value; False when more input is needed."""
        buf, base = self.buf, self.base
        n = len(buf)
        vs = self.v_start - base
        j = self.v_scan - base
        depth, in_str, kind = self.v_depth, self.v_in_str, self.v_kind
        while True:
            if in_str:
                j = _STR_BODY.match(buf, j).end()
                if j >= n:
                    break
                c = buf[j]
                if c == "\\":  # a backslash before a line break or the end of what we have
                    if j + 1 >= n:
                        break
                    j += 1
                in_str = False
                if c == '"':
                    j += 1
                if kind == "s":
                    return self._close(j)
                continue
            if kind == "t":
                j = _TOKEN.match(buf, j).end()
                if j >= n:
                    break
                return self._close(j)
            j = _SKIP.match(buf, j).end()
            if j >= n:
                break
            c = buf[j]
            if c == '"':
                in_str = True
                j += 1
                continue
            if c in "{[":
                # A '{' or '[' opening a line directly inside the event is likely the next
                # event after a missing close: check the syntax so far right away.
                check = depth == 1 and _at_line_start(buf, j)
                depth += 1
                j += 1
                if check or base + j >= self.v_check or j - vs > MAX_EVENT_BYTES:
                    self.v_depth, self.v_in_str, self.v_scan = depth, in_str, base + j
                    if self._early_check(j):
                        return True
                continue
            depth -= 1
            j += 1
            if depth == 0:
                return self._close(j)
            if base + j >= self.v_check or j - vs > MAX_EVENT_BYTES:
                self.v_depth, self.v_in_str, self.v_scan = depth, in_str, base + j
                if self._early_check(j):
                    return True
        # the end of what we have, with the value still open
        self.v_depth, self.v_in_str, self.v_scan = depth, in_str, base + j
        if not self.v_big and j - vs > MAX_EVENT_BYTES:
            self._go_big()
        if final:
            self._unclosed()
            return True
        return False

    def _early_check(self, j: int) -> bool:
        """Syntax-check the value so far (cut right after a bracket); True if it was broken."""
        vs = self.v_start - self.base
        if self.v_big:
            return False
        prefix = self.buf[vs:j]
        self.v_check = self.v_start + 4 * len(prefix)
        err = _syntax_error(prefix)
        if err is not None and err[0] < len(prefix):
            self._broken(prefix, err[0], err[1])
            return True
        if len(prefix) > MAX_EVENT_BYTES:
            self._go_big()
        return False

    def _go_big(self) -> None:
        vs = self.v_start - self.base
        self.v_big = True
        self.v_prefix = self.buf[vs:vs + PREFIX_CHARS]
        self.v_big_bytes = self._byte_pos(self.v_start)

    def _close(self, j: int) -> bool:
        base = self.base
        index = self.v_index
        if self.v_big:
            size = self._byte_pos(base + j) - self.v_big_bytes
            cand = _too_large(self.v_prefix, "", self.v_line, self.v_col, size)
            self._emit(cand.text, self.v_line, self.v_col, index, cand.rejection)
            self.v_prefix = ""
        else:
            text = self.buf[self.v_start - base:j]
            if index == 0 and self.v_kind == "t" and not _SCALAR.fullmatch(text):
                self.pos = self.v_start
                self._start_skip(self.v_start - base, 0)
                return True
            rej = self._bad_bytes(text, self.v_start)
            if rej is not None:
                self._emit(text.encode("utf-8", "surrogateescape"), self.v_line, self.v_col,
                           index, rej)
            else:
                self._emit(text, self.v_line, self.v_col, index)
        self.pos = base + j
        self._after_value(index)
        return True

    def _bad_bytes(self, text: str, start: int) -> Rejection | None:
        """Invalid UTF-8 (kept as escaped bytes by the decoder) -> a rejection with its offset."""
        if text.isascii():
            return None
        m = _ESCAPED_BYTE.search(text)
        if m is None:
            return None
        k = m.start()
        at = self._byte_pos(start) + len(text[:k].encode("utf-8", "surrogateescape"))
        line, col = self._where_abs(start + k)
        bad = text[k:k + 2].encode("utf-8", "surrogateescape")
        if bad[:1] == b"\xed" and len(bad) > 1 and 0xA0 <= bad[1] <= 0xBF:
            return Rejection(RejectCode.UNPAIRED_SURROGATE, f"a lone surrogate at byte {at} "
                             "cannot be stored as UTF-8", line, col)
        return Rejection(RejectCode.INVALID_UTF8, f"invalid UTF-8 at byte {at} (save the file "
                         "as UTF-8)", line, col)

    def _broken(self, text: str, p: int, msg: str) -> None:
        """Report a value that breaks JSON at ``text[p]`` and resume as the contract says."""
        buf, base = self.buf, self.base
        vs = self.v_start - base
        rej = _syntax_rejection(text, p, msg, self.v_line, self.v_col)
        pr = vs + p
        ls = max(buf.rfind("\n", vs, pr), buf.rfind("\r", vs, pr)) + 1
        resume: int | None
        if ls > vs and pr < len(buf) and buf[pr] in "{[" and _WS_INLINE.match(buf, ls).end() == pr:
            resume = pr
        else:
            m = _NEXT_OPEN_LINE.search(buf, pr)
            resume = m.end() - 1 if m else None
        end = resume if resume is not None else len(buf)
        vtext = buf[vs:end].rstrip()
        bad = self._bad_bytes(vtext, self.v_start)
        if bad is not None:
            self._emit(vtext[:PREFIX_CHARS].encode("utf-8", "surrogateescape"), self.v_line,
                       self.v_col, self.v_index, bad)
        else:
            self._emit(vtext[:PREFIX_CHARS], self.v_line, self.v_col, self.v_index, rej)
        index = self.v_index
        if resume is not None:
            self.pos = base + resume
            if index:
                self.state, self.expect = _ARR, _ELEM
            else:
                self.state = _TOP
        else:  # look for the next line opening with '{' or '[' in the input still to come
            self.state = _SKIP_STATE
            self.pos = base + pr
            self.g_rej, self.g_text, self.g_index = None, "", index

    def _unclosed(self) -> None:
        """End of input inside a value."""
        if self.v_big:
            cand = _too_large(self.v_prefix, "", self.v_line, self.v_col,
                              note=" (and it is not closed before the end of input)")
            self._emit(cand.text, self.v_line, self.v_col, self.v_index, cand.rejection)
            self.pos = self.base + len(self.buf)
            self.state = _TOP
            return
        text = self.buf[self.v_start - self.base:]
        if self.v_kind != "c":
            self._close(len(self.buf))
            return
        err = _syntax_error(text)
        if err is not None and (err[0] < len(text.rstrip())
                                or err[1].startswith(("Invalid", "Unterminated"))):
            self._broken(text, err[0], err[1])
            return
        rej = _syntax_rejection(text, len(text), "Expecting value", self.v_line, self.v_col)
        # the raw text without the blank lines that end the input, as everywhere else: one bad
        # input is one quarantine entry, whether or not a line break followed it
        text = text.rstrip()
        bad = self._bad_bytes(text, self.v_start)
        if bad is not None:
            self._emit(text.encode("utf-8", "surrogateescape"), self.v_line, self.v_col,
                       self.v_index, bad)
        else:
            self._emit(text, self.v_line, self.v_col, self.v_index, rej)
        self.pos = self.base + len(self.buf)
        self.state = _TOP

    # -- garbage between values

    def _start_skip(self, i: int, index: int) -> None:
        buf = self.buf
        a = self.base + i
        line, col = self._lc(a)
        m = _LINE_BREAK.search(buf, i)
        first_line = buf[i:m.start() if m else len(buf)][:PREFIX_CHARS]
        rej = self._bad_bytes(first_line, a)
        if rej is None:
            rej = _decode(first_line, line, col, "", 0).rejection or Rejection(
                RejectCode.INVALID_JSON, "this is not JSON", line, col)
        self.g_rej, self.g_text, self.g_at, self.g_index = rej, "", (line, col), index
        self.state = _SKIP_STATE
        self.pos = a

    def _skip(self, final: bool) -> bool:
        """Skip to the next line that opens with '{' or '['; False when more input is needed."""
        buf, base = self.buf, self.base
        i = self.pos - base
        m = _NEXT_OPEN_LINE.search(buf, i)
        if m is not None:
            end = m.end() - 1
        elif final:
            end = len(buf)
        else:
            # keep the last line break if only blanks follow it: that line may still open
            k = max(buf.rfind("\n", i), buf.rfind("\r", i))
            end = k if k >= 0 and _WS_INLINE.match(buf, k + 1).end() == len(buf) else len(buf)
            if end > i and len(self.g_text) < PREFIX_CHARS:
                self.g_text += buf[i:end][:PREFIX_CHARS - len(self.g_text)]
            self.pos = base + end
            return False
        if len(self.g_text) < PREFIX_CHARS:
            self.g_text += buf[i:end][:PREFIX_CHARS - len(self.g_text)]
        if self.g_rej is not None:
            text = self.g_text.rstrip()
            if self.g_rej.code in (RejectCode.INVALID_UTF8, RejectCode.UNPAIRED_SURROGATE):
                text = text.encode("utf-8", "surrogateescape")
            line, col = self.g_at
            self._emit(text, line, col, self.g_index, self.g_rej)
        self.g_rej, self.g_text = None, ""
        self.pos = base + end
        if self.g_index:
            self.state, self.expect = _ARR, _ELEM
        else:
            self.state = _TOP
        return True


def _at_line_start(buf: str, j: int) -> bool:
    """Whether only blanks stand between the last line break and ``buf[j]``."""
    k = j - 1
    while k >= 0 and buf[k] in " \t":
        k -= 1
    return k >= 0 and buf[k] in "\r\n"


def _split_values(text: str, line: int, column: int, source: str) -> list[Candidate]:
    sp = _Splitter(line, column)
    return [_item_candidate(it, source) for it in sp.feed(text, final=True)]


def _item_candidate(item: Item, source: str) -> Candidate:
    text, line, column, index, rej = item
    if rej is not None:
        return Candidate(text, source, line, column, rejection=rej)
    return _decode(text, line, column, source, index)


# ---------------------------------------------------------------------------------------------
# JSON Lines mode


_DIGIT_MAP = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN_MARK = b"0" * 34
_QUICK_CHARS = MAX_EVENT_BYTES // 4  # below this a line cannot be over the limit in UTF-8


def _parse_lines(data: bytes, source: str, line: int, offset: int) -> list[Candidate]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _parse_lines_bytes(data, source, line, offset)
    lines = _LINE_BREAK.split(text) if "\r" in text else text.split("\n")
    # Checks that are cheap over the whole chunk decide whether a line may skip them.
    quick = (_LONG_RUN_MARK not in data.translate(_DIGIT_MAP)
             and b"\\ud" not in data and b"\\uD" not in data)
    out: list[Candidate] = []
    append = out.append
    decode = _decode
    scan = _FAST_SCAN
    new = tuple.__new__  # a NamedTuple's own __new__ is Python code: millions of calls
    for s in lines:
        if s:
            if s[0] == "{":
                # the fast path: one C scan; anything unusual goes through _decode
                if quick and len(s) < _QUICK_CHARS and s.count("{") + s.count("[") <= MAX_DEPTH:
                    try:
                        obj, end = scan(s, 0)
                    except Exception:  # noqa: BLE001 - _decode turns it into a rejection
                        obj = end = None
                    if end == len(s) and type(obj) is dict:
                        append(new(Candidate, (s, source, line, 1, obj, None)))
                    else:
                        append(decode(s, line, 1, source, 0))
                else:
                    append(decode(s, line, 1, source, 0))
            else:
                _other_line(s, line, source, out)
        line += 1
    return out


def _other_line(s: str, line: int, source: str, out: list[Candidate]) -> None:
    col = 1
    if s[0] in " \t":
        i = _WS_INLINE.match(s).end()
        if i == len(s):
            return
        s, col = s[i:], i + 1
    if s[0] == "[":
        out.extend(_split_values(s, line, col, source))
    else:
        out.append(_decode(s, line, col, source, 0))


def _parse_lines_bytes(data: bytes, source: str, line: int, offset: int) -> list[Candidate]:
    """The same, line by line, for a chunk with invalid UTF-8 somewhere."""
    out: list[Candidate] = []
    start = 0
    breaks = [(m.start(), m.end()) for m in _LINE_BREAK_B.finditer(data)]
    breaks.append((len(data), len(data)))
    for end, nxt in breaks:
        raw = data[start:end]
        if raw:
            try:
                s = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                out.append(_invalid_utf8(raw, exc.start, offset + start, source, line))
            else:
                if s[0] == "{":
                    out.append(_decode(s, line, 1, source, 0))
                else:
                    _other_line(s, line, source, out)
        start = nxt
        line += 1
    return out


def _invalid_utf8(raw: bytes, k: int, at: int, source: str, line: int) -> Candidate:
    col = len(raw[:k].decode("utf-8", "replace")) + 1
    bad = raw[k:k + 2]
    if bad[:1] == b"\xed" and len(bad) > 1 and 0xA0 <= bad[1] <= 0xBF:
        rej = Rejection(RejectCode.UNPAIRED_SURROGATE,
                        f"a lone surrogate at byte {at + k} cannot be stored as UTF-8", line, col)
    else:
        rej = Rejection(RejectCode.INVALID_UTF8,
                        f"invalid UTF-8 at byte {at + k} (save the file as UTF-8)", line, col)
    return Candidate(raw[:PREFIX_CHARS], source, line, 1, rejection=rej)


# ---------------------------------------------------------------------------------------------
# Inputs that are not JSON text: refused whole, with one message that says what they look like


_SNIFF_BYTES = MAX_EVENT_BYTES  # what of an input is searched for JSON before it is refused
_SAMPLE_BYTES = 8 << 10  # what tells binary from text, and which kind of text
_SCAN_CHUNK = 16 << 10  # the search stops at the first JSON piece: small steps keep that cheap
_PROVES_NOTHING = frozenset({RejectCode.INVALID_JSON, RejectCode.INVALID_UTF8, RejectCode.UTF16,
                             RejectCode.TOO_LARGE})
_CONTROL = re.compile("[\x01-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")  # not tab, CR, LF, FF, ESC
_COMPRESSED = " (decompress it first)"

# (signature, offset, what it looks like, hint); only signatures no JSON text can start with
_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "a PNG image", ""),
    (b"\xff\xd8\xff", 0, "a JPEG image", ""),
    (b"GIF87a", 0, "a GIF image", ""),
    (b"GIF89a", 0, "a GIF image", ""),
    (b"RIFF", 0, "a RIFF media file (WebP, WAV, AVI)", ""),
    (b"II*\x00", 0, "a TIFF image", ""),
    (b"MM\x00*", 0, "a TIFF image", ""),
    (b"%PDF-", 0, "a PDF document", ""),
    (b"PK\x03\x04", 0, "a ZIP archive", ""),
    (b"PK\x05\x06", 0, "a ZIP archive", ""),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "an old Microsoft Office document", ""),
    (b"\x1f\x8b", 0, "a gzip-compressed file", _COMPRESSED),
    *((b"BZh%d" % level, 0, "a bzip2-compressed file", _COMPRESSED) for level in range(1, 10)),
    (b"\xfd7zXZ\x00", 0, "an xz-compressed file", _COMPRESSED),
    (b"\x28\xb5\x2f\xfd", 0, "a zstd-compressed file", _COMPRESSED),
    (b"7z\xbc\xaf\x27\x1c", 0, "a 7-Zip archive", _COMPRESSED),
    (b"Rar!\x1a\x07", 0, "a RAR archive", _COMPRESSED),
    (b"ustar", 257, "a tar archive", " (unpack it first)"),
    (b"SQLite format 3\x00", 0, "an SQLite database", ""),
    (b"PAR1", 0, "a Parquet file", ""),
    (b"ARROW1", 0, "an Arrow file", ""),
    (b"Obj\x01", 0, "an Avro file", ""),
    (b"\x7fELF", 0, "a program (ELF executable)", ""),
    (b"OggS", 0, "an Ogg audio or video file", ""),
)
_ZIP_KINDS = ((b"xl/", "an Excel workbook (a ZIP archive)"),
              (b"word/", "a Word document (a ZIP archive)"),
              (b"ppt/", "a PowerPoint file (a ZIP archive)"))

_HTML = re.compile(r"\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b",
                   re.IGNORECASE | re.DOTALL)
_XML = re.compile(r"\s*<(?:\?xml|!--|[A-Za-z_][\w:.-]*[\s>/])")
_SVG = re.compile(r"<svg\b", re.IGNORECASE)
_MD_STRONG = re.compile(r"#{1,6}\s+\S|```|~~~")
_MD_WEAK = re.compile(r"\s*(?:[-*+]\s+\S|\d{1,3}[.)]\s+\S|>\s?\S)|(?:=+|-{3,})\s*$"
                      r"|.*\[[^\]]+\]\([^)\s]+\)|.*\*\*\S.*?\*\*|\s*\|.*\|\s*$")
_YAML_LINE = re.compile(r"\s*(?:-\s+)?[\w\"' .-]+:(?:\s|$)|\s*-\s+\S|---\s*$|#")
_DELIMITERS = ((",", "CSV text (comma-separated values)"),
               ("\t", "tab-separated text (TSV)"),
               (";", "CSV text (semicolon-separated values)"),
               ("|", "pipe-separated text"))


def not_json_text(head: bytes, complete: bool = True) -> Rejection | None:
    """Why an input that starts with ``head`` is no JSON text at all, or None when it may be
    (``complete``: ``head`` is all of it; its first MiB is looked at).

    A binary signature (PNG, ZIP, PDF, gzip...) refuses it at once. Anything else is refused
    only when no piece of the head parses as a JSON object or array: text with some bad lines
    among good ones is JSON, each bad line rejected alone with its line and column. Text that
    opens with ``{`` or ``[`` is JSON however broken, and costs no second parse.
    """
    if head.startswith(_BOM):
        head = head[3:]
    if not head.strip(b" \t\r\n"):
        return None
    for signature, at, what, hint in _SIGNATURES:
        if head.startswith(signature, at):
            if signature.startswith(b"PK"):
                what = next((w for name, w in _ZIP_KINDS if name in head[:4096]), what)
            return _not_json(what, hint)
    sample = head[:_SAMPLE_BYTES]
    binary = _looks_binary(sample, complete and len(head) <= _SAMPLE_BYTES)
    if not binary and head.lstrip(b" \t\r\n")[:1] in (b"{", b"["):
        return _not_json("an RTF document", "") if _is_rtf(head) else None
    if _holds_json(head, complete):
        return None
    if binary:
        return _not_json("binary data", "")
    return _not_json(_text_kind(sample, complete and len(head) <= _SAMPLE_BYTES), "")


def _opens_as_json(head: bytes, complete: bool) -> bool:
    """The common case, decided on the first 8 KiB: text that opens with ``{`` or ``[``."""
    sample = head[3:_SAMPLE_BYTES + 3] if head.startswith(_BOM) else head[:_SAMPLE_BYTES]
    return (sample.lstrip(b" \t\r\n")[:1] in (b"{", b"[") and not _is_rtf(sample)
            and not _looks_binary(sample, complete))


def _is_rtf(head: bytes) -> bool:
    return head.lstrip(b" \t\r\n").startswith(b"{\\rtf")


def _not_json(what: str, hint: str) -> Rejection:
    return Rejection(RejectCode.NOT_JSON,
                     f"looks like {what}, not JSON{hint}; nothing in it was read")


def _looks_binary(sample: bytes, complete: bool) -> bool:
    """NUL bytes, or more than one character in ten a control character or invalid UTF-8
    (text in another 8-bit encoding, such as Latin-1, stays well below that)."""
    if b"\x00" in sample:
        return True
    text = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(sample, complete)
    odd = len(_ESCAPED_BYTE.findall(text)) + len(_CONTROL.findall(text))
    return odd * 10 > len(text)


def _holds_json(head: bytes, complete: bool) -> bool:
    """Whether some piece of ``head`` parses as a JSON object or array (stops at the first)."""
    window = head[:_SNIFF_BYTES]
    if not complete or len(head) > _SNIFF_BYTES:  # the last line may be cut: leave it out
        cut = max(window.rfind(b"\n"), window.rfind(b"\r"))
        window = window[:cut + 1] if cut >= 0 else window
    for chunk in iter_chunks(io.BytesIO(window), "", _SCAN_CHUNK, whole_input=False):
        for cand in parse_chunk(chunk):
            rej = cand.rejection
            if rej is not None and rej.code in _PROVES_NOTHING:
                continue
            text = cand.text.lstrip()
            if text[:1] in ("{", "[", b"{", b"["):
                return True
    return False


def _text_kind(sample: bytes, complete: bool) -> str:
    text = sample.decode("utf-8", "replace")
    if _HTML.match(text):
        return "an HTML page"
    if _XML.match(text):
        return "an SVG image" if _SVG.search(text) else "XML"
    if text.startswith("#!"):
        return "a script"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not complete and len(lines) > 1:
        lines.pop()  # may be cut in the middle
    lines = lines[:50]
    if any(_MD_STRONG.match(ln) for ln in lines):
        return "Markdown text"
    yaml = sum(bool(_YAML_LINE.match(ln)) for ln in lines)
    if lines and (lines[0].rstrip() == "---" or yaml * 5 >= len(lines) * 4) and any(
            ":" in ln for ln in lines):
        return "YAML"
    if sum(bool(_MD_WEAK.match(ln)) for ln in lines) >= 2:
        return "Markdown text"
    if len(lines) >= 2:
        for delimiter, what in _DELIMITERS:
            widths = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
            if widths[0] >= 2 and widths.count(widths[0]) * 5 >= len(widths) * 4:
                return what
    return "plain text"


def _read_at_least(stream: typing.BinaryIO, head: bytes, n: int) -> bytes:
    while len(head) < n:
        more = stream.read(n - len(head))
        if not more:
            break
        head += more
    return head


def _refused_text(head: bytes) -> str | bytes:
    """What the quarantine keeps of a refused input: its first 4 KiB, as text if it is text."""
    prefix = head[:4096]
    try:
        return prefix.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(prefix) - 3 and len(head) > len(prefix):  # a character cut in two
            return prefix[:exc.start].decode("utf-8")
        return prefix


# ---------------------------------------------------------------------------------------------
# Chunking


def parse_chunk(chunk: Chunk) -> list[Candidate]:
    """Decode one chunk (pure; runs in worker processes)."""
    out = [_item_candidate(it, chunk.source) for it in chunk.items]
    if chunk.data:
        out.extend(_parse_lines(chunk.data, chunk.source, chunk.line, chunk.offset))
    return out


def _count_breaks(data: bytes) -> int:
    n = data.count(b"\n")
    if b"\r" in data:
        n += data.count(b"\r") - data.count(b"\r\n")
    return n


def _utf16(head: bytes) -> str | None:
    if head[:2] == b"\xff\xfe":
        return "little-endian, with a byte order mark"
    if head[:2] == b"\xfe\xff":
        return "big-endian, with a byte order mark"
    sample = head[:64]
    sample = sample[:len(sample) & ~1]
    if len(sample) >= 4 and 0 in sample:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) == len(odd) and 0 not in even:
            return "little-endian"
        if even.count(0) == len(even) and 0 not in odd:
            return "big-endian"
    return None


def _complete_line(s: str) -> bool:
    """Whether a line (stripped) is one complete JSON value structurally."""
    c = s[0]
    if c in "{[":
        depth = 0
        for p, b in _brackets(s):
            depth += 1 if b in "{[" else -1
            if depth <= 0:
                return p == len(s) - 1
        return False
    if c == '"':
        j = _STR_BODY.match(s, 1).end()
        return j == len(s) - 1 and s[j] == '"'
    return _TOKEN.match(s).end() == len(s)


def iter_chunks(stream: typing.BinaryIO, source: str, chunk_bytes: int = _DEFAULT_CHUNK, *,
                whole_input: bool = True) -> Iterator[Chunk]:
    """Cut a binary stream into chunks of about ``chunk_bytes``; memory stays flat.

    With ``whole_input`` (a file, standard input) an input that is not JSON text at all, by
    ``not_json_text``, comes out as one refused chunk instead of a rejection per piece."""
    chunk_bytes = max(int(chunk_bytes), 1024)
    head = stream.read(chunk_bytes)
    offset = 0
    if head.startswith(_BOM):
        head, offset = head[3:], 3
    if not head:
        return
    kind = _utf16(head)
    if kind is not None:
        yield Chunk(source, 1, 0, items=((head[:PREFIX_CHARS], 1, 1, 0, Rejection(
            RejectCode.UTF16, f"the input is UTF-16 ({kind}); save it as UTF-8", 1, 1)),),
            refused=True)
        return
    if whole_input:
        head = _read_at_least(stream, head, _SAMPLE_BYTES + 1)
        if not _opens_as_json(head, complete=len(head) <= _SAMPLE_BYTES):
            head = _read_at_least(stream, head, _SNIFF_BYTES + 1)
            refusal = not_json_text(head, complete=len(head) <= _SNIFF_BYTES)
            if refusal is not None:
                yield Chunk(source, 1, offset, items=((_refused_text(head), 1, 1, 0, refusal),),
                            refused=True)
                return
    line = 1
    eof = False
    while True:  # drop leading blank lines, then decide the mode from the first line
        stripped = head.lstrip(b" \t\r\n")
        i = len(head) - len(stripped)
        cut = max(head.rfind(b"\n", 0, i), head.rfind(b"\r", 0, i))
        if not stripped and not eof and cut == len(head) - 1 and head.endswith(b"\r"):
            cut = max(head.rfind(b"\n", 0, cut), head.rfind(b"\r", 0, cut))  # half a CRLF?
        if cut >= 0:
            line += _count_breaks(head[:cut + 1])
            offset += cut + 1
            head = head[cut + 1:]
        if stripped:
            body = head.lstrip(b" \t")
            m = _LINE_BREAK_B.search(body)
            if m is not None or eof or len(body) > MAX_EVENT_BYTES:
                first = body[:m.start()] if m is not None else body
                lines_mode = len(first) <= MAX_EVENT_BYTES and _complete_line(
                    first.decode("utf-8", "surrogateescape").rstrip(" \t"))
                break
        elif eof:
            return
        more = stream.read(chunk_bytes)
        if more:
            head += more
        else:
            eof = True
    if lines_mode:
        yield from _line_chunks(stream, head, source, line, offset, chunk_bytes)
    else:
        yield from _stream_chunks(stream, head, source, line, offset, chunk_bytes)


def _line_chunks(stream, data: bytes, source: str, line: int, offset: int,
                 chunk_bytes: int) -> Iterator[Chunk]:
    eof = False
    while True:
        while not eof and len(data) < chunk_bytes:
            piece = stream.read(chunk_bytes)
            if piece:
                data += piece
            else:
                eof = True
        if eof:
            if data:
                yield Chunk(source, line, offset, data=data)
            return
        # cut after the last line break (a final '\r' may be half of '\r\n')
        cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1))
        while cut < 0 and len(data) <= MAX_EVENT_BYTES:  # one long line: read until it ends
            piece = stream.read(chunk_bytes)
            if not piece:
                eof = True
                break
            k = max(piece.rfind(b"\n"), piece.rfind(b"\r", 0, len(piece) - 1))
            if k >= 0:
                cut = len(data) + k
            data += piece
        if eof and cut < 0:
            continue
        if cut >= 0:
            out = data[:cut + 1]
            yield Chunk(source, line, offset, data=out)
            line += _count_breaks(out)
            offset += len(out)
            data = data[cut + 1:]
            continue
        # one line over the limit: keep a prefix, count the rest, resume after its end
        prefix, size, found = data[:PREFIX_CHARS], len(data), False
        data = b""
        while True:
            piece = stream.read(chunk_bytes)
            if not piece:
                break
            k = piece.find(b"\n")
            if k >= 0:
                size, data, found = size + k, piece[k + 1:], True
                break
            size += len(piece)
        cand = _too_large(prefix.decode("utf-8", "replace"), source, line, 1, size)
        yield Chunk(source, line, offset, items=((cand.text, line, 1, 0, cand.rejection),))
        line += 1
        offset += size + found
        eof = not found


def _stream_chunks(stream, head: bytes, source: str, line: int, offset: int,
                   chunk_bytes: int) -> Iterator[Chunk]:
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    splitter = _Splitter(line, 1, offset)
    held = ""
    data = head
    read_at = offset
    while True:
        final = not data
        text = held + decoder.decode(data, final)
        held = ""
        if not final and text.endswith("\r"):  # may be half of '\r\n'
            held, text = "\r", text[:-1]
        items = splitter.feed(text, final)
        if items:
            yield Chunk(source, items[0][1], read_at, items=tuple(items))
        if final:
            return
        read_at += len(data)
        data = stream.read(chunk_bytes)


# ---------------------------------------------------------------------------------------------
# Entry points


def iter_file(path_or_stream, source: str | None = None, *,
              whole_input: bool = True) -> Iterator[Candidate]:
    """Candidates of a file (path, or binary stream), streaming: parse_chunk over iter_chunks."""
    if isinstance(path_or_stream, (str, os.PathLike)):
        with open(path_or_stream, "rb") as f:
            src = source if source is not None else os.fspath(path_or_stream)
            for chunk in iter_chunks(f, src, whole_input=whole_input):
                yield from parse_chunk(chunk)
        return
    src = source if source is not None else str(getattr(path_or_stream, "name", "<stream>"))
    for chunk in iter_chunks(path_or_stream, src, whole_input=whole_input):
        yield from parse_chunk(chunk)


def _as_bytes(data: str | bytes) -> bytes:
    if isinstance(data, str):
        # a lone surrogate in pasted text becomes bytes that are reported as such
        return data.encode("utf-8", "surrogatepass")
    return bytes(data)


def split_text(data: str | bytes, source: str = "pasted") -> list[Candidate]:
    """All candidates of a whole in-memory input (pasted text, a request body: each piece is
    judged alone, as typed text is, with no refusal of the whole)."""
    return list(iter_file(io.BytesIO(_as_bytes(data)), source, whole_input=False))


def first_error(text: str) -> Rejection | None:
    """The first problem in ``text`` (with line and column), for an editor's live check."""
    for cand in iter_file(io.BytesIO(_as_bytes(text)), "pasted", whole_input=False):
        if cand.rejection is not None:
            return cand.rejection
    return None
