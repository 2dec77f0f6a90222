"""HTTP load: many concurrent clients POST a messy corpus to the HTTP API, with retries, while
the crash switch is on part of the time. Prints one JSON line per phase (single-event requests,
then batched requests): requests/s, events/s, p50/p99 latency of one HTTP exchange, retries,
server CPU, and whether the stored totals equal the corpus' ground truth exactly.

The server runs in a child process (the API of ``faultsim serve`` over its own IngestService;
the parent flips its crash switch through a shared flag); the clients are asyncio tasks in this
process, each on a kept-alive connection (``--client httpx``: httpx.AsyncClient instead), that
retry 503s after Retry-After and dropped connections. They share the machine's cores with the
server; ``server_cpu_s`` and ``clients_cpu_s`` say who used what. ``write_batches`` counts the
writer's transactions: concurrent requests share them.

    python benchmarks/http_load.py --clients 20 --single 20000 --batches 200 --batch-size 500

``--wire-fault SPEC`` (repeatable: ``drop_response:0.1``, ``drop_request:0.1``,
``slow_response:0.1,50ms``, ``http_503:0.1``) puts faults on the wire of POST /events for the
whole run, whatever the crash switch does; ``--retry-after S`` is what the server's 503s ask
for. ``--client sender`` posts with ``faultsim send``'s own client (``sender.send_inputs``:
httpx, ``--clients`` connections, Idempotency-Keys, backoff with jitter) instead of the
asyncio clients; ``--wire-compare`` runs every phase with the wire faults off, on, off, on
(same corpus, same sitting) and prints each run, so both sides of the comparison are measured
together. ``retries`` counts the HTTP exchanges that were not a request's last.

    python benchmarks/http_load.py --client sender --clients 20 --crash-fraction 0 \
        --single 4000 --batches 100 --batch-size 200 --wire-compare \
        --wire-fault drop_response:0.1 --wire-fault drop_request:0.1 \
        --wire-fault slow_response:0.1,50ms --wire-fault http_503:0.1 --retry-after 0

``--duplicates F`` makes a share F of the requests retries of requests sent earlier in the run
(the same body again, drawn at random from those already queued): a duplicate-heavy load.
``--fingerprint-cache N`` gives the server's IngestService that many cached fingerprints
(0: none; default: the service's own default); ``--compare`` runs every phase with the cache
off, on, off, on (same corpus, same machine, interleaved) and prints each run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import shutil
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import psutil

if __package__:  # imported as benchmarks.http_load, by the tests
    from .corpus import SHAPES, generate
else:  # run as a script: its own folder comes first on sys.path
    from corpus import SHAPES, generate


def _server_main(conn, db: str, fault_specs: list[str], seed: int, crash_on, stop,
                 options: dict, retry_after_s: int = 1) -> None:
    from faultsim_desktop.core.faults import FaultSwitch, parse_fault_spec
    from faultsim_desktop.core.service import IngestService
    from faultsim_desktop.server import BackgroundServer

    faults = FaultSwitch(seed)
    for spec in fault_specs:
        faults.set(*parse_fault_spec(spec))
    faults.enabled = crash_on.is_set()
    svc = IngestService(db, faults=faults, workers=0, seed=seed, **options)
    batches = []  # one publish per written batch (one transaction): shows the coalescing
    svc.subscribe(lambda records: batches.append(len(records))
                  if records and records[0].outcome.value != "retrying" else None)
    srv = BackgroundServer(svc, port=0, retry_after_s=retry_after_s)
    conn.send(srv.url)
    while not stop.wait(0.01):  # the parent's crash switch, as it changes
        faults.enabled = crash_on.is_set()
    faults.enabled = False
    srv.stop()
    written = list(batches)
    drained = svc.retry_pending()  # the outbox holds what failed: the same events again
    stats = svc.stats()
    conn.send({"stats": {f"{r.client}\t{r.currency or ''}": [r.count, str(r.total)]
                         for r in stats},
               "aggregates_match_events": stats == svc.stats_from_events(),
               "outbox_drained": drained.received, "pending_after": drained.pending,
               "write_batches": len(written), "counters": svc.counters.snapshot(),
               "cache_hits": svc.fingerprint_cache.hits if svc.fingerprint_cache else 0,
               "injected": {
                   p.value: n for p, n in faults.injected.items() if n},
               "integrity": svc.integrity_check()})
    svc.close()


class _LeanClient:
    """One kept-alive HTTP/1.1 connection on asyncio streams. httpx spends about 1 ms of CPU a
    request, more than the server does; on two shared cores that would measure the client."""

    def __init__(self, url: str):
        host_port = url.split("://", 1)[1]
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        try:
            self.writer.write(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json"
                              b"\r\nContent-Length: %d\r\n\r\n%s" % (
                                  path.encode(), self.host.encode(), len(body), body))
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if line)}
            data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _post(client, body: bytes) -> tuple[int, dict, bytes]:
    if isinstance(client, httpx.AsyncClient):
        r = await client.post("/events", content=body)
        return r.status_code, r.headers, r.content
    return await client.post("/events", body)


async def _worker(client, queue: asyncio.Queue, lat: list, stats: dict) -> None:
    while True:
        try:
            body = queue.get_nowait()
        except asyncio.QueueEmpty:
            if isinstance(client, _LeanClient):
                client.close()
            return
        while True:
            t0 = time.perf_counter()
            try:
                status, headers, data = await _post(client, body)
            except (httpx.TransportError, OSError, asyncio.IncompleteReadError,
                    ValueError):  # ValueError: a connection cut in the middle of a header
                stats["dropped"] += 1
                await asyncio.sleep(0.1)
                continue
            lat.append(time.perf_counter() - t0)
            stats[status] = stats.get(status, 0) + 1
            if status == 503:  # a well-behaved client waits as told, then retries
                await asyncio.sleep(float(headers.get("retry-after", "1")))
                continue
            if status not in (200, 201, 400, 422):  # 400: a bad line sent alone
                raise RuntimeError(f"unexpected {status}: {data[:500]!r}")
            break


async def _load(url: str, bodies: list[bytes], clients: int, kind: str
                ) -> tuple[list, dict, float]:
    queue: asyncio.Queue = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    lat: list[float] = []
    stats: dict = {"dropped": 0}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as shared:
        workers = [shared if kind == "httpx" else _LeanClient(url) for _ in range(clients)]
        t0 = time.perf_counter()
        await asyncio.gather(*(_worker(w, queue, lat, stats) for w in workers))
        return lat, stats, time.perf_counter() - t0


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def _send_load(url: str, data: bytes, size: int, clients: int, seed: int):
    """``faultsim send``'s client over the whole corpus: its summary and the seconds."""
    from faultsim_desktop.sender import send_inputs

    t0 = time.perf_counter()
    summary = send_inputs(url, [("corpus.ndjson", data)], batch=size, concurrency=clients,
                          retries=1000, timeout=300, seed=seed)
    return summary, time.perf_counter() - t0


def run_phase(name: str, bodies: list[str], events: int, truth: dict, db: Path, args,
              data: bytes = b"", size: int = 1) -> dict:
    ctx = mp.get_context("spawn")
    crash_on, stop = ctx.Event(), ctx.Event()
    recv, send = ctx.Pipe(duplex=False)
    options = {} if args.fingerprint_cache is None else {
        "fingerprint_cache": args.fingerprint_cache}
    proc = ctx.Process(target=_server_main, args=(send, str(db), args.fault + args.wire_fault,
                                                  args.seed, crash_on, stop, options,
                                                  args.retry_after))
    proc.start()
    url = recv.recv()
    server = psutil.Process(proc.pid)
    cpu0, me0 = server.cpu_times(), psutil.Process().cpu_times()
    done = threading.Event()

    def toggle() -> None:  # the crash switch: on for crash_fraction of every crash_period
        period, on_for = args.crash_period, args.crash_period * args.crash_fraction
        start = time.monotonic()
        while not done.wait(0.02):
            phase = (time.monotonic() - start) % period
            (crash_on.set if phase < on_for else crash_on.clear)()
        crash_on.clear()

    toggler = threading.Thread(target=toggle, daemon=True)
    if args.crash_fraction > 0:
        toggler.start()
    sent = None
    try:
        if args.client == "sender":
            sent, seconds = _send_load(url, data, size, args.clients, args.seed)
            lat, codes = [], {}
        else:
            lat, codes, seconds = asyncio.run(_load(url, bodies, args.clients, args.client))
    except BaseException:
        stop.set()
        proc.join(120)
        raise
    finally:
        done.set()
        if toggler.is_alive():
            toggler.join()
    cpu1, me1 = server.cpu_times(), psutil.Process().cpu_times()
    stop.set()
    result = recv.recv()
    proc.join(120)
    got = {tuple(k.split("\t")): (n, Decimal(t)) for k, (n, t) in result["stats"].items()}
    want = {(c, cur or ""): (n, total) for (c, cur), (n, total) in truth.items()}
    requests = len(bodies)
    if sent is not None:  # its own batching of the corpus, its own count of exchanges
        requests = sent.requests - sent.retries
        exchanges, retries = sent.requests, sent.retries
    else:
        exchanges = len(lat) + codes.get("dropped", 0)
        retries = exchanges - requests
    return {
        "phase": name, "clients": args.clients, "client": args.client, "requests": requests,
        "events": events, "duplicates": args.duplicates,
        "fingerprint_cache": args.fingerprint_cache,
        "seconds": round(seconds, 2),
        "requests_per_s": round(requests / seconds, 1),
        "events_per_s": round(events / seconds, 1),
        "http_exchanges": exchanges,
        "retries": retries,
        "wire_faults": args.wire_fault, "retry_after_s": args.retry_after,
        "sender_summary": sent.as_dict() if sent is not None else None,
        "latency_ms_p50": round(_pct(lat, 0.50) * 1000, 2),
        "latency_ms_p99": round(_pct(lat, 0.99) * 1000, 2),
        "status_counts": {str(k): v for k, v in sorted(codes.items(), key=str)},
        "crash_switch_fraction": args.crash_fraction, "faults": args.fault,
        "faults_injected": result["injected"],
        "write_batches": result["write_batches"],
        "fingerprint_cache_hits": result["cache_hits"],
        "server_cpu_s": round((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system), 2),
        "server_cpu_ms_per_request": round(
            ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) * 1000 / exchanges, 3),
        "clients_cpu_s": round((me1.user + me1.system) - (me0.user + me0.system), 2),
        "outbox_drained_after": result["outbox_drained"],
        "exact_totals": got == want,
        "aggregates_match_events": result["aggregates_match_events"],
        "stored_events": sum(n for n, _ in got.values()),
        "truth_events": sum(n for n, _ in want.values()),
        "integrity": result["integrity"],
    }


def with_duplicates(bodies: list[bytes], fraction: float, seed: int) -> list[bytes]:
    """The bodies in order, with resends of earlier ones mixed in so that ``fraction`` of all
    requests are duplicates (the stored totals stay those of the corpus)."""
    if fraction <= 0:
        return bodies
    rng = random.Random(seed)
    total = round(len(bodies) / (1 - fraction))
    out: list[bytes] = []
    fresh = iter(bodies)
    left = len(bodies)
    for i in range(total):
        # a fresh body when as many requests remain as fresh bodies, or by chance
        if left and (total - i <= left or not out or rng.random() >= fraction):
            out.append(next(fresh))
            left -= 1
        else:
            out.append(out[rng.randrange(len(out))])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--single", type=int, default=20_000, help="single-event requests")
    ap.add_argument("--batches", type=int, default=200, help="batched requests")
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--crash-fraction", type=float, default=0.2,
                    help="share of the time the crash switch is on (0: never)")
    ap.add_argument("--crash-period", type=float, default=5.0, help="seconds per on/off cycle")
    ap.add_argument("--fault", action="append", default=None,
                    help="fault while the switch is on (default before_write:0.5, "
                         "mid_transaction:0.5, after_commit:0.2)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shape", choices=SHAPES, default="feed",
                    help="corpus shape (benchmarks/corpus.py): feed, like real feeds, or tidy")
    ap.add_argument("--client", choices=("lean", "httpx", "sender"), default="lean",
                    help="lean: kept-alive asyncio connections (default); httpx.AsyncClient; "
                         "sender: faultsim send's client")
    ap.add_argument("--wire-fault", action="append", default=[], metavar="SPEC",
                    help="a fault on the wire for the whole run, e.g. drop_response:0.1")
    ap.add_argument("--retry-after", type=int, default=1,
                    help="seconds the server's 503s ask clients to wait (default 1)")
    ap.add_argument("--wire-compare", action="store_true",
                    help="run each phase 4 times: wire faults off, on, off, on")
    ap.add_argument("--duplicates", type=float, default=0.0,
                    help="share of the requests that resend an earlier request's body (0-1)")
    ap.add_argument("--fingerprint-cache", type=int, default=None,
                    help="fingerprints the server caches (0: off; default: the service's)")
    ap.add_argument("--compare", type=int, default=0, metavar="SIZE",
                    help="run each phase 4 times, cache off/SIZE/off/SIZE, interleaved")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--postgresql", action="store_true",
                    help="store in a throwaway PostgreSQL server (benchmarks/pgserver.py, fsync "
                         "on) instead of an SQLite file")
    args = ap.parse_args()
    args.fault = args.fault or ["before_write:0.5", "mid_transaction:0.5", "after_commit:0.2"]

    tmp = Path(tempfile.mkdtemp(prefix="faultsim-http-"))
    server = None
    if args.postgresql:
        from pgserver import ThrowawayServer

        os.environ["XDG_DATA_HOME"] = str(tmp / "data")  # its pending outboxes: private
        server = ThrowawayServer(durable=True).start()
    try:
        for name, n, size in (("single", args.single, 1),
                              ("batched", args.batches * args.batch_size, args.batch_size)):
            if n <= 0:
                continue
            corpus = tmp / f"{name}.ndjson"
            truth = generate(corpus, n, seed=args.seed, shape=args.shape)["truth"]
            lines = corpus.read_text(encoding="utf-8").splitlines()
            bodies = ["\n".join(lines[i:i + size]).encode("utf-8")
                      for i in range(0, len(lines), size)]
            bodies = with_duplicates(bodies, args.duplicates, args.seed)
            sizes = [args.fingerprint_cache] if not args.compare else [0, args.compare] * 2
            wires = [args.wire_fault] if not args.wire_compare else [[], args.wire_fault] * 2
            runs = [(cache, wire) for cache in sizes for wire in wires]
            for run, (cache, wire) in enumerate(runs):
                args.fingerprint_cache, args.wire_fault = cache, wire
                db = server.create_database(f"{name}{run}") if server else \
                    tmp / f"{name}{run}.db"
                print(json.dumps(run_phase(name, bodies, len(lines), truth, db, args,
                                           corpus.read_bytes(), size)), flush=True)
    finally:
        if server is not None:
            server.cleanup()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
