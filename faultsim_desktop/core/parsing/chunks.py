"""Cutting an input into picklable chunks, and refusing an input that is no JSON text at all
(which takes parsing a piece of it: the two live together so neither imports the other)."""
from __future__ import annotations

import codecs
import io
import typing
from collections.abc import Iterator
from dataclasses import dataclass

from ..model import Candidate, RejectCode, Rejection
from .lines import _parse_lines
from .messages import _too_large
from .scan import MAX_EVENT_BYTES, PREFIX_CHARS, _BOM, _LINE_BREAK_B, _STR_BODY, _TOKEN, _brackets
from .sniff import (
    _PROVES_NOTHING, _SAMPLE_BYTES, _SCAN_CHUNK, _SIGNATURES, _SNIFF_BYTES, _ZIP_KINDS,
    _is_rtf, _looks_binary, _not_json, _opens_as_json, _read_at_least, _refused_text, _text_kind,
)
from .splitter import Item, _item_candidate, _Splitter

__all__ = ["Chunk", "iter_chunks", "not_json_text", "parse_chunk"]

_DEFAULT_CHUNK = 1 << 20


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
            _, first_line, *_ = items[0]
            yield Chunk(source, first_line, read_at, items=tuple(items))
        if final:
            return
        read_at += len(data)
        data = stream.read(chunk_bytes)
