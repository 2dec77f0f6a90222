"""Per-client schemas: a client's explicit, versioned mapping wins over the heuristics."""
import io
import json
import pickle
import sqlite3
import subprocess
import sys
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from faultsim_desktop.cli import main
from faultsim_desktop.core import service as service_module
from faultsim_desktop.core.storage import sqlite_schema as store
from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint
from faultsim_desktop.core.parsing import split_text
from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.schemas import MappingError, Registry, new_mapping, normalize_event
from faultsim_desktop.core.service import IngestService
from faultsim_desktop.server import ingest_body

NOW = "2024-05-01T00:00:00.000000Z"


def totals(svc):
    return {(r.client, r.currency): (r.count, r.total) for r in svc.stats()}


def quarantined(svc):
    return [(q.code, q.reason) for q in svc.quarantine()]


def stored(svc) -> list[dict]:
    out = io.StringIO()
    svc.export_events(out, "ndjson")
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_mapping_wins_over_the_heuristics(service):
    # the heuristics read "amount" (a fee here); acme's mapping says the money is in "gross"
    text = '{"client": "acme", "amount": 5, "gross": "120.50"}'
    service.save_mapping(new_mapping("acme", "gross", currency="USD"))
    assert service.submit_text(text).wait().accepted == 1
    assert service.submit_text('{"client": "globex", "amount": 5, "gross": "9"}').wait().accepted == 1
    assert totals(service) == {("acme", "USD"): (1, Decimal("120.50")),
                               ("globex", None): (1, Decimal("5"))}  # no mapping: heuristics


def test_cents_and_thousandths(service):
    service.save_mapping(new_mapping("acme", "total_cents", units="cents"))
    service.save_mapping(new_mapping("globex", "value", units="milli"))
    s = service.submit_text(
        '{"client": "acme", "total_cents": 1234}\n'
        '{"client": "ACME", "total_cents": "-250"}\n'
        '{"client": "globex", "value": 1005}\n'
        '{"client": "acme", "total_cents": "12.5"}\n').wait()
    assert (s.accepted, s.rejected) == (3, 1)
    assert totals(service) == {("acme", None): (2, Decimal("9.84")),
                               ("globex", None): (1, Decimal("1.005"))}
    assert quarantined(service) == [(
        "bad_amount", 'line 4, column 1: amount "12.5" in field "total_cents" is not a whole '
                      'number of cents (client "acme" v1 counts it in cents)')]


def test_the_default_currency_applies_only_when_the_event_names_none(service):
    service.save_mapping(new_mapping("acme", "amount", currency="eur"))
    s = service.submit_text(
        '{"client": "acme", "amount": "10"}\n'
        '{"client": "acme", "amount": "11 USD"}\n'
        '{"client": "acme", "amount": "12", "currency": "GBP"}\n'
        '{"client": "acme", "amount": "$13", "currency": "GBP"}\n').wait()
    assert (s.accepted, s.rejected) == (3, 1)
    assert totals(service) == {("acme", "EUR"): (1, Decimal("10")),
                               ("acme", "USD"): (1, Decimal("11")),
                               ("acme", "GBP"): (1, Decimal("12"))}
    assert quarantined(service)[0][0] == "currency_conflict"


def test_nested_paths_and_field_name_matching(service):
    service.save_mapping(new_mapping("acme", "payment.value", currency="EUR"))
    s = service.submit_text(
        '{"client": "acme", "payment": {"value": "1.10", "currency": "USD"}}\n'
        '{"client": "acme", "Payment": {"Value": "2.20"}}\n'    # names match as the heuristics do
        '{"client": "acme", "payment.value": "3.30", "payment": {"value": 999}}\n'  # whole name first
        '{"client": "acme", "payment": {"VALUE": "4.40"}, "currency": "GBP"}\n').wait()
    assert s.accepted == 4
    assert totals(service) == {("acme", "USD"): (1, Decimal("1.10")),
                               ("acme", "EUR"): (2, Decimal("5.50")),
                               ("acme", "GBP"): (1, Decimal("4.40"))}


def test_a_missing_mapped_field_rejects_naming_the_mapping_version(service):
    service.save_mapping(new_mapping("acme", "amount"))
    service.save_mapping(new_mapping("acme", "total_cents", units="cents", time_field="ts",
                                     key_field="txn"))
    s = service.submit_text(
        '{"client": "acme", "total_cents": 100, "ts": 1700000000, "txn": "t1"}\n'
        '{"client": "acme", "amount": 100, "ts": 1700000000, "txn": "t2"}\n'
        '{"client": "acme", "total_cents": 100, "txn": "t3", "time": 1700000000}\n'
        '  {"client": "acme", "total_cents": 100, "ts": 1700000000}\n').wait()
    assert (s.accepted, s.rejected) == (1, 3)
    assert sorted(quarantined(service)) == [
        ("mapping_field_missing", 'line 2, column 1: client "acme" v2 says amount is in '
                                  '"total_cents"; not found'),
        ("mapping_field_missing", 'line 3, column 1: client "acme" v2 says time is in "ts"; '
                                  'not found'),
        ("mapping_field_missing", 'line 4, column 3: client "acme" v2 says idempotency key is '
                                  'in "txn"; not found'),
    ]


def test_time_formats_and_a_time_that_does_not_fit(service):
    service.save_mapping(new_mapping("ms", "amount", time_field="at", time_format="epoch_ms"))
    service.save_mapping(new_mapping("us", "amount", time_field="at", time_format="epoch_us"))
    service.save_mapping(new_mapping("s", "amount", time_field="at", time_format="epoch_s"))
    service.save_mapping(new_mapping("iso", "amount", time_field="at", time_format="iso"))
    s = service.submit_text(
        '{"client": "ms", "amount": 1, "at": 1700000000123}\n'
        '{"client": "us", "amount": 1, "at": "1700000000123456"}\n'
        '{"client": "s", "amount": 1, "at": 1700000000.5}\n'
        '{"client": "iso", "amount": 1, "at": "2024-02-03T04:05:06+01:00"}\n'
        '{"client": "iso", "amount": 2, "at": 1700000000}\n').wait()
    assert (s.accepted, s.rejected) == (4, 1)
    times = {e["client"]: e["event_time"] for e in stored(service)}
    assert times == {"ms": "2023-11-14T22:13:20.123000Z", "us": "2023-11-14T22:13:20.123456Z",
                     "s": "2023-11-14T22:13:20.500000Z", "iso": "2024-02-03T03:05:06.000000Z"}
    assert quarantined(service) == [("bad_time", 'line 5, column 1: time 1700000000 in field "at" '
                                                 'is not a time in iso format (client "iso" v1)')]


def test_a_mapped_idempotency_key(service):
    service.save_mapping(new_mapping("acme", "amount", key_field="meta.txn"))
    s = service.submit_text(
        '{"client": "acme", "amount": 1, "meta": {"txn": 77}, "event_id": "ignored"}\n'
        '{"client": "acme", "amount": 2, "meta": {"txn": "77"}}\n'      # same key, other content
        '{"client": "acme", "amount": 3, "meta": {"txn": null}}\n').wait()
    assert (s.accepted, s.rejected) == (2, 1)
    events = stored(service)
    assert [(e["amount"], e["idempotency_key"]) for e in events] == [("1", "77"), ("3", None)]
    assert 'idempotency key in field "meta.txn" is null; treated as absent' in events[1]["warnings"]
    assert quarantined(service)[0][0] == "idempotency_conflict"


def test_a_client_field_finds_the_client_before_the_mapping_applies(service):
    # "id" is a client name to the heuristics; acme's events carry the client in "merchant"
    service.save_mapping(new_mapping("Acme Corp", "total", client_field="merchant"))
    s = service.submit_text(
        '{"id": "u-1", "merchant": "acme  corp", "total": "5"}\n'
        '{"id": "u-2", "merchant": "Globex", "total": "6", "amount": 1}\n'   # no mapping: heuristics
        '{"client": "ACME CORP", "total": "7"}\n').wait()   # found by the heuristics, mapped
    assert s.accepted == 3
    assert totals(service) == {("acme corp", None): (2, Decimal("12")),
                               ("u-2", None): (1, Decimal("1"))}


def test_versions_are_recorded_and_stored_events_never_rewritten(service):
    assert service.submit_text('{"client": "acme", "amount": 100, "n": 1}').wait().accepted == 1
    v1 = service.save_mapping(new_mapping("acme", "amount", units="cents", note="cents"))
    assert service.submit_text('{"client": "acme", "amount": 100, "n": 2}').wait().accepted == 1
    v2 = service.save_mapping(new_mapping("acme", "amount", units="milli"))
    assert service.submit_text('{"client": "acme", "amount": 100, "n": 3}').wait().accepted == 1
    assert (v1.version, v2.version) == (1, 2)
    events = stored(service)
    assert [(e["amount"], e["mapping_version"]) for e in events] == [
        ("100", None), ("1.00", 1), ("0.100", 2)]
    assert [service.event(e["id"])["mapping_version"] for e in events] == [None, 1, 2]
    assert totals(service) == {("acme", None): (3, Decimal("101.100"))}
    assert service.stats() == service.stats_from_events()
    assert [(m.version, m.units, m.note) for m in service.mapping_history("ACME")] == [
        (2, "milli", ""), (1, "cents", "cents")]
    assert service.mapping_usage("acme") == {None: 1, 1: 1, 2: 1}


def test_a_resent_event_is_a_duplicate_whatever_the_mapping(service):
    text = '{"client": "acme", "amount": 100, "total_cents": 5}'
    assert service.submit_text(text).wait().accepted == 1
    service.save_mapping(new_mapping("acme", "total_cents", units="cents"))
    s = service.submit_text(text).wait()
    assert (s.accepted, s.duplicates) == (0, 1)
    service.save_mapping(new_mapping("acme", "amount", units="milli"))
    assert service.submit_text(text).wait().duplicates == 1
    assert totals(service) == {("acme", None): (1, Decimal("100"))}


def test_a_preview_normalizes_as_ingestion_would_and_stores_nothing(service):
    service.save_mapping(new_mapping("acme", "gross"))
    text = '{"client": "acme", "gross": "7", "amount": 1}\n{"client": "acme", "amount": 1}'
    proposed = new_mapping("acme", "amount", units="cents", currency="JPY")
    now = [p[5:11] + (p.mapping_version, p.reject_code) for p in service.preview(text)]
    then = [p[5:11] + (p.mapping_version, p.reject_code) for p in service.preview(text, proposed)]
    assert [r[1:4] + r[6:] for r in now] == [("acme", "7", None, 1, None),
                                             (None, None, None, None, "mapping_field_missing")]
    assert [r[1:4] + r[6:] for r in then] == [("acme", "0.01", "JPY", 2, None),
                                              ("acme", "0.01", "JPY", 2, None)]
    assert service.counts() == {"events": 0, "quarantined": 0, "pending": 0}


def test_mappings_are_validated():
    for kwargs, message in (
            ({"client": " ", "amount_field": "a"}, "client is required"),
            ({"client": "a", "amount_field": ""}, "amount field is required"),
            ({"client": "a", "amount_field": "x", "currency": "EURO"}, "not an ISO 4217"),
            ({"client": "a", "amount_field": "x", "units": "pennies"}, "units must be one of"),
            ({"client": "a", "amount_field": "x", "time_format": "epoch_ms"}, "needs a time field"),
            ({"client": "a", "amount_field": "pay..value"}, "empty part"),
            ({"client": "a", "amount_field": "x\x00"}, "control characters")):
        with pytest.raises(MappingError, match=message):
            new_mapping(**kwargs)


@settings(max_examples=200, deadline=None)
@given(cents=st.integers(-10**30, 10**30), as_text=st.booleans())
def test_cents_are_exact(cents, as_text):
    registry = Registry([new_mapping("a", "c", units="cents")])
    value = json.dumps(str(cents)) if as_text else str(cents)
    obj = split_text('{"client": "a", "c": %s}' % value)[0].obj
    ev, version = normalize_event(obj, received_at=NOW, registry=registry)
    assert ev.amount == Decimal(f"{cents}e-2") and ev.amount.as_tuple().exponent == -2
    assert version is None  # an unsaved mapping carries no version


def test_a_registry_pickles_for_worker_processes():
    r = Registry([new_mapping("acme", "x", client_field="m"), new_mapping("b", "y")])
    again = pickle.loads(pickle.dumps(r))
    assert again == r and again.client_fields == ("m",) and not Registry()


def test_worker_processes_normalize_with_the_mapping(tmp_path, monkeypatch):
    monkeypatch.setattr(service_module, "POOL_THRESHOLD_BYTES", 64 << 10)
    monkeypatch.setattr(service_module, "POOL_CHUNK_BYTES", 32 << 10)
    path = tmp_path / "big.ndjson"
    lines = []
    for i in range(12_000):
        if i % 3:
            lines.append('{"client": "acme", "n": %d, "total_cents": %d, "amount": 1}' % (i, i))
        else:
            lines.append('{"client": "globex", "n": %d, "amount": "%d.5"}' % (i, i))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with IngestService(tmp_path / "w.db", workers=2) as svc:
        svc.save_mapping(new_mapping("acme", "total_cents", units="cents", currency="EUR"))
        s = svc.ingest_file(path)
        assert s.accepted == 12_000
        acme = [i for i in range(12_000) if i % 3]
        globex = [i for i in range(12_000) if not i % 3]
        assert totals(svc) == {
            ("acme", "EUR"): (len(acme), Decimal(sum(acme)) / 100),
            ("globex", None): (len(globex), sum(Decimal(i) + Decimal("0.5") for i in globex))}
        assert svc.mapping_usage("acme") == {1: len(acme)}
        assert svc._pool is not None  # the worker processes did the normalizing


def test_a_mapping_saved_by_another_process_applies_within_the_refresh(tmp_path, monkeypatch):
    monkeypatch.setattr(service_module, "REGISTRY_TTL_S", 0.0)
    db = tmp_path / "shared.db"
    with IngestService(db, workers=0) as window, IngestService(db, workers=0) as cli:
        cli.save_mapping(new_mapping("acme", "total_cents", units="cents"))
        assert window.submit_text('{"client": "acme", "total_cents": 250}').wait().accepted == 1
        assert totals(window) == {("acme", None): (1, Decimal("2.50"))}


def test_pending_events_are_normalized_when_they_are_finally_stored(db):
    svc = IngestService(db, retry=RetryPolicy(attempts=1, base_delay_s=0, cap_s=0),
                        workers=0, seed=1)
    try:
        svc.save_mapping(new_mapping("acme", "total_cents", units="cents"))
        svc.faults.set(FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.ALWAYS))
        svc.faults.enabled = True
        assert svc.submit_text('{"client": "acme", "total_cents": 999}').wait().failed == 1
        svc.faults.enabled = False
        assert svc.retry_pending().accepted == 1
        assert [(e["amount"], e["mapping_version"]) for e in stored(svc)] == [("9.99", 1)]
    finally:
        svc.close()


def test_the_http_api_uses_the_mapping(service):
    service.save_mapping(new_mapping("acme", "total_cents", units="cents", currency="EUR"))
    status, body, _ = ingest_body(service, b'{"client": "acme", "total_cents": 4200}', "k-1",
                                  "http")
    event = json.loads(body)["events"][0]
    assert status == 201 and (event["amount"], event["currency"]) == ("42.00", "EUR")


def test_the_idempotency_key_header_never_stands_in_for_a_mapped_key_field(service):
    """The header names the request: a client whose mapping names a key field must send it in
    the event, over HTTP as in a file."""
    service.save_mapping(new_mapping("acme", "total_cents", units="cents", key_field="txn"))
    lacking = b'{"client": "acme", "total_cents": 100}'
    status, body, _ = ingest_body(service, lacking, "h-1", "http")
    [item] = json.loads(body)["events"]
    assert (status, item["code"]) == (422, "mapping_field_missing")
    assert service.submit_text(lacking).wait().rejected == 1  # as from a file or a paste
    # the mapped field names the event, whatever the request's key
    status, body, _ = ingest_body(service, b'{"client": "acme", "total_cents": 5, "txn": "t-9"}',
                                  "h-2", "http")
    assert (status, json.loads(body)["events"][0]["idempotency_key"]) == (201, "t-9")
    conflict = ingest_body(service, b'{"client": "acme", "total_cents": 999, "txn": "t-9"}',
                           "h-3", "http")
    assert conflict[0] == 409
    assert [(r.client, r.count, r.total) for r in service.stats()] == [("acme", 1, Decimal("0.05"))]


def _old_database(path):
    """A database as faultsim wrote it before schemas existed (schema version 1)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in store._SCHEMA_V1:
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {store.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO events(fingerprint, client, client_key, currency, amount,"
                 " event_time, received_at, idempotency_key, warnings, source, line, raw)"
                 " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                 (bytes(32), "acme", "acme", "", "100", NOW, NOW, None, None, "old", 1,
                  '{"client": "acme", "amount": 100, "total_cents": 7}'))
    conn.execute("INSERT INTO clients VALUES ('acme', 'acme')")
    conn.execute("INSERT INTO aggregates VALUES ('acme', '', 1, '100', ?, ?)", (NOW, NOW))
    conn.close()


def test_a_database_from_before_schemas_is_upgraded_in_place(tmp_path):
    db = tmp_path / "old.db"
    _old_database(db)
    with IngestService(db, workers=0) as svc:
        assert totals(svc) == {("acme", None): (1, Decimal("100"))}
        svc.save_mapping(new_mapping("acme", "total_cents", units="cents"))
        assert svc.submit_text('{"client": "acme", "total_cents": 50}').wait().accepted == 1
        assert [(e["source"], e["amount"], e["mapping_version"]) for e in stored(svc)] == [
            ("old", "100", None), ("pasted", "0.50", 1)]
        assert totals(svc) == {("acme", None): (2, Decimal("100.50"))}
        assert svc.integrity_check() == "ok"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION == 5
    conn.close()


# faultsim schema ...
def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def acme_file(tmp_path):
    p = tmp_path / "acme.ndjson"
    p.write_text('{"client": "acme", "total_cents": 1234, "ts": 1700000000000, "amount": 1}\n'
                 '{"client": "acme", "amount": 5}\n'
                 '{"client": "bob", "amount": "5 EUR"}\n', encoding="utf-8")
    return p


def test_schema_set_show_list_and_history(capsys, db_path, acme_file):
    code, out, err = cli(capsys, "schema", "set", "ACME", "--amount", "total_cents", "--cents",
                         "--currency", "eur", "--time", "ts", "--time-format", "epoch_ms",
                         "--note", "from their API docs", "--db", db_path)
    assert code == 0 and out.startswith('saved client "ACME" v1: amount in "total_cents" (cents)')
    assert "events sent from now on use it" in err
    cli(capsys, "ingest", acme_file, "--db", db_path, "--json")
    code, out, _ = cli(capsys, "schema", "set", "acme", "--amount", "amount", "--db", db_path,
                       "--json")
    assert code == 0 and json.loads(out)["version"] == 2
    _, out, _ = cli(capsys, "schema", "list", "--db", db_path, "--json")
    assert [(m["client"], m["version"], m["amount_field"], m["units"], m["currency"])
            for m in json.loads(out)] == [("acme", 2, "amount", "units", None)]
    _, out, _ = cli(capsys, "schema", "show", "acme", "--version", "1", "--db", db_path, "--json")
    assert {k: v for k, v in json.loads(out).items() if k != "created_at"} == {
        "client": "ACME", "client_field": None, "amount_field": "total_cents", "units": "cents",
        "currency": "EUR", "time_field": "ts", "time_format": "epoch_ms", "key_field": None,
        "version": 1, "note": "from their API docs"}
    code, out, _ = cli(capsys, "schema", "show", "acme", "--db", db_path)
    assert code == 0 and "amount field:      amount" in out and "version:           v2" in out
    _, out, _ = cli(capsys, "schema", "history", "acme", "--db", db_path, "--json")
    history = json.loads(out)
    assert [(v["version"], v["events"]) for v in history["versions"]] == [(2, 0), (1, 1)]
    assert history["events_by_heuristics"] == 0
    _, out, _ = cli(capsys, "schema", "history", "acme", "--db", db_path)
    assert out.splitlines()[0].split() == ["version", "created", "events", "mapping", "note"]
    _, out, _ = cli(capsys, "quarantine", "list", "--db", db_path, "--json")
    assert [q["reason"] for q in json.loads(out)] == [
        'line 2, column 1: client "ACME" v1 says amount is in "total_cents"; not found']


def test_schema_preview_current_and_proposed(capsys, db_path, acme_file):
    cli(capsys, "schema", "set", "acme", "--amount", "total_cents", "--cents", "--time", "ts",
        "--time-format", "epoch_ms", "--db", db_path)
    code, out, _ = cli(capsys, "schema", "preview", "acme", acme_file, "--db", db_path, "--json")
    rows = json.loads(out)
    assert code == 0
    assert [(r["line"], r["outcome"], r["mapping_version"], r["amount"], r["currency"], r["code"])
            for r in rows] == [(1, "normalized", 1, "12.34", None, None),
                               (2, "rejected", None, None, None, "mapping_field_missing"),
                               (3, "normalized", None, "5", "EUR", None)]
    assert rows[0]["event_time"] == "2023-11-14T22:13:20.000000Z"
    _, out, _ = cli(capsys, "schema", "preview", "acme", acme_file, "--amount", "amount",
                    "--currency", "CHF", "-n", "2", "--db", db_path, "--json")
    assert [(r["mapping_version"], r["amount"], r["currency"]) for r in json.loads(out)] == [
        (2, "1", "CHF"), (2, "5", "CHF")]
    code, out, _ = cli(capsys, "schema", "preview", "acme", acme_file, "--db", db_path)
    assert code == 0 and "heuristics" in out and "12.34" in out
    _, out, _ = cli(capsys, "stats", "--db", db_path, "--json")
    assert json.loads(out) == []  # a preview stores nothing


def test_schema_mistakes_are_explained(capsys, db_path, tmp_path):
    code, _, err = cli(capsys, "schema", "set", "acme", "--amount", "x", "--currency", "EURO",
                       "--db", db_path)
    assert code == 2 and err == 'faultsim: "EURO" is not an ISO 4217 currency code\n'
    code, _, err = cli(capsys, "schema", "set", "acme", "--cents", "--db", db_path)
    assert code == 2 and "the amount field is required" in err
    cli(capsys, "schema", "set", "acme", "--amount", "x", "--db", db_path)
    code, _, err = cli(capsys, "schema", "show", "globex", "--db", db_path)
    assert code == 1 and "client 'globex' has no mapping" in err
    code, _, err = cli(capsys, "schema", "show", "acme", "--version", "9", "--db", db_path)
    assert code == 1 and "no mapping v9 (versions: v1)" in err
    code, _, err = cli(capsys, "schema", "list", "--db", tmp_path / "typo.db")
    assert code == 1 and "There is no database" in err and not (tmp_path / "typo.db").exists()


def test_schema_commands_through_the_real_program(db_path, acme_file):
    def faultsim(*argv):
        return subprocess.run([sys.executable, "-m", "faultsim_desktop.cli", *map(str, argv)],
                              capture_output=True, text=True, timeout=120)
    assert faultsim("schema", "set", "acme", "--amount", "total_cents", "--cents", "--db",
                    db_path).returncode == 0
    p = faultsim("ingest", acme_file, "--db", db_path, "--json")
    assert json.loads(p.stdout)["accepted"] == 2
    p = faultsim("stats", "--db", db_path, "--json")
    assert {(r["client"], r["total"]) for r in json.loads(p.stdout)} == {("acme", "12.34"),
                                                                        ("bob", "5")}


def test_a_retired_mapping_hands_the_client_back_to_the_heuristics(service):
    service.save_mapping(new_mapping("acme", "total_cents", units="cents", currency="EUR"))
    assert service.submit_text('{"client": "acme", "total_cents": 250}').wait().accepted == 1
    retired = service.retire_mapping("ACME", note="their new API sends amount")
    assert (retired.version, retired.retired) == (2, True)
    assert service.mappings() == []
    # from now on the heuristics: amount, no default currency; the v1 event keeps v1
    assert service.submit_text('{"client": "acme", "amount": "3.10"}').wait().accepted == 1
    assert [(e["amount"], e["currency"] or None, e["mapping_version"]) for e in stored(service)] \
        == [("2.50", "EUR", 1), ("3.10", None, None)]
    history = service.mapping_history("acme")
    assert [(m.version, m.retired) for m in history] == [(2, True), (1, False)]
    assert "heuristics" in history[0].describe() and history[0].note == "their new API sends amount"
    with pytest.raises(MappingError, match="no active mapping"):
        service.retire_mapping("acme")
    # a new version maps the client again
    service.save_mapping(new_mapping("acme", "total_cents", units="cents"))
    assert [m.version for m in service.mappings()] == [3]


def test_faultsim_schema_retire(db_path, capsys):
    from faultsim_desktop.cli import main

    assert main(["schema", "set", "acme", "--amount", "total_cents", "--cents", "--db",
                 str(db_path)]) == 0
    assert main(["schema", "retire", "acme", "--db", str(db_path), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(out)["retired"] is True and json.loads(out)["version"] == 2
    assert main(["schema", "retire", "acme", "--db", str(db_path)]) == 1
    assert "no active mapping" in capsys.readouterr().err
