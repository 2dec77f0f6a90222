"""Undoing imports is exact: for random imports (retries within and across them, reordered
copies, idempotency keys reused with other content, bad lines) and any set of them undone in
any order, the database holds what ingesting only the remaining imports, in order, gives."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# a small pool, so that imports share events, keys and bad lines often
_CLIENTS = ["acme", "Bob", "cyan"]
_AMOUNTS = ["1.00", "2.50", "$3", "0.10", "1.234,50 €"]
_KEYS = [None, None, "k1", "k2"]
_BAD = ['{"client": "acme", "amount": ', '{"amount": "5"}', "not json", "[1, 2]"]


@st.composite
def _event(draw) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(_BAD))
    d = {"client": draw(st.sampled_from(_CLIENTS)), "amount": draw(st.sampled_from(_AMOUNTS))}
    key = draw(st.sampled_from(_KEYS))
    if key is not None:
        d["idempotency_key"] = key
    if draw(st.booleans()):
        d["note"] = draw(st.sampled_from(["a", "b"]))
    items = list(d.items())
    if draw(st.booleans()):  # the same content, written in another order: a retry
        items.reverse()
    return json.dumps(dict(items))


_imports = st.lists(st.lists(_event(), min_size=1, max_size=8), min_size=1, max_size=5)


def _state(svc, ids):
    """What a user sees: the totals, and each remaining import's counts (in import order)."""
    totals = sorted((t.client, t.currency or "", t.count, t.total) for t in svc.stats())
    assert totals == sorted((t.client, t.currency or "", t.count, t.total)
                            for t in svc.stats_from_events())
    rows = {r.id: r for r in svc.imports()}
    counts = [(rows[i].accepted, rows[i].duplicates, rows[i].rejected) for i in ids]
    return totals, counts


def _ingest(svc, imports) -> list[int]:
    before = {r.id for r in svc.imports()}
    for lines in imports:
        svc.submit_text("\n".join(lines), source="import").wait(60)
    return [r.id for r in svc.imports() if r.id not in before]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(imports=_imports, data=st.data())
def test_undoing_any_imports_equals_ingesting_only_the_rest(service, imports, data):
    service.reset()
    ids = _ingest(service, imports)
    undo = data.draw(st.lists(st.sampled_from(range(len(ids))), unique=True), label="undo")
    for i in undo:
        assert not service.undo_import(ids[i]).already
    assert all(service.undo_import(ids[i]).already for i in undo)  # twice: nothing more
    kept = [i for i in range(len(ids)) if i not in undo]
    after_undo = _state(service, [ids[i] for i in kept])

    service.reset()
    fresh = _ingest(service, [imports[i] for i in kept])
    assert after_undo == _state(service, fresh)
