"""Child processes that never outlive the test that started them."""
from __future__ import annotations

import subprocess


class Processes:
    """Starts a test's child processes and, when the test ends (passed or failed), kills
    whichever still run and closes their pipes: none keeps writing into the next test's files
    or holds a lock the next test waits for."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen] = []

    def start(self, args, **popen_kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(args, **popen_kwargs)
        self._started.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self._started:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:  # unsent input to a process that is gone
                        pass
        self._started.clear()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc) -> None:
        self.kill_all()
