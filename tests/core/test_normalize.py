"""Normalization: messy event -> client, exact amount, currency, UTC time, warnings, or a rejection."""
from __future__ import annotations

import json
from decimal import Context, Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultsim_desktop.core.model import NormalizedEvent, RejectCode, RejectedEvent
from faultsim_desktop.core.normalize import (
    client_display,
    field_key,
    normalize,
    parse_amount,
    parse_time,
)
from faultsim_desktop.core import normalize as normalize_module
from faultsim_desktop.core.normalize import amounts, fields

RECEIVED = "2024-06-01T12:00:00.000000Z"
PROJECT_CASES = Path(__file__).parent / "cases" / "normalize_cases.jsonl"


def load_cases(path: Path) -> list:
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            # JSON non-integers reach normalize as Decimal, exactly as the parser hands them over.
            cases.append(json.loads(line, parse_float=Decimal))
    return cases


def check_case(case: dict) -> None:
    expect = case["expect"]
    if expect == "rejected":
        with pytest.raises(RejectedEvent) as info:
            normalize(case["event"], received_at=RECEIVED)
        assert info.value.rejection.message, "a rejection must say why"
        return
    event = normalize(case["event"], received_at=RECEIVED)
    assert event.client == expect["client"]
    assert type(event.amount) is Decimal
    assert event.amount == Decimal(expect["amount"])
    assert event.currency == expect["currency"]


def reject(obj: dict) -> tuple[RejectCode, str]:
    with pytest.raises(RejectedEvent) as info:
        normalize(obj, received_at=RECEIVED)
    return info.value.rejection.code, info.value.rejection.message


_project_cases = load_cases(PROJECT_CASES)


@pytest.mark.parametrize("case", _project_cases, ids=[c["why"] for c in _project_cases])
def test_project_case(case):
    check_case(case)


# field names


@pytest.mark.parametrize(
    "name", ["clientId", "Client-ID", "CLIENT_ID", "client_id", "client id", "Client__Id"]
)
def test_field_key_matches_spellings(name):
    assert field_key(name) == "clientid"


def test_field_key_cache_stays_bounded():
    for n in range(fields._KEY_INFO_MAX + 500):
        field_key(f"junk field {n}")
    assert len(fields._KEY_INFO) <= fields._KEY_INFO_MAX
    assert field_key("Fresh-Key_Never Seen") == "freshkeyneverseen"


# rejections say what and where


def test_unparseable_amount_message_names_value_and_field():
    code, message = reject({"client": "a", "price": "twelve"})
    assert code is RejectCode.BAD_AMOUNT
    assert message == 'amount "twelve" in field "price" is not a number'


@pytest.mark.parametrize(
    ("obj", "code", "words"),
    [
        ({"amount": 5}, RejectCode.NO_CLIENT, ["client_id", "id"]),
        ({"client": None, "amount": 5}, RejectCode.NO_CLIENT, ['"client"', "null"]),
        ({"customer": "   ", "amount": 5}, RejectCode.NO_CLIENT, ['"customer"', "blank"]),
        ({"client": True, "amount": 5}, RejectCode.BAD_CLIENT, ["true", '"client"']),
        ({"client": Decimal("1.5"), "amount": 5}, RejectCode.BAD_CLIENT, ["1.5", '"client"']),
        ({"client": "a"}, RejectCode.NO_AMOUNT, ["amount", "cents"]),
        ({"client": "a", "fee": None}, RejectCode.NO_AMOUNT, ['"fee"', "null"]),
        ({"client": "a", "fee": True}, RejectCode.BAD_AMOUNT, ['"fee"', "true"]),
        ({"client": "a", "fee": [1]}, RejectCode.BAD_AMOUNT, ['"fee"', "list"]),
        ({"client": "a", "amount": "12 XYZ"}, RejectCode.BAD_AMOUNT, ['"XYZ"', "currency"]),
        ({"client": "a", "amount": "1,234.567.8"}, RejectCode.BAD_AMOUNT, ['"1,234.567.8"', "decimal point"]),
        ({"client": "a", "amount": "1e400"}, RejectCode.BAD_AMOUNT, ["100 digits"]),
        ({"client": "a", "amount": Decimal("1e400")}, RejectCode.BAD_AMOUNT, ["100 digits"]),
        ({"client": "a", "amount": 10**150}, RejectCode.BAD_AMOUNT, ["100 digits"]),
        ({"client": "a", "amount_cents": Decimal("12.5")}, RejectCode.BAD_AMOUNT, ['"amount_cents"', "whole"]),
        ({"client": "a", "amount": {"currency": "EUR"}}, RejectCode.BAD_AMOUNT, ['"amount"', "no value"]),
        ({"client": "a", "amount": 1, "currency": "dollars"}, RejectCode.BAD_AMOUNT, ['"dollars"', '"currency"']),
        ({"client": "a", "meta": {"price": "x"}}, RejectCode.BAD_AMOUNT, ['"meta.price"']),
    ],
)
def test_rejection_code_and_message(obj, code, words):
    got_code, message = reject(obj)
    assert got_code is code
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "obj",
    [
        {"client": "a", "amount": "$5", "currency": "EUR"},
        {"client": "a", "amount": "$12 EUR"},
        {"client": "a", "amount": "EUR 12 GBP"},
        {"client": "a", "amount": {"value": "12 USD", "currency": "EUR"}},
        {"client": "a", "amount": {"value": 5, "currency": "EUR"}, "ccy": "USD"},
    ],
)
def test_two_currencies_for_one_amount_are_a_conflict(obj):
    code, message = reject(obj)
    assert code is RejectCode.CURRENCY_CONFLICT
    assert "EUR" in message and ("USD" in message or "GBP" in message)


def test_conflict_inside_a_nested_object_names_both_nested_fields():
    code, message = reject({"client": "a", "meta": {"price": "$5", "ccy": "EUR"}})
    assert code is RejectCode.CURRENCY_CONFLICT
    assert message == 'amount "$5" in field "meta.price" is in USD but field "meta.ccy" says EUR'


def test_rejections_are_the_only_exception_type():
    with pytest.raises(RejectedEvent) as info:
        normalize({"client": "a", "amount": "oops"}, received_at=RECEIVED)
    assert isinstance(info.value.rejection.code, RejectCode)
    assert str(info.value) == info.value.rejection.message


# amounts are exact


@pytest.mark.parametrize(
    ("value", "amount", "currency"),
    [
        (Decimal("0.1"), "0.1", None),
        (Decimal("12.50"), "12.50", None),
        (12345678901234567890123, "12345678901234567890123", None),
        ("12.50", "12.50", None),
        ("$1,234.50", "1234.50", "USD"),
        ({"value": "9.99", "currency": "eur"}, "9.99", "EUR"),
        ({"amount_cents": 1250, "currency": "GBP"}, "12.50", "GBP"),
    ],
)
def test_parse_amount_keeps_scale_and_exact_value(value, amount, currency):
    got, got_currency = parse_amount(value)
    assert str(got) == amount  # the scale as written, not just an equal value
    assert got_currency == currency


def test_cents_become_hundredths_with_two_places():
    event = normalize({"client": "a", "amount_cents": 1250}, received_at=RECEIVED)
    assert str(event.amount) == "12.50"


def test_no_float_is_involved_for_values_floats_cannot_hold():
    event = normalize({"client": "a", "amount": "0.1000000000000000055511151231257827"}, received_at=RECEIVED)
    assert event.amount == Decimal("0.1000000000000000055511151231257827")


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**12, max_value=10**12)
)
def test_grouped_amount_strings_round_trip(value):
    us = format(value, ",f")
    european = us.replace(",", "_").replace(".", ",").replace("_", ".")
    assert parse_amount(us)[0] == value
    assert parse_amount("$" + us) == (value, "USD")
    assert parse_amount(european + " EUR") == (value, "EUR")
    assert parse_amount("EUR " + us) == (value, "EUR")
    assert parse_amount(us + "usd") == (value, "USD")
    # The fast path and the general rules must agree on every shape the fast path accepts.
    general = amounts._parse_amount_general
    assert general(us, us, "amount") == (value, None)
    assert general("$" + us, us, "amount") == (value, "USD")
    assert general("EUR " + us, us, "amount") == (value, "EUR")


def _general_or_reason(text):
    if not text.strip():
        return RejectCode.NO_AMOUNT  # blank: said before any path reads it
    try:
        amount, currency = amounts._parse_amount_general(text.strip(), text, "amount")
        return str(amount), currency  # the text too: "12.50" is stored as written
    except RejectedEvent as exc:
        return exc.rejection.code


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(
    list("0123456789") * 4 + list(".,'\u2019 \u00a0\u202f\u2009$€£¥-+\u2212()")
    + ["EUR", "usd", "CHF", "XYZ", " ", "12", "345", ",000", ".000"]), min_size=1, max_size=14))
def test_the_fast_amount_paths_read_what_the_general_rules_read(parts):
    """Random strings of the amount alphabet: whatever the fast paths accept, the general
    rules read the same way; whatever those reject stays rejected."""
    text = "".join(parts)
    try:
        amount, currency = parse_amount(text)
        fast = str(amount), currency
    except RejectedEvent as exc:
        fast = exc.rejection.code
    assert fast == _general_or_reason(text), text


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(10**40), max_value=10**40))
def test_integer_amounts_and_cents_are_exact(n):
    assert normalize({"client": "a", "amount": n}, received_at=RECEIVED).amount == Decimal(n)
    cents = normalize({"client": "a", "amountCents": str(n)}, received_at=RECEIVED).amount
    assert cents.scaleb(2, Context(prec=100)) == n
    assert cents.as_tuple().exponent == -2


# clients


def test_client_display_nfc_trim_collapse():
    assert client_display("  Cafe\u0301 \u00a0 Corp\t") == "Caf\u00e9 Corp"
    assert client_display(42) == "42"


def test_clients_group_case_insensitively_in_first_seen_form():
    first = normalize({"client": "Acme  Corp", "amount": 1}, received_at=RECEIVED)
    second = normalize({"client": "ACME CORP", "amount": 2}, received_at=RECEIVED)
    third = normalize({"client": "acme corp", "amount": 3}, received_at=RECEIVED)
    assert first.client == "Acme Corp"
    assert second.client == "ACME CORP"
    assert first.client_key == second.client_key == third.client_key == "acme corp"


def test_client_key_casefolds_and_composes():
    composed = normalize({"client": "STRASSE Caf\u00e9", "amount": 1}, received_at=RECEIVED)
    decomposed = normalize({"client": "stra\u00dfe cafe\u0301", "amount": 1}, received_at=RECEIVED)
    assert composed.client_key == decomposed.client_key


def test_duplicate_spellings_use_first_and_warn():
    event = normalize({"client_id": "first", "clientId": "second", "amount": 1}, received_at=RECEIVED)
    assert event.client == "first"
    assert any('"client_id"' in w and '"clientId"' in w for w in event.warnings)


def test_duplicate_spelling_of_an_unused_field_does_not_warn():
    event = normalize(
        {"client": "a", "id": "x", "ID": "y", "amount": 1, "ts": 0}, received_at=RECEIVED
    )
    assert event.warnings == ()


# time


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1704164645, "2024-01-02T03:04:05.000000Z"),
        (1704164645123, "2024-01-02T03:04:05.123000Z"),
        (1704164645123456, "2024-01-02T03:04:05.123456Z"),
        (Decimal("1704164645.5"), "2024-01-02T03:04:05.500000Z"),
        ("1704164645", "2024-01-02T03:04:05.000000Z"),
        ("1704164645123", "2024-01-02T03:04:05.123000Z"),
        (-1, "1969-12-31T23:59:59.000000Z"),
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000000Z"),
        ("2024-01-02T03:04:05.5Z", "2024-01-02T03:04:05.500000Z"),
        ("2024-01-02T05:04:05+02:00", "2024-01-02T03:04:05.000000Z"),
        ("2024-01-02T03:04:05", "2024-01-02T03:04:05.000000Z"),
        ("2024-01-02 03:04:05", "2024-01-02T03:04:05.000000Z"),
        ("2024-01-02", "2024-01-02T00:00:00.000000Z"),
        ("Tue, 02 Jan 2024 03:04:05 +0000", "2024-01-02T03:04:05.000000Z"),
        ("Tue, 02 Jan 2024 03:04:05 -0500", "2024-01-02T08:04:05.000000Z"),
        ("0099-01-01T00:30:00+01:00", "0098-12-31T23:30:00.000000Z"),
    ],
)
def test_parse_time_to_utc(value, expected):
    assert parse_time(value) == expected


@settings(max_examples=2000, deadline=None)
@given(st.integers(min_value=-(10**11) + 1, max_value=10**11 - 1))
def test_whole_epoch_seconds_read_as_the_calendar_says(seconds):
    """Whole seconds go through a per-minute cache; they must read as datetime reads them
    (and be None where the year leaves 1..9999), repeated calls included."""
    from datetime import datetime, timedelta, timezone
    try:
        dt = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    except OverflowError:
        expected = None
    else:
        expected = "%04d-%02d-%02dT%02d:%02d:%02d.000000Z" % (
            dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)
    assert parse_time(seconds) == expected
    assert parse_time(seconds) == expected  # from the cache this time
    assert parse_time(str(seconds)) == expected


@pytest.mark.parametrize(
    "value",
    ["yesterday", "", "   ", True, None, [], {}, 10**17, "1e3", Decimal("NaN"),
     "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "2024-13-01", -(10**11) + 1],
)
def test_unparseable_time_is_none(value):
    assert parse_time(value) is None


def test_event_time_from_nested_object():
    event = normalize({"client": "a", "amount": 1, "meta": {"created_at": 0}}, received_at=RECEIVED)
    assert event.event_time == "1970-01-01T00:00:00.000000Z"
    assert event.warnings == ()


def test_missing_time_uses_receipt_with_warning():
    event = normalize({"client": "a", "amount": 1}, received_at="2024-06-01T12:00:00Z")
    assert event.event_time == RECEIVED
    assert event.warnings == ("no event time; used the time of receipt",)


def test_unparseable_time_uses_receipt_with_warning_naming_it():
    event = normalize({"client": "a", "amount": 1, "date": "next tuesday"}, received_at=RECEIVED)
    assert event.event_time == RECEIVED
    assert len(event.warnings) == 1
    assert '"next tuesday"' in event.warnings[0] and '"date"' in event.warnings[0]


def test_time_field_priority():
    event = normalize(
        {"client": "a", "amount": 1, "date": "2020-01-01", "timestamp": 1704164645},
        received_at=RECEIVED,
    )
    assert event.event_time == "2024-01-02T03:04:05.000000Z"


# idempotency keys


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"idempotency_key": "  abc  "}, "abc"),
        ({"eventId": 12345678901234567890}, "12345678901234567890"),
        ({"Message-ID": Decimal("7")}, "7"),
        ({"event_id": "e1", "message_id": "m1"}, "e1"),
        ({}, None),
    ],
)
def test_idempotency_key(fields, key):
    event = normalize({"client": "a", "amount": 1, "ts": 0, **fields}, received_at=RECEIVED)
    assert event.idempotency_key == key
    assert event.warnings == ()


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_blank_idempotency_key_is_absent_with_warning(blank):
    event = normalize({"client": "a", "amount": 1, "ts": 0, "idempotency_key": blank}, received_at=RECEIVED)
    assert event.idempotency_key is None
    assert len(event.warnings) == 1 and "idempotency key" in event.warnings[0]


def test_blank_idempotency_key_falls_back_to_next_name():
    event = normalize(
        {"client": "a", "amount": 1, "ts": 0, "idempotency_key": None, "message_id": "m-1"},
        received_at=RECEIVED,
    )
    assert event.idempotency_key == "m-1"
    assert len(event.warnings) == 1


@pytest.mark.parametrize("bad", [True, False, [1], {"a": 1}, Decimal("1.5"), Decimal("NaN")])
def test_bad_idempotency_key_rejected(bad):
    code, message = reject({"client": "a", "amount": 1, "event_id": bad})
    assert code is RejectCode.BAD_IDEMPOTENCY_KEY
    assert '"event_id"' in message


# totality

INTERESTING_KEYS = [
    "client", "clientId", "Client-ID", "client_id", "id", "source", "user_id", "customer",
    "amount", "Amount", "price", "value", "fee", "amount_cents", "priceCents", "total_cents",
    "currency", "ccy", "cur", "currency_code", "ts", "timestamp", "date", "time",
    "idempotency_key", "event_id", "messageId", "meta", "details", "cents",
]
AMOUNTISH = st.text(alphabet="0123456789.,'\u2019 \u00a0\u202f$€£¥()+-eEUSDRGBPxz\t", max_size=16)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**120), max_value=10**120)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | AMOUNTISH
    | st.sampled_from(["2024-01-02T03:04:05Z", "Tue, 02 Jan 2024 03:04:05 +0000", "EUR", "usd", "$"])
)
keys = st.sampled_from(INTERESTING_KEYS) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(keys, json_values, max_size=8))
def test_normalize_is_total(obj):
    try:
        event = normalize(obj, received_at=RECEIVED)
    except RejectedEvent as exc:
        assert isinstance(exc.rejection.code, RejectCode)
        assert exc.rejection.message
        return
    assert isinstance(event, NormalizedEvent)
    assert type(event.amount) is Decimal and event.amount.is_finite()
    assert event.client and event.client == client_display(event.client)
    assert event.client_key == event.client.casefold()
    assert event.currency is None or event.currency in normalize_module.ISO_4217
    assert event.event_time is not None and event.event_time.endswith("Z")
    assert all(isinstance(w, str) for w in event.warnings)


@settings(max_examples=500, deadline=None)
@given(scalars | json_values)
def test_parse_time_never_raises(value):
    result = parse_time(value)
    assert result is None or (len(result) == 27 and result.endswith("Z"))
