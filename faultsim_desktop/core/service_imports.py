"""The service's imports: what names each one, listing them, and undoing one exactly."""
from __future__ import annotations

import os
import threading

from .counters import Ticket
from .model import ImportRow, ImportTag, UndoResult
from .writer import utc_now


class ImportBusy(RuntimeError):
    """The import is still being ingested by this service: cancel it or let it finish."""


class ImportMethods:
    """Mixed into IngestService (needs ``faults``, ``outbox``, ``_reader``, ``in_writer``
    and ``_drain_lock``)."""

    def _init_imports(self) -> None:
        self._running: dict[int, Ticket] = {}  # uid -> the ticket of an import under way
        self._running_lock = threading.Lock()

    def new_import(self, source: str, kind: str) -> ImportTag:
        """A new import's tag; its row is written with its first events."""
        uid = int.from_bytes(os.urandom(8), "big") >> 2  # a positive signed 64-bit integer
        return ImportTag(uid, source, kind, utc_now(), self.faults.summary())

    def _running_import(self, tag: ImportTag, ticket: Ticket) -> None:
        with self._running_lock:
            self._running = {u: t for u, t in self._running.items() if not t.done}
            self._running[tag.uid] = ticket

    def import_running(self, uid: int) -> bool:
        """True while this service is still ingesting the import ``uid``."""
        with self._running_lock:
            ticket = self._running.get(uid)
        return ticket is not None and not ticket.done

    def imports(self) -> list[ImportRow]:
        """Every import, oldest first, with its counts by outcome."""
        pending = self.outbox.count_by_import()
        with self._reader() as r:
            return r.imports(pending)

    def import_info(self, import_id: int) -> ImportRow | None:
        pending = self.outbox.count_by_import()
        with self._reader() as r:
            rows = r.imports(pending, import_id)
        return rows[0] if rows else None

    def undo_import(self, import_id: int, timeout: float | None = None) -> UndoResult:
        """Remove what import ``import_id`` contributed, exactly as if it had never been
        ingested (core/storage/undo.py), in one transaction; undoing it again changes
        nothing. Its events still waiting in the pending outbox are dropped. KeyError for
        an unknown import, ImportBusy while this service is still ingesting it."""
        # no drain of the outbox between reading it and the undo: events it read before the
        # undo would be stored after it, under the undone import
        if not self._drain_lock.acquire(timeout=-1 if timeout is None else timeout):
            raise TimeoutError("the pending outbox is being sent again; undo once it is done")
        try:
            result = self._undo_import(import_id, timeout)
        finally:
            self._drain_lock.release()
        if self.fingerprint_cache is not None:
            self.fingerprint_cache.clear()
        return result

    def _undo_import(self, import_id: int, timeout: float | None) -> UndoResult:
        info = self.import_info(import_id)
        if info is None:
            raise KeyError(f"there is no import #{import_id}")
        if info.undone_at is not None:
            return UndoResult(import_id, 0, 0, 0, already=True)
        if self.import_running(info.uid):
            raise ImportBusy(f"import #{import_id} ({info.source}) is still being ingested; "
                             "cancel it or wait for it to finish, then undo it")
        counts = {k: getattr(info, k) for k in ("received", "accepted", "duplicates",
                                                  "rejected", "failed", "pending")}
        outbox = self.outbox

        def undo(session):
            result = session.undo_import(import_id, utc_now(), counts)
            # inside the transaction: were the commit to fail, the undo is simply run again
            outbox.remove_import(info.uid)
            return result
        result = self.in_writer(undo, timeout=timeout)
        if not result.already:
            self.counters.note_undone(result.removed - result.conflicts_accepted)
        return result
