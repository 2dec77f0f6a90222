"""What every part of the parser shares: the limits, the regular expressions that jump over
uninteresting text in C, and the arithmetic of lines, columns and brackets."""
from __future__ import annotations

import re
from collections.abc import Iterator

MAX_EVENT_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 100
PREFIX_CHARS = 64 * 1024  # what an over-limit event keeps as its text

_BOM = b"\xef\xbb\xbf"

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
