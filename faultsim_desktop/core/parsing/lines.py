"""JSON Lines mode: every line one event (or one array of events), a broken line rejected alone."""
from __future__ import annotations

from ..model import Candidate, RejectCode, Rejection
from .decode import _FAST_SCAN, _decode
from .scan import MAX_DEPTH, MAX_EVENT_BYTES, PREFIX_CHARS, _LINE_BREAK, _LINE_BREAK_B, _WS_INLINE
from .splitter import _split_values

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
