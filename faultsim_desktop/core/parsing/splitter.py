"""Stream mode: the structural splitter that finds where each value of a stream ends."""
from __future__ import annotations

import json

from ..model import Candidate, RejectCode, Rejection
from .decode import _decode
from .messages import _syntax_error, _syntax_rejection, _too_large
from .scan import (
    MAX_EVENT_BYTES, PREFIX_CHARS, _ESCAPED_BYTE, _LINE_BREAK, _NEXT_OPEN_LINE, _SCALAR, _SKIP,
    _STR_BODY, _TOKEN, _WS, _WS_INLINE, _where,
)

# One item of a stream-mode chunk: (text, line, column, array element number or 0, rejection).
Item = tuple[str | bytes, int, int, int, Rejection | None]

_TOP, _ARR, _VAL, _SKIP_STATE = range(4)
_VALUE_END = json.JSONDecoder().scan_once  # (value, the offset just past it)
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

    def _run(self, final: bool) -> None:
        # One loop with the top-level and in-array steps inline: it runs once per token between
        # values, and a method call per step costs the splitter several percent.
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
            if self._objects():
                continue
            buf, base = self.buf, self.base
            n = len(buf)
            i = _WS.match(buf, self.pos - base).end()
            self.pos = base + i
            if i == n:
                if final and st == _ARR:
                    self._array_not_closed()
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

    def _objects(self) -> bool:
        """Take a run of well-formed objects (top-level ones, or the elements of a top-level
        array with their commas) in one loop; True if it took any.

        Each object's end comes from the C scanner in one call, where the general steps take a
        Python call per step and a regex match per string and bracket: for a file that is one
        large array, those steps were the serial part of its ingest. The items are the ones
        the general steps make (an object that parses has the end they find, and none of their
        checks can break it); anything else (a stray or missing comma, another kind of value,
        invalid UTF-8, an object that does not parse or is too large, the end of what has
        been read) is left to them."""
        buf, base = self.buf, self.base
        n = len(buf)
        in_array = self.state == _ARR
        expect, count = self.expect, self.count
        i = start = self.pos - base
        ws, scan, append = _WS.match, _VALUE_END, self.out.append
        t_at, t_line, t_ls = self.t_abs - base, self.t_line, self.t_ls - base
        lone_cr = "\r" in buf
        took = 0
        while True:
            i = ws(buf, i).end()
            if i >= n:
                break
            c = buf[i]
            if c == "," and in_array and expect == _COMMA:
                expect = _ELEM
                i = ws(buf, i + 1).end()
                if i >= n:
                    break
                c = buf[i]
            if c != "{" or (in_array and expect == _COMMA):
                break
            try:
                end = scan(buf, i)[1]
            except Exception:  # noqa: BLE001 - broken, cut off or too deep: the general way
                break
            if end - i > MAX_EVENT_BYTES:
                break
            text = buf[i:end]
            if not text.isascii() and _ESCAPED_BYTE.search(text):
                break
            # line and column of i, as _lc counts them ("\n", "\r\n" or a lone "\r")
            breaks = buf.count("\n", t_at, i)
            if lone_cr:
                cr = buf.count("\r", t_at, i)
                if cr:
                    breaks += cr - buf.count("\r\n", t_at, i)
            if breaks:
                t_line += breaks
                t_ls = (max(buf.rfind("\n", t_at, i), buf.rfind("\r", t_at, i)) if lone_cr
                        else buf.rfind("\n", t_at, i)) + 1
            t_at = i
            if in_array:
                count += 1
                append((text, t_line, i - t_ls + 1, count, None))
                expect = _COMMA
            else:
                append((text, t_line, i - t_ls + 1, 0, None))
            took += 1
            start = i = end
        if not took:
            return False
        self.pos = base + start  # after the last object: what follows is the general way's
        self.t_abs, self.t_line, self.t_ls = base + t_at, t_line, base + t_ls
        if in_array:  # right after an element: a comma or the end of the array is next
            self.expect, self.count, self.stray_comma = _COMMA, count, False
        return True

    def _array_not_closed(self) -> None:
        line, col = self.arr_at
        self._emit("", line, col, 0, Rejection(
            RejectCode.INVALID_JSON, f"unexpected end of input: the array opened at line {line}, "
            f"column {col} is not closed", *self._lc(self.base + len(self.buf))))
        self.state = _TOP

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
        if err is not None:
            at, msg = err
            if at < len(prefix):
                self._broken(prefix, at, msg)
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
        if err is not None:
            at, msg = err
            if at < len(text.rstrip()) or msg.startswith(("Invalid", "Unterminated")):
                self._broken(text, at, msg)
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
