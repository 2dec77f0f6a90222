"""Fault points and the crash switch: real failures injected into real database transactions
(the writer's points) and on the HTTP path of ``faultsim serve`` (the wire points)."""
from __future__ import annotations

import enum
import random
import re
import threading
import time
from dataclasses import dataclass, replace


class FaultPoint(str, enum.Enum):
    BEFORE_WRITE = "before_write"  # the database refuses the write
    MID_TRANSACTION = "mid_transaction"  # rows are written, then the transaction fails and rolls back
    AFTER_COMMIT = "after_commit"  # the commit succeeds but the acknowledgement is lost
    LATENCY = "latency"  # each write is delayed
    # the wire: only ``faultsim serve``'s POST /events consults these, never the writer
    DROP_RESPONSE = "drop_response"  # processed and committed, then the connection is cut
    DROP_REQUEST = "drop_request"  # the connection is cut before the body is read
    SLOW_RESPONSE = "slow_response"  # the answer waits before it is sent
    HTTP_503 = "http_503"  # answered 503 with Retry-After before anything is processed


WIRE_POINTS = frozenset({FaultPoint.DROP_RESPONSE, FaultPoint.DROP_REQUEST,
                         FaultPoint.SLOW_RESPONSE, FaultPoint.HTTP_503})
DATABASE_POINTS = frozenset(set(FaultPoint) - WIRE_POINTS)
# the delay a delaying point adds when its spec names none
DEFAULT_DELAY_S = {FaultPoint.LATENCY: 0.05, FaultPoint.SLOW_RESPONSE: 0.2}


class FaultMode(str, enum.Enum):
    OFF = "off"
    ALWAYS = "always"
    PROBABILITY = "probability"
    NEXT_N = "next"


class InjectedFault(Exception):
    """A simulated database failure, on any backend: the writer rolls back and retries it as it
    does a real storage error (and an AFTER_COMMIT one as a lost acknowledgement)."""

    def __init__(self, point: FaultPoint):
        super().__init__(f"simulated database crash ({point.value.replace('_', ' ')})")
        self.point = point


@dataclass(frozen=True)
class FaultConfig:
    mode: FaultMode = FaultMode.OFF
    probability: float = 0.0  # a chance, not money
    remaining: int = 0  # for NEXT_N: how many more writes it hits
    delay_s: float = 0.05  # for LATENCY

    def describe(self) -> str:
        if self.mode is FaultMode.PROBABILITY:
            return f"p={self.probability:g}"
        if self.mode is FaultMode.NEXT_N:
            return f"next={self.remaining}"
        return self.mode.value


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)$")


def parse_fault_spec(text: str) -> tuple[FaultPoint, FaultConfig]:
    """Parse ``POINT:SPEC`` as given to ``--fault``.

    SPEC is comma-separated parts: ``always``, ``off``, a probability (``0.3`` or ``p=0.3``),
    ``next=N``, and for latency and slow_response a duration (``50ms``, ``1.5s``; by default
    50 ms and 200 ms). ``latency:50ms`` and ``slow_response:200ms`` are always on.
    """
    point_text, _, spec = text.partition(":")
    try:
        point = FaultPoint(point_text.strip().lower().replace("-", "_"))
    except ValueError:
        names = ", ".join(p.value for p in FaultPoint)
        raise ValueError(f"unknown fault point {point_text!r}; choose one of {names}") from None
    config = FaultConfig(mode=FaultMode.ALWAYS, delay_s=DEFAULT_DELAY_S.get(point, 0.05))
    for part in filter(None, (p.strip().lower() for p in (spec or "always").split(","))):
        if part in ("always", "on"):
            config = replace(config, mode=FaultMode.ALWAYS)
        elif part == "off":
            config = replace(config, mode=FaultMode.OFF)
        elif part.startswith("next="):
            n = _positive_int(part[5:], text)
            config = replace(config, mode=FaultMode.NEXT_N, remaining=n)
        elif m := _DURATION.match(part):
            seconds = float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
            config = replace(config, delay_s=seconds)
        else:
            p = _probability(part.removeprefix("p="), text)
            config = replace(config, mode=FaultMode.PROBABILITY, probability=p)
    return point, config


def _positive_int(text: str, whole: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"in fault {whole!r}: next=N needs a whole number of writes >= 1")
    return int(text)


def _probability(text: str, whole: str) -> float:
    try:
        p = float(text)
    except ValueError:
        raise ValueError(
            f"in fault {whole!r}: {text!r} is not always/off/next=N/a probability/a duration like 50ms"
        ) from None
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"in fault {whole!r}: probability must be between 0 and 1")
    return p


class FaultSwitch:
    """The crash switch. Thread-safe; the writer thread asks it at each fault point.

    ``enabled`` is the master switch of the database points (the toolbar's "Simulate database
    crash"); each point has its own mode. The wire points answer to their own modes only: a
    presenter sets them while a server runs, whatever the database switch says. A seed makes a
    demo replay the same way.
    """

    def __init__(self, seed: int | None = None):
        self._lock = threading.Lock()
        self._configs: dict[FaultPoint, FaultConfig] = {p: FaultConfig() for p in FaultPoint}
        self._rng = random.Random(seed)
        self._seed = seed
        self.enabled = True
        self.injected: dict[FaultPoint, int] = {p: 0 for p in FaultPoint}

    @property
    def seed(self) -> int | None:
        return self._seed

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._seed = seed
            self._rng = random.Random(seed)

    def set(self, point: FaultPoint, config: FaultConfig) -> None:
        with self._lock:
            self._configs[FaultPoint(point)] = config

    def get(self, point: FaultPoint) -> FaultConfig:
        with self._lock:
            return self._configs[point]

    def configs(self) -> dict[FaultPoint, FaultConfig]:
        with self._lock:
            return dict(self._configs)

    def clear(self, points=None) -> None:
        """Turn ``points`` off (every point when None)."""
        with self._lock:
            for p in FaultPoint if points is None else points:
                self._configs[FaultPoint(p)] = FaultConfig()

    def summary(self) -> str:
        """The settings in force, as an import records them: "off", or the points that can
        fire ("mid_transaction p=0.4, after_commit next=3")."""
        with self._lock:
            on = [f"{p.value} {c.describe()}" for p, c in self._configs.items()
                  if c.mode is not FaultMode.OFF and (self.enabled or p in WIRE_POINTS)]
        if not on:
            return "off"
        return ", ".join(on) + (f" (seed {self._seed})" if self._seed is not None else "")

    @property
    def active(self) -> bool:
        """True while some point can still fire (a database point only while the switch is on)."""
        with self._lock:
            return any(c.mode is not FaultMode.OFF and (self.enabled or p in WIRE_POINTS)
                       for p, c in self._configs.items())

    def fires(self, point: FaultPoint) -> bool:
        """Decide (and count) whether ``point`` fails this write."""
        with self._lock:
            if not self.enabled and point not in WIRE_POINTS:
                return False
            config = self._configs[point]
            if config.mode is FaultMode.OFF:
                hit = False
            elif config.mode is FaultMode.ALWAYS:
                hit = True
            elif config.mode is FaultMode.PROBABILITY:
                hit = self._rng.random() < config.probability
            else:
                hit = config.remaining > 0
                remaining = config.remaining - 1
                self._configs[point] = (
                    replace(config, remaining=remaining)
                    if remaining > 0
                    else FaultConfig(delay_s=config.delay_s)
                )
            if hit:
                self.injected[point] += 1
            return hit

    def check(self, point: FaultPoint) -> None:
        """Raise ``InjectedFault`` when ``point`` fires."""
        if self.fires(point):
            raise InjectedFault(point)

    def injected_counts(self) -> dict[FaultPoint, int]:
        """How many times each point fired, here and in any child process reported back."""
        with self._lock:
            return dict(self.injected)

    def add_injected(self, counts: dict) -> None:
        """Add faults that fired on another switch (a child ingest process has its own)."""
        with self._lock:
            for point, n in counts.items():
                self.injected[FaultPoint(point)] += int(n)

    def delay(self, point: FaultPoint = FaultPoint.LATENCY) -> float:
        """Seconds a delaying point (latency: this write; slow_response: this answer) adds
        (0 when it does not fire)."""
        if self.fires(point):
            return self.get(point).delay_s
        return 0.0


def sleep_unless(stop: threading.Event | None, seconds: float) -> bool:
    """Sleep, waking early when ``stop`` is set; returns True when stopped."""
    if seconds <= 0:
        return bool(stop and stop.is_set())
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)
