"""A quarantine entry is resolved when its content is stored: an event identical to it (same
canonical content, so the same fingerprint, whatever its spacing or key order) accepted later,
or found stored already, closes the open entry in the same transaction."""
import sqlite3
from decimal import Decimal

import pytest

from faultsim_desktop.core.storage import sqlite_schema as store
from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint
from faultsim_desktop.core.schemas import new_mapping
from faultsim_desktop.core.service import IngestService

CENTS = '{"client": "acme", "pennies": 250}'
SPACED = '{ "pennies" : 250 ,  "client" : "acme" }'  # the same content, written otherwise


def entries(svc):
    return {q.id: (q.code, q.status) for q in svc.quarantine(None)}


def test_an_entry_is_resolved_when_a_mapping_lets_the_same_event_be_stored(service):
    assert service.submit_text(CENTS).wait().rejected == 1  # no amount the heuristics know
    [entry] = service.quarantine()
    assert (entry.code, service.counts()["quarantined"]) == ("no_amount", 1)
    service.save_mapping(new_mapping("acme", "pennies", units="cents"))
    # the same event, from another source and spelled otherwise, is stored now
    assert service.submit_text(SPACED, source="later.ndjson").wait().accepted == 1
    assert entries(service) == {entry.id: ("no_amount", "resolved")}
    assert service.counts()["quarantined"] == 0
    assert [(r.client, r.total) for r in service.stats()] == [("acme", Decimal("2.50"))]


def test_every_open_entry_of_that_content_is_resolved_by_a_resubmit(service):
    service.submit_text(CENTS).wait()
    service.submit_text(SPACED, source="other.ndjson").wait()
    first, second = service.quarantine()  # two raw texts, one content
    service.save_mapping(new_mapping("acme", "pennies", units="cents"))
    summary = service.resubmit_quarantined(first.id)
    assert summary.accepted == 1
    assert entries(service) == {first.id: ("no_amount", "resolved"),
                                second.id: ("no_amount", "resolved")}
    assert service.counts()["quarantined"] == 0


def test_an_entry_is_resolved_when_its_content_turns_out_stored_already(service):
    plain = '{"client": "acme", "amount": "4.00", "pennies": 400}'
    assert service.submit_text(plain).wait().accepted == 1
    # a mapping that looks elsewhere rejects the same event sent again
    service.save_mapping(new_mapping("acme", "cents_total", units="cents"))
    assert service.submit_text(plain).wait().rejected == 1
    [entry] = service.quarantine()
    assert entry.code == "mapping_field_missing"
    service.retire_mapping("acme")
    # sent once more: a duplicate of the stored event, which is what the entry holds
    assert service.submit_text(plain).wait().duplicates == 1
    assert entries(service) == {entry.id: ("mapping_field_missing", "resolved")}
    assert service.counts() == {"events": 1, "quarantined": 0, "pending": 0}


def test_an_entry_stays_open_while_its_content_is_only_similar(service):
    service.submit_text(CENTS).wait()
    # another event (it has an amount): a fix of the entry only the user can tell apart
    assert service.submit_text('{"client": "acme", "pennies": 250, "amount": "2.50"}'
                               ).wait().accepted == 1
    assert service.counts()["quarantined"] == 1


def test_an_unparsable_entry_is_resolved_by_resubmitting_its_fix(service):
    """Input that is not a JSON object has no content to compare with: the user's fixed
    version, resubmitted from the entry, resolves it."""
    broken = '{"client": "acme", "amount": "1.00",}'
    assert service.submit_text(broken).wait().rejected == 1
    [entry] = service.quarantine()
    assert entry.code == "invalid_json"
    assert service.submit_text('{"client": "acme", "amount": "1.00"}').wait().accepted == 1
    assert service.counts()["quarantined"] == 1
    service.resubmit_quarantined(entry.id, '{"client": "acme", "amount": "1.00"}')
    assert entries(service) == {entry.id: ("invalid_json", "resolved")}


def test_a_rolled_back_batch_resolves_nothing_and_its_retry_does(service):
    service.submit_text(CENTS).wait()
    service.save_mapping(new_mapping("acme", "pennies", units="cents"))
    service.faults.set(FaultPoint.MID_TRANSACTION, FaultConfig(FaultMode.NEXT_N, remaining=1))
    service.faults.enabled = True
    summary = service.submit_text(SPACED).wait()  # the first attempt rolls back, the retry lands
    service.faults.enabled = False
    assert summary.accepted == 1
    assert service.counts() == {"events": 1, "quarantined": 0, "pending": 0}


def test_a_pending_event_stored_later_resolves_the_entry(db, open_service):
    from faultsim_desktop.core.retry import RetryPolicy

    svc = open_service(db, retry=RetryPolicy(attempts=1, base_delay_s=0, cap_s=0))
    svc.submit_text(CENTS).wait()
    svc.save_mapping(new_mapping("acme", "pennies", units="cents"))
    svc.faults.set(FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.ALWAYS))
    svc.faults.enabled = True
    assert svc.submit_text(SPACED).wait().failed == 1
    assert svc.counts()["quarantined"] == 1
    svc.faults.enabled = False
    assert svc.retry_pending().accepted == 1
    assert svc.counts() == {"events": 1, "quarantined": 0, "pending": 0}


def test_an_old_database_gets_fingerprints_and_its_stale_entries_resolved(tmp_path):
    """Schema 3 had no fingerprint in the quarantine: opening it fills them in, and an entry
    whose content is stored already is resolved then."""
    path = tmp_path / "v3.db"
    with IngestService(path, workers=0) as svc:
        assert svc.submit_text('{"client": "acme", "amount": "1.00"}').wait().accepted == 1
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in ("DROP TABLE imports", "DROP TABLE conflicts", "DROP INDEX events_import",
                      "DROP INDEX log_import", "ALTER TABLE events DROP COLUMN import_id",
                      "ALTER TABLE log DROP COLUMN import_id"):  # schema 5's
        conn.execute(statement)
    conn.execute("DROP TABLE requests")
    conn.execute("DROP INDEX quarantine_open_fingerprint")
    conn.execute("ALTER TABLE quarantine DROP COLUMN fingerprint")
    conn.execute("ALTER TABLE events DROP COLUMN receipt")
    conn.execute("PRAGMA user_version = 3")
    for n, raw in enumerate(['{ "amount": "1.00", "client": "acme" }',  # stored already
                             '{"client": "acme", "pennies": 9}',  # not stored
                             '{"client": "acme",']):  # not JSON
        conn.execute("INSERT INTO quarantine(raw_hash, raw, code, reason, source, line, col,"
                     " first_seen, last_seen, times_seen) VALUES (?,?,?,?,?,1,1,?,?,1)",
                     (bytes([n]) * 32, raw, "x", "x", "old", "2024-01-01", "2024-01-01"))
    conn.close()
    with IngestService(path, workers=0) as svc:
        assert [q.status for q in svc.quarantine(None)] == ["resolved", "open", "open"]
        svc.save_mapping(new_mapping("acme", "pennies", units="cents"))
        assert svc.submit_text('{"client":"acme","pennies":9}').wait().accepted == 1
        assert [q.status for q in svc.quarantine(None)] == ["resolved", "resolved", "open"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    conn.close()


@pytest.mark.postgresql
def test_an_old_postgresql_database_gets_fingerprints_and_its_stale_entries_resolved(pg_db):
    import psycopg

    with IngestService(pg_db, workers=0) as svc:
        assert svc.submit_text('{"client": "acme", "amount": "1.00"}').wait().accepted == 1
    with psycopg.connect(pg_db, autocommit=True) as conn:
        for statement in ("DROP TABLE imports", "DROP TABLE conflicts",
                          "ALTER TABLE events DROP COLUMN import_id",
                          "ALTER TABLE log DROP COLUMN import_id"):  # schema 4's
            conn.execute(statement)
        conn.execute("DROP TABLE requests")
        conn.execute("ALTER TABLE quarantine DROP COLUMN fingerprint")
        conn.execute("ALTER TABLE events DROP COLUMN receipt")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        for n, raw in enumerate(['{ "amount": "1.00", "client": "acme" }',
                                 '{"client": "acme", "pennies": 9}', '{"client": "acme",']):
            conn.execute("INSERT INTO quarantine (raw_hash, raw, code, reason, source, line, col,"
                         " first_seen, last_seen, times_seen) VALUES"
                         " (%s, %s, 'x', 'x', 'old', 1, 1, '2024-01-01', '2024-01-01', 1)",
                         (bytes([n]) * 32, raw))
    with IngestService(pg_db, workers=0) as svc:
        assert [q.status for q in svc.quarantine(None)] == ["resolved", "open", "open"]
        svc.save_mapping(new_mapping("acme", "pennies", units="cents"))
        assert svc.submit_text('{"client":"acme","pennies":9}').wait().accepted == 1
        assert [q.status for q in svc.quarantine(None)] == ["resolved", "resolved", "open"]
