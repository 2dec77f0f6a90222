"""Idempotency keys of requests: a key names a request, never an event.

Events are identified by their own content (and their own key fields) whatever path they
arrive by. A request's key (HTTP ``Idempotency-Key``) makes its retries safe to the letter: the
first answer is kept in the database (table ``requests``: key, SHA-256 of the body, status,
answer body) and a retry with the same key and the same body gets it again, byte for byte,
without running anything. The rules:

- The same key with another body is refused (``KeyReused``): a key names one request.
- Answers a caller marks as not final (the HTTP server: 5xx, whose events wait in the pending
  outbox) are not kept, so a retry runs again; that is safe, as events count once by content.
- While a request runs, a second one with its key is refused at once (``KeyInProgress``), as
  Stripe does: nothing waits, and the retry that follows gets the kept answer. Across processes
  sharing a database, two requests that race both run (their events still count once) and
  both end with the answer recorded first.
- One key space per database: keys are not per event client (a request may hold events of many
  clients) nor per token (a server has one).
- Answers are kept ``ANSWER_KEPT_S`` (24 hours, as Stripe); a reset of the database forgets
  them with the events they name. A retry after that runs again, counted once all the same.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from typing import Callable, NamedTuple

from .errors import StorageError

ANSWER_KEPT_S = 24 * 3600

log = logging.getLogger(__name__)


class KeyReused(ValueError):
    """The key was used before for a request with another body."""

    def __init__(self, key: str):
        super().__init__(f"the idempotency key {key!r} was used before for a request with "
                         "another body; use a new key for a new request")
        self.key = key


class KeyInProgress(RuntimeError):
    """A request with this key is still running."""

    def __init__(self, key: str):
        super().__init__(f"a request with the idempotency key {key!r} is still being "
                         "processed; send it again in a moment to get its answer")
        self.key = key


class Answer(NamedTuple):
    status: int
    body: bytes
    replayed: bool = False  # the kept answer of an earlier request with the same key


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # as writer.utc_now: comparable as text


class RequestKeys:
    """Runs each keyed request once; see the module's docstring. Thread-safe."""

    def __init__(self, reader: Callable[[], AbstractContextManager],
                 command: Callable[[Callable], object], kept_s: float = ANSWER_KEPT_S):
        self._reader = reader
        self._command = command
        self.kept_s = kept_s
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def once(self, key: str, body: bytes, run: Callable[[], tuple[int, bytes]],
             final: Callable[[int], bool]) -> Answer:
        """The answer to the request ``key`` with ``body``: the kept one, or ``run()``'s
        (kept when ``final(status)``). Raises KeyReused, KeyInProgress, StorageError."""
        body_hash = hashlib.sha256(body).digest()
        with self._lock:
            if key in self._running:
                raise KeyInProgress(key)
            self._running.add(key)
        try:
            now = datetime.now(timezone.utc)
            since = _iso(now - timedelta(seconds=self.kept_s))
            with self._reader() as r:
                kept = r.answer(key, since)
            if kept is not None:
                if bytes(kept[0]) != body_hash:
                    raise KeyReused(key)
                return Answer(kept[1], bytes(kept[2]), True)
            status, answer = run()
            if not final(status):
                return Answer(status, answer)
            try:
                kept = self._command(lambda s: s.record_answer(key, body_hash, status, answer,
                                                               _iso(now), since))
            except (StorageError, TimeoutError) as exc:
                # the events are stored and this answer is true; a retry runs again (each event
                # still counts once) and may then answer "seen before" instead of this
                log.warning("the answer to idempotency key %r could not be kept: %s", key, exc)
                return Answer(status, answer)
            if bytes(kept[0]) == body_hash and (kept[1], bytes(kept[2])) != (status, answer):
                return Answer(kept[1], bytes(kept[2]), True)  # another process answered first
            return Answer(status, answer)
        finally:
            with self._lock:
                self._running.discard(key)
