"""One identity per event whatever the path: an HTTP request's Idempotency-Key names the
request (its retries get the first answer again), never an event, so events posted with a key
are the same events as in a file or a paste."""
import threading
from decimal import Decimal

import pytest

from faultsim_desktop.core.service import IngestService

from test_http_api import ACME, serving, totals, wait_until

TWO = ('{"client": "acme", "amount": "12.50", "currency": "USD", "ts": 1700000000}\n'
       '{"client": "globex", "amount": "3.00", "currency": "EUR", "ts": 1700000001}\n')


@pytest.fixture
def api(service):
    with serving(service) as client:
        yield client


def keyed(key):
    return {"Idempotency-Key": key}


def test_events_posted_with_a_key_then_ingested_from_a_file_count_once(api, service, tmp_path):
    r = api.post("/events", content=TWO, headers=keyed("batch-1"))
    assert r.status_code == 201
    assert [e["idempotency_key"] for e in r.json()["events"]] == [None, None]
    path = tmp_path / "same.ndjson"
    path.write_text(TWO)
    summary = service.ingest_file(path)
    assert (summary.accepted, summary.duplicates) == (0, 2)
    assert service.counts()["events"] == 2
    assert totals(service) == {("acme", "USD"): (1, Decimal("12.50")),
                               ("globex", "EUR"): (1, Decimal("3.00"))}


def test_the_cli_ingest_of_the_same_file_finds_them_stored(api, service, tmp_path, db, capsys):
    from faultsim_desktop.cli import main

    assert api.post("/events", content=TWO, headers=keyed("batch-2")).status_code == 201
    path = tmp_path / "same.ndjson"
    path.write_text(TWO)
    assert main(["ingest", str(path), "--db", str(db), "--json"]) == 0
    assert '"duplicates": 2' in capsys.readouterr().out
    assert service.counts()["events"] == 2


def test_a_paste_of_the_same_text_sees_duplicates(api, service):
    assert api.post("/events", content=TWO, headers=keyed("batch-3")).status_code == 201
    summary = service.submit_text(TWO).wait()
    assert (summary.accepted, summary.duplicates) == (0, 2)
    assert service.counts()["events"] == 2


def test_identical_events_in_one_keyed_request_are_one_event_and_a_duplicate(api, service):
    body = ACME + "\n" + ACME + "\n"
    r = api.post("/events", content=body, headers=keyed("twice"))
    assert r.status_code == 201
    first, second = r.json()["events"]
    assert first == second  # both name the one stored event
    assert service.counts()["events"] == 1
    assert [row.outcome for row in service.recent_log(10)] == ["duplicate", "accepted"]
    # exactly what the same text does from a file or a paste
    again = service.submit_text(body).wait()
    assert (again.accepted, again.duplicates) == (0, 2)
    assert totals(service) == {("acme", "USD"): (1, Decimal("12.50"))}


def _replayed(api, body, key, first):
    retry = api.post("/events", content=body, headers=keyed(key))
    assert retry.status_code == first.status_code
    assert retry.content == first.content
    assert retry.headers["Idempotent-Replayed"] == "true"


def test_a_retry_gets_the_first_answer_whatever_it_was(api, service):
    # 201: stored
    created = api.post("/events", content=ACME, headers=keyed("k-201"))
    assert created.status_code == 201
    _replayed(api, ACME, "k-201", created)
    # 200: every event was stored before
    seen = api.post("/events", content=ACME, headers=keyed("k-200"))
    assert seen.status_code == 200
    _replayed(api, ACME, "k-200", seen)
    # 422: one event rejected, the other stored; run again, the stored one would now be a
    # duplicate, so only a kept answer says "accepted": 1 again
    mixed = '{"client": "initech", "amount": "7.00"}\n{"client": "initech", "amount": "x"}\n'
    rejected = api.post("/events", content=mixed, headers=keyed("k-422"))
    assert rejected.status_code == 422 and rejected.json()["accepted"] == 1
    _replayed(api, mixed, "k-422", rejected)
    # 409: an event's own key used before for other content
    own = '{"client": "initech", "amount": "1.00", "event_id": "e-1"}'
    assert api.post("/events", content=own).status_code == 201
    other = own.replace("1.00", "2.00")
    conflict = api.post("/events", content=other, headers=keyed("k-409"))
    assert conflict.status_code == 409
    _replayed(api, other, "k-409", conflict)
    # the replays ran nothing: each quarantined input was seen once, each event stored once
    assert sorted(q.times_seen for q in service.quarantine()) == [1, 1]
    assert service.counts()["events"] == 3
    assert sum(1 for row in service.recent_log(100) if row.outcome == "duplicate") == 1


def test_the_same_key_with_another_body_is_409_and_nothing_is_run(api, service):
    assert api.post("/events", content=ACME, headers=keyed("k")).status_code == 201
    other = ACME.replace("12.50", "99.00")
    r = api.post("/events", content=other, headers=keyed("k"))
    assert r.status_code == 409
    assert r.json() == {"idempotency_key": "k", "error": (
        "the idempotency key 'k' was used before for a request with another body; use a new "
        "key for a new request")}
    assert "Retry-After" not in r.headers
    assert totals(service) == {("acme", "USD"): (1, Decimal("12.50"))}
    assert service.counts()["quarantined"] == 0
    # the same body without the key, or with a new key, is a request of its own
    assert api.post("/events", content=other, headers=keyed("k2")).status_code == 201


def test_the_kept_answer_survives_a_restart(db, open_service):
    first_service = open_service(db)
    with serving(first_service) as api:
        first = api.post("/events", content=TWO, headers=keyed("restart-1"))
    assert first.status_code == 201
    first_service.close()
    with IngestService(db, workers=0) as again:
        with serving(again) as api:
            _replayed(api, TWO, "restart-1", first)
            assert api.post("/events", content=ACME, headers=keyed("restart-1")
                            ).status_code == 409
        assert again.counts()["events"] == 2


def test_a_request_whose_key_is_still_running_is_409_with_retry_after(service):
    gate = threading.Event()
    holder = threading.Thread(target=service.in_writer, args=(lambda s: gate.wait(30),))
    holder.start()  # the writer now waits on the gate, inside a transaction
    try:
        with serving(service) as api:
            answers = []
            first = threading.Thread(target=lambda: answers.append(
                api.post("/events", content=ACME, headers=keyed("slow"))))
            first.start()
            assert wait_until(lambda: service.queue_depth >= 1, interval=0.002)
            r = api.post("/events", content=ACME, headers=keyed("slow"))
            assert r.status_code == 409 and r.headers["Retry-After"] == "0"
            assert "still being processed" in r.json()["error"]
            gate.set()
            first.join()
            assert answers[0].status_code == 201
            _replayed(api, ACME, "slow", answers[0])
    finally:
        gate.set()
        holder.join()
    assert service.counts()["events"] == 1


def test_a_reset_forgets_the_kept_answers_with_the_events(api, service):
    assert api.post("/events", content=ACME, headers=keyed("r-1")).status_code == 201
    service.reset()
    again = api.post("/events", content=ACME, headers=keyed("r-1"))
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert api.get("/events").json()["events"] == again.json()["events"]


def test_answers_older_than_a_day_are_forgotten(api, service):
    assert api.post("/events", content=ACME, headers=keyed("old")).status_code == 201
    service.requests.kept_s = 0  # as if a day had passed
    again = api.post("/events", content=ACME, headers=keyed("old"))
    assert again.status_code == 200  # run again: the event is found stored, counted once
    assert "Idempotent-Replayed" in again.headers
    service.requests.kept_s = 24 * 3600
    _replayed(api, ACME, "old", again)  # the new answer is the one kept now
    assert service.counts()["events"] == 1
