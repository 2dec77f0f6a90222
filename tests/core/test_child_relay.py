"""The child ingest's relay of outcomes to the window (core/child.py): the writer hands them
over without waiting for the pipe, and every one is sent, in order, before the relay closes."""
import threading

from faultsim_desktop.core.child import OUTCOMES_PER_MESSAGE, Report, _Relay
from faultsim_desktop.core.model import Outcome, OutcomeRecord


def _records(start: int, n: int) -> list[OutcomeRecord]:
    return [OutcomeRecord("2026-03-01T12:00:00Z", Outcome.ACCEPTED, "acme", "1.00", "USD",
                          bytes(32), 1, None, "f.ndjson", line, line)
            for line in range(start, start + n)]


def test_the_writer_never_waits_for_the_pipe_and_close_sends_everything_in_order():
    pipe_open = threading.Event()
    sent: list = []

    def send(report, payload):  # a window that does not read yet
        pipe_open.wait()
        sent.append((report, payload))
    relay = _Relay(send)
    batches = [_records(1, 1_200), _records(1_201, 7), _records(1_208, 3 * OUTCOMES_PER_MESSAGE)]
    for batch in batches:
        relay(batch)  # returns although nothing could be sent
    assert sent == []
    pipe_open.set()
    relay.close()
    assert {report for report, _ in sent} == {Report.OUTCOMES}
    assert all(len(p) <= OUTCOMES_PER_MESSAGE for _, p in sent)
    lines = [row[OutcomeRecord._fields.index("line")] for _, p in sent for row in p]
    assert lines == list(range(1, 1_208 + 3 * OUTCOMES_PER_MESSAGE))
    assert all(type(row) is tuple for _, p in sent for row in p)
    # after the ingest (a late retry while the service closes) outcomes go out at once
    relay(_records(9_000, 2))
    assert [row[9] for row in sent[-1][1]] == [9_000, 9_001]


def test_a_broken_pipe_never_stops_the_writer():
    calls = []

    def send(report, payload):
        calls.append(len(payload))
        raise BrokenPipeError("the window is gone")
    relay = _Relay(send)
    for start in range(0, 300 * OUTCOMES_PER_MESSAGE, OUTCOMES_PER_MESSAGE):
        relay(_records(start, OUTCOMES_PER_MESSAGE))  # more than the backlog holds
    relay.close()
    assert calls == [OUTCOMES_PER_MESSAGE]  # tried once, then drained without sending
    relay(_records(0, 1))
    assert calls == [OUTCOMES_PER_MESSAGE]
