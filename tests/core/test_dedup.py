"""Exactly once: duplicates by fingerprint and by idempotency key, decided by the database."""
from decimal import Decimal

from faultsim_desktop.core.model import Outcome


def _records(service, text):
    ticket = service.submit_text(text, keep_records=True)
    ticket.wait(30)
    return ticket.records


def test_sending_the_same_event_twice_counts_it_once(service):
    first = _records(service, '{"client": "acme", "amount": "12.50"}')
    again = _records(service, '{"client": "acme", "amount": "12.50"}')
    assert [r.outcome for r in first] == [Outcome.ACCEPTED]
    assert [r.outcome for r in again] == [Outcome.DUPLICATE]
    assert again[0].event_id == first[0].event_id
    [row] = service.stats()
    assert (row.client, row.count, row.total) == ("acme", 1, Decimal("12.50"))


def test_retry_with_other_key_order_spacing_and_escaping_is_a_duplicate(service):
    _records(service, '{"client": "café", "amount": 12.5, "ts": 1700000000}')
    again = _records(service, '{ "ts":1700000000,"amount":12.50 ,"client":"caf\\u00e9"}')
    assert [r.outcome for r in again] == [Outcome.DUPLICATE]


def test_duplicates_within_one_submission(service):
    recs = _records(service, '{"client": "a", "amount": 1}\n{"amount": 1, "client": "a"}\n'
                             '{"client": "a", "amount": 2}\n')
    assert [r.outcome for r in recs] == [Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.ACCEPTED]
    [row] = service.stats()
    assert (row.count, row.total) == (2, Decimal(3))


def test_idempotency_key_same_payload_is_duplicate(service):
    _records(service, '{"client": "a", "amount": 5, "idempotency_key": "k1"}')
    again = _records(service, '{"amount": 5, "idempotency_key": "k1", "client": "a"}')
    assert [r.outcome for r in again] == [Outcome.DUPLICATE]


def test_idempotency_key_reused_with_other_payload_is_a_conflict(service):
    first = _records(service, '{"client": "a", "amount": 5, "event_id": "k1"}')
    second = _records(service, '{"client": "a", "amount": 6, "event_id": "k1"}')
    assert [r.outcome for r in second] == [Outcome.REJECTED]
    assert "k1" in second[0].reason and "first one stands" in second[0].reason
    [row] = service.stats()
    assert (row.count, row.total) == (1, Decimal(5))
    [entry] = service.quarantine()
    assert entry.code == "idempotency_conflict" and '"amount": 6' in entry.raw
    assert first[0].outcome is Outcome.ACCEPTED


def test_same_key_for_another_client_is_a_different_event(service):
    _records(service, '{"client": "a", "amount": 5, "message_id": 7}')
    other = _records(service, '{"client": "b", "amount": 6, "message_id": 7}')
    assert [r.outcome for r in other] == [Outcome.ACCEPTED]


def test_invalid_event_is_rejected_every_time_never_a_duplicate(service):
    bad = '{"client": "a", "amount": "twelve"}'
    for _ in range(3):
        [r] = _records(service, bad)
        assert r.outcome is Outcome.REJECTED
    [entry] = service.quarantine()
    assert entry.times_seen == 3 and "twelve" in entry.reason
    assert service.stats() == []


def test_outcomes_reach_subscribers_and_counters(service):
    seen = []
    unsubscribe = service.subscribe(seen.extend)
    _records(service, '{"client": "a", "amount": 1}\n{"client": "a", "amount": 1}\nnot json\n')
    unsubscribe()
    assert sorted(r.outcome.value for r in seen) == ["accepted", "duplicate", "rejected"]
    c = service.counters.snapshot()
    assert (c["accepted"], c["duplicates"], c["rejected"]) == (1, 1, 1)


def test_a_128_bit_fingerprint_collision_is_rejected_not_merged(db):
    from faultsim_desktop.core.model import Prepared
    from faultsim_desktop.core.storage import open_backend

    def event(fp, amount):
        return Prepared('{"client": "a"}', "test", 1, 1, fp, "a", "a", amount, None,
                        "2024-01-01T00:00:00.000000Z", time_bucket=0)
    backend = open_backend(db)
    s = backend.write_session(create=True)
    s.begin()
    first, twin, same = s.store_events([event(b"x" * 32, "1"), event(b"x" * 16 + b"y" * 16, "2"),
                                        event(b"x" * 32, "1")], 1, "2024-01-01T00:00:00.000000Z")
    s.commit()
    s.close()
    backend.close()
    assert first.outcome is Outcome.ACCEPTED and same.outcome is Outcome.DUPLICATE
    assert twin.outcome is Outcome.REJECTED and "128 bits" in twin.reason
