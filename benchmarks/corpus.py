"""A messy NDJSON corpus for benchmarks and soak tests, with its ground truth.

Every key spelling and money form of the contract, 10% retries (the same event again with its
keys reordered and spacing changed) and 2% bad lines. Deterministic for a given seed.
"""
from __future__ import annotations

import json
import random
from decimal import Decimal

# No two spellings differ only by case: SQLite column names (for the sqlite-utils comparison)
# are case-insensitive.
CLIENT_KEYS = ["client_id", "clientId", "Client-ID", "CLIENT", "source", "customer_id",
               "customerId", "Customer", "account_id", "ACCOUNT", "tenant_id", "tenant",
               "user_id"]
AMOUNT_KEYS = ["Amount", "amt", "value", "cost", "PRICE", "total", "sum", "Charge", "fee",
               "payment"]
BAD_LINES = [
    '{"client": "x", "amount": NaN}',
    "{'client': 'x', 'amount': 1}",
    '{"client": "x", "amount": 1',
    '42',
    '{"client": "x", "amount": "twelve"}',
    '{"amount": 5}',
    '{"client": "x", "client": "y", "amount": 1}',
    '[1, 2, 3]',
]


def money(cents: int, rng: random.Random) -> tuple[object, str | None, Decimal]:
    """A random written form of ``cents``; returns (json value, currency, exact amount)."""
    units, frac = divmod(cents, 100)
    exact = Decimal(cents).scaleb(-2)
    grouped = f"{units:,}"
    form = rng.randrange(12)
    if form == 0:
        return cents, None, exact  # written to an "<amount key>_cents" field
    if form == 1:
        return f"{units}.{frac:02d}", None, exact
    if form == 2:
        return f"${grouped}.{frac:02d}", "USD", exact
    if form == 3:
        return f"{grouped.replace(',', '.')},{frac:02d} €", "EUR", exact
    if form == 4:
        return f"{grouped.replace(',', ' ')},{frac:02d} €", "EUR", exact
    if form == 5:
        return f"CHF {grouped.replace(',', chr(39))}.{frac:02d}", "CHF", exact
    if form == 6:
        return f"£{grouped}.{frac:02d}", "GBP", exact
    if form == 7:
        return f"EUR {units}.{frac:02d}", "EUR", exact
    if form == 8:
        return f"{units}.{frac:02d} USD", "USD", exact
    if form == 9:
        return {"value": f"{units}.{frac:02d}", "currency": "GBP"}, "GBP", exact
    if form == 10:
        return f"({units}.{frac:02d})", None, -exact
    return f"{units},{frac:02d}", None, exact


def generate(path, n: int, seed: int = 1, clients: int = 500) -> dict:
    """Write ``n`` events (plus retries and bad lines) to ``path``; return the ground truth."""
    rng = random.Random(seed)
    truth: dict[tuple[str, str | None], list] = {}
    lines = 0
    with open(path, "w", encoding="utf-8") as f:
        recent: list[dict] = []
        for i in range(n):
            r = rng.random()
            if r < 0.10 and recent:
                event = dict(rng.choice(recent))
                items = list(event.items())
                rng.shuffle(items)
                f.write(json.dumps(dict(items), separators=(", ", ": ")) + "\n")
                lines += 1
                continue
            if r < 0.12:
                f.write(rng.choice(BAD_LINES) + "\n")
                lines += 1
                continue
            c = rng.randrange(clients)
            name = f"client-{c}"
            value, currency, exact = money(rng.randrange(1, 10_000_000), rng)
            amount_key = rng.choice(AMOUNT_KEYS)
            if isinstance(value, int):
                amount_key += "_cents"
            event = {rng.choice(CLIENT_KEYS): name, amount_key: value,
                     "ts": 1_700_000_000 + i, "seq": i}
            if rng.random() < 0.2:
                event = {"meta": {"source": name}, amount_key: value,
                         "ts": 1_700_000_000 + i, "seq": i}
            if rng.random() < 0.1:
                event["event_id"] = f"evt-{i}"
            f.write(json.dumps(event) + "\n")
            lines += 1
            agg = truth.setdefault((name, currency), [0, Decimal(0)])
            agg[0] += 1
            agg[1] += exact
            recent.append(event)
            if len(recent) > 50:
                recent.pop(0)
    return {"lines": lines, "truth": truth}
