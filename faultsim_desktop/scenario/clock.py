"""A scenario run's clock: run time that advances at a speed while playing and stands still
while paused."""
from __future__ import annotations

import time


class RunClock:
    """Run time: advances at ``speed`` while playing, stands still while paused. ``active``
    counts real seconds not paused (the limits on waiting use it)."""

    def __init__(self, speed: float):
        self.speed = speed
        self._position = 0.0
        self._active = 0.0
        self._since: float | None = None  # time.monotonic() when it last started running

    def _advance(self) -> None:
        if self._since is not None:
            now = time.monotonic()
            self._position += (now - self._since) * self.speed
            self._active += now - self._since
            self._since = now

    @property
    def running(self) -> bool:
        return self._since is not None

    def run(self) -> None:
        if self._since is None:
            self._since = time.monotonic()

    def hold(self) -> None:
        self._advance()
        self._since = None

    def set_speed(self, speed: float) -> None:
        self._advance()
        self.speed = speed

    def position(self) -> float:
        self._advance()
        return self._position

    def active(self) -> float:
        self._advance()
        return self._active

    def jump(self, position: float) -> None:
        self._advance()
        self._position = max(self._position, position)
