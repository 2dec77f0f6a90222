"""Copies of an event inside one write batch: the writer answers them from the rows the batch
stored, and every outcome, log row and total is what storing the events one at a time gives."""
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from faultsim_desktop.core.model import ImportTag, Outcome
from faultsim_desktop.core.parsing import split_text
from faultsim_desktop.core.pipeline import prepare
from faultsim_desktop.core.retry import RECEIPT_STEP
from faultsim_desktop.core.storage.sqlite import SQLiteBackend

NOW = "2026-03-01T12:00:00.000000Z"
TAG = ImportTag(7, "batch.ndjson", "file", NOW, "off")

# a small pool, so that draws repeat: copies with other key order and spacing, keys reused
# with other content, events without a time (bucket 0), rejections
POOL = [
    '{"client": "a", "amount": 1, "ts": 1700000000}',
    '{ "ts":1700000000,"amount":1.0 ,"client":"a"}',
    '{"client": "a", "amount": 2}',
    '{"amount": 2, "client": "a"}',
    '{"client": "b", "amount": "3.50", "idempotency_key": "k1"}',
    '{"idempotency_key": "k1", "client": "b", "amount": "3.50"}',
    '{"client": "b", "amount": "4.00", "idempotency_key": "k1"}',
    '{"client": "c", "cost": "$1,234.50", "time": "2026-03-01 12:00:00"}',
    '{"time": "2026-03-01 12:00:00", "cost": "$1,234.50", "client": "c"}',
    '{"client": "c", "amount": "oops"}',
    '{"client": "d", "amount": 5, "note": "caf\\u00e9"}',
    '{"client": "d", "amount": 5, "note": "café"}',
    '{"client": ',
]


def _store(db, lines: list[str], together: bool):
    """The lines' events through store_events, all in one batch or one batch each (a
    transaction per batch); the outcomes (with their ids and reasons) and the tables a user
    reads."""
    items = prepare(split_text("\n".join(lines), "batch.ndjson"), NOW, None, TAG)
    # every event keeps its own ticket (attempt 1), however the events are batched
    receipts = [RECEIPT_STEP * (i + 1) + 1 for i in range(len(items))]
    batches = [range(len(items))] if together else [range(i, i + 1) for i in range(len(items))]
    session = SQLiteBackend(db).write_session()
    outcomes = []
    try:
        for batch in batches:
            session.begin()
            records = session.store_events([items[i] for i in batch], 1, NOW,
                                           [receipts[i] for i in batch])
            session.commit()
            outcomes += [(r.outcome, r.reason, r.event_id, r.line) for r in records]
        conn = session.conn
        tables = {
            "events": conn.execute("SELECT id, fingerprint, client_key, amount, raw, line,"
                                   " receipt FROM events ORDER BY id").fetchall(),
            "log": conn.execute("SELECT outcome, reason, event_id, line FROM log"
                                " ORDER BY rowid").fetchall(),
            "aggregates": conn.execute("SELECT client_key, currency, count, total"
                                       " FROM aggregates ORDER BY 1, 2").fetchall(),
            "quarantine": conn.execute("SELECT raw, code, times_seen FROM quarantine"
                                       " ORDER BY id").fetchall(),
        }
    finally:
        session.release()
    return outcomes, tables


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(POOL), min_size=1, max_size=40))
def test_one_batch_equals_one_event_at_a_time(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("batch")
    assert _store(folder / "together.db", lines, True) == _store(folder / "apart.db", lines, False)


def test_a_retry_in_the_same_batch_is_a_duplicate_of_the_stored_row(tmp_path):
    lines = ['{"client": "a", "amount": 1}', '{"client": "b", "amount": 2}',
             '{"amount": 1, "client": "a"}']
    outcomes, tables = _store(tmp_path / "x.db", lines, True)
    first_id = outcomes[0][2]
    assert outcomes[2] == (Outcome.DUPLICATE, f"same as event #{first_id}", first_id, 3)
    assert tables["log"] == [("duplicate", f"same as event #{first_id}", first_id, 3)]
    assert [(k, n, Decimal(t)) for k, _c, n, t in tables["aggregates"]] == [
        ("a", 1, Decimal(1)), ("b", 1, Decimal(2))]


def test_a_retry_of_an_earlier_attempt_in_the_same_batch_is_accepted(tmp_path):
    """The same event twice under one ticket, the second at a later attempt: what the first
    stored is its own earlier commit, not a duplicate (lost acknowledgement)."""
    session = SQLiteBackend(tmp_path / "x.db").write_session()
    try:
        items = prepare(split_text('{"client": "a", "amount": 1}\n{"amount": 1, "client": "a"}'),
                        NOW, None, TAG)
        session.begin()
        ticket = 40 * RECEIPT_STEP
        records = session.store_events(items, 2, NOW, [ticket + 1, ticket + 2])
        session.commit()
    finally:
        session.release()
    assert [r.outcome for r in records] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert records[1].event_id == records[0].event_id
    assert "acknowledgement was lost" in records[1].reason
