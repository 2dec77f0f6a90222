"""``faultsim send``'s client: events posted to any ``faultsim serve`` in batches, from several
connections, retried until each batch has a final answer.

Qt-free, on httpx. The inputs are split into events by the engine's own splitter (the same
pieces ``faultsim ingest`` reads), and a batch's body is its pieces joined by line breaks, so
the server reads each event as the file held it.

Decisions
- A request's ``Idempotency-Key`` is the SHA-256 of its body: a retry, a rerun of the same
  command or another sender with the same batch asks for the same thing, and the server runs
  it once (a replay answers the first answer again).
- Retried: network errors (refused, reset, closed without an answer), timeouts, 5xx, 408,
  429 and a 409 "still in progress"; with ``Retry-After`` (capped at ``RETRY_AFTER_CAP_S``)
  when the server gives one, else exponential backoff with jitter from ``seed``. A request
  that runs out of retries leaves its events *pending*: never counted as lost or stored.
- Counts come from the final answers: a 201 says in its headers how many events it stored
  and how many were there before, a 200 that all were there before, a 409/422 lists each
  event's outcome. A replayed answer when none of this send's attempts can have run the batch
  (each was answered, none cut off) means another run or sender stored it: its events count
  as duplicates. An input with no JSON in it at all is answered 400 (the server keeps nothing
  of it): its events count as rejected, with an error, as ``faultsim ingest`` refuses such a
  file. A single event over the server's body limit (413) counts as failed, with an error; a
  batch over the limit is split in two and sent again.
"""
from __future__ import annotations

import hashlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import httpx

from .core.parsing import split_text

log = logging.getLogger(__name__)

RETRY_AFTER_CAP_S = 10.0  # a Retry-After longer than this is waited this long
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 5.0
_RETRIED_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass
class SendSummary:
    received: int = 0  # events read from the inputs
    accepted: int = 0  # stored by this send
    duplicates: int = 0  # stored before (by an earlier send, another sender, or a retry)
    rejected: int = 0  # refused by the server: bad JSON, missing fields, key conflicts
    failed: int = 0  # refused for good without being stored (errors say why)
    pending: int = 0  # no final answer after every retry: send them again later
    requests: int = 0  # HTTP requests made, retries included
    retries: int = 0  # requests sent again
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # what made the send fail

    def as_dict(self) -> dict:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 3)
        if not self.errors:
            del d["errors"]
        return d


@dataclass
class _Batch:
    source: str
    first_line: int  # where its first event starts in the input
    events: list[bytes]

    @property
    def body(self) -> bytes:
        return b"\n".join(self.events) + b"\n"


class _Stopped(Exception):
    pass


def batches_of(inputs: list[tuple[str, bytes]], batch: int) -> tuple[list[_Batch], int]:
    """The requests to make: each input's events, ``batch`` to a request; and how many events
    the inputs hold. A batch holds at least one object when its input has one: a body with no
    JSON in it is refused whole (400) and quarantined nowhere, so broken lines ride along with
    good ones and are quarantined as ``faultsim ingest`` would."""
    out: list[_Batch] = []
    total = 0
    for source, data in inputs:
        mine: list[_Batch] = []
        current: list[bytes] = []
        has_object = False
        for c in split_text(data, source):
            total += 1
            if not current:
                first = c.line
            # each piece as the input wrote it: the server's splitter finds the same pieces
            # in the pieces joined by line breaks as in the whole input
            current.append(c.text.encode("utf-8") if isinstance(c.text, str) else c.text)
            has_object = has_object or c.obj is not None
            if len(current) >= batch and has_object:
                mine.append(_Batch(source, first, current))
                current, has_object = [], False
        if current:
            if mine and not has_object:
                mine[-1].events.extend(current)
            else:
                mine.append(_Batch(source, first, current))
        out += mine
    return out, total


def send_inputs(url: str, inputs: list[tuple[str, bytes]], *, batch: int = 100,
                concurrency: int = 4, retries: int = 10, timeout: float = 10.0,
                token: str | None = None, seed: int | None = None,
                stop: threading.Event | None = None,
                progress: Callable[[SendSummary], None] | None = None,
                backoff: tuple[float, float] = (BACKOFF_BASE_S, BACKOFF_CAP_S)) -> SendSummary:
    """POST ``inputs`` ((source name, bytes) pairs) to ``url``'s /events; blocks until every
    batch has a final answer or has run out of ``retries``. ``stop`` ends it early (what was
    not answered is pending); ``progress`` gets a copy of the summary after each batch (from
    a sending thread); ``backoff`` is the first and the longest wait between retries."""
    started = time.perf_counter()
    target = httpx.URL(url)
    if target.scheme not in ("http", "https") or not target.host:
        raise ValueError(f"{url!r} is not an http:// or https:// address of a server")
    work, total = batches_of(inputs, max(1, batch))
    summary = SendSummary(received=total)
    lock = threading.Lock()
    todo: queue.Queue[_Batch | None] = queue.Queue()
    for b in work:
        todo.put(b)
    outstanding = [len(work)]  # batches not yet finished (a split adds its halves)
    stop = stop or threading.Event()
    seen: set[int] = set()  # stored event ids the answers named so far (read under lock)
    fatal = threading.Event()  # a wrong token: nothing else can succeed
    endpoint = url.rstrip("/") + "/events"
    headers = {"Content-Type": "application/x-ndjson"}
    if token:
        headers["Authorization"] = f"Bearer {token}"

    def finish(update: Callable[[SendSummary], None], more: list[_Batch] = ()) -> None:
        with lock:
            update(summary)
            for b in more:
                outstanding[0] += 1
                todo.put(b)
            outstanding[0] -= 1
            done = outstanding[0] == 0
            summary.seconds = time.perf_counter() - started
            if progress is not None:
                try:
                    progress(replace(summary, errors=list(summary.errors)))
                except Exception:  # the caller's bug must not stall the other batches
                    log.exception("a send's progress callback failed")
        if done:
            for _ in range(n_workers):
                todo.put(None)

    def worker(index: int) -> None:
        rng = random.Random(f"{seed}:{index}" if seed is not None else None)
        with httpx.Client(timeout=timeout, headers=headers) as client:
            while (b := todo.get()) is not None:
                if stop.is_set() or fatal.is_set():  # not sent: still to send
                    finish(lambda s, b=b: _add(s, "pending", len(b.events)))
                    continue
                try:
                    update, more = _post(client, endpoint, b, retries, rng, stop, fatal, backoff,
                                         lambda n: _count_requests(summary, lock, n), seen)
                except _Stopped:
                    update, more = (lambda s, b=b: _add(s, "pending", len(b.events))), []
                except Exception as exc:  # noqa: BLE001 - the batch stays to send, said why
                    msg = (f"{b.source} from line {b.first_line}: {len(b.events):,} event(s) "
                           f"pending: {type(exc).__name__}: {exc}")
                    update, more = (lambda s, b=b, msg=msg: (_add(s, "pending", len(b.events)),
                                                            s.errors.append(msg))), []
                finish(update, more)

    n_workers = max(1, min(concurrency, len(work))) if work else 0
    threads = [threading.Thread(target=worker, args=(i,), name=f"faultsim-send-{i}",
                                daemon=True) for i in range(n_workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary.seconds = time.perf_counter() - started
    return summary


def _add(s: SendSummary, name: str, n: int) -> None:
    setattr(s, name, getattr(s, name) + n)


def _count_requests(summary: SendSummary, lock: threading.Lock, attempt: int) -> None:
    with lock:
        summary.requests += 1
        if attempt:
            summary.retries += 1


def _post(client: httpx.Client, endpoint: str, b: _Batch, retries: int, rng: random.Random,
          stop: threading.Event, fatal: threading.Event, backoff: tuple[float, float],
          counted: Callable[[int], None], seen: set[int]):
    """Send one batch until a final answer; returns (how it changes the summary, batches to
    send instead)."""
    body = b.body
    key = hashlib.sha256(body).hexdigest()
    n = len(b.events)
    where = f"{b.source} from line {b.first_line}"
    last = "no attempt"
    last_retry_after: float | None = None
    maybe_ran = False  # some attempt was cut off: the server may have run it
    for attempt in range(retries + 1):
        if attempt:
            if stop.wait(_wait_s(attempt, last_retry_after, rng, backoff)):
                raise _Stopped
        if stop.is_set():
            raise _Stopped
        counted(attempt)
        last_retry_after = None
        try:
            r = client.post(endpoint, content=body, headers={"Idempotency-Key": key})
        except httpx.TransportError as exc:  # refused, reset, cut, timed out: send it again
            last = f"{type(exc).__name__}: {exc}"
            maybe_ran = True
            continue
        status = r.status_code
        if status in _RETRIED_STATUS or (status == 409 and "retry-after" in r.headers):
            last_retry_after = _retry_after(r.headers.get("retry-after"))
            last = f"HTTP {status}"
            continue
        if status == 401:  # no batch can get through: the others stop too
            fatal.set()
        replayed = r.headers.get("idempotent-replayed") == "true" and not maybe_ran
        return _final(r, n, replayed, where, b, seen), _split_if_too_large(r, b)
    msg = (f"{where}: {n:,} event(s) pending: no final answer after {retries + 1} attempts "
           f"(last: {last})")
    return (lambda s: (_add(s, "pending", n), s.errors.append(msg))), []


def _final(r: httpx.Response, n: int, replayed: bool, where: str, b: _Batch, seen: set[int]):
    """How a final answer changes the summary: a function run under the summary's lock."""
    status = r.status_code
    try:
        answer = r.json()
    except ValueError:
        answer = {}
    events = answer.get("events") if isinstance(answer.get("events"), list) else []
    ids = {e["id"] for e in events if isinstance(e, dict) and "id" in e}
    if status in (200, 201):
        if replayed or status == 200:  # every event was stored before this send
            return lambda s: (seen.update(ids), _add(s, "duplicates", n))
        if "events-accepted" in r.headers:
            accepted = int(r.headers["events-accepted"])
            return lambda s: (seen.update(ids), _add(s, "accepted", accepted),
                              _add(s, "duplicates", n - accepted))

        def replay_of_ours(s: SendSummary) -> None:
            # the kept answer of an attempt of ours that was cut off: it says which rows, not
            # which were new; those no earlier answer of this send named count as stored now
            accepted = len(ids - seen)
            seen.update(ids)
            _add(s, "accepted", accepted)
            _add(s, "duplicates", n - accepted)
        return replay_of_ours
    if status in (409, 422) and events:
        counts = {k: int(answer.get(k, 0)) for k in ("accepted", "duplicates", "rejected",
                                                      "failed")}
        if replayed:  # run by an earlier send: what this one adds is duplicates
            counts["duplicates"] += counts.pop("accepted")
        return lambda s: (seen.update(ids), [_add(s, k, v) for k, v in counts.items()])
    if status == 400 and "problems" in answer:  # not JSON at all: the server keeps none of it
        code = (answer["problems"] or [{}])[0].get("code", "invalid_json")
        msg = (f"{b.source} from line {b.first_line}: not JSON ({n:,} piece(s), the first "
               f"{code}); the server stored and quarantined nothing of it")
        return lambda s: (_add(s, "rejected", n), s.errors.append(msg))
    if status == 413:
        if n > 1:
            return lambda s: None  # split in two and sent again
        msg = f"{where}: an event larger than the server's body limit was not sent"
    elif status == 401:
        msg = f"the server refused the token (HTTP 401): {answer.get('error', r.text)}"
    else:
        msg = f"{where}: HTTP {status}: {answer.get('error', r.text[:200])}"
    return lambda s: (_add(s, "failed", n), s.errors.append(msg))


def _split_if_too_large(r: httpx.Response, b: _Batch) -> list[_Batch]:
    if r.status_code != 413 or len(b.events) < 2:
        return []
    half = len(b.events) // 2
    return [_Batch(b.source, b.first_line, b.events[:half]),
            _Batch(b.source, b.first_line, b.events[half:])]


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_CAP_S)
    except ValueError:  # an HTTP date: not worth trusting a clock; back off instead
        return None


def _wait_s(attempt: int, retry_after: float | None, rng: random.Random,
            backoff: tuple[float, float]) -> float:
    base, cap = backoff
    if retry_after:
        return retry_after + rng.uniform(0, base)
    wait = min(cap, base * 2 ** min(attempt - 1, 30))
    return wait / 2 + rng.uniform(0, wait / 2)  # jitter: senders that failed together part
