"""Inputs that are not JSON text: what they look like, from their first bytes."""
from __future__ import annotations

import codecs
import csv
import re
import typing

from ..model import RejectCode, Rejection
from .scan import MAX_EVENT_BYTES, _BOM, _ESCAPED_BYTE

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
