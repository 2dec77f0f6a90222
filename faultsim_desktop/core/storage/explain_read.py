"""The reads ``faultsim explain`` and the Explain panel need, for both backends' read sessions:
the copies folded into an event, the event that holds a client's idempotency key, one version
of a client's mapping. Mixed into ``ReadSession`` (SQLite) and ``PgReadSession``."""
from __future__ import annotations

from ..model import Outcome, RejectCode

_DUPLICATE = Outcome.DUPLICATE.value
_REJECTED = Outcome.REJECTED.value
_CONFLICT = RejectCode.IDEMPOTENCY_CONFLICT.value

# A duplicate names the event it matched; a key conflict names the event that holds the key,
# and its quarantine entry says it was one. Other rejections that name an event (a 128-bit
# fingerprint collision) were not folded into it.
_COPIES = ("SELECT l.seq, l.at, l.outcome, l.source, l.line, l.attempt, l.reason,"
           " l.quarantine_id, l.import_id FROM log l"
           " LEFT JOIN quarantine q ON q.id = l.quarantine_id"
           " WHERE l.event_id = {m} AND (l.outcome = {m}"
           " OR (l.outcome = {m} AND q.code = {m}))"
           " ORDER BY l.seq")


class ExplainReads:
    """Needs ``_explain_rows(sql, args)`` (rows as tuples, text as Python str) and ``_MARK``,
    the backend's parameter placeholder."""

    _MARK = "?"

    def _explain_rows(self, sql: str, args: tuple) -> list[tuple]:
        raise NotImplementedError

    def event_copies(self, event_id: int) -> list[tuple]:
        """The log rows of every duplicate and key conflict folded into event ``event_id``,
        oldest first: (seq, at, outcome, source, line, attempt, reason, quarantine_id,
        import_id)."""
        sql = _COPIES.format(m=self._MARK)
        return self._explain_rows(sql, (event_id, _DUPLICATE, _REJECTED, _CONFLICT))

    def event_import(self, event_id: int) -> int | None:
        """The id of the import that stored event ``event_id`` (None: stored before imports
        were recorded)."""
        rows = self._explain_rows(f"SELECT import_id FROM events WHERE id = {self._MARK}",
                                  (event_id,))
        return rows[0][0] if rows else None

    def event_with_key(self, client_key: str, key: str) -> int | None:
        """The id of the stored event holding idempotency key ``key`` of a client."""
        m = self._MARK
        rows = self._explain_rows(f"SELECT id FROM events WHERE client_key = {m}"
                                  f" AND idempotency_key = {m}", (client_key, key))
        return rows[0][0] if rows else None

    def mapping_version(self, client_key: str, version: int) -> tuple | None:
        """One version of a client's mapping: (client_key, version, mapping JSON, created_at,
        note), or None."""
        m = self._MARK
        rows = self._explain_rows(f"SELECT client_key, version, mapping, created_at, note"
                                  f" FROM schemas WHERE client_key = {m} AND version = {m}",
                                  (client_key, version))
        return rows[0] if rows else None


class SqliteExplainReads(ExplainReads):
    def _explain_rows(self, sql: str, args: tuple) -> list[tuple]:
        return self.conn.execute(sql, args).fetchall()


class PgExplainReads(ExplainReads):
    _MARK = "%s"

    def _explain_rows(self, sql: str, args: tuple) -> list[tuple]:
        from .postgres_schema import _plain, _text

        args = tuple(_text(a) if isinstance(a, str) else a for a in args)
        return [tuple(_plain(v) if isinstance(v, str) else v for v in row)
                for row in self._rows(sql, args)]
