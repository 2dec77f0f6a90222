"""The worker's fast lane (core/fastlane.py) returns, line for line, the rows the general path
makes: ``prepare_one`` over the candidates ``parse_chunk`` finds. Whatever the lines hold
(duplicate keys, escapes, floats, big numbers, nesting, repeats, bad lines), every accepted,
rejected and stored field is the same, rejection messages with their line and column too."""
import io
import json
import pickle
from decimal import localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from faultsim_desktop.core.model import ImportTag, Prepared
from faultsim_desktop.core.parsing import iter_chunks, parse_chunk
from faultsim_desktop.core.pipeline import (prepare_one, process_chunk, process_chunk_packed,
                                            unpack_rows)
from faultsim_desktop.core.schemas import Registry, new_mapping

RECEIVED = "2026-03-01T12:00:00.000000Z"

_names = st.sampled_from([
    "client", "client_id", "Client-ID", "customer", "user", "amount", "amt", "total",
    "amount_cents", "price_cents", "currency", "ccy", "ts", "timestamp", "time", "created_at",
    "event_id", "idempotency_key", "note", "id", "order", "meta", "a:b", "x",
])
_texts = st.one_of(
    st.sampled_from(["acme", " Acme  Corp ", "12.50", "1.234,56 €", "EUR 10", "USD", "eur",
                     "2026-03-01T12:00:00+02:00", "2026-03-01 12:00:00",
                     "Sun, 01 Mar 2026 12:00:00 +0000", "12:00:00", "a\":b", "ünï", "", "  ",
                     "1772323200", "NaN", "\u2028", "é:"]),
    st.text(max_size=12),
)
_numbers = st.one_of(
    st.integers(-10**6, 10**6), st.integers(-2**70, 2**70),
    st.sampled_from(["1.5", "-0.0", "1e3", "12.50", "1E+2", "0.1000", "18446744073709551616",
                     "99999999999999999999999999999999999", "1e400"]),
)
_scalars = st.one_of(_texts, _numbers, st.booleans(), st.none())


def _values(depth: int):
    if depth == 0:
        return _scalars
    inner = _values(depth - 1)
    return st.one_of(_scalars, st.lists(st.tuples(_names, inner), max_size=4).map(_Obj),
                     st.lists(inner, max_size=3))


class _Obj(list):
    """Key/value pairs, written in order as an object (keys may repeat)."""


def _write(value, ascii_only: bool, colon: str) -> str:
    if isinstance(value, _Obj):
        return "{" + ",".join(_write(k, ascii_only, colon) + colon + _write(v, ascii_only, colon)
                              for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_write(v, ascii_only, colon) for v in value) + "]"
    if isinstance(value, str) and value in ("1.5", "-0.0", "1e3", "12.50", "1E+2", "0.1000",
                                            "18446744073709551616", "1e400",
                                            "99999999999999999999999999999999999"):
        return value  # a number written as it came
    return json.dumps(value, ensure_ascii=ascii_only)


_events = st.lists(st.tuples(_names, _values(2)), max_size=7).map(_Obj)
_clients = st.one_of(_texts, st.integers(0, 99), st.tuples(st.sampled_from(["id", "client_id"]),
                                                           _texts).map(lambda kv: _Obj([kv])))
# events most of which the heuristics accept, in any key order, with extra fields
_event_like = st.tuples(
    st.tuples(st.sampled_from(["client", "client_id", "customer", "user"]), _clients),
    st.tuples(st.sampled_from(["amount", "total", "amount_cents", "value"]), _scalars),
    st.lists(st.tuples(_names, _values(1)), max_size=4), st.randoms(use_true_random=False),
).map(lambda t: _Obj(t[3].sample([t[0], t[1]] + t[2], len(t[2]) + 2)))
_lines = st.one_of(
    st.tuples(st.one_of(_events, _event_like, _event_like), st.booleans(),
              st.sampled_from([":", ": ", " :", "\t: "])).map(
        lambda t: _write(t[0], t[1], t[2])),
    st.sampled_from(['{"client": "a", "amount": 1', "[1, 2]", '[{"client":"a","amount":2}]',
                     "  ", "not json", '{"client":"a","amount":NaN}', '"x"', "{}",
                     '{"client":"a","amount":"1","client":"b"}', '{"a":"\\ud800"}',
                     '{"client":"\\u0061","amount":"1"}', '{"client":"a","amount":1}  ',
                     # an escaped colon makes up for the colon a duplicate key loses
                     '{"client":"a","amount":1,"amount":2,"note":"\\u003a"}',
                     '{"client\\u003A":"a","client":"b","amount":"\\u20ac 1"}']),
)


def _rows_by_general_path(data: bytes, registry=None, tag=None) -> list[tuple]:
    rows = []
    for chunk in iter_chunks(io.BytesIO(data), "feed.jsonl", whole_input=False):
        rows += [tuple(prepare_one(c, RECEIVED, None, registry, tag)) for c in parse_chunk(chunk)]
    return rows


def _rows_by_workers(data: bytes, registry=None, tag=None) -> list[tuple]:
    """The rows as the parent gets them from a worker process (payload pickled and back)."""
    rows = []
    for chunk in iter_chunks(io.BytesIO(data), "feed.jsonl", whole_input=False):
        sent = pickle.loads(pickle.dumps(process_chunk_packed(chunk, RECEIVED, registry)))
        got = unpack_rows(sent, tag)
        assert got == process_chunk(chunk, RECEIVED, registry, tag)
        assert all(row[-1] is tag for row in got)  # one tag object: the writer compares by identity
        rows += got
    return rows


@settings(max_examples=400, deadline=None)
@given(st.lists(_lines, min_size=1, max_size=12), st.lists(st.integers(0, 11), max_size=4),
       st.sampled_from(["\n", "\r\n"]))
def test_worker_rows_equal_the_general_path_on_messy_lines(lines, repeats, newline):
    lines = lines + [lines[i % len(lines)] for i in repeats]  # retries sent again as they were
    data = newline.join(lines).encode("utf-8", "surrogatepass") + b"\n"
    assert _rows_by_workers(data) == _rows_by_general_path(data)


@settings(max_examples=100, deadline=None)
@given(st.lists(_lines, min_size=1, max_size=8))
def test_worker_rows_equal_the_general_path_under_a_mapping_and_a_tag(lines):
    registry = Registry([new_mapping("acme", "total", units="cents", currency="EUR")])
    tag = ImportTag(7, "feed.jsonl", "file", RECEIVED, "")
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    assert _rows_by_workers(data, registry, tag) == _rows_by_general_path(data, registry, tag)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_events, _event_like), min_size=1, max_size=6),
       st.randoms(use_true_random=False), st.booleans(), st.sampled_from([":", ": ", " :"]))
def test_events_written_again_another_way_get_the_rows_of_the_general_path(objs, rnd, ascii_only,
                                                                            colon):
    """A retry with its keys reordered, its spacing or escapes changed, in the chunk of its
    first copy (rejected or not): every row is the one the general path makes of that line."""
    lines = [_write(obj, False, ": ") for obj in objs]
    for obj in objs:
        pairs = list(obj)
        rnd.shuffle(pairs)
        lines.append(_write(_Obj(pairs), ascii_only, colon))
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    assert _rows_by_workers(data) == _rows_by_general_path(data)


def test_a_retry_written_another_way_keeps_its_own_text_and_line():
    first = '{"client": "acme", "amount": "1.234,50 \u20ac", "ts": "2026-03-01 12:00:00"}'
    again = '{"ts":"2026-03-01 12:00:00","amount":"1.234,50 \\u20ac","client":"\\u0061cme"}'
    bad = '{"client": "acme"}'
    bad_again = '{ "client" : "acme" }'
    data = "\n".join([first, bad, again, bad_again]).encode() + b"\n"
    rows = [Prepared(*r) for r in _rows_by_workers(data)]
    assert [r.raw for r in rows] == [first, bad, again, bad_again]
    assert [r.line for r in rows] == [1, 2, 3, 4]
    assert rows[0].fingerprint == rows[2].fingerprint and rows[0].raw != rows[2].raw
    assert (rows[2].client, rows[2].amount, rows[2].currency) == ("acme", "1234.50", "EUR")
    # a rejected first copy lends nothing: each rejection names its own line
    assert [r.reason[:7] for r in rows[1::2]] == ["line 2,", "line 4,"]
    assert rows == [Prepared(*r) for r in _rows_by_general_path(data)]


def test_numbers_written_another_way_keep_their_own_amount_text():
    """12.50 and 12.5 (or 1 and 1.0) are one value: the same canonical form and fingerprint,
    but each event keeps the amount as its own line wrote it, on both paths."""
    data = (b'{"client": "a", "amount": 12.50}\n{"amount": 12.5, "client": "a"}\n'
            b'{"client": "b", "amount": 1}\n{"client": "b", "amount": 1.0}\n')
    rows = [Prepared(*r) for r in _rows_by_workers(data)]
    assert [r.amount for r in rows] == ["12.50", "12.5", "1", "1.0"]
    assert rows[0].fingerprint == rows[1].fingerprint and rows[2].fingerprint == rows[3].fingerprint
    assert rows == [Prepared(*r) for r in _rows_by_general_path(data)]


def test_a_line_sent_again_gets_its_own_line_number_and_the_same_fingerprint():
    line = '{"client": "acme", "amount": "12.50", "ts": 1772323200}'
    rows = [Prepared(*r) for r in _rows_by_workers(f"{line}\n{line}\n".encode())]
    assert [r.line for r in rows] == [1, 2]
    assert rows[0].fingerprint == rows[1].fingerprint
    assert (rows[0].client, rows[0].amount, rows[0].event_time) == (
        "acme", "12.50", "2026-03-01T00:00:00.000000Z")


def test_a_duplicate_key_is_rejected_with_its_line_and_column_on_the_fast_lane():
    data = b'{"client": "a", "amount": 1}\n{"client": "a", "amount": 1, "client": "b"}\n'
    rows = [Prepared(*r) for r in _rows_by_workers(data)]
    assert rows[0].reject_code is None
    assert rows[1].reject_code == "duplicate_key"
    assert rows[1].reason.startswith("line 2, column 30: ")
    assert rows == [Prepared(*r) for r in _rows_by_general_path(data)]


def test_worker_rows_equal_the_general_path_on_both_benchmark_shapes(tmp_path):
    from benchmarks.corpus import generate

    for shape in ("feed", "tidy"):
        path = tmp_path / f"{shape}.ndjson"
        generate(path, 3_000, seed=3, shape=shape)
        data = path.read_bytes()
        workers, general = _rows_by_workers(data), _rows_by_general_path(data)
        assert len(workers) >= 3_000  # a line may hold an array of events
        assert workers == general


def test_a_line_of_invalid_utf8_comes_back_as_its_bytes_with_the_rejection():
    data = (b'{"client": "a", "amount": 1}\n{"client": "\xff", "amount": 2}\n'
            b'{"client": "b", "amount": 3}\n')
    rows = [Prepared(*r) for r in _rows_by_workers(data)]
    assert [r.reject_code for r in rows] == [None, "invalid_utf8", None]
    assert rows[1].raw == b'{"client": "\xff", "amount": 2}'
    assert rows == [Prepared(*r) for r in _rows_by_general_path(data)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(60, 70), st.sampled_from(["nested", "in a string",
                                                                  "in keys"])),
                min_size=1, max_size=4),
       st.sampled_from(["\n", "\r\n", "\r"]))
def test_lines_near_the_depth_limit_go_the_way_the_general_path_goes(shapes, newline):
    """Brackets around MAX_DEPTH, nested or inside strings, with any line break, beside
    ordinary lines: the chunk-wide bracket check lets through only what the count would."""
    lines = ['{"client": "a", "amount": 1}']
    for n, where in shapes:
        if where == "nested":
            lines.append('{"client": "a", "amount": 1, "x": ' + "[" * (n - 1) + "]" * (n - 1) + "}")
        elif where == "in a string":
            lines.append('{"client": "a", "amount": 1, "x": "' + "{[" * (n // 2) + '"}')
        else:
            lines.append('{"client": "a", "amount": 1, "' + "[" * n + '": 2}')
        lines.append('{"client": "b", "amount": "2.50"}')
    data = newline.join(lines).encode() + newline.encode()
    assert _rows_by_workers(data) == _rows_by_general_path(data)


def test_amounts_with_an_exponent_are_written_in_plain_digits_under_any_context():
    data = (b'{"client": "a", "amount": 1E+3}\n{"client": "a", "amount": 12.50e-9}\n'
            b'{"client": "a", "amount": "1.5"}\n{"client": "a", "amount": -0.0}\n')
    for capitals in (0, 1):
        with localcontext() as context:
            context.capitals = capitals
            rows = [Prepared(*r) for r in _rows_by_workers(data)]
            assert [r.amount for r in rows] == ["1000", "0.00000001250", "1.5", "-0.0"]
            assert rows == [Prepared(*r) for r in _rows_by_general_path(data)]


@settings(max_examples=300, deadline=None)
@given(st.lists(_lines, min_size=1, max_size=12), st.lists(st.integers(0, 11), max_size=4),
       st.sampled_from([",\n", ", ", ",\r\n  ", "\n,"]), st.sampled_from(["[", "[\n", " [\r\n"]))
def test_worker_rows_equal_the_general_path_on_a_json_array(lines, repeats, comma, opening):
    """The elements of a JSON array, which the stream splitter cuts, retries among them: each
    row is the general path's, with the element's own line and column."""
    lines = lines + [lines[i % len(lines)] for i in repeats]
    data = (opening + comma.join(lines) + "]\n").encode("utf-8", "surrogatepass")
    assert _rows_by_workers(data) == _rows_by_general_path(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_events, _event_like), min_size=1, max_size=6),
       st.lists(st.integers(0, 5), max_size=3), st.sampled_from([None, 2, 4]))
def test_worker_rows_equal_the_general_path_on_objects_one_after_another(objs, repeats, indent):
    """Objects one after another (pretty-printed, or several on a line), with retries."""
    texts = []
    for obj in objs + [objs[i % len(objs)] for i in repeats]:
        compact = _write(obj, False, ": ")
        try:  # pretty-printed when it is valid JSON; as written otherwise
            texts.append(json.dumps(json.loads(compact), indent=indent, ensure_ascii=False)
                         if indent else compact)
        except ValueError:
            texts.append(compact)
    data = ("\n".join(texts) if indent else " ".join(texts)).encode("utf-8", "surrogatepass")
    assert _rows_by_workers(data) == _rows_by_general_path(data)
