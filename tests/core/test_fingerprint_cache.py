"""The fingerprint cache: a duplicate's answer comes from memory instead of a read of the
database, and that never changes what is stored, counted, logged or answered."""
import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest

from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint

from test_http_api import ACME, serving, totals


@pytest.fixture
def cached(db_path, open_service):
    return open_service(db_path, fingerprint_cache=1000)


def duplicates_logged(service) -> int:
    return sum(1 for row in service.recent_log(1000) if row.outcome == "duplicate")


def test_a_cached_duplicate_answers_the_first_answer_byte_for_byte_and_is_logged(cached):
    with serving(cached) as api:
        first = api.post("/events", content=ACME)
        assert first.status_code == 201
        again = [api.post("/events", content=ACME) for _ in range(3)]
        listed = api.get("/events").json()["events"]
    assert [r.status_code for r in again] == [200, 200, 200]
    assert all(r.content == first.content for r in again)
    assert listed == first.json()["events"]
    assert cached.fingerprint_cache.hits == 3  # no read of the database for any of them
    assert duplicates_logged(cached) == 3  # `faultsim log` and the window still see them
    assert cached.counters.snapshot()["duplicates"] == 3
    assert totals(cached) == {("acme", "USD"): (1, Decimal("12.50"))}


def test_a_reset_never_answers_a_false_duplicate(cached):
    with serving(cached) as api:
        first = api.post("/events", content=ACME)
        assert api.post("/events", content=ACME).content == first.content  # cached now
        cached.reset()
        assert totals(cached) == {}
        again = api.post("/events", content=ACME)
        assert again.status_code == 201  # stored again, not "seen before"
        assert api.get("/events").json()["events"] == again.json()["events"]
    assert totals(cached) == {("acme", "USD"): (1, Decimal("12.50"))}


def test_another_process_resetting_and_storing_the_event_again_is_answered_from_the_database(
        cached, db_path):
    with serving(cached) as api:
        first = api.post("/events", content=ACME)
        assert api.post("/events", content=ACME).status_code == 200
        assert cached.fingerprint_cache.hits == 1
        # another process empties the database, then stores the same event itself: it gets
        # the same id (SQLite reuses it), another received_at and another source
        script = textwrap.dedent(f"""
            from faultsim_desktop.core.service import IngestService
            with IngestService({str(db_path)!r}, workers=0) as svc:
                svc.reset()
                print(svc.submit_text({ACME!r}, source="other-process").wait().accepted)
        """)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             check=True, timeout=60)
        assert out.stdout.strip() == "1"
        again = api.post("/events", content=ACME)
        stored = api.get("/events").json()["events"]
    assert again.status_code == 200
    [event] = again.json()["events"]
    assert event["source"] == "other-process" and event["id"] == first.json()["events"][0]["id"]
    assert [event] == stored  # the row as it is now, not the one remembered
    assert cached.fingerprint_cache.hits == 1
    assert totals(cached) == {("acme", "USD"): (1, Decimal("12.50"))}


def test_a_key_reused_with_another_payload_is_still_409(cached):
    keyed = ACME.replace("{", '{"idempotency_key": "k", ', 1)
    with serving(cached) as api:
        first = api.post("/events", content=keyed)
        assert api.post("/events", content=keyed).status_code == 200
        r = api.post("/events", content=keyed.replace("12.50", "99.00"))
    assert r.status_code == 409
    [item] = r.json()["events"]
    assert item["code"] == "idempotency_conflict"
    assert item["conflicts_with"] == first.json()["events"][0]["id"]
    assert totals(cached) == {("acme", "USD"): (1, Decimal("12.50"))}
    assert len(cached.quarantine()) == 1


def test_a_cached_duplicate_while_storage_fails_is_503_then_the_same_answer(cached):
    """Decision: a hit still goes through the writer, so a database that is down is never
    hidden by the cache; the duplicate waits in the outbox like any event."""
    with serving(cached) as api:
        first = api.post("/events", content=ACME)
        cached.faults.set(FaultPoint.MID_TRANSACTION, FaultConfig(FaultMode.ALWAYS))
        cached.faults.enabled = True
        down = api.post("/events", content=ACME)
        cached.faults.enabled = False
        again = api.post("/events", content=ACME)
    assert down.status_code == 503 and down.json()["failed"] == 1
    assert again.status_code == 200 and again.content == first.content
    assert cached.retry_pending().duplicates == 1
    assert totals(cached) == {("acme", "USD"): (1, Decimal("12.50"))}


def test_the_cache_keeps_at_most_its_size_and_evicted_events_still_answer(db_path, open_service):
    svc = open_service(db_path, fingerprint_cache=2)
    bodies = [ACME.replace("12.50", f"{n}.00") for n in (1, 2, 3)]
    with serving(svc) as api:
        firsts = [api.post("/events", content=b).content for b in bodies]
        assert len(svc.fingerprint_cache) == 2
        agains = [api.post("/events", content=b) for b in bodies]
    assert [r.status_code for r in agains] == [200, 200, 200]
    assert [r.content for r in agains] == firsts
    assert totals(svc) == {("acme", "USD"): (3, Decimal("6.00"))}


def test_postgresql_has_no_cache(db, open_service):
    """Its session cannot tell that a database was dropped and created again under the same
    URL (ids start over), so a remembered row could be another event's: no cache there."""
    svc = open_service(db, fingerprint_cache=1000)
    assert (svc.fingerprint_cache is None) == isinstance(db, str)
