"""The sending steps of a scenario run (send, generate, HTTP), each in a thread of its own, so a
step that starts before the previous send finished runs while it is still going."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from .engine import EngineGone, EngineProcess
from .inputs import step_inputs
from .model import Scenario, Step, StepKind

FEED_EVERY_S = 0.05  # a paced generate step feeds the engine this often
HTTP_RETRIES = 30  # per request: enough to ride out a restart of the engine


@dataclass(frozen=True)
class SendContext:
    """What a send needs from its run."""

    scenario: Scenario
    halt: threading.Event  # set when the run ends: sends stop where they are
    note: Callable[[str, int | None], None]  # a line on the run's timeline
    position: Callable[[], float]  # the run's clock (stands still while paused)
    engine: Callable[[], EngineProcess | None]  # the engine up now (None once halted)
    resent: Callable[[int], None]  # counts events sent again after a restart
    url: Callable[[], str]  # the engine's HTTP API


class Send:
    """One sending step. ``done`` is set once everything it sends has a final answer (or it
    failed, which the timeline says); a send the run halted never sets it."""

    def __init__(self, ctx: SendContext, step: Step):
        self.ctx = ctx
        self.step = step
        self.done = threading.Event()
        self.requests = 0  # HTTP requests, retries included
        self.http_retries = 0
        self._thread = threading.Thread(target=self._main, name=f"scenario-step-{step.index}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        if self._thread.is_alive():
            self._thread.join()

    def _main(self) -> None:
        ctx, index = self.ctx, self.step.index
        try:
            self.send(step_inputs(ctx.scenario, self.step))
            if not ctx.halt.is_set():
                ctx.note(f"step {index}: sent", index)
        except Exception as exc:  # the run says so; the other steps go on
            ctx.note(f"step {index} failed: {exc}", index)
        finally:
            if not ctx.halt.is_set():
                self.done.set()

    def send(self, inputs: list[tuple[str, bytes]]) -> None:
        raise NotImplementedError


class EngineSend(Send):
    """SEND and GENERATE: the engine ingests each input as ``faultsim ingest`` reads a file;
    a generate step with a rate is fed at that rate (on the run's clock, so a pause pauses
    it). Killed mid-way, an input is sent again from its start to the engine that replaces
    it, as a sender retries: what was committed before the kill comes back as duplicates."""

    def send(self, inputs: list[tuple[str, bytes]]) -> None:
        ctx = self.ctx
        for source, data in inputs:
            again = False
            while True:
                engine = ctx.engine()
                if engine is None:
                    return  # the run is halted
                try:
                    if self.step.kind is StepKind.GENERATE and self.step.rate > 0:
                        summary = self._paced(engine, source, data)
                    else:
                        summary = engine.ingest(source, data).wait()
                except EngineGone:
                    if ctx.halt.is_set():
                        return
                    ctx.note(f"step {self.step.index}: sending {source} again from its start",
                             self.step.index)
                    again = True
                    continue
                if summary is None:
                    return
                if again:
                    ctx.resent(summary.received)
                break

    def _paced(self, engine: EngineProcess, source: str, data: bytes):
        ctx = self.ctx
        pieces = lines(data)
        job = engine.open_stream(source)
        started = ctx.position()
        sent = line = offset = 0
        while sent < len(pieces):
            if ctx.halt.wait(FEED_EVERY_S):
                return None
            due = min(len(pieces), max(sent, int((ctx.position() - started) * self.step.rate)))
            if due == sent:
                continue
            piece = b"".join(pieces[sent:due])
            engine.feed(job, piece, line + 1, offset)
            line += piece.count(b"\n")
            offset += len(piece)
            sent = due
        engine.end_stream(job)
        return job.wait()


class HttpSend(Send):
    """HTTP: posted to the engine's own API with ``faultsim send``'s client, which retries
    through network errors, 503s and restarts."""

    def send(self, inputs: list[tuple[str, bytes]]) -> None:
        from ..sender import send_inputs  # httpx only when a scenario posts

        ctx = self.ctx
        seed = ctx.scenario.seed

        def progress(summary) -> None:
            self.requests, self.http_retries = summary.requests, summary.retries

        summary = send_inputs(ctx.url(), inputs, batch=self.step.batch,
                              concurrency=self.step.concurrency, retries=HTTP_RETRIES,
                              seed=None if seed is None else seed + self.step.index,
                              stop=ctx.halt, progress=progress)
        self.requests, self.http_retries = summary.requests, summary.retries
        if summary.pending and not ctx.halt.is_set():
            ctx.note(f"step {self.step.index}: {summary.pending:,} events got no answer after "
                     f"{HTTP_RETRIES} retries", self.step.index)


def lines(data: bytes) -> list[bytes]:
    """``data`` cut after each line feed (the last piece may have none)."""
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out
