"""A file the window hands to a child process is one import, named by the window's service:
it is running there until the child is done, so an undo of it is refused meanwhile."""
from decimal import Decimal

import pytest

from faultsim_desktop.core.child import ChildIngest, StandbyIngest
from faultsim_desktop.core.errors import StorageError
from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint
from faultsim_desktop.core.model import Outcome
from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.schemas import new_mapping


def test_a_child_ingest_is_one_import_running_in_the_parent_until_done(db_path, open_service,
                                                                      tmp_path):
    path = tmp_path / "orders.ndjson"
    path.write_text("".join(f'{{"client": "c{i % 7}", "amount": "{i}.25"}}\n'
                            for i in range(500)) + '{"client": "c1", "amount": "0.25"}\n')
    svc = open_service(db_path)
    child = ChildIngest(svc, str(path))
    assert svc.import_running(child.tag.uid)
    summary = child.run(svc, lambda records: None, None, None)
    assert not svc.import_running(child.tag.uid)
    assert (summary.accepted, summary.duplicates) == (501, 0)
    [row] = svc.imports()
    assert (row.uid, row.kind, row.source) == (child.tag.uid, "file", str(path))
    assert (row.received, row.accepted) == (501, 501)
    assert svc.undo_import(row.id).removed == 501
    assert svc.stats() == []


def _orders(path, n=300):
    path.write_text("".join(f'{{"client": "acme", "price_cents": {100 + i}, "n": {i}}}\n'
                            for i in range(n)) + "{not json\n")
    return path


def _wait_ready(standby):
    assert standby.ready(timeout=60), "the child kept ready never opened the database"


def test_a_child_kept_ready_ingests_with_the_settings_of_when_the_file_comes(
        db_path, open_service, tmp_path):
    """Mappings saved, faults set and the crash switch turned on while the child waited all
    apply to the file it is given; the outcomes are those a new child gives."""
    svc = open_service(db_path, workers=1)
    standby = StandbyIngest(svc)
    _wait_ready(standby)  # its service has read the mappings: none yet
    svc.save_mapping(new_mapping("acme", "price_cents", units="cents", currency="USD"))
    svc.faults.set(FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.NEXT_N, remaining=2))
    svc.faults.enabled = True
    svc.retry_policy = RetryPolicy(attempts=5, base_delay_s=0.001, cap_s=0.01)
    child = ChildIngest(svc, str(_orders(tmp_path / "orders.ndjson")), standby)
    assert child.process.pid == standby.process.pid
    seen = []
    summary = child.run(svc, seen.extend, None, None)
    assert child.process.exitcode == 0
    assert (summary.received, summary.accepted, summary.rejected, summary.failed) == (
        301, 300, 1, 0)
    assert svc.faults.injected_counts()[FaultPoint.BEFORE_WRITE] == 2
    [total] = svc.stats()
    assert (total.client, total.currency, total.count) == ("acme", "USD", 300)
    assert total.total == sum(Decimal(100 + i) / 100 for i in range(300))
    final = [r for r in seen if r.outcome is not Outcome.RETRYING]
    assert len(final) == 301 and {r.attempt for r in final} == {3}  # two refused writes first
    assert len(seen) - len(final) == 2 * 301  # the live log showed each retry
    # the same file through a new child: all duplicates, the same totals
    again = ChildIngest(svc, str(tmp_path / "orders.ndjson"))
    summary = again.run(svc, lambda records: None, None, None)
    assert (summary.duplicates, summary.rejected) == (300, 1)
    assert svc.stats() == [total]


def test_a_child_kept_ready_for_another_database_is_let_go(open_service, tmp_path):
    first = open_service(tmp_path / "first.db", workers=1)
    second = open_service(tmp_path / "second.db", workers=1)
    standby = StandbyIngest(first)
    child = ChildIngest(second, str(_orders(tmp_path / "orders.ndjson", 10)), standby)
    assert child.process.pid != standby.process.pid
    assert child.run(second, lambda records: None, None, None).accepted == 10
    assert standby.process.exitcode == 0  # it closed its database and ended
    assert first.imports() == [] and first.stats() == []
    assert [t.count for t in second.stats()] == [10]


def test_a_child_let_go_unused_ends_and_leaves_the_database_as_it_was(db_path, open_service):
    svc = open_service(db_path, workers=1)
    standby = StandbyIngest(svc)
    _wait_ready(standby)
    assert standby.usable_for(svc)
    standby.close()
    assert standby.process.exitcode == 0
    assert not standby.usable_for(svc) and not standby.ready()
    assert svc.imports() == [] and svc.stats() == []


def test_a_child_kept_ready_that_cannot_open_the_database_says_why(tmp_path, open_service):
    db = tmp_path / "x.db"
    svc = open_service(db, workers=1)
    db.unlink()
    db.mkdir()  # a folder where the database was: no child can open it
    standby = StandbyIngest(svc)
    standby.process.join(60)
    assert standby.process.exitcode == 0 and not standby.ready()
    with pytest.raises(StorageError) as caught:
        ChildIngest(svc, str(_orders(tmp_path / "orders.ndjson", 10)), standby).run(
            svc, lambda records: None, None, None)
    assert str(db) in str(caught.value)
