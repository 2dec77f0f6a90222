"""The PostgreSQL write session's part in imports: naming each import's row, keeping key
conflicts whole, and the hooks ``core/storage/undo.py`` runs on."""
from __future__ import annotations

import json
from decimal import Decimal

from ..model import Prepared, RejectCode
from .postgres_schema import _raw_columns, _raw_value, _text
from .undo import UndoMethods


class PgImportMethods(UndoMethods):
    """Mixed into PgWriteSession (needs ``conn``, ``_imports``, ``_new_imports`` and
    ``_touched``)."""

    def _import_ids(self, items: list[Prepared]) -> list[int | None]:
        out, last_tag, iid = [], None, None
        for it in items:
            if it.import_tag is not last_tag:
                last_tag, iid = it.import_tag, self.import_id(it.import_tag)
            out.append(iid)
        return out

    def import_id(self, tag) -> int | None:
        """As the SQLite backend's: the id of the import ``tag`` names, its row created by
        the first of its events to reach the database."""
        if tag is None:
            return None
        iid = self._imports.get(tag.uid) or self._new_imports.get(tag.uid)
        if iid is None:
            self.conn.execute("INSERT INTO imports (uid, source, kind, started_at, faults)"
                              " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (uid) DO NOTHING",
                              (tag.uid, _text(tag.source), tag.kind, tag.started_at, tag.faults))
            (iid,) = self.conn.execute("SELECT id FROM imports WHERE uid = %s",
                                       (tag.uid,)).fetchone()
            self._new_imports[tag.uid] = iid
        self._touched.add(iid)
        return iid

    def _finish_imports(self, cur, now: str) -> None:
        if self._touched:
            cur.execute("UPDATE imports SET finished_at = %s WHERE id = ANY(%s)",
                        (now, sorted(self._touched)))
            self._touched.clear()

    def _keep_conflicts(self, cur, items, jobs: list, records, import_ids, now) -> None:
        """Events that lost their idempotency key are kept whole: undoing the import of the
        event holding the key accepts them (core/storage/undo.py)."""
        conflict = RejectCode.IDEMPOTENCY_CONFLICT.value
        rows = []
        for job in jobs:
            if job.code != conflict:
                continue
            it = items[job.index]
            raw_text, raw_data = _raw_columns(it.raw)
            rows.append((import_ids[job.index], records[job.index].quarantine_id,
                         it.fingerprint, _text(it.client), _text(it.client_key),
                         it.currency or "", it.amount, it.event_time, now,
                         _text(it.idempotency_key),
                         json.dumps(it.warnings, ensure_ascii=False) if it.warnings else None,
                         _text(it.source), it.line, raw_text, raw_data, it.mapping_version))
        if rows:
            cur.executemany(
                "INSERT INTO conflicts (import_id, quarantine_id, fingerprint, client,"
                " client_key, currency, amount, event_time, received_at, idempotency_key,"
                " warnings, source, line, raw, raw_bytes, mapping_version)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s::numeric,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)

    # the hooks core/storage/undo.py runs on
    _KEPT_COLUMNS = "raw, raw_bytes, mapping_version"

    def _x(self, sql: str, params: tuple = ()):
        return self.conn.execute(sql.replace("?", "%s"), params)

    def _xm(self, sql: str, rows: list[tuple]) -> None:
        with self.conn.cursor() as cur:  # psycopg sends the rows in one pipeline
            cur.executemany(sql.replace("?", "%s"), rows)

    def _event_raw(self, event_id: int) -> str | bytes:
        return _raw_value(*self.conn.execute("SELECT raw, raw_bytes FROM events WHERE id = %s",
                                             (event_id,)).fetchone())

    @staticmethod
    def _money(total: Decimal) -> Decimal:
        return total

    def _undo_done(self) -> None:
        pass
