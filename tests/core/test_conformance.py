"""The shared conformance cases of the normalization contract (../shared/conformance/).

They must pass, never skip, in CI. Outside CI, a clone without the shared folder skips here and
still tests the contract through tests/core/cases/ (test_normalize.py and test_parsing.py).
"""
import json
from decimal import Decimal
from pathlib import Path

import pytest

from faultsim_desktop.core.model import RejectedEvent
from faultsim_desktop.core.normalize import normalize
from faultsim_desktop.core.parsing import split_text

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"


def _cases(name):
    path = SHARED / name
    if not path.exists():  # never a skip: an untested contract must not look green
        pytest.fail(f"{path} is missing: the shared conformance cases sit beside the project "
                    "(../shared/conformance); the contract cannot be checked without them")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line, parse_float=Decimal) for line in lines if line.strip()]


def test_shared_normalization_cases():
    failures = []
    cases = _cases("normalize.jsonl")
    assert cases
    for case in cases:
        expect = case["expect"]
        try:
            ev = normalize(case["event"], received_at="2024-01-01T00:00:00.000000Z")
        except RejectedEvent as exc:
            if expect != "rejected":
                failures.append(f"{case['why']}: rejected ({exc})")
            continue
        if expect == "rejected":
            failures.append(f"{case['why']}: accepted as {ev}")
        elif (ev.client, ev.amount, ev.currency) != (expect["client"], Decimal(expect["amount"]),
                                                      expect["currency"]):
            failures.append(f"{case['why']}: got {(ev.client, ev.amount, ev.currency)}")
    assert failures == []


def test_shared_raw_input_cases():
    failures = []
    cases = _cases("raw_inputs.jsonl")
    assert cases
    for case in cases:
        got = split_text(case["text"])
        events = [c for c in got if c.obj is not None]
        rejections = [c for c in got if c.rejection is not None]
        if case["expect"] == "rejected":
            if events or not rejections:
                failures.append(f"{case['why']}: {len(events)} events, {len(rejections)} rejections")
            elif any(not str(r.rejection) for r in rejections):
                failures.append(f"{case['why']}: a rejection without a reason")
        elif len(events) != case["expect"]["events"] or rejections:
            failures.append(f"{case['why']}: {len(events)} events, "
                            f"{[str(r.rejection) for r in rejections]}")
    assert failures == []


def test_truncated_object_names_line_and_column():
    [c] = [c for c in split_text('{"client": "a",\n "amount": 1') if c.rejection]
    assert c.rejection.line is not None and c.rejection.column is not None
    assert "line" in str(c.rejection) and "column" in str(c.rejection)
