"""Raw input -> candidate events: modes, positions in errors, hostile input, streaming."""
import io
import itertools
import json
import pickle
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultsim_desktop.core.model import Candidate, RejectCode, Rejection
from faultsim_desktop.core.parsing import (
    MAX_EVENT_BYTES, Chunk, decode_value, first_error, iter_chunks, iter_file, parse_chunk,
    split_text,
)

CASES = Path(__file__).parent / "cases" / "raw_inputs_cases.jsonl"
GOOD = '{"client": "ok", "amount": 1}'


def events(cands):
    return [c.obj for c in cands if c.obj is not None]


def rejections(cands):
    return [c.rejection for c in cands if c.rejection is not None]


def codes(cands):
    return [r.code for r in rejections(cands)]


def _load_cases():
    lines = CASES.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("case", _load_cases(), ids=lambda c: c["why"][:50])
def test_raw_input_cases(case):
    got = split_text(case["text"])
    assert all(isinstance(c, Candidate) and (c.obj is None) != (c.rejection is None) for c in got)
    if case["expect"] == "rejected":
        assert events(got) == [] and rejections(got), got
    else:
        assert len(events(got)) == case["expect"]["events"], got


def test_case_file_has_the_shared_cases_and_thirty_more():
    assert len(_load_cases()) >= 40


# positions and messages


def test_error_position_in_a_multi_line_input():
    text = '{\n  "client": "a",\n  "amount" 12\n}\n'
    (cand,) = split_text(text)
    assert cand.rejection.code is RejectCode.INVALID_JSON
    assert (cand.rejection.line, cand.rejection.column) == (3, 12)
    assert str(cand.rejection) == "line 3, column 12: expected ':' after the key"


def test_error_at_line_3_column_14():
    text = '{\n  "a": 1,\n  "item": [1 2]\n}'
    (cand,) = split_text(text)
    assert str(cand.rejection) == "line 3, column 14: expected ',' or ']'"


def test_positions_are_in_the_whole_input_in_json_lines():
    text = f'{GOOD}\n{GOOD}\n{{"client": "a",, "amount": 1}}\n'
    rej = rejections(split_text(text))
    assert [(r.line, r.column) for r in rej] == [(3, 16)]
    assert rej[0].message == "expected a key in double quotes"


def test_columns_count_characters_and_ignore_the_bom():
    rej = rejections(split_text('\ufeff{"k": "ééé" "x"}'))
    assert (rej[0].line, rej[0].column) == (1, 13)
    assert "expected ',' or '}'" in rej[0].message


def test_plain_words_for_common_mistakes():
    assert "single quotes are not JSON" in first_error("{'client': 'a'}").message
    assert first_error('{"a": NaN}').code is RejectCode.NON_FINITE_NUMBER
    assert first_error('{"a": Infinity}').code is RejectCode.NON_FINITE_NUMBER
    assert "trailing comma" in first_error('{"a": 1,}').message
    assert "unterminated string" in first_error('{"a": "b}\n').message \
        or "cannot span lines" in first_error('{"a": "b}\n').message
    err = first_error('{\n  "a": [1, 2,\n')
    assert err.message.startswith("unexpected end of input: the array opened at line 2, column 8")
    assert first_error(GOOD) is None


def test_truncated_object_names_where_it_was_opened():
    err = first_error('\n\n  {"client": "a", "amount": 1')
    assert err.message == ("unexpected end of input: the object opened at line 3, column 3 is "
                           "not closed")


def test_decode_value_places_errors_in_the_whole_input():
    cand = decode_value('{"a": 1,\n "b" 2}', line=10, column=5, source="editor")
    assert cand.source == "editor" and (cand.line, cand.column) == (10, 5)
    assert (cand.rejection.line, cand.rejection.column) == (11, 6)


def test_numbers_are_int_or_exact_decimal():
    (obj,) = events(split_text('{"i": 12, "d": 12.50, "e": 1e-7, "big": 123456789012345678901234}'))
    assert obj == {"i": 12, "d": Decimal("12.50"), "e": Decimal("1e-7"),
                   "big": 123456789012345678901234}
    assert type(obj["d"]) is Decimal and str(obj["d"]) == "12.50"
    assert not any(isinstance(v, float) for v in obj.values())


def test_duplicate_key_is_rejected_with_its_position():
    rej = first_error('{"client": "a",\n "amount": 1,\n "client": "b"}')
    assert rej.code is RejectCode.DUPLICATE_KEY and (rej.line, rej.column) == (3, 2)
    assert '"client"' in rej.message


# modes


def test_json_lines_mode_rejects_a_broken_line_alone():
    text = f'{GOOD}\n{{"client": "b", "amount": \n{GOOD}\n{GOOD}\n'
    got = split_text(text)
    assert len(events(got)) == 3
    (rej,) = rejections(got)
    assert rej.line == 2


def test_stream_mode_when_the_first_line_is_not_complete():
    text = '{\n  "client": "a",\n  "amount": 1\n}\n{"client": "b",\n "amount": 2}\n'
    got = split_text(text)
    assert [(c.line, c.column) for c in got] == [(1, 1), (5, 1)]
    assert got[0].text == '{\n  "client": "a",\n  "amount": 1\n}'


def test_valid_events_after_a_broken_one_still_come_through_in_stream_mode():
    text = ('{\n  "client": "a",\n  "amount": 1\n'  # missing '}'
            '{\n  "client": "b",\n  "amount": 2\n}\n'
            '{"client": "c", "amount": 3}\n')
    got = split_text(text)
    assert [e["client"] for e in events(got)] == ["b", "c"]
    (rej,) = rejections(got)
    assert (rej.line, rej.column) == (4, 1)


def test_garbage_between_values_is_reported_and_skipped():
    text = '{\n "client": "a", "amount": 1}\nthis is not json\nneither is this\n' + GOOD
    got = split_text(text)
    assert len(events(got)) == 2
    (rej,) = rejections(got)
    assert rej.line == 3 and rej.code is RejectCode.INVALID_JSON


def test_array_elements_are_reported_each_on_its_own():
    text = '[{"client": "a", "amount": 1}, 42, "x", {"client": "b", "amount": 2}, [], null]'
    got = split_text(text)
    assert len(events(got)) == 2
    msgs = [r.message for r in rejections(got)]
    assert msgs == [
        "array element 2 is a number, not an event object {...}",
        "array element 3 is a string, not an event object {...}",
        "array element 5 is an array, not an event object {...}",
        "array element 6 is null, not an event object {...}",
    ]
    assert [c.text for c in got] == ['{"client": "a", "amount": 1}', "42", '"x"',
                                     '{"client": "b", "amount": 2}', "[]", "null"]
    assert got[1].column == 32


def test_broken_array_element_does_not_stop_the_rest():
    text = ('[\n  {"client": "a", "amount": 1},\n  {"client" "b"},\n'
            '  {"client": "c", "amount": 3}\n]')
    got = split_text(text)
    assert [e["client"] for e in events(got)] == ["a", "c"]
    assert [(r.line, r.column) for r in rejections(got)] == [(3, 13)]


def test_top_level_array_that_never_closes():
    got = split_text('[\n{"client": "a", "amount": 1},\n')
    assert len(events(got)) == 1
    assert "the array opened at line 1, column 1 is not closed" in rejections(got)[0].message


def test_bom_crlf_and_mixed_line_endings():
    text = "\ufeff" + GOOD + "\r\n" + GOOD + "\n\r\n" + GOOD + "\r" + '{"client": "x",, }' + "\r\n"
    got = split_text(text.encode("utf-8"))
    assert len(events(got)) == 3
    assert [c.line for c in got] == [1, 2, 4, 5]
    assert got[0].column == 1 and got[0].text == GOOD


def test_crlf_in_stream_mode_positions():
    text = '{\r\n  "a": 1,\r\n  "b" 2\r\n}\r\n'
    assert (first_error(text).line, first_error(text).column) == (3, 7)


def test_empty_and_blank_input():
    assert split_text("") == [] and split_text(b"") == []
    assert split_text("\n\n   \n\t\r\n") == []
    assert split_text("\ufeff") == []


# hostile input


def _survives(text, n_good=2):
    """The hostile text between two good lines: no crash and the good events come through."""
    got = split_text(GOOD + "\n" + text + "\n" + GOOD + "\n")
    assert all(isinstance(c, Candidate) for c in got)
    assert len(events(got)) >= n_good
    return got


def test_nesting_100000_levels():
    for text in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        got = _survives(text)
        assert codes(got) == [RejectCode.TOO_DEEP]
        assert codes(split_text(text)) == [RejectCode.TOO_DEEP]
    assert codes(split_text("[" * 100_000)) == [RejectCode.INVALID_JSON]


def test_string_of_50_mb():
    text = '{"a": "' + "x" * 50_000_000 + '"}'
    got = _survives(text)
    (rej,) = rejections(got)
    assert rej.code is RejectCode.TOO_LARGE and "50,000,009 bytes" in rej.message
    assert len(next(c.text for c in got if c.rejection)) <= 64 * 1024
    assert codes(split_text(text)) == [RejectCode.TOO_LARGE]


def test_integer_with_a_million_digits():
    for text in ('{"a": ' + "7" * 1_000_000 + "}", "7" * 1_000_000):
        assert codes(_survives(text)) == [RejectCode.NUMBER_TOO_LONG]
        assert codes(split_text(text)) == [RejectCode.NUMBER_TOO_LONG]


def test_100000_keys_in_one_object():
    keys = [f'"{i:x}":0' for i in range(100_000)]
    text = "{" + ",".join(keys) + "}"
    assert len(text) < MAX_EVENT_BYTES
    got = _survives(text, n_good=3)
    assert len(events(got)[1]) == 100_000
    dup = "{" + ",".join(['"k":0'] * 100_000) + "}"
    assert codes(_survives(dup)) == [RejectCode.DUPLICATE_KEY]


def test_event_over_one_mib():
    text = '{"a": "' + "x" * MAX_EVENT_BYTES + '"}'
    assert codes(_survives(text)) == [RejectCode.TOO_LARGE]
    assert codes(split_text("[" + text + "," + GOOD + "]")) == [RejectCode.TOO_LARGE]


def test_invalid_utf8_in_json_lines_is_rejected_with_its_byte_offset():
    data = GOOD.encode() + b'\n{"client": "b\xff", "amount": 2}\n' + GOOD.encode() + b"\n"
    got = split_text(data)
    assert len(events(got)) == 2
    (bad,) = [c for c in got if c.rejection]
    assert bad.rejection.code is RejectCode.INVALID_UTF8
    assert bad.rejection.message.startswith(f"invalid UTF-8 at byte {len(GOOD) + 1 + 13}")
    assert isinstance(bad.text, bytes) and bad.line == 2


def test_invalid_utf8_in_stream_mode():
    data = b'{\n "client": "a\xc3(", "amount": 1}\n{\n "client": "b", "amount": 2}\n'
    got = split_text(data)
    assert len(events(got)) == 1
    (rej,) = rejections(got)
    assert rej.code is RejectCode.INVALID_UTF8 and "at byte 15" in rej.message


def test_utf16_is_rejected_with_a_message_that_says_so():
    for enc in ("utf-16", "utf-16-le", "utf-16-be"):
        got = split_text((GOOD + "\n" + GOOD).encode(enc))
        assert codes(got) == [RejectCode.UTF16]
        assert "UTF-16" in rejections(got)[0].message


def test_lone_surrogates():
    assert codes(_survives('{"a": "\\ud800"}')) == [RejectCode.UNPAIRED_SURROGATE]
    assert codes(_survives('{"a": "\\udc00x"}')) == [RejectCode.UNPAIRED_SURROGATE]
    assert codes(_survives('{"\\ud800": 1}')) == [RejectCode.UNPAIRED_SURROGATE]
    assert codes(split_text('{"a": "x\ud800"}')) == [RejectCode.UNPAIRED_SURROGATE]
    assert events(split_text('{"a": "\\ud83d\\ude00"}')) == [{"a": "\U0001F600"}]


def test_nul_characters():
    assert codes(_survives('{"a": "x\x00y"}')) == [RejectCode.INVALID_JSON]
    assert events(split_text('{"a": "x\\u0000y"}')) == [{"a": "x\x00y"}]
    assert codes(_survives("\x00\x00\x00")) == [RejectCode.INVALID_JSON]


@pytest.mark.parametrize("text", [
    '"' * 200_000,
    '{"a": "' + '\\"' * 200_000,
    "{" * 200_000,
    "[" + "," * 500_000 + "]",
    '{"a": 1\n' * 5_000,
    '{"a": [\n' * 5_000,
    "x" * 2_000_000,
    "}" * 200_000,
    "\\" * 200_000,
])
def test_pathological_text_is_linear(text):
    for data in (text, GOOD + "\n" + text + "\n" + GOOD):
        got = split_text(data)
        assert all(isinstance(c, Candidate) for c in got)
        assert rejections(got)


# streaming


def _ndjson(n):
    lines = []
    for i in range(n):
        if i % 997 == 5:
            lines.append('{"client": "bad", "amount": }')
        elif i % 1499 == 7:
            lines.append(f'[{{"client": "a{i}", "amount": {i}}}, '
                         f'{{"client": "b{i}", "amount": 1.5}}]')
        elif i % 2003 == 3:
            lines.append("")
        else:
            lines.append(f'{{"client": "client-{i % 50}", "amount": {i}.25, '
                         f'"meta": {{"k": [1, 2]}}}}')
    return ("\n".join(lines) + "\n").encode()


def _key(c):
    return (c.line, c.column, c.obj, c.rejection)


def test_chunks_of_a_200k_line_file_give_the_same_as_split_text():
    data = _ndjson(200_000)
    whole = split_text(data)
    chunks = list(iter_chunks(io.BytesIO(data), "pasted", chunk_bytes=256 * 1024))
    assert len(chunks) > 10
    assert all(c.data.count(b"\n") for c in chunks)
    streamed = [cand for chunk in chunks for cand in parse_chunk(pickle.loads(pickle.dumps(chunk)))]
    assert [_key(c) for c in streamed] == [_key(c) for c in whole]
    assert len(events(whole)) > 199_000
    assert whole[-1].line == 200_000


def test_stream_mode_array_in_small_chunks_gives_the_same_as_split_text():
    items = [f'  {{"client": "c{i}",\n   "amount": "{i}.5"}}' for i in range(3000)]
    items[100] = '  {"client": "broken" "amount": 1}'
    items[200] = "  17"
    data = ("[\n" + ",\n".join(items) + "\n]\n").encode()
    whole = split_text(data)
    streamed = [c for ch in iter_chunks(io.BytesIO(data), "pasted", chunk_bytes=1024)
                for c in parse_chunk(ch)]
    assert [_key(c) for c in streamed] == [_key(c) for c in whole]
    assert len(events(whole)) == 2998
    assert [r.line for r in rejections(whole)] == [2 + 2 * 100, 2 + 2 * 200 - 1]


def test_iter_file_reads_a_path_and_keeps_the_source(tmp_path):
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\xef\xbb\xbf" + _ndjson(1000))
    got = list(iter_file(path))
    assert got[0].source == str(path) and got[0].line == 1
    assert [_key(c) for c in got] == [_key(c) for c in split_text(_ndjson(1000))]


def test_a_giant_line_is_rejected_with_a_bounded_prefix():
    big = b'{"a": "' + b"y" * (3 * MAX_EVENT_BYTES) + b'"}'
    data = GOOD.encode() + b"\n" + big + b"\n" + GOOD.encode() + b"\n"
    chunks = list(iter_chunks(io.BytesIO(data), "f", chunk_bytes=64 * 1024))
    assert max(len(c.data) + sum(len(i[0]) for i in c.items) for c in chunks) < 2 * MAX_EVENT_BYTES
    got = [c for ch in chunks for c in parse_chunk(ch)]
    assert [c.line for c in got] == [1, 2, 3]
    assert got[1].rejection.code is RejectCode.TOO_LARGE
    assert f"{len(big):,} bytes" in got[1].rejection.message
    assert got[2].obj == json.loads(GOOD)


def test_chunks_pickle():
    data = b'[{"a": 1}, 2]\n' + GOOD.encode()
    for chunk in list(iter_chunks(io.BytesIO(data), "f")) + list(
            iter_chunks(io.BytesIO(b"{\n" + data), "f")):
        assert isinstance(chunk, Chunk)
        again = pickle.loads(pickle.dumps(chunk))
        assert again == chunk and parse_chunk(again) == parse_chunk(chunk)


def test_first_error_stops_at_the_first_problem():
    text = GOOD + "\n" + '{"client": 1,, "amount": 2}' + "\n" + "[1]\n"
    err = first_error(text)
    assert isinstance(err, Rejection) and (err.line, err.column) == (2, 14)


# properties


def _valid_candidate(c):
    assert isinstance(c, Candidate)
    assert (c.obj is None) != (c.rejection is None)
    if c.obj is not None:
        assert isinstance(c.obj, dict)
        assert isinstance(c.text, str)
    else:
        assert isinstance(c.rejection.code, RejectCode)
        assert c.rejection.line is None or c.rejection.line >= 1
    assert c.line >= 1 and c.column >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data):
    for c in split_text(data):
        _valid_candidate(c)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12)


def _dumps(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_dumps(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dumps(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


@settings(max_examples=300, deadline=None)
@given(st.lists(_json_values, max_size=4), st.sampled_from(["\n", " ", "\r\n", ",\n"]),
       st.booleans())
def test_arbitrary_json_text_never_raises(values, sep, wrap):
    text = sep.join(_dumps(v) for v in values)
    if wrap:
        text = "[" + text + "]"
    got = split_text(text)
    for c in got:
        _valid_candidate(c)
    if sep == "\n" and not wrap:
        expected = []
        for v in values:
            if isinstance(v, dict):
                expected.append(v)
            elif isinstance(v, list):
                expected.extend(x for x in v if isinstance(x, dict))
        assert events(got) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='{}[]",:\\ \n\r\tabc01-.eE\'\x00\ud800', max_size=200))
def test_arbitrary_json_like_text_never_raises(text):
    for c in split_text(text):
        _valid_candidate(c)
    assert first_error(text) is None or isinstance(first_error(text), Rejection)


# the orjson fast path reads JSON Lines exactly as the exact decoder reads each line
_leaf = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.booleans(), st.none(),
    st.text(alphabet=st.sampled_from('ab":\\ é\u00a0{}[],'), max_size=6),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, max_value=10**6,
                min_value=-(10**6)))
_json_values = st.recursive(
    _leaf, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(st.tuples(st.sampled_from(["a", "b", "ts", 'q"":', "a "]), inner), max_size=4)),
    max_leaves=12)


def _write(value, sep: str, colon) -> str:
    """JSON text of a generated value; a list of pairs is an object, keys may repeat.
    ``colon`` cycles through the spellings of ':' (with or without space before it)."""
    if isinstance(value, list) and value and all(isinstance(p, tuple) for p in value):
        return "{" + sep.join(json.dumps(k) + next(colon) + _write(v, sep, colon)
                              for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + sep.join(_write(v, sep, colon) for v in value) + "]"
    if isinstance(value, tuple):
        return _write([value], sep, colon)
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a", "ts", "b", "a"]), _json_values), max_size=5),
       st.sampled_from([",", ", ", " ,"]),
       st.lists(st.sampled_from([":", ": ", " :", "\t:"]), min_size=1, max_size=3))
def test_json_lines_read_each_line_as_the_exact_decoder_does(pairs, sep, colons):
    line = _write([("client", "x")] + pairs, sep, itertools.cycle(colons))
    [got] = list(iter_file(io.BytesIO(("{\"first\": 1}\n" + line + "\n").encode()), "t"))[1:]
    want = decode_value(line, line=2, source="t")
    assert (got.obj, got.rejection) == (want.obj, want.rejection), line
    if want.obj is not None:  # the same types too: Decimal stays Decimal, int stays int
        assert json.dumps(got.obj, default=repr) == json.dumps(want.obj, default=repr)
