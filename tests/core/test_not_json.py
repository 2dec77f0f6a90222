"""A file that is not JSON text (an image, an archive, Markdown, CSV, HTML...) is refused whole:
one message that says what it looks like, one quarantine entry, a non-zero exit status from
`faultsim ingest`. Messy JSON with many bad lines is not refused: each bad line is rejected
alone with its line and column, as before."""
import bz2
import gzip
import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from decimal import Decimal

import pytest

from faultsim_desktop.cli import main
from faultsim_desktop.core.parsing import iter_chunks, not_json_text, parse_chunk

GOOD = b'{"client": "acme", "amount": "1.50", "currency": "EUR"}\n'


def png_image(width=64, height=48) -> bytes:
    """A real PNG: signature, IHDR, one IDAT of random-looking rows, IEND."""
    def block(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + bytes((x * 7 + y * 13) % 256 for x in range(width * 3))
                    for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + block(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + block(b"IDAT", zlib.compress(rows)) + block(b"IEND", b""))


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("events.ndjson", GOOD * 50)
    return out.getvalue()


PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
       b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
MARKDOWN = (b"# Release notes\n\nThis release counts every event **exactly once**.\n\n"
            b"- faster ingest\n- a [new chart](https://example.com/chart)\n\n```sh\nfaultsim ingest"
            b" x.ndjson\n```\n")
CSV = b"client,amount,currency\nacme,1.50,EUR\n\"Globex, Inc.\",2,USD\ninitech,3.25,GBP\n"
HTML = (b"<!DOCTYPE html>\n<html lang=\"en\"><head><title>Events</title></head>\n"
        b"<body><table><tr><td>acme</td><td>1.50</td></tr></table></body></html>\n")

REFUSED = [
    ("image.png", png_image(), "looks like a PNG image"),
    ("events.zip", zip_archive(), "looks like a ZIP archive"),
    ("report.pdf", PDF, "looks like a PDF document"),
    ("events.ndjson.gz", gzip.compress(GOOD * 50), "looks like a gzip-compressed file"),
    ("events.ndjson.bz2", bz2.compress(GOOD * 50), "looks like a bzip2-compressed file"),
    ("noise.bin", bytes((i * 7919 + 13) % 251 for i in range(20_000)), "looks like binary data"),
    ("README.md", MARKDOWN, "looks like Markdown text, not JSON"),
    ("events.csv", CSV, "looks like CSV text"),
    ("page.html", HTML, "looks like an HTML page, not JSON"),
    ("notes.txt", b"Call acme about the invoice.\nThey owe 1.50 EUR.\n", "looks like plain text"),
]


@pytest.mark.parametrize("name,data,says", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_file_that_is_not_json_is_refused_whole_with_one_message(service, tmp_path, name,
                                                                     data, says):
    path = tmp_path / name
    path.write_bytes(data)
    s = service.ingest_file(path)
    assert (s.received, s.accepted, s.rejected) == (1, 0, 1)
    assert len(s.refused) == 1 and s.refused[0].startswith(f"{path}: {says}")
    assert s.refused[0].endswith("nothing in it was read")
    (entry,) = service.quarantine()  # one entry, not one per garbage "line"
    assert entry.code == "not_json" and entry.source == str(path) and says in entry.reason
    assert service.stats() == []


@pytest.mark.parametrize("name,data,says", REFUSED[:1] + REFUSED[6:7], ids=["png", "markdown"])
def test_the_command_line_exits_non_zero_and_says_what_the_file_looks_like(
        capsys, tmp_path, name, data, says):
    bad = tmp_path / name
    bad.write_bytes(data)
    good = tmp_path / "good.ndjson"
    good.write_bytes(GOOD)
    db = tmp_path / "a.db"
    code = main(["ingest", str(good), str(bad), "--db", str(db), "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    answer = json.loads(out)
    assert answer["received"] == 2 and answer["accepted"] == 1 and answer["rejected"] == 1
    (why,) = answer["refused"]
    assert why.startswith(f"{bad}: {says}")
    assert f"faultsim: {bad}: {says}" in err
    code = main(["quarantine", "list", "--db", str(db), "--json"])
    listed = json.loads(capsys.readouterr()[0])
    assert code == 0 and len(listed) == 1 and listed[0]["code"] == "not_json"


def test_standard_input_that_is_an_image_is_refused(tmp_path):
    p = subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", "ingest", "-", "--db",
                        str(tmp_path / "a.db")], input=png_image(), capture_output=True,
                       timeout=120)
    assert p.returncode == 1
    assert b"<stdin>: looks like a PNG image, not JSON" in p.stderr
    assert b"Traceback" not in p.stderr


def test_messy_ndjson_with_many_bad_lines_is_not_refused(service, tmp_path):
    """Garbage first, many bad lines, a few good ones: each bad line is quarantined alone with
    its own line and column, the good ones are counted."""
    lines = [b"this line is not JSON"]
    for i in range(300):
        lines.append(b"{'client': 'single quotes', 'amount': %d}" % i)
        lines.append(b"client=x amount=%d" % i)
    lines.append(b'{"client": "acme", "amount": "2.50"}')
    lines.append(b'{"client": "acme", "amount": oops}')
    path = tmp_path / "messy.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    s = service.ingest_file(path)
    assert s.refused == ()
    assert (s.received, s.accepted, s.rejected) == (len(lines), 1, len(lines) - 1)
    entries = service.quarantine(limit=10_000)
    assert len(entries) == len(lines) - 1
    last = max(entries, key=lambda e: e.line)
    assert (last.line, last.reason) == (len(lines), f"line {len(lines)}, column 30: "
                                                   "expected a value")
    assert [(r.client, r.total) for r in service.stats()] == [("acme", Decimal("2.50"))]


@pytest.mark.parametrize("data", [
    b'{"client": "a" "amount": 1}\n{oops\n[1, 2\n',  # opens as JSON: broken, never refused
    '{"client": "Café", "amount": 1}\n'.encode("latin-1") * 3 + GOOD,  # another encoding
    b'{"a": 1}\n\x00\x00\x00\x00\x00\n' + GOOD,  # NUL bytes on one line
    b"Exported events\n\n" + GOOD,  # a title line, then NDJSON
    b"# Events\n\n```json\n" + GOOD + b"```\n",  # Markdown that holds JSON
    b"   \n\n",  # blank
], ids=["broken-json", "latin1", "nul-line", "title-line", "markdown-with-json", "blank"])
def test_json_with_problems_is_judged_piece_by_piece(data):
    refused = [c for c in iter_chunks(io.BytesIO(data), "x") if c.refused]
    assert refused == [] and not_json_text(data) is None


class _Counting(io.BufferedReader):
    """A file that counts the bytes read from it."""

    def __init__(self, raw):
        super().__init__(raw)
        self.read_bytes = 0

    def read(self, n=-1):
        data = super().read(n)
        self.read_bytes += len(data)
        return data


def test_only_the_first_mebibyte_is_read_to_refuse_a_huge_file(tmp_path):
    """A 20 MB CSV is refused after reading its head; it is never parsed whole."""
    path = tmp_path / "big.csv"
    with open(path, "wb") as f:
        f.write(b"client,amount,currency\n")
        for _ in range(20):
            f.write(b"acme,1.50,EUR\n" * 75_000)
    with _Counting(open(path, "rb", buffering=0)) as stream:
        chunks = list(iter_chunks(stream, str(path)))
    assert len(chunks) == 1 and chunks[0].refused
    (cand,) = parse_chunk(chunks[0])
    assert cand.rejection.message.startswith("looks like CSV text")
    assert stream.read_bytes <= 2 << 20  # the head (a chunk and the search window), no more


def test_a_json_file_is_read_once(tmp_path):
    """The check costs no second pass: every byte of a JSON file is read exactly once."""
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"not json, a title\n" + GOOD * 60_000)
    with _Counting(open(path, "rb", buffering=0)) as stream:
        n = sum(len(parse_chunk(c)) for c in iter_chunks(stream, str(path)))
    assert n == 60_001 and stream.read_bytes == path.stat().st_size


def test_refusal_works_in_worker_processes_too(db_path, open_service, tmp_path):
    """Files over the pool threshold go through worker processes: the same single refusal."""
    from faultsim_desktop.core.service import POOL_THRESHOLD_BYTES

    svc = open_service(db_path, workers=1)
    path = tmp_path / "big.md"
    body = b"# Notes\n\n" + b"Some words about events, none of them JSON.\n" * 200_000
    assert len(body) > POOL_THRESHOLD_BYTES
    path.write_bytes(body)
    s = svc.ingest_file(path)
    assert (s.received, s.rejected) == (1, 1) and len(svc.quarantine()) == 1
    assert "looks like Markdown text, not JSON" in s.refused[0]
    big = tmp_path / "big.ndjson"
    big.write_bytes(b"a title line\n" + GOOD * 100_000)
    s = svc.ingest_file(big)
    assert s.refused == () and (s.received, s.accepted, s.duplicates) == (100_001, 1, 99_999)


def test_pasted_text_and_request_bodies_are_still_judged_line_by_line(service):
    """Only a whole file is refused; typed or posted text gets its usual per-line reasons."""
    s = service.submit_text("hello world", "pasted").wait()
    assert s.refused == () and s.rejected == 1
    (entry,) = service.quarantine()
    assert entry.reason == "line 1, column 1: expected a value"
