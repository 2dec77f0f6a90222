"""New databases are made with sqlite_schema.PAGE_SIZE; a file an earlier faultsim made with
SQLite's 4 KiB pages keeps them, and everything it holds still counts exactly once."""
import sqlite3
from decimal import Decimal

from faultsim_desktop.core.model import Outcome
from faultsim_desktop.core.service import IngestService
from faultsim_desktop.core.storage import sqlite_schema

FIRST = ('{"client": "acme", "amount": "12.50", "ts": "2026-03-01 12:00:00"}\n'
         '{"client": "acme", "amount": "7.25"}\n'
         '{"customer": {"id": "Beta"}, "cost": "1.234,50 €", "event_id": "k-1"}\n')
# the same three events again (reordered keys, other spacing), and two new ones
AGAIN = ('{"ts": "2026-03-01 12:00:00", "amount": "12.50", "client": "acme"}\n'
         '{"amount":"7.25","client":"acme"}\n'
         '{"cost": "1.234,50 €", "event_id": "k-1", "customer": {"id": "Beta"}}\n'
         '{"client": "acme", "amount": "0.25", "ts": 1772366400}\n'
         '{"client": "Beta", "amount": 3, "event_id": "k-2"}\n')


def _outcomes(svc, text):
    ticket = svc.submit_text(text, keep_records=True)
    ticket.wait(30)
    return [r.outcome for r in ticket.records]


def _page_size(db):
    conn = sqlite3.connect(db)
    try:
        return (conn.execute("PRAGMA page_size").fetchone()[0],
                conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_a_new_database_has_the_larger_pages_and_keeps_them(tmp_path):
    db = tmp_path / "new.db"
    with IngestService(db) as svc:
        assert _outcomes(svc, FIRST) == [Outcome.ACCEPTED] * 3
    assert _page_size(db) == (sqlite_schema.PAGE_SIZE, "ok")
    with IngestService(db) as svc:
        assert _outcomes(svc, AGAIN) == [Outcome.DUPLICATE] * 3 + [Outcome.ACCEPTED] * 2
    assert _page_size(db) == (sqlite_schema.PAGE_SIZE, "ok")


def test_a_database_made_with_4_kib_pages_keeps_them_and_counts_exactly(tmp_path, monkeypatch):
    db = tmp_path / "old.db"
    monkeypatch.setattr(sqlite_schema, "PAGE_SIZE", 4096)  # as faultsim made databases before
    with IngestService(db) as svc:
        assert _outcomes(svc, FIRST) == [Outcome.ACCEPTED] * 3
    monkeypatch.undo()
    assert sqlite_schema.PAGE_SIZE != 4096
    with IngestService(db) as svc:
        assert _outcomes(svc, AGAIN) == [Outcome.DUPLICATE] * 3 + [Outcome.ACCEPTED] * 2
        totals = {(row.client, row.currency, row.count, row.total) for row in svc.stats()}
    assert totals == {("acme", None, 3, Decimal("20.00")), ("Beta", "EUR", 1, Decimal("1234.50")),
                      ("Beta", None, 1, Decimal("3"))}
    assert _page_size(db) == (4096, "ok")
