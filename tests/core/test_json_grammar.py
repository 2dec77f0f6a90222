"""JSON is read exactly as JSON: a corpus of the grammar's corners, and hypothesis fuzz of the
parser and the normalizer, with Python's json module as the oracle.

``cases/json_grammar/cases.jsonl`` holds one case a line, named in the manner of JSONTestSuite:

- ``y_...``: JSON that must be read, and read exactly as ``json.loads`` reads it (non-integers
  as exact ``Decimal``, never float);
- ``n_...``: not JSON; it must get a typed rejection with a line and column;
- ``x_...``: JSON (``json.loads`` reads it) that the engine's documented rules reject: NaN and
  Infinity, duplicate keys, numbers over 100 digits or with an exponent over 18 digits (what
  Decimal holds), nesting over 64 levels (the event is one), lone surrogates, UTF-16 input,
  and an event that is not an object.

A case gives ``value`` (or ``value_hex``, raw bytes), put as ``"x"`` into a valid event, or
``event`` (or ``event_hex``), the whole input; ``expect`` is ``"valid"`` or the rejection code.
"""
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultsim_desktop.core.fingerprint import canonical_number
from faultsim_desktop.core.model import Candidate, RejectCode, RejectedEvent
from faultsim_desktop.core.normalize import normalize
from faultsim_desktop.core.parsing import MAX_NUMBER_DIGITS, decode_value, split_text
from faultsim_desktop.core.pipeline import prepare_one

CASES_FILE = Path(__file__).parent / "cases" / "json_grammar" / "cases.jsonl"
RECEIVED = "2024-06-01T12:00:00.000000Z"
NOT_JSON = object()


def _load():
    return [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines()
            if line.strip()]


CASES = _load()


def _prefix(case) -> bytes:
    return b'{"client": "c", "amount": 1, "case": "%s", "x": ' % case["id"].encode()


def case_input(case) -> bytes:
    if "value" in case:
        return _prefix(case) + case["value"].encode("utf-8") + b"}"
    if "value_hex" in case:
        return _prefix(case) + bytes.fromhex(case["value_hex"]) + b"}"
    if "event" in case:
        return case["event"].encode("utf-8")
    return bytes.fromhex(case["event_hex"])


def oracle(data: bytes):
    """What Python's json module reads (it detects UTF-8, a BOM and UTF-16), or NOT_JSON."""
    try:
        try:
            return json.loads(data, parse_float=Decimal)
        except ArithmeticError:  # an exponent Decimal cannot hold: still JSON (read as float)
            return json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError
        return NOT_JSON


def same_json(a, b) -> bool:
    """Equal as JSON values, types included: 1 is not 1.0, and 1.0 is not 1.00."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same_json, a, b))
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()
    return a == b


def test_the_corpus_covers_the_grammar():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 150
    for group in ("number", "string", "literal", "array", "object", "structure", "whitespace",
                  "event", "bytes"):
        assert {i[:2] for i in ids if f"_{group}_" in i} == {"y_", "n_", "x_"} - (
            {"x_"} if group in ("literal", "array", "whitespace") else set()), group


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_grammar_case(case):
    data = case_input(case)
    expected = oracle(data)
    kind = case["id"][:2]
    got = split_text(data)
    assert all(isinstance(c, Candidate) and (c.obj is None) != (c.rejection is None)
               for c in got)
    if case["expect"] == "valid":
        assert kind == "y_" and expected is not NOT_JSON, "the corpus must agree with JSON"
        (cand,) = got
        assert cand.rejection is None and same_json(cand.obj, expected)
        prepared = prepare_one(cand, RECEIVED)
        assert prepared.reject_code is None and len(prepared.fingerprint) == 32
        return
    assert kind in ("n_", "x_") and (expected is NOT_JSON) == (kind == "n_"), \
        "the corpus must agree with JSON: n_ is not JSON, x_ is JSON our rules reject"
    rejections = [c.rejection for c in got if c.rejection is not None]
    assert rejections, got
    first = rejections[0]
    assert first.code is RejectCode(case["expect"]), first
    assert first.line >= 1 and first.column >= 1
    if "value" in case or "value_hex" in case:  # the problem is found in the value, not before
        assert (first.line, first.column) >= (1, len(_prefix(case)) + 1), first
    if "value" in case or "event" in case:  # the editor's one-value check agrees
        text = data.decode("utf-8")
        if not text.startswith("\ufeff"):
            single = decode_value(text)
            assert single.rejection is not None and single.rejection.code is first.code


def test_the_corpus_through_the_engine(service):
    """Every case through IngestService: y_ accepted once; n_ and x_ rejected and kept in
    quarantine with the case as the source and the code and position in the reason."""
    tickets = [(case, service.submit_text(case_input(case), source=case["id"],
                                          keep_records=True)) for case in CASES]
    for case, ticket in tickets:
        summary = ticket.wait(60)
        if case["expect"] == "valid":
            assert (summary.accepted, summary.rejected) == (1, 0), case["id"]
            continue
        assert summary.rejected >= 1, case["id"]
        first = next(r for r in ticket.records if r.outcome.value == "rejected")
        assert re.match(r"line \d+, column \d+: ", first.reason), first.reason
        entry = service.quarantine_entry(first.quarantine_id)
        assert entry.code == case["expect"], case["id"]
        # the same raw text in a later case (a stray "}") updates the entry's source
        assert entry.source == case["id"] or entry.times_seen > 1
    assert service.stats() == service.stats_from_events()


def test_numbers_that_differ_past_the_28th_digit_are_different_events(service):
    """Regression: the fingerprint normalized numbers in Decimal's default context, which
    rounds to 28 digits, so the second event of each pair was dropped as a duplicate; and an
    exponent over 999999 (1e1000000, valid JSON) was rejected as an 'unpaired surrogate'."""
    a = '{"client": "c", "amount": 1234567890123456789012345678.91}'
    b = '{"client": "c", "amount": 1234567890123456789012345678.92}'
    c = '{"client": "d", "amount": 1, "ref": 0.12345678901234567890123456789012}'
    d = '{"client": "d", "amount": 1, "ref": 0.12345678901234567890123456789013}'
    e = '{"client": "e", "amount": 1, "ref": 1e1000000}'
    summary = service.submit_text("\n".join([a, b, c, d, e, a])).wait()
    assert (summary.accepted, summary.duplicates, summary.rejected) == (5, 1, 0)
    assert {(r.client, r.count, r.total) for r in service.stats()} == {
        ("c", 2, Decimal("2469135780246913578024691357.83")), ("d", 2, Decimal(2)),
        ("e", 1, Decimal(1))}


# fuzz: arbitrary JSON, written every way json.dumps can, read as json.loads reads it

_MARK = "\x00num\x01"  # a placeholder string; json.dumps writes it as "\u0000num\u0001..."
_number_texts = (
    st.integers().map(str)
    | st.integers(min_value=10 ** 95, max_value=10 ** 105).map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.from_regex(r"-?(0|[1-9][0-9]{0,40})(\.[0-9]{1,40})?([eE][-+]?[0-9]{1,7})?",
                    fullmatch=True)
    | st.from_regex(r"-?[1-9](\.[0-9]{1,3})?[eE][-+]?[1-9][0-9]{15,19}", fullmatch=True)
)
_strings = st.text(max_size=12) | st.text(
    alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=4) | \
    st.sampled_from(["\\ud800", "\u202e", "\U0001F600", "\x00", "\ufeff", "\u2028", '"', "\\"])
_json = st.recursive(
    st.none() | st.booleans() | _strings | _number_texts.map(lambda t: (_MARK, t)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_strings, inner, max_size=4),
    max_leaves=16)
KEYS = ["client", "Client-ID", "customer", "id", "amount", "price", "amount_cents", "cost",
        "currency", "ccy", "ts", "timestamp", "date", "event_id", "idempotency_key", "meta",
        "x", "note"]


def _render(value, numbers: list) -> object:
    """Numbers become placeholders that json.dumps writes as strings (swapped back after)."""
    if isinstance(value, tuple):
        numbers.append(value[1])
        return f"{_MARK}{len(numbers) - 1}"
    if isinstance(value, list):
        return [_render(v, numbers) for v in value]
    if isinstance(value, dict):
        return {k: _render(v, numbers) for k, v in value.items()}
    return value


def _dumps(obj, numbers, ensure_ascii, indent, separators) -> str:
    text = json.dumps(_render(obj, numbers), ensure_ascii=ensure_ascii, indent=indent,
                      separators=separators)
    return re.sub(r'"\\u0000num\\u0001(\d+)"', lambda m: numbers[int(m.group(1))], text)


def _lone_surrogate(value) -> bool:
    if isinstance(value, str):
        return bool(re.search("[\ud800-\udfff]", value))
    if isinstance(value, list):
        return any(map(_lone_surrogate, value))
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    return False


def _decimal_holds(number: str) -> bool:
    try:
        Decimal(number)
    except ArithmeticError:  # an exponent over 18 digits
        return False
    return True


def _numbers(value):
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)


def _has_float(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)):
        return any(map(_has_float, value))
    if isinstance(value, dict):
        return any(map(_has_float, value.values()))
    return False


def _check_prepared(cand) -> None:
    """The only outcomes of the CPU stage: a typed rejection, or an exact event; and the
    rejection is the right one (the parser's, else the normalizer's)."""
    p = prepare_one(cand, RECEIVED)
    if cand.rejection is not None:
        assert p.reject_code == cand.rejection.code.value
    elif _lone_surrogate(cand.obj):
        assert p.reject_code == RejectCode.UNPAIRED_SURROGATE.value
    else:
        try:
            event = normalize(cand.obj, received_at=RECEIVED)
        except RejectedEvent as exc:
            assert p.reject_code == exc.rejection.code.value, p.reason
        else:
            assert p.reject_code is None, p.reason
            assert p.amount == format(event.amount, "f")
    if p.reject_code is not None:
        assert p.reject_code in {c.value for c in RejectCode}
        assert re.match(r"line \d+(, column \d+)?: .", p.reason), p.reason
        return
    assert isinstance(p.fingerprint, bytes) and len(p.fingerprint) == 32
    for n in _numbers(cand.obj):  # the fingerprint sees every number exactly, unrounded
        assert Decimal(canonical_number(n)) == n, n
    assert isinstance(p.client, str) and p.client and p.client_key == p.client.casefold()
    assert isinstance(p.amount, str) and Decimal(p.amount).is_finite()
    assert p.amount == format(Decimal(p.amount), "f")  # plain exact decimal text
    assert p.event_time.endswith("Z")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(st.sampled_from(KEYS) | _strings, _json, max_size=5),
       x=_json, ensure_ascii=st.booleans(), indent=st.sampled_from([None, 0, 2, "\t"]),
       separators=st.sampled_from([None, (",", ":"), (" , ", " : ")]))
def test_arbitrary_json_is_read_as_json_then_normalized_or_rejected(fields, x, ensure_ascii,
                                                                    indent, separators):
    numbers: list[str] = []
    event = {**fields, "x": x}
    text = _dumps(event, numbers, ensure_ascii, indent, separators)
    data = text.encode("utf-8", "surrogatepass")
    expected = oracle(data)
    got = split_text(data)
    too_long = any(len(re.findall("[0-9]", n)) > MAX_NUMBER_DIGITS or not _decimal_holds(n)
                   for n in numbers)
    if expected is NOT_JSON:  # raw surrogates: the bytes are not UTF-8
        assert [c.rejection.code for c in got] == [RejectCode.UNPAIRED_SURROGATE]
        return
    if too_long or _lone_surrogate(expected):
        codes = {RejectCode.NUMBER_TOO_LONG} if too_long else set()
        codes |= {RejectCode.UNPAIRED_SURROGATE} if _lone_surrogate(expected) else set()
        (cand,) = got
        assert cand.rejection is not None and cand.rejection.code in codes, cand.rejection
        return
    (cand,) = got
    assert cand.rejection is None, cand.rejection
    assert same_json(cand.obj, expected) and not _has_float(cand.obj)
    _check_prepared(cand)


# fuzz: arbitrary bytes and damaged events through parse, normalize and fingerprint

_events = st.builds(lambda fields, ascii_: _dumps(fields, [], ascii_, None, None),
                    st.dictionaries(st.sampled_from(KEYS), _json, min_size=1, max_size=4),
                    st.booleans())


@st.composite
def _damaged(draw):
    """One to three events on lines of their own, then a few bytes changed, added or cut."""
    lines = draw(st.lists(_events, min_size=1, max_size=3))
    data = bytearray("\n".join(lines).encode("utf-8", "surrogatepass"))
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        b = draw(st.sampled_from(list(b'{}[]",:\\ \n\r\x00\xff\xed\xef\xbb\xbf0-eE.') + [0x80]))
        if op == "flip":
            data[i] = b
        elif op == "insert":
            data.insert(i, b)
        else:
            del data[i]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), _damaged()))
def test_arbitrary_bytes_give_only_events_or_typed_rejections(data):
    for cand in split_text(data):
        assert isinstance(cand, Candidate) and (cand.obj is None) != (cand.rejection is None)
        assert not _has_float(cand.obj)
        _check_prepared(cand)
