"""IngestService.in_writer: a function run on the writer thread between batches, its result
or its error handed back to the caller."""
import threading

import pytest

ACME = '{"client": "acme", "amount": "12.50", "currency": "USD"}'


def test_a_function_runs_on_the_writer_thread_and_its_result_comes_back(service):
    assert service.in_writer(lambda s: threading.current_thread().name) == "faultsim-writer"
    assert service.in_writer(lambda s: 6 * 7) == 42


def test_its_error_reaches_the_caller_and_the_writer_goes_on(service):
    def broken(session):
        raise LookupError("no such thing")
    with pytest.raises(LookupError, match="no such thing"):
        service.in_writer(broken)
    assert service.submit_text(ACME).wait(60).accepted == 1
    assert service.counts()["events"] == 1


def test_a_caller_waits_for_a_busy_writer_no_longer_than_asked(service):
    gate, holding = threading.Event(), threading.Event()

    def hold(session) -> None:
        holding.set()
        gate.wait(30)
    holder = threading.Thread(target=service.in_writer, args=(hold,))
    holder.start()
    try:
        assert holding.wait(30)  # the writer now waits on the gate
        with pytest.raises(TimeoutError, match="did not answer in time"):
            service.in_writer(lambda s: None, timeout=0.2)
    finally:
        gate.set()
        holder.join()
    assert service.in_writer(lambda s: "free again") == "free again"
