"""Events left pending by an earlier run are sent again when the window opens the database."""
from decimal import Decimal

from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint, FaultSwitch
from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import IngestService


def test_window_drains_the_outbox_on_open(qtbot, db_path, make_window):
    faults = FaultSwitch(1)
    faults.set(FaultPoint.AFTER_COMMIT, FaultConfig(FaultMode.ALWAYS))
    with IngestService(db_path, faults=faults, workers=0,
                       retry=RetryPolicy(attempts=1)) as svc:  # an earlier, crashed run
        s = svc.submit_text('{"client": "a", "amount": 2}\n{"client": "b", "amount": 3}').wait(30)
        assert s.failed == 2 and svc.outbox.count() == 2
    window = make_window()
    qtbot.waitUntil(lambda: window.service.outbox.count() == 0, timeout=10_000)
    totals = {r.client: (r.count, r.total) for r in window.service.stats()}
    assert totals == {"a": (1, Decimal(2)), "b": (1, Decimal(3))}  # once, not twice
