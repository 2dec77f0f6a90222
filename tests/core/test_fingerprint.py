import json
from decimal import Decimal

import pytest

from faultsim_desktop.core.fingerprint import NotCanonicalizable, canonical_json, fingerprint


def parse(text):
    return json.loads(text, parse_float=Decimal)


@pytest.mark.parametrize("a, b", [
    ('{"client": "a", "amount": 1}', '{ "amount" : 1 , "client" : "a" }'),
    ('{"client": "caf\\u00e9", "amount": 1}', '{"client": "café", "amount": 1}'),
    ('{"client": "a", "amount": 1.0}', '{"client": "a", "amount": 1}'),
    ('{"client": "a", "amount": 12.50}', '{"client": "a", "amount": 12.5}'),
    ('{"client": "a", "amount": 1e2}', '{"client": "a", "amount": 100}'),
    ('{"x": {"b": [1.10, 2], "a": null}}', '{"x": {"a": null, "b": [1.1, 2.0]}}'),
    ('{"n": 12345678901234567890123}', '{"n": 12345678901234567890123.000}'),
    ('{"n": -0.0}', '{"n": 0}'),
])
def test_retries_written_differently_share_a_fingerprint(a, b):
    assert fingerprint(parse(a)) == fingerprint(parse(b))


@pytest.mark.parametrize("a, b", [
    ('{"client": "a", "amount": 1}', '{"client": "a", "amount": 2}'),
    ('{"client": "a", "amount": 1}', '{"client": "A", "amount": 1}'),
    ('{"client": "a", "amount": 1}', '{"client": "a", "amount": "1"}'),
    ('{"client": "a", "amount": 1}', '{"client": "a", "amount": 1, "note": null}'),
    ('{"x": [1, 2]}', '{"x": [2, 1]}'),
    ('{"n": 12345678901234567890}', '{"n": 12345678901234567891}'),
    ('{"n": 0.1}', '{"n": 0.10000000000000001}'),
])
def test_any_different_value_is_a_different_event(a, b):
    assert fingerprint(parse(a)) != fingerprint(parse(b))


def test_canonical_form_is_sorted_compact_utf8():
    assert canonical_json(parse('{"b": 1.50, "a": "é"}')) == '{"a":"é","b":1.5}'.encode()


def test_fingerprint_is_sha256_bytes():
    fp = fingerprint({"a": 1})
    assert isinstance(fp, bytes) and len(fp) == 32


def test_lone_surrogate_cannot_be_canonicalized():
    with pytest.raises(NotCanonicalizable):
        fingerprint({"client": "\ud800"})
