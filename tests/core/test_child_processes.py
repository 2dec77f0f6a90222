"""A test's child processes end with the test, passed or failed: none keeps writing into the
next test's files or holds a lock the next test waits for."""
import signal
import subprocess
import sys

import pytest

from tests.support.processes import Processes

_WAITS_FOREVER = [sys.executable, "-c", "import sys; sys.stdin.read()"]


def test_a_child_still_running_when_the_test_fails_is_killed_and_its_pipes_closed():
    with pytest.raises(AssertionError, match="the test failed"):
        with Processes() as started:
            child = started.start(_WAITS_FOREVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert child.poll() is None
            raise AssertionError("the test failed")
    assert child.returncode == -signal.SIGKILL
    assert child.stdin.closed and child.stdout.closed


def test_a_child_that_ended_keeps_its_exit_status(processes):
    child = processes.start([sys.executable, "-c", "raise SystemExit(3)"])
    assert child.wait(60) == 3
    processes.kill_all()
    assert child.returncode == 3
