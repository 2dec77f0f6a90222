"""``faultsim serve``: the HTTP ingestion API, Starlette on uvicorn, built on the one IngestService.

Qt-free: the window imports this module, never the reverse. Routes and status codes only:
``IngestService.read_body`` splits a body into events, ``store_body`` stores them and says
what each became (core/body.py), ``events_json`` pages stored events, so HTTP, the CLI and
the window count events the same way.

Endpoints
    POST /events   a body in any form the engine reads: one object, an array, NDJSON
    GET  /events   ?client=&since=&limit=&after=: stored events in id order, keyset-paged
    GET  /stats    totals per client and currency
    GET  /health   liveness, writer queue depth, pending outbox

Decisions
- POST /events answers (when several apply, the first in this list; a full queue is seen
  before the body is read, so its 503 comes first of all):
    400  an empty body, a body that is not JSON at all (no piece of it parses) or a bad
         Idempotency-Key header. Nothing is stored or quarantined: junk sent to an open port
         (scanners, browsers) must not fill the quarantine; the client still has its data.
    413  a body over the limit (16 MiB by default; ``--max-body``).
    409  the Idempotency-Key was used before with another body, or a request with that key is
         still being processed (with ``Retry-After``); nothing is run.
    *    a retry of a keyed request: its first answer again (status and body, whatever they
         were), with ``Idempotent-Replayed: true``; nothing is run.
    503  with ``Retry-After``: the writer's queue is full (checked before anything is parsed),
         or an event's write failed after every retry (the event waits in the pending outbox;
         the client's retry is counted once, whichever copy lands first).
    409  an event's own idempotency key was used before, by the same client, for other
         content (the first event stands; the conflicting one is quarantined, as the engine
         does).
    422  some event was rejected (reasons with line and column). The other events of the body
         are stored: the engine works per event, and each event's outcome is listed.
    201  something new was stored.
    200  everything was stored before; header ``Idempotent-Replayed: true``.
- The 201 and 200 bodies are ``{"events": [...]}`` built only from stored rows (id,
  fingerprint, client, amount, ...; ``IngestService.store_body``), never from per-request
  outcome counters, so resending the same events, keyed or not, answers the same events as
  the first time (and as GET /events lists them). 409/422/503 bodies add each event's outcome;
  a 201 that ran (not a replay) says in ``Events-Accepted`` and ``Events-Duplicates`` headers
  how many events it stored and how many were stored before.
- ``Idempotency-Key`` names the request, never an event: the events are exactly what the body
  says, identified by their content and their own key fields as when the same text is
  ingested from a file or pasted in the window. The service keeps a keyed request's answer
  (``IngestService.once``, core/idempotency.py): a retry with the same key and body gets it
  byte for byte, the same key with another body is a 409. 5xx answers are not kept (their
  events wait in the pending outbox): the retry runs again, and each event counts once.
- Blocking engine calls run in worker threads (``anyio.to_thread`` / ``run_in_threadpool``),
  never on the event loop, and no lock serializes requests: concurrent requests land in the
  writer's queue together and share its transactions. POSTs use at most 32 threads, so reads
  still answer while storage is failing. A full writer queue is answered 503 at once; a submit
  that races into a full queue waits in its worker thread, never on the loop.
- Binding anything but a loopback address requires a token (``--token`` or FAULTSIM_TOKEN);
  a configured token is always required, on every endpoint (``Authorization: Bearer ...``,
  compared with ``hmac.compare_digest``), else 401.
- Money is exact: amounts and totals are JSON strings of decimals, never numbers.
- Wire faults (``--fault drop_response|drop_request|slow_response|http_503``, read from the
  service's ``FaultSwitch``) strike POST /events only, so a presenter can watch /health,
  /stats and GET /events while they are on. ``drop_request`` cuts the connection before the
  body is read (nothing runs); ``http_503`` answers 503 with Retry-After before anything is
  read; ``drop_response`` lets the request run and commit, then cuts the connection instead
  of answering; ``slow_response`` holds the answer back. A cut is a real one: the socket is
  aborted (a TCP reset), so the client sees a network error, never an HTTP answer.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import socket
import threading
import time
from urllib.parse import urlencode

import anyio
import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .core.body import BodyProblem, Verdict
from .core.idempotency import KeyInProgress, KeyReused
from .core.model import Candidate
from .core.service import IngestService
from .core.errors import StorageError
from .core.faults import FaultPoint, FaultSwitch

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3001
DEFAULT_MAX_BODY = 16 << 20
DRAIN_EVERY_S = 15.0  # faultsim serve sends the pending outbox again this often
MAX_QUEUED_EVENTS = 200_000  # beyond this many events waiting for the writer: 503
MAX_KEY_CHARS = 255
MAX_PAGE = 1000
WAIT_S = 300.0  # a request waits this long at most for its outcomes (then 503; a retry is safe)
# POSTs waiting for the writer hold at most this many worker threads, so the reads (GET
# /stats, /health) always find one of the 40 that Starlette's thread pool has
INGEST_THREADS = 32
RETRY_LATER = {"Retry-After": "1"}

log = logging.getLogger(__name__)

class TokenRequired(ValueError):
    """Binding a non-loopback address without a token."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    if not token and not is_loopback(host):
        raise TokenRequired(
            f"serving on {host} (not a loopback address) needs a token: pass --token or set "
            "FAULTSIM_TOKEN; clients then send 'Authorization: Bearer <token>'")


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None, **extra
           ) -> Response:
    return _json(status, {"error": message, **extra}, headers)


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        parts.append(chunk)
    return b"".join(parts)


class _BearerAuth:
    """Pure ASGI middleware: every HTTP request needs ``Authorization: Bearer <token>``."""

    def __init__(self, app, token: str):
        self.app = app
        self.token = token.encode("utf-8")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            scheme, _, value = Headers(scope=scope).get("authorization", "").partition(" ")
            # header values arrive decoded as latin-1: back to their bytes for the comparison
            given = value.strip().encode("latin-1", "replace")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given, self.token):
                response = _error(401, "missing or wrong token: send 'Authorization: Bearer "
                                  "<token>'", {"WWW-Authenticate": 'Bearer realm="faultsim"'})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _WireFaults:
    """Pure ASGI middleware, outermost: the wire faults of POST /events (module docstring)."""

    def __init__(self, app, faults: FaultSwitch, retry_after_s: int):
        self.app = app
        self.faults = faults
        self.busy = _error(503, "the server is unavailable (simulated http_503); retry later",
                           {"Retry-After": str(retry_after_s)})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/events":
            await self.app(scope, receive, send)
            return
        faults = self.faults
        if faults.fires(FaultPoint.DROP_REQUEST):
            await _cut(send, receive)
            return
        if faults.fires(FaultPoint.HTTP_503):
            await self.busy(scope, receive, send)
            return
        state = {"dropped": False}

        async def answer(message) -> None:
            if message["type"] == "http.response.start":
                delay = faults.delay(FaultPoint.SLOW_RESPONSE)
                if delay:
                    await asyncio.sleep(delay)
                if faults.fires(FaultPoint.DROP_RESPONSE):
                    state["dropped"] = True
            if state["dropped"]:
                if message["type"] == "http.response.start":
                    await _cut(send, receive)
                return
            await send(message)

        await self.app(scope, receive, answer)


async def _cut(send, receive) -> None:
    """Close the connection without an answer: abort its socket (the client sees a reset),
    then wait until the server has seen the disconnect, so it adds no answer of its own."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:  # not uvicorn's cycle: break the answer off after its first line
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise ConnectionAbortedError("connection cut by a simulated wire fault")
    transport.abort()
    while (await receive())["type"] != "http.disconnect":
        pass


class _Answer(Exception):
    """A finished answer, raised from deep inside the ingest path."""

    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None):
        self.status, self.body, self.headers = status, body, headers


def _valid_key(header: str | None) -> str | None:
    if header is None:
        return None
    key = header.strip()
    if not key or len(key) > MAX_KEY_CHARS or not all(" " <= ch <= "~" for ch in key):
        raise _Answer(400, {"error": f"the Idempotency-Key header must be 1 to {MAX_KEY_CHARS} "
                                     "printable ASCII characters"})
    return key


def _final(status: int) -> bool:
    """Answers kept for a keyed request's retries: all but 5xx (events that wait in the
    pending outbox are not final; a retry runs again and counts them once)."""
    return status < 500


def _headers(status: int, replayed: bool) -> dict[str, str] | None:
    if status == 503:
        return RETRY_LATER
    if replayed or status == 200:
        return {"Idempotent-Replayed": "true"}
    return None


def ingest_body(service: IngestService, body: bytes, key_header: str | None, source: str
                ) -> tuple[int, bytes, dict[str, str] | None]:
    """Run one POST /events body through the engine; returns (status, JSON body, headers).
    Blocking: call it from a worker thread."""
    try:
        key = _valid_key(key_header)
        candidates = _candidates(service, body, source)
        counts: dict[str, int] = {}  # filled when this request runs the store
        if key is None:
            status, answer = _store(service, candidates, counts)
            return status, answer, _counted(_headers(status, False), status, counts)
        try:
            status, answer, replayed = service.once(
                key, body, lambda: _store(service, candidates, counts), _final)
        except KeyReused as exc:
            raise _Answer(409, {"error": str(exc), "idempotency_key": key}) from None
        except KeyInProgress as exc:
            raise _Answer(409, {"error": str(exc), "idempotency_key": key},
                          RETRY_LATER) from None
        return status, answer, _counted(_headers(status, replayed), status, counts)
    except _Answer as a:
        return a.status, orjson.dumps(a.body), a.headers
    except StorageError as exc:  # e.g. reading the stored rows back failed
        return (503, orjson.dumps({"error": f"{exc} Send the same request again later."}),
                RETRY_LATER)


def _counted(headers: dict[str, str] | None, status: int, counts: dict[str, int]
             ) -> dict[str, str] | None:
    """A 201's events are stored rows, the same whoever stored them: these headers say how
    many this request stored and how many were there before (a replay has none)."""
    if status != 201 or not counts:
        return headers
    return {**(headers or {}), "Events-Accepted": str(counts["accepted"]),
            "Events-Duplicates": str(counts["duplicates"])}


def _candidates(service: IngestService, body: bytes, source: str) -> list[Candidate]:
    """The body's events, or the 400/422 answer of a body that holds none."""
    events = service.read_body(body, source)
    if events.problem is BodyProblem.EMPTY:
        raise _Answer(400, {"error": "the body is empty: send a JSON object, an array of "
                                     "objects or NDJSON"})
    if events.problem is BodyProblem.NO_EVENT:
        raise _Answer(422, {"error": "the body holds no event", "events": []})
    if events.problem is BodyProblem.NOT_JSON:
        raise _Answer(400, {"error": "the body is not JSON", "problems": events.problems})
    return events.candidates


def _store(service: IngestService, candidates: list[Candidate],
           stored_now: dict | None = None) -> tuple[int, bytes]:
    try:
        result = service.store_body(candidates, WAIT_S)
    except (RuntimeError, TimeoutError) as exc:  # a stopped writer; no outcome in time
        # queued events are still written; a retry of this request is deduplicated
        return 503, orjson.dumps({"error": f"storage is unavailable ({exc}); retry later"})
    if stored_now is not None:
        stored_now.update(result.counts)
    if result.verdict is Verdict.NEW:
        return 201, orjson.dumps({"events": result.events})
    if result.verdict is Verdict.STORED_BEFORE:
        return 200, orjson.dumps({"events": result.events})
    counts = result.counts
    if result.verdict is Verdict.FAILED:
        return 503, orjson.dumps({
            "error": "storage is failing: events that could not be stored wait in the pending "
                     "outbox; send the same request again later", **counts,
            "events": result.events})
    if result.verdict is Verdict.CONFLICT:
        return 409, orjson.dumps({
            "error": "an event's own idempotency key was used before with a different "
                     "payload; the first event stands", **counts, "events": result.events})
    stored = counts["accepted"] + counts["duplicates"]
    error = ("some events were rejected; the others were stored" if stored else
             "the event was rejected" if len(result.events) == 1 else
             "every event was rejected")
    return 422, orjson.dumps({"error": error, **counts, "events": result.events})


def create_app(service: IngestService, *, token: str | None = None,
               max_body: int = DEFAULT_MAX_BODY, max_queued_events: int = MAX_QUEUED_EVENTS,
               retry_after_s: int = 1) -> _WireFaults:
    """The ASGI app over ``service`` (which the caller owns and closes)."""
    busy = {"Retry-After": str(retry_after_s)}
    ingest_threads = anyio.CapacityLimiter(INGEST_THREADS)

    async def post_events(request: Request) -> Response:
        if service.queue_full or service.queue_depth >= max_queued_events:
            return _error(503, "the ingest queue is full; retry later", busy)
        try:
            body = await _read_body(request, max_body)
        except _BodyTooLarge:
            return _error(413, f"the body is larger than the limit of {max_body:,} bytes; "
                               "split it into several requests", max_body=max_body)
        peer = request.client.host if request.client else "?"
        status, answer, headers = await anyio.to_thread.run_sync(
            ingest_body, service, body, request.headers.get("idempotency-key"), f"http:{peer}",
            limiter=ingest_threads)
        if headers and "Retry-After" in headers:
            headers = {**headers, **busy}
        return Response(answer, status_code=status, media_type="application/json",
                        headers=headers)

    async def get_events(request: Request) -> Response:
        q = request.query_params
        try:
            limit = int(q.get("limit", "100"))
            after = int(q.get("after", "0"))
            if not 1 <= limit <= MAX_PAGE or after < 0:
                raise ValueError
        except ValueError:
            return _error(400, f"limit must be a whole number from 1 to {MAX_PAGE}, after a "
                               "whole number >= 0")
        client, since = q.get("client"), q.get("since")
        try:
            events = await run_in_threadpool(service.events_json, client, since, after,
                                             limit + 1)
        except ValueError as exc:
            return _error(400, str(exc))
        more = len(events) > limit
        events = events[:limit]
        nxt = None
        if more:
            params = {k: v for k, v in (("client", client), ("since", since)) if v}
            nxt = "/events?" + urlencode({**params, "limit": limit, "after": events[-1]["id"]})
        return _json(200, {"events": events, "next": nxt})

    async def get_stats(request: Request) -> Response:
        rows = await run_in_threadpool(service.stats)
        return _json(200, {"stats": [
            {"client": r.client, "currency": r.currency, "count": r.count, "total": str(r.total),
             "first_seen": r.first_seen, "last_seen": r.last_seen} for r in rows]})

    async def health(request: Request) -> Response:
        pending = await run_in_threadpool(service.outbox.count)
        return _json(200, {"status": "ok", "queue_depth": service.queue_depth,
                           "pending": pending, "crash_switch": service.faults.active,
                           "faults": service.faults.summary()})

    async def storage_failed(request: Request, exc: Exception) -> Response:
        return _error(503, f"{exc} Retry later.", busy)

    app = Starlette(exception_handlers={StorageError: storage_failed}, routes=[
        Route("/events", post_events, methods=["POST"]),
        Route("/events", get_events, methods=["GET"]),
        Route("/stats", get_stats, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ])
    if token:
        app.add_middleware(_BearerAuth, token=token)
    # outside Starlette's own error middleware: the network fails before anything of the
    # server runs, and the cut reaches uvicorn's connection itself
    return _WireFaults(app, service.faults, retry_after_s)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port); OSError at once when the port is taken."""
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets that say TCP, and with
    # Nagle on, each answer on a kept-alive connection waits ~40 ms for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def _uvicorn_server(app):
    import uvicorn

    # log_config=None: a window or a test keeps its own logging set-up
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False,
                            lifespan="off", ws="none", timeout_graceful_shutdown=10)
    return uvicorn.Server(config)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class OutboxDrainer:
    """Sends the pending outbox again every ``every_s`` seconds while a server runs, so events
    whose storage failed are stored once the database is back, whether or not their clients
    retry (a client that does retry finds its events stored: a duplicate, counted once)."""

    def __init__(self, service: IngestService, every_s: float = DRAIN_EVERY_S):
        self.service = service
        self.every_s = every_s
        self.drained = 0  # events stored (or found stored) by this drainer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-drainer", daemon=True)

    def start(self) -> "OutboxDrainer":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                if self.service.outbox.count():
                    s = self.service.retry_pending()
                    self.drained += s.accepted + s.duplicates
            except Exception:  # storage still failing: the events wait; try again later
                log.debug("outbox drain failed", exc_info=True)

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


def serve(service: IngestService, sock: socket.socket, *, token: str | None = None,
          max_body: int = DEFAULT_MAX_BODY, drain_every_s: float = DRAIN_EVERY_S) -> None:
    """Serve until SIGINT or SIGTERM (main thread): uvicorn stops taking connections and
    finishes the requests under way; the caller then closes the service (the writer drains).
    Meanwhile the pending outbox is sent again every ``drain_every_s`` seconds."""
    import signal

    server = _uvicorn_server(create_app(service, token=token, max_body=max_body))
    drainer = OutboxDrainer(service, drain_every_s).start()
    # uvicorn re-raises the signal that stopped it once it is done; with these handlers in place
    # that ends nothing, and the caller closes the service before the process exits
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        drainer.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)


class BackgroundServer:
    """uvicorn in a thread of this process, over a service the caller owns (the window's
    "Serve on port" switch, tests). uvicorn leaves signal handlers alone off the main thread."""

    def __init__(self, service: IngestService, host: str = DEFAULT_HOST,
                 port: int = DEFAULT_PORT, *, token: str | None = None,
                 start_timeout: float = 10.0, **app_options):
        check_bind(host, token)
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        self.port = self.sock.getsockname()[1]
        self.server = _uvicorn_server(create_app(service, token=token, **app_options))
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="faultsim-http", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + start_timeout
        while not self.server.started:  # a few milliseconds
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise OSError(f"the HTTP server did not start on {self.url}: {self.error}")
            time.sleep(0.005)

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # uvicorn exits with SystemExit on startup failures
            self.error = exc
        finally:
            self.sock.close()

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def request_stop(self) -> None:
        """Stop taking connections; the thread ends once the requests under way are answered."""
        self.server.should_exit = True

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking connections, finish the requests under way, end the thread."""
        self.request_stop()
        self.thread.join(timeout)
        if self.thread.is_alive():  # requests still waiting: stop waiting for them
            self.server.force_exit = True
            self.thread.join(timeout)
        self.sock.close()
