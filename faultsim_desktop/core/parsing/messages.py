"""Error wording: what a stdlib decoder error, or a stray character, means in plain words."""
from __future__ import annotations

import json
import unicodedata

from ..model import Candidate, RejectCode, Rejection
from .scan import MAX_EVENT_BYTES, PREFIX_CHARS, _WS, _innermost_open, _where


def _ignore(_s):
    return 0


# Syntax only: used to find where a value that does not close went wrong.
_SYNTAX_SCAN = json.JSONDecoder(parse_float=_ignore, parse_int=_ignore,
                                parse_constant=_ignore).scan_once


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


def _reject(text, source, line, column, code, message, at=None) -> Candidate:
    eline, ecol = at if at is not None else (line, column)
    return Candidate(text, source, line, column, rejection=Rejection(code, message, eline, ecol))


def _too_large(text: str, source: str, line: int, column: int, size: int | None = None,
               note: str = "") -> Candidate:
    size_note = f"{size:,} bytes" if size is not None else "over 1 MiB"
    return _reject(text[:PREFIX_CHARS], source, line, column, RejectCode.TOO_LARGE,
                   f"the event is {size_note}; the limit is {MAX_EVENT_BYTES:,} bytes (1 MiB)"
                   + note)


def _syntax_rejection(text: str, pos: int, msg: str, line: int, column: int) -> Rejection:
    """A stdlib decoder error at ``text[pos]`` -> a rejection in plain words, placed in the
    whole input (``text`` starts at ``line``/``column``)."""
    code = RejectCode.INVALID_JSON
    rest = text[pos:pos + 10]
    at_end = pos >= len(text.rstrip())
    if at_end and not msg.startswith(("Unterminated", "Invalid")):
        opened = _innermost_open(text, len(text))
        if opened is not None:
            open_at, bracket = opened
            oline, ocol = _where(text, open_at, line, column)
            what = "object" if bracket == "{" else "array"
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
        _, bracket = opened if opened is not None else (0, "{")
        message = f"expected ',' or '{']' if bracket == '[' else '}'}'"
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
