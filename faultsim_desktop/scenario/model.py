"""What a scenario is and what a run of it shows: the shapes shared by the parser, the runner,
the expected-truth computation, the HTML report, ``faultsim scenario`` and the window.

Qt-free, like core/: the window and the command line play the same runs.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path


class StepKind(str, enum.Enum):
    FAULT = "fault"  # set fault points (database or wire); "off" turns every point off
    SEND = "send"  # a file or inline text, ingested as ``faultsim ingest`` reads it
    GENERATE = "generate"  # events made from the scenario's seed, at a rate
    HTTP = "http"  # a file posted to the engine's HTTP API by ``faultsim send``'s client
    RESTART = "restart"  # the engine process is killed (SIGKILL) and started again
    WAIT = "wait"  # the timeline waits until every event has a final outcome
    RETRY = "retry"  # the pending outbox is sent again now


class Verdict(str, enum.Enum):
    EXACT = "exact"  # every expected event is stored once; nothing pending
    DIVERGED = "diverged"  # what is stored differs from what the inputs say
    INCOMPLETE = "incomplete"  # events still pending (or sends unfinished) at the limit


@dataclass(frozen=True)
class Step:
    """One ``[[step]]`` of a scenario file. ``index`` counts from 1; ``line`` is the line of
    its ``[[step]]`` header, so an error can name both."""

    index: int
    line: int
    at_s: float
    kind: StepKind
    faults: tuple[str, ...] = ()  # FAULT: ``--fault`` specs, or ("off",)
    path: Path | None = None  # SEND / HTTP: the input file, resolved against the scenario's folder
    text: str | None = None  # SEND: inline text instead of a file
    count: int = 0  # GENERATE: how many events
    rate: float = 0.0  # GENERATE: events per second (0: as fast as the engine takes them)
    clients: int = 5  # GENERATE: how many distinct clients
    concurrency: int = 1  # HTTP: connections
    batch: int = 100  # HTTP: events per request
    timeout_s: float = 60.0  # WAIT: the longest it waits
    label: str = ""  # the caption on the timeline (defaults to a description of the step)
    # GENERATE: how many events reuse an earlier event's idempotency key with other content
    reuse_keys: int = 0

    def describe(self) -> str:
        if self.label:
            return self.label
        if self.kind is StepKind.FAULT:
            return "faults off" if self.faults == ("off",) else "fault " + ", ".join(self.faults)
        if self.kind in (StepKind.SEND, StepKind.HTTP):
            what = self.path.name if self.path is not None else "text"
            return f"{'send' if self.kind is StepKind.SEND else 'HTTP send'} {what}"
        if self.kind is StepKind.GENERATE:
            return f"generate {self.count:,} events" + (f" at {self.rate:g}/s" if self.rate else "")
        if self.kind is StepKind.RESTART:
            return "engine killed and restarted"
        if self.kind is StepKind.WAIT:
            return "wait until converged"
        return "retry the pending outbox"


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    seed: int | None = None
    description: str = ""
    settle_s: float = 60.0  # after the last step: how long to wait for final outcomes
    retries: int = 5  # write retries per failed batch in the engine
    source: Path | None = None  # the file it was read from (None: text)

    @property
    def duration_s(self) -> float:
        """When the last step starts."""
        return max((s.at_s for s in self.steps), default=0.0)


class ScenarioError(ValueError):
    """A scenario file that cannot be played: the message names the step and the line."""

    def __init__(self, message: str, *, line: int | None = None, step: int | None = None):
        where = []
        if step is not None:
            where.append(f"step {step}")
        if line is not None:
            where.append(f"line {line}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.line = line
        self.step = step


# (the client's key: its name casefolded, as the engine groups clients; the currency, "" when
# the amounts have none). Expected and stored are compared key by key, so the spelling a race
# happens to show first never reads as a divergence; ``RunSnapshot.names`` has the spelling.
ClientKey = tuple[str, str]


@dataclass(frozen=True)
class Figure:
    """One client's events in one currency: how many, and their exact total."""

    count: int
    total: Decimal


@dataclass(frozen=True)
class FaultWindow:
    """A span of the timeline when a fault point could fire (``end_s`` None: still on)."""

    point: str  # a FaultPoint value, e.g. "mid_transaction", "drop_response"
    spec: str  # as the step gave it, e.g. "mid_transaction:0.4"
    start_s: float
    end_s: float | None = None


@dataclass(frozen=True)
class TimelineEntry:
    """Something that happened on the timeline: a step starting or ending, a restart, the
    settle phase, the verdict."""

    t_s: float
    text: str
    step: int | None = None  # the step's index, when it is about one


@dataclass(frozen=True)
class Sample:
    """The engine's cumulative figures at ``t_s`` seconds into the run (taken a few times a
    second): the charts plot these."""

    t_s: float
    stored: int  # events in the database
    accepted: int
    duplicates: int
    rejected: int
    failed: int
    pending: int


class RunState(str, enum.Enum):
    READY = "ready"
    PLAYING = "playing"
    PAUSED = "paused"
    SETTLING = "settling"  # every step has run; waiting for final outcomes
    FINISHED = "finished"


@dataclass(frozen=True)
class RunSnapshot:
    """Everything a run shows at one moment. Immutable: the runner's thread makes a new one
    and any thread may read it."""

    state: RunState
    position_s: float
    next_step: int  # index (from 1) of the next step to run; len(steps) + 1 when all ran
    timeline: tuple[TimelineEntry, ...] = ()
    fault_windows: tuple[FaultWindow, ...] = ()
    samples: tuple[Sample, ...] = ()
    expected: dict[ClientKey, Figure] = field(default_factory=dict)
    stored: dict[ClientKey, Figure] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # client key -> the spelling shown
    # attempts (events sent, resends included), injected {point: n}, retries, lost_acks
    # (lost acknowledgements caught as duplicates), pending, restarts, requests, rejected...
    counts: dict = field(default_factory=dict)
    verdict: Verdict | None = None  # None until the run has finished
    error: str | None = None  # a run that could not go on says why
    # expected vs stored, one sentence each, and any disagreement between the stored totals
    # and the stored events (empty until the run has finished, and when they agree)
    differences: tuple[str, ...] = ()


def figures_json(figures: dict[ClientKey, Figure], names: dict[str, str] | None = None
                 ) -> list[dict]:
    """Per client and currency, sorted, money as strings."""
    names = names or {}
    return [{"client": names.get(c, c), "currency": cur or None, "count": f.count,
             "total": str(f.total)} for (c, cur), f in sorted(figures.items())]
