"""Property: whatever the mix of events, retries, reorderings and faults, the aggregates equal
the sum over distinct accepted events and a GROUP BY over the events table."""
import json
import random
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint, FaultSwitch
from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import IngestService

clients = st.sampled_from(["acme", "ACME", "Globex", "initech", " globex "])
amounts = st.decimals(min_value=Decimal("-1000"), max_value=Decimal("100000"), places=2,
                      allow_nan=False, allow_infinity=False)
events = st.fixed_dictionaries({"client": clients, "amount": amounts},
                               optional={"note": st.text(max_size=5), "n": st.integers(0, 3)})
faults = st.lists(st.tuples(st.sampled_from(list(FaultPoint)), st.floats(0, 0.6)), max_size=3)


def render(event, rng):
    """The same event as a retrying sender might write it: keys reordered, spacing varied."""
    items = list(event.items())
    rng.shuffle(items)
    body = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in items}
    return json.dumps(body, separators=rng.choice([(",", ":"), (", ", ": "), (" , ", " : ")]))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(events, min_size=1, max_size=30), retries=st.integers(0, 3),
       fault_list=faults, seed=st.integers(0, 2**16))
def test_aggregates_equal_distinct_accepted_events(new_db, batch, retries, fault_list, seed):
    rng = random.Random(seed)
    switch = FaultSwitch(seed)
    for point, p in fault_list:
        switch.set(point, FaultConfig(FaultMode.PROBABILITY, probability=p, delay_s=0.0))
    db = new_db("p")  # one per example, on SQLite then on PostgreSQL
    sends = [e for e in batch for _ in range(1 + retries)]
    rng.shuffle(sends)
    with IngestService(db, faults=switch, workers=0, seed=seed,
                       retry=RetryPolicy(attempts=3, base_delay_s=0.0005, cap_s=0.001)) as svc:
        for i in range(0, len(sends), 7):
            svc.submit_text("\n".join(render(e, rng) for e in sends[i:i + 7])).wait(60)
        switch.enabled = False
        svc.retry_pending()
        assert svc.outbox.count() == 0
        expected: dict = {}
        distinct = {json.dumps({k: str(v) for k, v in sorted(e.items())}): e for e in batch}
        for e in distinct.values():
            key = " ".join(e["client"].split()).casefold()
            n, total = expected.get(key, (0, Decimal(0)))
            expected[key] = (n + 1, total + Decimal(str(e["amount"])))
        got = {r.client.casefold(): (r.count, r.total) for r in svc.stats()}
        assert got == expected
        assert svc.stats() == svc.stats_from_events()
