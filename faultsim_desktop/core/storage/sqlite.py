"""The SQLite backend: one database file (WAL), its writer's statements, its pending outbox
beside it."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from decimal import Decimal
from functools import reduce
from itertools import repeat
from pathlib import Path
from typing import Iterable

from ..dburl import outbox_path_for
from ..errors import StorageError, StorageErrorKind
from ..model import Outcome, OutcomeRecord, Prepared, RejectCode
from .common import MONEY, _own_earlier_commit, _raw_bytes, _storable, explain, lost_ack_reason
from .sqlite_files import FileWatch
from .sqlite_read import ReadSession
from .sqlite_schema import SCHEMA_VERSION, connect
from .sqlite_version import DataVersion
from .undo import UndoMethods

_ZERO = Decimal(0)
_OUTCOME_TEXT = {o: o.value for o in Outcome}  # an Enum's .value is a Python-level property
_DUPLICATE = Outcome.DUPLICATE
_record = tuple.__new__
_EVENT_COLUMNS = ("fingerprint", "client", "client_key", "currency", "amount", "event_time",
                  "received_at", "idempotency_key", "warnings", "source", "line", "raw",
                  "mapping_version", "time_bucket", "receipt", "import_id")
_RAW = _EVENT_COLUMNS.index("raw")
_INSERT_EVENT = (f"INSERT INTO events({', '.join(_EVENT_COLUMNS)})"
                 f" VALUES ({','.join('?' * len(_EVENT_COLUMNS))}) ON CONFLICT DO NOTHING")
_CONFLICT_COLUMNS = (("import_id", "quarantine_id") + _EVENT_COLUMNS[:_RAW + 1]
                     + ("mapping_version", "time_bucket"))
_KEEP_CONFLICT = (f"INSERT INTO conflicts({', '.join(_CONFLICT_COLUMNS)})"
                  f" VALUES ({','.join('?' * len(_CONFLICT_COLUMNS))})")
_LOG_ANY = ("INSERT INTO log(at, outcome, client, amount, currency, fingerprint, attempt,"
            " reason, source, line, event_id, quarantine_id, import_id)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
# A rejected input's entry: inserted once per raw text; seen again, it is updated in place
# (the entry is open again, and says where and why it was last refused).
_QUARANTINE_NEW = ("INSERT INTO quarantine(raw_hash, raw, code, reason, source, line, col,"
                   " first_seen, last_seen, times_seen, fingerprint)"
                   " VALUES (?,?,?,?,?,?,?,?,?,1,?) ON CONFLICT(raw_hash) DO NOTHING")
_QUARANTINE_AGAIN = ("UPDATE quarantine SET last_seen = ?, times_seen = times_seen + 1,"
                     " code = ?, reason = ?, source = ?, line = ?, col = ?,"
                     " fingerprint = coalesce(?, fingerprint), status = 'open'")
_QUARANTINE_AGAIN_BY_ID = _QUARANTINE_AGAIN + " WHERE id = ? AND raw_hash = ?"
_QUARANTINE_AGAIN_BY_HASH = _QUARANTINE_AGAIN + " WHERE raw_hash = ? RETURNING id"
_QUARANTINED_KNOWN = 4096  # raw hash -> entry id, of the texts this session quarantined last
# The common event: no idempotency key, no warnings, no client mapping; its receipt and
# import known. The sqlite3 module binds an exact str, int or bytearray as it is, but sends
# any other value, None and bytes included, through its adapter registry and a call of the
# adapter (sqlite_schema.py): NULL literals and a bytearray fingerprint spare a row four of them.
# Events with a key or warnings (and still no mapping) have statements of their own too.


def _insert_with_nulls(*nulls: str) -> str:
    return (f"INSERT INTO events({', '.join(_EVENT_COLUMNS)}) VALUES ("
            + ",".join("NULL" if c in nulls else "?" for c in _EVENT_COLUMNS)
            + ") ON CONFLICT DO NOTHING")


_INSERT_PLAIN = _insert_with_nulls("idempotency_key", "warnings", "mapping_version")
_INSERT_KEYED = _insert_with_nulls("warnings", "mapping_version")
_INSERT_WARNED = _insert_with_nulls("idempotency_key", "mapping_version")
_INSERT_UNMAPPED = _insert_with_nulls("mapping_version")


def _event_row(it, now: str, warnings_json: str | None, receipt, import_id) -> tuple:
    """The ``_EVENT_COLUMNS`` values of prepared event ``it``."""
    (raw, source, line, _col, fp, client, client_key, amount, currency, event_time, idem,
     _w, _c, _r, _o, mapping_version, bucket) = it[:17]
    return (fp, client, client_key, currency or "", amount, event_time, now, idem,
            warnings_json, source, line, raw, mapping_version, bucket, receipt, import_id)


def _stored_already(it, attempt: int, now: str, receipt, tag, stored_id: int, stored_receipt,
                    open_fps, resolved: list) -> OutcomeRecord:
    """The outcome of an event whose content is stored already, as event ``stored_id``:
    a duplicate, or its own earlier attempt whose acknowledgement was lost."""
    source, line, fp, client, amount, currency = it[1], it[2], it[4], it[5], it[7], it[8]
    if open_fps and fp in open_fps:
        resolved.append((fp,))
        open_fps.discard(fp)
    if _own_earlier_commit(stored_receipt, receipt):
        # the event row is its log entry, as for any accepted event
        return OutcomeRecord(now, Outcome.ACCEPTED, client, amount, currency, fp, attempt,
                             lost_ack_reason(stored_receipt), source, line, stored_id,
                             import_tag=tag)
    # a fifth of a feed's events: OutcomeRecord's own __new__ is Python code
    return _record(OutcomeRecord, (now, _DUPLICATE, client, amount, currency, fp, attempt,
                                   f"same as event #{stored_id}", source, line, stored_id, None,
                                   None, tag))


class WriteSession(UndoMethods):
    """The writer thread's statements. One instance per write connection; one thread only.

    It keeps the aggregates in memory, checked against ``PRAGMA data_version`` at the start of
    each transaction: when another connection (another process) has committed meanwhile, the
    cache is reloaded, so concurrent writers still add to the true totals.
    """

    def __init__(self, conn: sqlite3.Connection, watch: FileWatch | None = None):
        self.conn = conn
        self._watch = watch  # the file this connection writes, watched before each batch
        self.detached = False  # let go of: the file vanished or was replaced under it
        self.cur = conn.cursor()
        # 32 MiB: with the dedup index in time order only its newest pages are hot, so a larger
        # cache costs memory without speed.
        conn.execute("PRAGMA cache_size = -32768")
        conn.execute("PRAGMA temp_store = MEMORY")
        # Random fingerprints dirty pages all over the index; checkpointing less often lets a
        # page rewritten by many batches be copied back once (10,000 pages: 160 MiB of WAL at
        # most with sqlite_schema.PAGE_SIZE, 40 MiB in a database made with 4 KiB pages).
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        self._aggs: dict[tuple[str, str], tuple[int, Decimal, str, str]] | None = None
        self._clients: set[str] = set()
        self._version: int | None = None
        self._pending_aggs: dict | None = None
        # fingerprints of the open quarantine entries: storing one of them resolves its entry
        # (loaded with the aggregates, and dropped with them on a rollback)
        self._open_fps: set[bytes] | None = None
        # bumped when stored events may have changed other than by this session's inserts (its
        # reset, another connection's commit): a cache of stored rows keyed by it stays exact
        self.generation = 0
        # import uid -> imports.id: committed ones, and those this transaction created
        self._imports: dict[int, int] = {}
        self._new_imports: dict[int, int] = {}
        self._touched: set[int] = set()  # imports this transaction stored outcomes for
        self._warnings_json: dict[tuple[str, ...], str] = {}  # warnings repeat: dumped once
        # raw hash -> quarantine id of recently quarantined texts (checked by hash on use)
        self._quarantined: dict[bytes, int] = {}

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        version = self.conn.execute("PRAGMA data_version").fetchone()[0]
        if self._version is not None and version != self._version:
            self.generation += 1
        if self._aggs is None or self._open_fps is None or version != self._version:
            self._imports.clear()  # another connection may have reset the database
            self._load_aggregates()
            self._version = version

    def _load_aggregates(self) -> None:
        self._aggs = {(k, c): (n, Decimal(t), f, last) for k, c, n, t, f, last in self.conn.execute(
            "SELECT client_key, currency, count, total, first_seen, last_seen FROM aggregates")}
        self._clients = {k for (k,) in self.conn.execute("SELECT client_key FROM clients")}
        self._open_fps = {fp for (fp,) in self.conn.execute(
            "SELECT fingerprint FROM quarantine WHERE status = 'open'"
            " AND fingerprint IS NOT NULL")}

    def close(self) -> None:
        # an open cursor keeps the connection a zombie: SQLite would skip the final checkpoint
        self.cur.close()
        self.conn.close()

    def check(self) -> None:
        """Before each write: is the file still the one opened, and writable? A file deleted
        or replaced meanwhile is let go of (``detached``) and reported."""
        if self._watch is not None:
            self._watch.check(self)

    def release(self) -> None:
        """Let go of the database at the end: a file deleted or replaced meanwhile is saved,
        and its WAL emptied, first."""
        try:
            self.check()
        except (StorageError, OSError, sqlite3.Error):
            pass
        if not self.detached:
            self.close()

    def release_wal(self) -> None:
        """Copy the WAL into this connection's own database file and empty it. For a file that
        was deleted or replaced under us: a WAL left with our pages under the old name would be
        read as part of whatever file is opened at that name next."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def copy_to(self, target: Path) -> None:
        """Write a complete copy of the open database to ``target``; SQLite refuses a target
        that exists and is not empty, so nothing is ever overwritten."""
        self.conn.execute("VACUUM INTO ?", (str(target),))

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        if self._pending_aggs:
            self._aggs.update(self._pending_aggs)
        self._pending_aggs = None
        self._imports.update(self._new_imports)
        self._new_imports.clear()

    def rollback(self) -> None:
        self._pending_aggs = None
        self._new_imports.clear()
        self._touched.clear()
        self._aggs = None  # reload at the next begin: never trust state a failure touched
        self._open_fps = None
        self._quarantined.clear()
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def store_events(self, items: list[Prepared], attempt: int, now: str,
                     receipts: Iterable[int | None] | None = None) -> list[OutcomeRecord]:
        """Insert a batch inside the open transaction; the UNIQUE indexes decide duplicates.

        ``receipts`` (one per item, core/retry.py) go into the rows inserted; an event that
        finds its own receipt's ticket on the stored row was committed by an earlier attempt
        whose acknowledgement was lost: it is accepted, not a duplicate."""
        execute = self.cur.execute
        records: list[OutcomeRecord] = []
        append = records.append
        logged: list[OutcomeRecord] = []  # every outcome but ACCEPTED goes to the log table
        # (client_key, currency) -> [the accepted amounts, first and last event time];
        # new clients -> their first display form
        deltas: dict[tuple[str, str], list] = {}
        new_clients: dict[str, str] = {}
        known_clients = self._clients
        record = tuple.__new__  # OutcomeRecord's own __new__ is Python code: 1M calls count
        accepted, rejected = Outcome.ACCEPTED, Outcome.REJECTED
        open_fps = self._open_fps
        resolved: list[tuple[bytes]] = []  # stored content that open quarantine entries hold
        if receipts is None:
            receipts = repeat(None)
        last_tag = import_id = None
        warnings_json = self._warnings_json
        # fingerprint -> (time bucket, id, receipt) of the events this batch stored: retries
        # mostly come close behind their first copy, and need neither INSERT nor look-up
        stored_here: dict[bytes, tuple] = {}
        for it, receipt in zip(items, receipts):
            (raw, source, line, column, fp, client, client_key, amount, currency, event_time,
             idem, warnings, reject_code, reason, _outbox, mapping_version, bucket, tag) = it
            if tag is not last_tag:  # an import's events come in runs
                import_id = self.import_id(tag)
                last_tag = tag
            if reject_code is not None:
                qid = self.quarantine(raw, reject_code, reason, source, line, column, now, fp)
                r = record(OutcomeRecord, (now, rejected, client, amount, currency, fp, attempt,
                                           reason, source, line, None, qid, None, tag))
                logged.append(r)
                append(r)
                continue
            stored = stored_here.get(fp)
            if stored is not None and stored[0] == bucket:
                # an earlier event of this batch holds the key: its INSERT would be refused,
                # and the look-up would find that row
                r = _stored_already(it, attempt, now, receipt, tag, stored[1], stored[2],
                                    open_fps, resolved)
                append(r)
                if r.outcome is not accepted:
                    logged.append(r)
                continue
            if warnings:  # the same few warnings on many events: dumped once each
                hashable = type(warnings) is tuple
                text = warnings_json.get(warnings) if hashable else None
                if text is None:
                    text = json.dumps(warnings, ensure_ascii=False)
                    if hashable and len(warnings_json) < 4096:
                        warnings_json[warnings] = text
            else:
                text = None
            row = None
            try:
                if mapping_version is None and receipt is not None and import_id is not None:
                    if idem is None and text is None:
                        cur = execute(_INSERT_PLAIN, (bytearray(fp), client, client_key,
                                                      currency or "", amount, event_time, now,
                                                      source, line, raw, bucket, receipt,
                                                      import_id))
                    else:
                        head = (bytearray(fp), client, client_key, currency or "", amount,
                                event_time, now)
                        tail = (source, line, raw, bucket, receipt, import_id)
                        if text is None:
                            cur = execute(_INSERT_KEYED, head + (idem,) + tail)
                        elif idem is None:
                            cur = execute(_INSERT_WARNED, head + (text,) + tail)
                        else:
                            cur = execute(_INSERT_UNMAPPED, head + (idem, text) + tail)
                else:
                    row = _event_row(it, now, text, receipt, import_id)
                    cur = execute(_INSERT_EVENT, row)
            except UnicodeEncodeError:  # a lone surrogate in the raw text: kept as its bytes
                row = _event_row(it, now, text, receipt, import_id)
                row = row[:_RAW] + (_storable(raw),) + row[_RAW + 1:]
                cur = execute(_INSERT_EVENT, row)
            if cur.rowcount == 1:
                event_id = cur.lastrowid
                stored_here[fp] = (bucket, event_id, receipt)
                if open_fps and fp in open_fps:
                    resolved.append((fp,))
                    open_fps.discard(fp)
                key = (client_key, currency or "")
                d = deltas.get(key)
                if d is None:
                    deltas[key] = [[amount], event_time, event_time]
                    if client_key not in known_clients:
                        new_clients.setdefault(client_key, client)
                else:  # the row is at hand now; read again at the end, it would be cold
                    d[0].append(amount)
                    if event_time < d[1]:
                        d[1] = event_time
                    elif event_time > d[2]:
                        d[2] = event_time
                append(record(OutcomeRecord, (now, accepted, client, amount, currency, fp,
                                              attempt, None, source, line, event_id, None,
                                              None, tag)))
                continue
            if row is None:
                row = _event_row(it, now, text, receipt, import_id)
            r = self._not_inserted(it, row, attempt, now, receipt, import_id, tag, open_fps,
                                   resolved)
            append(r)
            if r.outcome is not accepted:
                logged.append(r)
        if deltas:
            self._apply_deltas(deltas, new_clients)
        if resolved:
            self.cur.executemany("UPDATE quarantine SET status = 'resolved'"
                                 " WHERE fingerprint = ? AND status = 'open'", resolved)
        self._log(logged)
        self._finish_imports(now)
        return records

    def _not_inserted(self, it, row, attempt, now, receipt, import_id, tag, open_fps,
                      resolved) -> OutcomeRecord:
        """The outcome of an event its INSERT did not store: the UNIQUE index that refused it
        says why."""
        (raw, source, line, column, fp, client, client_key, amount, currency, _t, idem,
         _w, _c, _r, _o, mapping_version, bucket) = it[:17]
        found = self.cur.execute("SELECT id, fingerprint, receipt FROM events WHERE time_bucket = ?"
                                 " AND substr(fingerprint, 1, 16) = ?", (bucket, fp[:16])
                                 ).fetchone()
        stored_id, stored_fp, stored_receipt = found or (None, None, None)
        if found is not None and stored_fp == fp:
            return _stored_already(it, attempt, now, receipt, tag, stored_id, stored_receipt,
                                   open_fps, resolved)
        if found is not None:  # 2**-128 odds: say so rather than drop a real event
            reason = (f"its fingerprint shares 128 bits with event #{stored_id}'s but "
                      "differs; it was not stored (report this)")
            qid = self.quarantine(raw, RejectCode.FINGERPRINT_COLLISION.value, reason,
                                  source, line, column, now, fp)
            return OutcomeRecord(now, Outcome.REJECTED, client, amount, currency, fp,
                                 attempt, reason, source, line, stored_id, qid, import_tag=tag)
        (first_id,) = self.cur.execute("SELECT id FROM events WHERE client_key = ?"
                                       " AND idempotency_key = ?", (client_key, idem)
                                       ).fetchone() or (None,)
        reason = (f"idempotency key {idem!r} of client {client!r} was already used by "
                  f"event #{first_id if first_id else '?'} with different content; "
                  "the first one stands")
        qid = self.quarantine(raw, RejectCode.IDEMPOTENCY_CONFLICT.value, reason,
                              source, line, column, now, fp)
        # kept whole: undoing the import of the event that holds the key accepts it
        self.cur.execute(_KEEP_CONFLICT, (import_id, qid) + row[:_RAW]
                         + (_storable(raw), mapping_version, bucket))
        return OutcomeRecord(now, Outcome.REJECTED, client, amount, currency, fp, attempt,
                             reason, source, line, first_id, qid, import_tag=tag)

    def import_id(self, tag) -> int | None:
        """The id of the import ``tag`` names, its row created (inside the open
        transaction) by the first of its events to reach the database."""
        if tag is None:
            return None
        iid = self._imports.get(tag.uid) or self._new_imports.get(tag.uid)
        if iid is None:
            self.cur.execute("INSERT INTO imports(uid, source, kind, started_at, faults)"
                             " VALUES (?,?,?,?,?) ON CONFLICT(uid) DO NOTHING",
                             (tag.uid, _storable(tag.source), tag.kind, tag.started_at,
                              tag.faults))
            (iid,) = self.cur.execute("SELECT id FROM imports WHERE uid = ?",
                                      (tag.uid,)).fetchone()
            self._new_imports[tag.uid] = iid
        self._touched.add(iid)
        return iid

    def _finish_imports(self, now: str) -> None:
        if self._touched:
            self.cur.executemany("UPDATE imports SET finished_at = ? WHERE id = ?",
                                 [(now, i) for i in self._touched])
            self._touched.clear()

    def _apply_deltas(self, deltas: dict[tuple[str, str], list], new_clients: dict[str, str]
                      ) -> None:
        if new_clients:
            self.cur.executemany("INSERT INTO clients(client_key, display) VALUES (?, ?)"
                                 " ON CONFLICT DO NOTHING", new_clients.items())
            self._clients.update(new_clients)  # rolled back with _aggs on failure
        pending = {}
        add = MONEY.add
        aggs = self._aggs
        updates, inserts = [], []
        for key, (amounts, first, last) in deltas.items():
            total = reduce(add, map(Decimal, amounts), _ZERO)
            count = len(amounts)
            old = aggs.get(key)
            if old is not None:
                count += old[0]
                total = add(total, old[1])
                first = min(first, old[2])
                last = max(last, old[3])
                updates.append((count, str(total), first, last, key[0], key[1]))
            else:
                inserts.append((key[0], key[1], count, str(total), first, last))
            pending[key] = (count, total, first, last)
        # The cache says which rows exist: it is reloaded whenever another connection commits
        # (begin), and dropped on any rollback; a plain UPDATE costs less than an upsert.
        if updates:
            self.cur.executemany(
                "UPDATE aggregates SET count = ?, total = ?, first_seen = ?, last_seen = ?"
                " WHERE client_key = ? AND currency = ?", updates)
            if self.cur.rowcount != len(updates):  # never seen; the batch is retried afresh
                raise sqlite3.OperationalError("aggregates changed under the writer's cache")
        if inserts:
            self.cur.executemany(
                "INSERT INTO aggregates(client_key, currency, count, total, first_seen, last_seen)"
                " VALUES (?,?,?,?,?,?)", inserts)
        self._pending_aggs = pending

    def log_outcomes(self, records: list[OutcomeRecord]) -> None:
        """Log rows in a transaction of their own: retries and failures, whose batch rolled back."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self._log(records)
            self._finish_imports(records[0].at if records else "")
            self.conn.execute("COMMIT")
        except BaseException:
            self._new_imports.clear()
            self._touched.clear()
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self._imports.update(self._new_imports)
        self._new_imports.clear()

    def _log(self, records: list[OutcomeRecord]) -> None:
        # Accepted outcomes are not copied here: the event row (received_at, source, line) is
        # their log entry, and skipping them halves what a batch writes. One statement for
        # every row, in the outcomes' order (the log's ids follow them): duplicates and
        # rejections alternate, and a statement of their own for each run cost more in calls
        # of executemany than binding the NULLs saved.
        accepted = Outcome.ACCEPTED
        text = _OUTCOME_TEXT
        import_id = self.import_id
        last_tag = iid = None
        rows = []
        append = rows.append
        for r in records:
            outcome = r.outcome
            if outcome is accepted:
                continue
            tag = r.import_tag
            if tag is not last_tag:
                iid, last_tag = import_id(tag), tag
            fp = r.fingerprint
            append((r.at, text[outcome], r.client, r.amount, r.currency,
                    bytearray(fp[:8]) if fp else None, r.attempt, r.reason, r.source, r.line,
                    r.event_id, r.quarantine_id, iid))
        if rows:
            self.cur.executemany(_LOG_ANY, rows)

    def quarantine(self, raw: str | bytes, code: str, reason: str | None, source: str,
                   line: int, column: int, now: str, fingerprint: bytes | None = None) -> int:
        """Keep a rejected input (once per raw text); ``fingerprint`` is its content's, when it
        is an object, so that storing that content later resolves the entry.

        A text quarantined again (a retry of a bad line, mostly a few lines behind it) updates
        its entry by id when this session knows the id, and a new text is inserted without the
        upsert's conflict handling and RETURNING: half the statement work of one upsert."""
        raw_hash = hashlib.sha256(_raw_bytes(raw)).digest()
        reason = reason or code
        again = (now, code, reason, source, line, column, fingerprint)
        known = self._quarantined
        qid = known.get(raw_hash)
        if qid is not None:
            self.cur.execute(_QUARANTINE_AGAIN_BY_ID, again + (qid, raw_hash))
            if self.cur.rowcount != 1:  # gone or changed under this session: ask the table
                qid = None
        if qid is None:
            cur = self.cur.execute(_QUARANTINE_NEW, (raw_hash, _storable(raw), code, reason,
                                                     source, line, column, now, now, fingerprint))
            if cur.rowcount == 1:
                qid = cur.lastrowid
            else:
                (qid,) = self.cur.execute(_QUARANTINE_AGAIN_BY_HASH,
                                          again + (raw_hash,)).fetchone()
            if len(known) >= _QUARANTINED_KNOWN:
                del known[next(iter(known))]  # the oldest: retries come close behind
            known[raw_hash] = qid
        if fingerprint is not None and self._open_fps is not None:
            self._open_fps.add(fingerprint)
        return qid

    def set_quarantine_status(self, ids: Iterable[int], status: str) -> None:
        self.cur.executemany("UPDATE quarantine SET status = ? WHERE id = ?",
                             [(status, i) for i in ids])
        self._open_fps = None  # reloaded at the next begin

    def record_answer(self, key: str, body_hash: bytes, status: int, answer: bytes, now: str,
                      expired_before: str) -> tuple[bytes, int, bytes]:
        """Keep the answer to the request named ``key`` (answers from before
        ``expired_before`` are forgotten first); returns the answer kept under that key, which
        is another request's when one recorded it first (another process)."""
        self.cur.execute("DELETE FROM requests WHERE created_at < ?", (expired_before,))
        self.cur.execute("INSERT INTO requests(key, body_hash, status, answer, created_at)"
                         " VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                         (key, body_hash, status, answer, now))
        return self.cur.execute("SELECT body_hash, status, answer FROM requests WHERE key = ?",
                                (key,)).fetchone()

    def save_mapping(self, client_key: str, mapping_json: str, note: str, now: str) -> int:
        """Store a new version of a client's mapping (inside the open transaction, whose write
        lock keeps two writers from taking the same number); returns the version."""
        version = self.cur.execute(
            "SELECT coalesce(max(version), 0) + 1 FROM schemas WHERE client_key = ?",
            (client_key,)).fetchone()[0]
        self.cur.execute("INSERT INTO schemas(client_key, version, mapping, created_at, note)"
                         " VALUES (?,?,?,?,?)", (client_key, version, mapping_json, now, note))
        return version

    # the hooks core/storage/undo.py runs on
    _KEPT_COLUMNS = "raw, mapping_version, time_bucket"

    def _x(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def _xm(self, sql: str, rows: list[tuple]) -> None:
        self.conn.executemany(sql, rows)

    def _event_raw(self, event_id: int) -> str | bytes:
        return self.conn.execute("SELECT raw FROM events WHERE id = ?", (event_id,)).fetchone()[0]

    @staticmethod
    def _money(total: Decimal) -> str:
        return str(total)

    def _undo_done(self) -> None:
        # stored events changed other than by inserts: every cache is read again
        self._pending_aggs = None
        self._aggs = None
        self._open_fps = None
        self.generation += 1

    def reset(self) -> None:
        # the clients' schemas are configuration, not data: they stay
        for table in ("events", "clients", "aggregates", "quarantine", "log", "requests",
                      "imports", "conflicts"):
            self.cur.execute(f"DELETE FROM {table}")
        self._imports.clear()
        self.generation += 1
        self._pending_aggs = None
        self._aggs, self._clients, self._open_fps = {}, set(), set()
        self._quarantined.clear()




class _SQLiteReader(ReadSession):
    def __init__(self, path: Path, busy_timeout_ms: int):
        super().__init__(connect(path, write=False, busy_timeout_ms=busy_timeout_ms))

    def close(self) -> None:
        self.conn.close()


class SQLiteBackend:
    """The default: one SQLite file (WAL), its pending outbox beside it."""

    is_file = True

    def __init__(self, path: str | os.PathLike):
        self.target = self.label = self.path = Path(path)
        self.outbox_path = outbox_path_for(self.path)
        self._watch = FileWatch(self.path)
        self._version = DataVersion(self.path)

    def write_session(self, *, synchronous: str = "FULL", busy_timeout_ms: int = 10_000,
                      create: bool = True) -> WriteSession:
        """The write connection; the file it opens is watched from then on (``check``)."""
        watch = self._watch
        watch.before_open()
        try:
            conn = connect(self.path, synchronous=synchronous,
                           busy_timeout_ms=busy_timeout_ms, create=create)
        except StorageError as exc:
            raise watch.open_failed(exc) from None
        try:
            watch.opened()
        except StorageError:
            conn.close()
            raise
        return WriteSession(conn, watch)

    def reader(self, busy_timeout_ms: int = 10_000) -> _SQLiteReader:
        return _SQLiteReader(self.path, busy_timeout_ms)

    def data_version(self) -> tuple[int, int] | None:
        """A token that moves with every commit to the file (``sqlite_version.DataVersion``)."""
        return self._version.token()

    def moved_away(self) -> StorageErrorKind | None:
        """MISSING or REPLACED while the writer still has another file open under this name:
        a connection opened now would pair that file with the writer's WAL."""
        return self._watch.moved_away()

    def note_failure(self, error: StorageError) -> bool:
        """True when the write session must be closed: a corrupt file is never written again
        until another file takes its name."""
        return self._watch.note_failure(error)

    def explain(self, exc: BaseException) -> StorageError:
        return explain(exc, self.path)

    def exists(self) -> bool:
        return self.path.exists()

    def close(self) -> None:
        self._version.close()


__all__ = ["SQLiteBackend", "WriteSession", "ReadSession", "SCHEMA_VERSION"]
