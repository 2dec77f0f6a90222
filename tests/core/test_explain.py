"""Explain: which field gave each role, by which rule, how the amount was read, and every copy
folded into an event; `faultsim explain` as text and JSON."""
import json
from decimal import Decimal
from pathlib import Path

import pytest

from benchmarks.corpus import generate
from faultsim_desktop.cli.main import main
from faultsim_desktop.core.explain import ROLES, explain_event
from faultsim_desktop.core.fingerprint import canonical_json, fingerprint
from faultsim_desktop.core.model import RejectedEvent
from faultsim_desktop.core.normalize import normalize
from faultsim_desktop.core.schemas import new_mapping

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"


def _ingest(service, text: str, source: str = "pasted"):
    return service.submit_text(text, source).wait()


def test_each_role_by_heuristics(service):
    _ingest(service, '{"Client-ID": "acme", "amount": "1.234,56 €", "ts": 1700000000,'
                     ' "event_id": "e-1"}')
    exp = service.explain_event(1)
    f = exp.fields
    assert f["client"]["field"] == "Client-ID" and f["client"]["value"] == "acme"
    assert 'client name "Client-ID" (read as "client_id")' in f["client"]["rule"]
    assert f["amount"]["field"] == "amount" and f["amount"]["value"] == "1.234,56 €"
    assert f["amount"]["rule"].startswith('heuristic: amount name "amount"')
    reading = f["amount"]["reading"]
    assert (reading["amount"], reading["currency"]) == ("1234.56", "EUR")
    assert "both separators: the last, \",\", is the decimal mark" in reading["how"]
    assert reading["currency_from"] == 'the sign "€"'
    assert f["currency"]["field"] == "amount" and "the sign" in f["currency"]["rule"]
    assert f["time"] == {"field": "ts", "value": 1700000000,
                         "rule": 'heuristic: time name "ts", choice 2 of 7; read as whole '
                                 "epoch seconds"}
    assert f["key"]["field"] == "event_id" and f["key"]["value"] == "e-1"
    assert exp.consistent and exp.normalized == exp.stored
    assert exp.stored["event_time"] == "2023-11-14T22:13:20.000000Z"
    assert exp.mapping == "the heuristics (no mapping)"


def test_absent_roles_have_a_null_field(service):
    _ingest(service, '{"client": "a", "amount": 5}')
    f = service.explain_event(1).fields
    for role in ("currency", "time", "key"):
        assert f[role]["field"] is None and f[role]["value"] is None
    assert "the time of receipt" in f["time"]["rule"]
    assert f["currency"]["rule"].startswith("none:")


def test_nested_fields_have_dotted_paths(service):
    _ingest(service, '{"order": {"customer": "Nested Co", "total": "(45.60)",'
                     ' "currency": "usd"}, "meta": {"created_at": "2024-05-01T10:00:00+02:00"}}')
    exp = service.explain_event(1)
    f = exp.fields
    assert (f["client"]["field"], f["client"]["value"]) == ("order.customer", "Nested Co")
    assert 'one level down in "order"' in f["client"]["rule"]
    assert f["amount"]["field"] == "order.total"
    assert f["amount"]["reading"]["amount"] == "-45.60"
    assert "brackets: negative" in f["amount"]["reading"]["how"]
    assert (f["currency"]["field"], f["currency"]["value"]) == ("order.currency", "usd")
    assert f["time"]["field"] == "meta.created_at"
    assert "ISO 8601, converted to UTC" in f["time"]["rule"]
    assert exp.stored["event_time"] == "2024-05-01T08:00:00.000000Z"
    assert exp.consistent


def test_amount_object_currency_field_is_its_dotted_path(service):
    _ingest(service, '{"client": "a", "payment": {"value": "12,50", "currency": "eur"}}')
    f = service.explain_event(1).fields
    assert (f["currency"]["field"], f["currency"]["value"]) == ("payment.currency", "eur")
    assert 'its field "payment.value"' in f["amount"]["reading"]["how"]


def test_each_role_by_a_saved_mapping(service):
    mapping = service.save_mapping(new_mapping(
        "Acme", "billing.total", units="cents", currency="EUR", time_field="when",
        time_format="epoch_ms", key_field="ref"))
    _ingest(service, '{"client": "acme", "billing": {"total": "1999"}, "when": 1700000000123,'
                     ' "ref": "r-9", "amount": 5}')
    exp = service.explain_event(1)
    f = exp.fields
    label = f'mapping v{mapping.version} of client "Acme"'
    assert f["amount"]["field"] == "billing.total" and f["amount"]["value"] == "1999"
    assert f["amount"]["rule"] == f'{label}: amount in "billing.total" (cents)'
    assert "a whole number of cents" in f["amount"]["reading"]["how"]
    assert f["amount"]["reading"]["amount"] == "19.99"
    assert f["currency"] == {"field": None, "value": "EUR",
                             "rule": f"{label}: the client's currency, as the event names none"}
    assert f["time"]["field"] == "when" and f["time"]["rule"].startswith(
        f'{label}: time in "when" (epoch_ms)')
    assert f["key"] == {"field": "ref", "value": "r-9",
                        "rule": f'{label}: idempotency key in "ref"'}
    assert label in f["client"]["rule"]
    assert exp.mapping.startswith(label)
    assert exp.consistent and exp.stored["amount"] == "19.99"


def test_a_mapping_changed_later_still_explains_with_the_stored_version(service):
    service.save_mapping(new_mapping("acme", "a1"))
    _ingest(service, '{"client": "acme", "a1": 3, "a2": 4}')
    service.save_mapping(new_mapping("acme", "a2"))
    exp = service.explain_event(1)
    assert exp.fields["amount"]["field"] == "a1"
    assert exp.fields["amount"]["rule"].startswith('mapping v1 of client "acme"')
    assert exp.consistent


def _conformance():
    path = SHARED / "normalize.jsonl"
    if not path.exists():  # never a skip, as in test_conformance.py
        pytest.fail(f"{path} is missing: the shared conformance cases sit beside the project "
                    "(../shared/conformance)")
    return [json.loads(line, parse_float=Decimal)
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# what the reading must say for the conformance cases whose rule is about the notation
_READING_SAYS = {
    "European separators": "both separators: the last, \",\", is the decimal mark",
    "dollar sign and thousands": "both separators: the last, \".\", is the decimal mark",
    "space thousands, comma decimal": "spaces group digits",
    "Swiss apostrophe": "apostrophes group digits",
    "comma decimal with two digits": "not followed by exactly three digits: the decimal mark",
    "comma decimal with one digit": "not followed by exactly three digits: the decimal mark",
    "accounting negative": "brackets: negative",
    "cents field": "a whole number of cents",
    "cents field, string": "a whole number of cents",
    "float": "a JSON number",
    "repeated comma groups thousands": "\",\" more than once: it groups digits",
    "repeated dot groups thousands": "\".\" more than once: it groups digits",
}


def test_every_conformance_amount_form_is_read_and_explained():
    cases = _conformance()
    checked = said = 0
    for case in cases:
        if case["expect"] == "rejected":
            continue
        trace: dict = {}
        ev = normalize(case["event"], received_at="2024-01-01T00:00:00.000000Z", trace=trace)
        exp = explain_event({"id": 1, "raw": canonical_json(case["event"]).decode(),
                             "fingerprint": fingerprint(case["event"]), "client": ev.client,
                             "amount": format(ev.amount, "f"), "currency": ev.currency,
                             "event_time": ev.event_time, "idempotency_key": None,
                             "received_at": "", "source": "", "line": 1}, None)
        assert exp.consistent, (case["why"], exp.differences)
        reading = exp.fields["amount"]["reading"]
        assert Decimal(reading["amount"]) == Decimal(case["expect"]["amount"]), case["why"]
        assert reading["currency"] == case["expect"]["currency"], case["why"]
        assert reading["how"], case["why"]
        assert exp.fields["client"]["value"] is not None, case["why"]
        for prefix, phrase in _READING_SAYS.items():
            if case["why"].startswith(prefix) and case["why"][len(prefix):][:1] in ("", " ", ","):
                assert phrase in reading["how"], (case["why"], reading["how"])
                said += 1
        checked += 1
    assert checked >= 30 and said >= len(_READING_SAYS)


def test_trace_changes_nothing_normalization_gives(tmp_path):
    """The same function with and without a trace: the same events and the same rejections,
    over every shape the benchmark corpus has."""
    from faultsim_desktop.core.parsing import split_text

    path = tmp_path / "corpus.ndjson"
    generate(path, 2000, seed=3)
    for c in split_text(path.read_bytes(), "corpus"):
        if c.obj is None:
            continue
        try:
            plain = normalize(c.obj, received_at="2024-01-01T00:00:00Z")
        except RejectedEvent as exc:
            with pytest.raises(RejectedEvent) as traced:
                normalize(c.obj, received_at="2024-01-01T00:00:00Z", trace={})
            assert traced.value.rejection == exc.rejection
            continue
        trace: dict = {}
        assert normalize(c.obj, received_at="2024-01-01T00:00:00Z", trace=trace) == plain
        assert {"client", "amount", "currency", "time"} <= trace.keys()


def test_every_stored_event_of_a_messy_file_is_explained_consistently(service, tmp_path):
    path = tmp_path / "corpus.ndjson"
    generate(path, 300, seed=5)
    service.ingest_file(path)
    stored = service.counts()["events"]
    assert stored > 200
    for event_id in range(1, stored + 1):
        exp = service.explain_event(event_id)
        assert exp.consistent, (event_id, exp.differences)
        assert all(exp.fields[r]["rule"] for r in ROLES)
        assert exp.fingerprint and len(exp.fingerprint) == 64


def test_copies_list_duplicates_and_key_conflicts(service):
    _ingest(service, '{"client": "c", "amount": 1, "event_id": "k"}\n{"client": "d", "amount": 2}',
            "first.ndjson")
    _ingest(service, '{"amount": 1, "client": "c", "event_id": "k"}', "retry.ndjson")
    _ingest(service, '{"client": "c", "amount": 9, "event_id": "k"}', "conflict.ndjson")
    _ingest(service, '{"client": "d", "amount": 2}', "again.ndjson")
    exp = service.explain_event(1)
    assert [(c.outcome, c.source, c.line) for c in exp.copies] == [
        ("duplicate", "retry.ndjson", 1), ("key conflict", "conflict.ndjson", 1)]
    conflict = exp.copies[1]
    assert conflict.quarantine_id is not None and "idempotency key" in conflict.reason
    assert exp.received["source"] == "first.ndjson"
    assert [c.source for c in service.explain_event(2).copies] == ["again.ndjson"]
    # the conflict's quarantine entry explains itself and names the event it lost to
    q = service.explain_quarantined(conflict.quarantine_id)
    assert q.rejection["code"] == "idempotency_conflict" and q.matched_event == 1
    assert q.fields["amount"]["value"] == 9 and q.fields["key"]["value"] == "k"


def test_an_event_names_its_import_and_each_copy_its_own(service):
    _ingest(service, '{"client": "c", "amount": 1, "event_id": "k"}', "first.ndjson")
    _ingest(service, '{"amount": 1, "client": "c", "event_id": "k"}', "retry.ndjson")
    _ingest(service, '{"client": "c", "amount": 9, "event_id": "k"}', "conflict.ndjson")
    first, retry, conflict = service.imports()
    exp = service.explain_event(1)
    assert exp.import_["id"] == first.id and exp.import_["source"] == "first.ndjson"
    assert exp.import_["kind"] == "paste" and exp.import_["accepted"] == 1
    assert exp.as_dict()["import"]["undone"] is False
    assert [c.import_id for c in exp.copies] == [retry.id, conflict.id]
    assert f"Import #{first.id}: paste first.ndjson" in exp.to_text()
    # the first import undone, its retry is the event now, in the retry's import
    service.undo_import(first.id)
    [row] = service.events_page()
    now = service.explain_event(row.id)
    assert now.import_["id"] == retry.id and now.received["source"] == "retry.ndjson"
    assert [(c.outcome, c.import_id) for c in now.copies] == [("key conflict", conflict.id)]
    assert now.consistent


def test_quarantined_input_says_where_normalization_stopped(service):
    _ingest(service, '{"client": "x", "amount": "twelve", "ts": 5}\n{"client": "y", "amount": 1')
    first, second = sorted(service.quarantine(), key=lambda e: e.id)
    exp = service.explain_quarantined(first.id)
    assert exp.rejection["stage"] == "normalization"
    assert exp.rejection["code"] == "bad_amount" and "twelve" in exp.rejection["message"]
    assert exp.fields["client"]["value"] == "x" and exp.fields["amount"]["value"] == "twelve"
    assert exp.fields["time"]["rule"] == "not reached: normalization stopped before it"
    assert exp.canonical == '{"amount":"twelve","client":"x","ts":5}'
    exp = service.explain_quarantined(second.id)
    assert exp.rejection["stage"] == "parsing" and exp.rejection["line"] == 2
    assert exp.rejection["column"] is not None
    assert all(exp.fields[r]["field"] is None for r in ROLES)
    assert exp.fields["client"]["rule"] == "not reached: the input is not a JSON object"
    assert service.explain_quarantined(999) is None and service.explain_event(999) is None


def test_a_missing_client_or_amount_says_what_was_looked_for(service):
    _ingest(service, '{"amount": 5}\n{"client": "a", "total_due": 5}')
    first, second = sorted(service.quarantine(), key=lambda e: e.id)
    exp = service.explain_quarantined(first.id)
    assert exp.fields["client"]["rule"].startswith("no client field (looked for client_id,")
    assert exp.fields["amount"]["rule"] == "not reached: normalization stopped before it"
    exp = service.explain_quarantined(second.id)
    assert exp.fields["client"]["value"] == "a"
    assert exp.fields["amount"]["rule"].startswith("no amount field (looked for amount,")


def test_cli_explain_text_and_json(db, open_service, capsys, tmp_path):
    svc = open_service(db)
    _ingest(svc, '{"client_id": "acme", "amount": "1.234,56 €", "n": 12345678901234567890123}',
            "a.ndjson")
    _ingest(svc, '{"amount": "1.234,56 €", "client_id": "acme", "n": 12345678901234567890123}',
            "b.ndjson")
    svc.close()
    assert main(["explain", "1", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Event #1: acme, 1234.56 EUR")
    assert ('read: "1.234,56 €" → 1234.56 EUR: both separators: the last, ",", is the decimal '
            'mark') in out
    assert "duplicate" in out and "b.ndjson, line 1" in out
    assert main(["explain", "1", "--json", "--db", str(db)]) == 0
    doc = json.loads(capsys.readouterr().out, parse_float=Decimal)
    assert {"raw", "canonical", "fingerprint", "fields", "copies", "import"} <= doc.keys()
    assert set(doc["fields"]) == set(ROLES)
    assert doc["fields"]["client"] == {"field": "client_id", "value": "acme",
                                       "rule": 'heuristic: client name "client_id", choice 1 '
                                               "of 11"}
    assert doc["fields"]["key"]["field"] is None
    assert doc["canonical"] == ('{"amount":"1.234,56 €","client_id":"acme",'
                                '"n":12345678901234567890123}')
    assert len(doc["fingerprint"]) == 64 and int(doc["fingerprint"], 16) >= 0
    assert [c["source"] for c in doc["copies"]] == ["b.ndjson"]
    assert doc["copies"][0]["outcome"] == "duplicate"
    assert main(["explain", "7", "--db", str(db)]) == 1
    assert "no event #7" in capsys.readouterr().err
    assert main(["explain", "7", "--quarantine", "--db", str(db)]) == 1
