"""A rejected text sent again keeps one quarantine entry: seen once more, it says where and why
it was last refused and is open again; a text whose entry another connection changed or
removed meanwhile gets an entry of its own, and no other text's entry is touched.

The SQLite writer remembers the entries it made (core/storage/sqlite.py); these hold whether
or not it remembers, and on PostgreSQL too where the test does not edit the file."""
import hashlib
import sqlite3

import pytest

from faultsim_desktop.core.model import Outcome

BAD = '{"client": "acme", "amount": 5'  # not JSON: the object never closes
OTHER = '{"client": "umbrella", "amount": 7'


def rejected_ids(service, text, source):
    records = []
    unsubscribe = service.subscribe(records.extend)
    try:
        summary = service.submit_text(text, source=source).wait()
    finally:
        unsubscribe()
    assert summary.rejected == 1
    return [r.quarantine_id for r in records if r.outcome is Outcome.REJECTED]


def test_a_text_refused_again_updates_its_one_entry(service):
    [first] = rejected_ids(service, BAD, "monday.ndjson")
    [entry] = service.quarantine()
    assert (entry.id, entry.source, entry.times_seen, entry.status) == (
        first, "monday.ndjson", 1, "open")
    again = rejected_ids(service, "\n\n" + BAD, "tuesday.ndjson")  # now on line 3
    assert again == [first]
    [entry] = service.quarantine()
    assert (entry.id, entry.raw, entry.source, entry.line, entry.times_seen) == (
        first, BAD, "tuesday.ndjson", 3, 2)
    assert entry.first_seen <= entry.last_seen


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_entry_closed_by_another_connection_opens_again(service):
    [qid] = rejected_ids(service, BAD, "a.ndjson")
    with sqlite3.connect(service.db_path) as other:
        other.execute("UPDATE quarantine SET status = 'resolved' WHERE id = ?", (qid,))
    assert service.counts()["quarantined"] == 0
    assert rejected_ids(service, BAD, "b.ndjson") == [qid]
    [entry] = service.quarantine()
    assert (entry.id, entry.status, entry.times_seen, entry.source) == (qid, "open", 2, "b.ndjson")
    assert service.counts()["quarantined"] == 1


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_text_whose_entry_now_holds_another_text_gets_its_own(service):
    [qid] = rejected_ids(service, BAD, "a.ndjson")
    # another connection gives that entry's id to another text (as a removed row's id can be
    # given again): the writer must not count BAD's return on OTHER's entry
    other_hash = hashlib.sha256(OTHER.encode()).digest()
    with sqlite3.connect(service.db_path) as other:
        other.execute("UPDATE quarantine SET raw = ?, raw_hash = ?, source = 'elsewhere'"
                      " WHERE id = ?", (OTHER, other_hash, qid))
    [again] = rejected_ids(service, BAD, "b.ndjson")
    assert again != qid
    entries = {e.id: e for e in service.quarantine()}
    assert (entries[qid].raw, entries[qid].source, entries[qid].times_seen) == (
        OTHER, "elsewhere", 1)
    assert (entries[again].raw, entries[again].source, entries[again].times_seen) == (
        BAD, "b.ndjson", 1)
    # and OTHER itself, sent now, finds the entry that holds it
    assert rejected_ids(service, OTHER, "c.ndjson") == [qid]
    assert {e.id: e.times_seen for e in service.quarantine()} == {qid: 2, again: 1}
