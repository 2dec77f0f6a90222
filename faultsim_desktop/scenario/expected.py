"""The truth of a scenario: what the store must hold once every event has a final outcome,
computed from the scenario's inputs alone.

The same parsing, normalization and fingerprints as the engine (``core.parsing``,
``core.pipeline.prepare_one``, the clients' mappings when a registry is given), but no
database: the decisions the store's UNIQUE indexes make are made here in memory, in the order
the timeline sends the inputs (steps by ``at``, then file order; a restart's resend changes
nothing). A storage bug therefore shows up as a divergence, never as agreement.

- duplicate: the first 128 bits of the fingerprint match an event counted before (the store's
  UNIQUE key; its time bucket is read off the same content, so it never splits equal events);
- key conflict: same client and idempotency key as a counted event, other content: the first
  one stands, this one is quarantined;
- rejected: parsing or normalization refused it (or, at 2**-128 odds, a fingerprint clash).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow
from typing import Iterable

from ..core.model import ClientTotal, Prepared
from ..core.parsing import iter_file
from ..core.pipeline import prepare_one
from ..core.schemas import Registry
from ..core.service_mappings import client_key
from .inputs import scenario_inputs
from .model import ClientKey, Figure, Scenario

# exact sums, as the store adds them (never rounded: a total that needed rounding raises)
_MONEY = Context(prec=1000, traps=[Inexact, InvalidOperation, Overflow])
_RECEIVED_AT = "1970-01-01T00:00:00.000000Z"  # decides nothing the figures show
_KEY_BYTES = 16  # the store's UNIQUE key: the fingerprint's first 128 bits


@dataclass
class Truth:
    """The expected figures and how every input event was decided."""

    figures: dict[ClientKey, Figure] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # client key -> first spelling stored
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0  # conflicts included
    conflicts: int = 0  # idempotency key reused with other content

    def as_dict(self) -> dict:
        return {"received": self.received, "accepted": self.accepted,
                "duplicates": self.duplicates, "rejected": self.rejected,
                "conflicts": self.conflicts}


class TruthBuilder:
    """Decides events one input at a time, as the store would, keeping only what it needs
    (the fingerprints and keys counted so far, the running figures)."""

    def __init__(self, registry: Registry | None = None):
        self.registry = registry or None
        self.truth = Truth()
        self._stored: dict[bytes, bytes] = {}  # the UNIQUE key -> the whole fingerprint
        self._keys: set[tuple[str, str]] = set()  # (client key, idempotency key) counted
        self._sums: dict[ClientKey, list] = {}  # key -> [count, total]

    def add_input(self, source: str, data: bytes) -> None:
        """Every event of one input (a file, a text, a generated batch), in its order."""
        for candidate in iter_file(io.BytesIO(data), source):
            self.add(prepare_one(candidate, _RECEIVED_AT, None, self.registry))

    def add(self, item: Prepared) -> None:
        t = self.truth
        t.received += 1
        if item.reject_code is not None:
            t.rejected += 1
            return
        fp = item.fingerprint
        stored = self._stored.get(fp[:_KEY_BYTES])
        if stored is not None:
            if stored == fp:
                t.duplicates += 1
            else:
                t.rejected += 1
            return
        idem = (item.client_key, item.idempotency_key)
        if item.idempotency_key is not None and idem in self._keys:
            t.rejected += 1
            t.conflicts += 1
            return
        self._stored[fp[:_KEY_BYTES]] = fp
        if item.idempotency_key is not None:
            self._keys.add(idem)
        t.accepted += 1
        key = (item.client_key, item.currency or "")
        t.names.setdefault(item.client_key, item.client)
        agg = self._sums.get(key)
        if agg is None:
            self._sums[key] = [1, Decimal(item.amount)]
        else:
            agg[0] += 1
            agg[1] = _MONEY.add(agg[1], Decimal(item.amount))

    def result(self) -> Truth:
        self.truth.figures = {k: Figure(n, total) for k, (n, total) in sorted(self._sums.items())}
        return self.truth


def scenario_truth(scenario: Scenario, registry: Registry | None = None) -> Truth:
    """What the scenario's inputs come to, decided in the order the timeline sends them."""
    builder = TruthBuilder(registry)
    for _step, inputs in scenario_inputs(scenario):
        for source, data in inputs:
            builder.add_input(source, data)
    return builder.result()


def inputs_truth(inputs: Iterable[tuple[str, bytes]], registry: Registry | None = None
                 ) -> Truth:
    """The truth of inputs sent one after the other."""
    builder = TruthBuilder(registry)
    for source, data in inputs:
        builder.add_input(source, data)
    return builder.result()


def expected_figures(scenario: Scenario, registry: Registry | None = None
                     ) -> tuple[dict[ClientKey, Figure], dict[str, str]]:
    """Per client and currency, how many events the store must hold and their exact total;
    and each client key's spelling (the first one stored)."""
    truth = scenario_truth(scenario, registry)
    return truth.figures, truth.names


def stored_figures(totals: Iterable[ClientTotal]
                   ) -> tuple[dict[ClientKey, Figure], dict[str, str]]:
    """The store's totals (``IngestService.stats()``, or an engine's) keyed as the expected
    ones are (client key, currency or ""); and each client key's spelling."""
    figures: dict[ClientKey, Figure] = {}
    names: dict[str, str] = {}
    for row in totals:
        key = (client_key(row.client), row.currency or "")
        names.setdefault(key[0], row.client)
        old = figures.get(key)
        figures[key] = Figure(row.count, row.total) if old is None else \
            Figure(old.count + row.count, _MONEY.add(old.total, row.total))
    return dict(sorted(figures.items())), names


def compare(expected: dict[ClientKey, Figure], stored: dict[ClientKey, Figure],
            names: dict[str, str] | None = None) -> list[str]:
    """Every difference between the expected and the stored figures, one sentence each, in
    client order (empty: they agree)."""
    names = names or {}
    out = []
    for key in sorted(expected.keys() | stored.keys()):
        want, got = expected.get(key), stored.get(key)
        if want == got:
            continue
        who = _who(key, names)
        if got is None:
            out.append(f"{who}: expected {_figure(want)}, none stored")
        elif want is None:
            out.append(f"{who}: none expected, {_figure(got)} stored")
        else:
            more = got.count - want.count
            delta = _MONEY.subtract(got.total, want.total)
            parts = []
            if more:
                parts.append(f"{abs(more):,} event{'s' if abs(more) != 1 else ''} "
                             f"{'more' if more > 0 else 'fewer'}")
            if delta:
                parts.append(f"{_money(abs(delta))} {'more' if delta > 0 else 'less'}")
            out.append(f"{who}: expected {_figure(want)}, stored {_figure(got)} "
                       f"({', '.join(parts)})")
    return out


def _who(key: ClientKey, names: dict[str, str]) -> str:
    client, currency = key
    name = names.get(client, client)
    return f"{name} ({currency})" if currency else f"{name} (no currency)"


def _figure(f: Figure) -> str:
    return f"{f.count:,} event{'s' if f.count != 1 else ''} totalling {_money(f.total)}"


def _money(d: Decimal) -> str:
    return format(d, "f")
