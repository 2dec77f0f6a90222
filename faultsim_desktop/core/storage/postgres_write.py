"""PostgreSQL's writer session: the statements of the writer thread on its own connection
(``PgBackend.write_session``). How duplicates, aggregates and lock order keep concurrent
writers exact is said in postgres.py."""
from __future__ import annotations

import functools
import hashlib
import json
from typing import TYPE_CHECKING, Iterable, NamedTuple

import psycopg

from ..model import Outcome, OutcomeRecord, Prepared, RejectCode
from .common import _exact_sum, _own_earlier_commit, _raw_bytes, lost_ack_reason
from .postgres_imports import PgImportMethods
from .postgres_schema import _TABLES, _check_schema, _raw_columns, _text
from .undo import UndoMethods

if TYPE_CHECKING:
    from .postgres import PgBackend


def _next_ids(cur, table: str, n: int) -> list[int]:
    """``n`` fresh ids of ``table``'s identity column, ascending."""
    cur.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id'))"
                " FROM generate_series(1, %s)", (n,))
    return sorted(i for (i,) in cur.fetchall())


def _translated(method):
    """psycopg errors leave a session only as StorageError (what the writer retries)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except psycopg.Error as exc:
            raise self.backend.explain(exc) from None
    return wrapper


# A batch's new events reach the server by COPY (binary) into a temporary table, then go to
# events in one INSERT ... SELECT: much faster than arrays of parameters (docs/benchmarks.md).
_BATCH_TABLE = """CREATE TEMP TABLE IF NOT EXISTS faultsim_batch (
    id bigint, fingerprint bytea, client text, client_key text, currency text, amount text,
    event_time text, idempotency_key text, warnings text, source text, line integer, raw text,
    raw_bytes bytea, mapping_version integer, receipt bigint, import_id bigint)
    ON COMMIT DELETE ROWS"""
_BATCH_TYPES = ["int8", "bytea", "text", "text", "text", "text", "text", "text", "text", "text",
                "int4", "text", "bytea", "int4", "int8", "int8"]
_INSERT_EVENTS = (
    "INSERT INTO events (id, fingerprint, client, client_key, currency, amount, event_time,"
    " received_at, idempotency_key, warnings, source, line, raw, raw_bytes, mapping_version,"
    " receipt, import_id)"
    " SELECT id, fingerprint, client, client_key, currency, amount::numeric, event_time, %s,"
    " idempotency_key, warnings, source, line, raw, raw_bytes, mapping_version, receipt,"
    " import_id"
    " FROM faultsim_batch ORDER BY fingerprint"
    " ON CONFLICT DO NOTHING RETURNING id, fingerprint")
_QUARANTINE = (
    "INSERT INTO quarantine AS q (id, raw_hash, raw, raw_bytes, code, reason, source, line,"
    " col, first_seen, last_seen, times_seen, fingerprint)"
    " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,1,%s)"
    " ON CONFLICT (raw_hash) DO UPDATE SET last_seen = excluded.last_seen,"
    " times_seen = q.times_seen + 1, code = excluded.code, reason = excluded.reason,"
    " source = excluded.source, line = excluded.line, col = excluded.col,"
    " fingerprint = coalesce(excluded.fingerprint, q.fingerprint),"
    " status = 'open' RETURNING id")
# Open quarantine entries holding content this batch stored (accepted or found stored) are
# resolved; the partial index holds only open entries that have a fingerprint.
_RESOLVE = ("UPDATE quarantine SET status = 'resolved' WHERE status = 'open'"
            " AND fingerprint IS NOT NULL AND fingerprint = ANY(%b::bytea[])")


class _Reject(NamedTuple):
    """An event of the batch that goes to quarantine, and why."""

    index: int  # in the batch
    code: str
    reason: str | None
    event_id: int | None = None  # the stored event it collides or conflicts with


def _record(it: Prepared, now: str, outcome: Outcome, attempt: int, reason: str | None,
            event_id: int | None, quarantine_id: int | None = None) -> OutcomeRecord:
    return OutcomeRecord(now, outcome, it.client, it.amount, it.currency, it.fingerprint,
                         attempt, reason, it.source, it.line, event_id, quarantine_id,
                         import_tag=it.import_tag)


class PgWriteSession(PgImportMethods):
    """The writer thread's statements on its own connection (reopened when it was lost)."""

    def __init__(self, backend: PgBackend, settings: dict[str, str]):
        self.backend = backend
        self._settings = settings
        self.conn: psycopg.Connection | None = None
        self._opened = False
        self.detached = False  # a server has no file to let go of: the session reconnects
        # import uid -> imports.id: committed ones, and those this transaction created
        self._imports: dict[int, int] = {}
        self._new_imports: dict[int, int] = {}
        self._touched: set[int] = set()

    def open(self, create: bool) -> None:
        conn = self.backend.connect(**self._settings)
        try:
            _check_schema(conn, self.backend.label, create=create and not self._opened)
            conn.execute(_BATCH_TABLE)
        except psycopg.Error as exc:
            conn.close()
            raise self.backend.explain(exc) from None
        except BaseException:
            conn.close()
            raise
        self.conn, self._opened = conn, True

    def _live(self) -> psycopg.Connection:
        """The connection; a lost one is replaced (the schema must still be there: a database
        emptied meanwhile is reported missing, never silently recreated)."""
        if self.conn is None or self.conn.closed or self.conn.broken:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
            self.open(create=False)
        return self.conn

    @_translated
    def check(self) -> None:
        """The window's periodic check, and before a command: is the server there?"""
        conn = self._live()
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            conn.execute("SELECT 1")

    @_translated
    def begin(self) -> None:
        self._live().execute("BEGIN")

    @_translated
    def commit(self) -> None:
        self.conn.execute("COMMIT")
        self._imports.update(self._new_imports)
        self._new_imports.clear()

    def rollback(self) -> None:
        self._new_imports.clear()
        self._touched.clear()
        conn = self.conn
        if conn is None or conn.closed or conn.broken:
            return
        try:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
        except psycopg.Error:
            conn.close()  # reopened at the next begin

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def release(self) -> None:
        """Let go of the database at the end."""
        self.close()

    @_translated
    def store_events(self, items: list[Prepared], attempt: int, now: str,
                     receipts: Iterable[int | None] | None = None) -> list[OutcomeRecord]:
        """Insert a batch inside the open transaction; the UNIQUE indexes decide duplicates.
        ``receipts`` as in the SQLite backend: an event finding its own receipt's ticket on the
        stored row is accepted (an earlier attempt committed it; its acknowledgement was lost)."""
        cur = self.conn.cursor()
        items = list(map(Prepared._make, items))  # workers send plain tuples
        n = len(items)
        receipts = [None] * n if receipts is None else list(receipts)
        records: list[OutcomeRecord | None] = [None] * n
        to_quarantine: list[_Reject] = []
        # One row per fingerprint and per (client, key) goes to the INSERT: what a batch says
        # twice is decided after it, exactly as the SQLite writer decides it row by row.
        first_fp: dict[bytes, int] = {}
        first_key: dict[tuple[str, str], int] = {}
        insert: list[int] = []
        later: list[int] = []
        import_ids = self._import_ids(items)
        for i, it in enumerate(items):
            if it.reject_code is not None:
                to_quarantine.append(_Reject(i, it.reject_code, it.reason))
                continue
            fp, key = it.fingerprint, (it.client_key, it.idempotency_key)
            if fp in first_fp or (key[1] is not None and key in first_key):
                later.append(i)
                continue
            first_fp[fp] = i
            if key[1] is not None:
                first_key[key] = i
            insert.append(i)
        inserted: dict[bytes, int] = {}
        if insert:
            # Ids follow the batch's order, as in SQLite, while rows are inserted in
            # fingerprint order: one lock order for every writer, so none waits in a cycle.
            ids = dict(zip(insert, _next_ids(cur, "events", len(insert))))
            insert.sort(key=lambda i: items[i].fingerprint)
            dumps = json.dumps
            # (rows a rolled-back attempt left go with it; ON COMMIT empties the table)
            with cur.copy("COPY faultsim_batch FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(_BATCH_TYPES)
                write = copy.write_row
                for i in insert:
                    it = items[i]
                    raw_text, raw_data = _raw_columns(it.raw)
                    write((ids[i], it.fingerprint, _text(it.client), _text(it.client_key),
                           it.currency or "", it.amount, it.event_time,
                           _text(it.idempotency_key),
                           dumps(it.warnings, ensure_ascii=False) if it.warnings else None,
                           _text(it.source), it.line, raw_text, raw_data, it.mapping_version,
                           receipts[i], import_ids[i]))
            cur.execute(_INSERT_EVENTS, (now,))
            inserted = {bytes(fp): eid for eid, fp in cur.fetchall()}
        accepted: list[int] = []
        undecided: list[int] = []
        for i in insert:
            eid = inserted.get(items[i].fingerprint)
            if eid is None:
                undecided.append(i)
            else:
                accepted.append(i)
                records[i] = _record(items[i], now, Outcome.ACCEPTED, attempt, None, eid)
        undecided += later
        if undecided:
            self._decide(cur, items, undecided, records, to_quarantine, attempt, now, receipts)
        if to_quarantine:
            self._quarantine_all(cur, items, to_quarantine, records, attempt, now)
            self._keep_conflicts(cur, items, to_quarantine, records, import_ids, now)
        self._resolve_stored(cur, records)
        if accepted:
            accepted.sort()  # a client's display form is its first event's, in batch order
            self._add_to_aggregates(cur, [items[i] for i in accepted])
        done = [r for r in records if r is not None]
        assert len(done) == n
        self._log(cur, done)
        self._finish_imports(cur, now)
        return done

    def _decide(self, cur, items, undecided, records, to_quarantine, attempt, now, receipts
                ) -> None:
        """Events the INSERT skipped: a duplicate (or the event's own earlier commit), a
        128-bit collision, or a key conflict."""
        prefixes = sorted({items[i].fingerprint[:16] for i in undecided})
        cur.execute("SELECT id, fingerprint, receipt FROM events WHERE substr(fingerprint, 1, 16)"
                    " = ANY(%b::bytea[])", (prefixes,))
        by_prefix = {bytes(fp[:16]): (eid, bytes(fp), receipt)
                     for eid, fp, receipt in cur.fetchall()}
        conflicts = []
        for i in undecided:
            it = items[i]
            found = by_prefix.get(it.fingerprint[:16])
            if found is None:
                conflicts.append(i)
                continue
            eid, fp, receipt = found
            if fp == it.fingerprint and _own_earlier_commit(receipt, receipts[i]):
                records[i] = _record(it, now, Outcome.ACCEPTED, attempt,
                                     lost_ack_reason(receipt), eid)
            elif fp == it.fingerprint:
                records[i] = _record(it, now, Outcome.DUPLICATE, attempt,
                                     f"same as event #{eid}", eid)
            else:  # 2**-128 odds: say so rather than drop a real event
                to_quarantine.append(_Reject(
                    i, RejectCode.FINGERPRINT_COLLISION.value,
                    f"its fingerprint shares 128 bits with event #{eid}'s but differs; it was "
                    "not stored (report this)", eid))
        if not conflicts:
            return
        keys = sorted({(_text(items[i].client_key), _text(items[i].idempotency_key))
                       for i in conflicts if items[i].idempotency_key is not None})
        first: dict[tuple[str, str], int] = {}
        if keys:
            cur.execute("SELECT e.client_key, e.idempotency_key, e.id FROM events e JOIN"
                        " unnest(%b::text[], %b::text[]) AS u(k, i)"
                        " ON e.client_key = u.k AND e.idempotency_key = u.i",
                        ([k for k, _ in keys], [i for _, i in keys]))
            first = {(k, i): eid for k, i, eid in cur.fetchall()}
        for i in conflicts:
            it = items[i]
            eid = first.get((_text(it.client_key), _text(it.idempotency_key)))
            reason = (f"idempotency key {it.idempotency_key!r} of client {it.client!r} was "
                      f"already used by event #{eid if eid else '?'} with different content; "
                      "the first one stands")
            to_quarantine.append(_Reject(i, RejectCode.IDEMPOTENCY_CONFLICT.value, reason, eid))

    def _resolve_stored(self, cur, records: list[OutcomeRecord]) -> None:
        cur.execute("SELECT EXISTS (SELECT 1 FROM quarantine WHERE status = 'open'"
                    " AND fingerprint IS NOT NULL)")
        if not cur.fetchone()[0]:
            return
        stored = sorted({r.fingerprint for r in records if r is not None
                         and r.outcome in (Outcome.ACCEPTED, Outcome.DUPLICATE)})
        if stored:
            cur.execute(_RESOLVE, (stored,))

    def _quarantine_all(self, cur, items: list[Prepared], jobs: list[_Reject], records,
                        attempt, now) -> None:
        jobs.sort()  # batch order: new entries are numbered as SQLite numbers them
        rows, hashes = [], []
        for job, qid in zip(jobs, _next_ids(cur, "quarantine", len(jobs))):
            it = items[job.index]
            raw_text, raw_data = _raw_columns(it.raw)
            hashes.append(hashlib.sha256(_raw_bytes(it.raw)).digest())
            rows.append((qid, hashes[-1], raw_text, raw_data, job.code,
                         _text(job.reason or job.code), _text(it.source), it.line, it.column,
                         now, now, it.fingerprint))
        order = sorted(range(len(rows)), key=hashes.__getitem__)  # one lock order
        cur.executemany(_QUARANTINE, [rows[k] for k in order], returning=True)
        qids = [0] * len(rows)
        for k in order:
            (qids[k],) = cur.fetchone()
            cur.nextset()
        for job, qid in zip(jobs, qids):
            records[job.index] = _record(items[job.index], now, Outcome.REJECTED, attempt,
                                         job.reason, job.event_id, qid)

    def _add_to_aggregates(self, cur, accepted: list[Prepared]) -> None:
        deltas: dict[tuple[str, str], list] = {}
        names: dict[str, str] = {}
        for it in accepted:
            client, key, amount, currency, t = (it.client, it.client_key, it.amount,
                                                it.currency or "", it.event_time)
            d = deltas.get((key, currency))
            if d is None:
                deltas[(key, currency)] = [1, [amount], t, t]
                names.setdefault(key, client)
            else:
                d[0] += 1
                d[1].append(amount)
                d[2] = min(d[2], t)
                d[3] = max(d[3], t)
        keys = sorted(names)
        # clients and aggregates in key order (SQL sorts, so every writer agrees on the order)
        cur.execute("INSERT INTO clients (client_key, display) SELECT k, d FROM"
                    " unnest(%b::text[], %b::text[]) AS u(k, d) ORDER BY k"
                    " ON CONFLICT DO NOTHING",
                    ([_text(k) for k in keys], [_text(names[k]) for k in keys]))
        rows = [(_text(k), c, n, _exact_sum(amounts), first, last)
                for (k, c), (n, amounts, first, last) in deltas.items()]
        cur.execute(
            "INSERT INTO aggregates AS a (client_key, currency, count, total, first_seen,"
            " last_seen) SELECT * FROM unnest(%b::text[], %b::text[], %b::bigint[],"
            " %b::numeric[], %b::text[], %b::text[]) AS u(k, c, n, t, f, l) ORDER BY k, c"
            " ON CONFLICT (client_key, currency) DO UPDATE SET count = a.count + excluded.count,"
            " total = a.total + excluded.total,"
            " first_seen = least(a.first_seen, excluded.first_seen),"
            " last_seen = greatest(a.last_seen, excluded.last_seen)",
            [list(col) for col in zip(*rows)])

    def _log(self, cur, records: list[OutcomeRecord]) -> None:
        # as in SQLite: accepted outcomes are logged by their event row
        accepted = Outcome.ACCEPTED
        import_id = self.import_id
        rows = [(r.at, r.outcome.value, _text(r.client), r.amount, r.currency,
                 r.fingerprint[:8] if r.fingerprint else None, r.attempt, _text(r.reason),
                 _text(r.source), r.line, r.event_id, r.quarantine_id, import_id(r.import_tag))
                for r in records if r.outcome is not accepted]
        if rows:
            with cur.copy("COPY log (at, outcome, client, amount, currency, fingerprint, attempt,"
                          " reason, source, line, event_id, quarantine_id, import_id)"
                          " FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "text", "text", "text", "text", "bytea", "int4", "text",
                                "text", "int4", "int8", "int8", "int8"])
                for row in rows:
                    copy.write_row(row)

    @_translated
    def log_outcomes(self, records: list[OutcomeRecord]) -> None:
        """Log rows in a transaction of their own: retries and failures, whose batch rolled back."""
        conn = self._live()
        try:
            with conn.transaction():
                cur = conn.cursor()
                self._log(cur, records)
                self._finish_imports(cur, records[0].at if records else "")
        except BaseException:
            self._new_imports.clear()
            self._touched.clear()
            raise
        self._imports.update(self._new_imports)
        self._new_imports.clear()

    @_translated
    def quarantine(self, raw: str | bytes, code: str, reason: str | None, source: str,
                   line: int, column: int, now: str, fingerprint: bytes | None = None) -> int:
        raw_text, raw_data = _raw_columns(raw)
        [qid] = _next_ids(self.conn.cursor(), "quarantine", 1)
        return self.conn.execute(_QUARANTINE, (
            qid, hashlib.sha256(_raw_bytes(raw)).digest(), raw_text, raw_data, code,
            _text(reason or code), _text(source), line, column, now, now,
            fingerprint)).fetchone()[0]

    @_translated
    def set_quarantine_status(self, ids: Iterable[int], status: str) -> None:
        self.conn.execute("UPDATE quarantine SET status = %s WHERE id = ANY(%b::bigint[])",
                          (status, sorted(ids)))

    @_translated
    def record_answer(self, key: str, body_hash: bytes, status: int, answer: bytes, now: str,
                      expired_before: str) -> tuple[bytes, int, bytes]:
        """As the SQLite backend's: keep the answer to the request ``key``; returns the one kept
        (another process's when it recorded first)."""
        self.conn.execute("DELETE FROM requests WHERE created_at < %s", (expired_before,))
        self.conn.execute("INSERT INTO requests (key, body_hash, status, answer, created_at)"
                          " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                          (key, body_hash, status, answer, now))
        h, st, a = self.conn.execute("SELECT body_hash, status, answer FROM requests"
                                     " WHERE key = %s", (key,)).fetchone()
        return bytes(h), st, bytes(a)

    @_translated
    def save_mapping(self, client_key: str, mapping_json: str, note: str, now: str) -> int:
        """Store a new version of a client's mapping; returns the version. The table lock
        (which readers do not wait for) keeps two writers from taking the same number."""
        self.conn.execute("LOCK TABLE schemas IN SHARE ROW EXCLUSIVE MODE")
        key = _text(client_key)
        version = self.conn.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM schemas WHERE client_key = %s",
            (key,)).fetchone()[0]
        self.conn.execute("INSERT INTO schemas (client_key, version, mapping, created_at, note)"
                          " VALUES (%s, %s, %s, %s, %s)",
                          (key, version, _text(mapping_json), now, _text(note)))
        return version


    @_translated
    def undo_import(self, import_id: int, now: str, counts: dict):
        return UndoMethods.undo_import(self, import_id, now, counts)

    @_translated
    def reset(self) -> None:
        # the clients' schemas are configuration, not data: they stay (as in SQLite)
        for table in _TABLES:
            self.conn.execute(f"DELETE FROM {table}")
        self._imports.clear()



__all__ = ["PgWriteSession"]
