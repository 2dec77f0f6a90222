"""A messy NDJSON corpus for benchmarks and soak tests, with its ground truth.

Two shapes, each deterministic for a given seed:

- ``feed`` (the default of the command line): shaped like real feeds. Times are strings in the
  three common forms (ISO 8601 with an offset, ``YYYY-MM-DD HH:MM:SS``, RFC 2822) or epoch
  numbers, many events share a second, some have no time, and the order is only roughly
  increasing; clients are often nested; notes up to 80 characters; amounts as JSON numbers,
  strings in every money form of the contract, ``_cents`` fields and amount objects; 20% retries
  and about 4% bad lines; about 140 bytes a line.
- ``tidy``: every key spelling and money form of the contract with increasing integer ``ts``,
  10% retries (keys reordered, spacing changed) and 2% bad lines.

    python benchmarks/corpus.py --shape feed --events 1000000 --seed 1 --out /tmp/feed.ndjson

``--format`` writes the same events as JSON Lines (``ndjson``, the default), as one JSON array
with an element a line (``array``), or as pretty-printed objects one after another
(``pretty``, two-space indent). The array and pretty forms leave out the lines that are not
JSON at all (inside an array, such a line breaks its neighbours' syntax too); every line that
is JSON stays, retries and values that are not objects included, so the ground truth is the
same for all three.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import time
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


SHAPES = ("feed", "tidy")


def generate(path, n: int, seed: int = 1, clients: int = 500, shape: str = "tidy") -> dict:
    """Write ``n`` lines (events, retries and bad lines) of ``shape`` to ``path``; return
    ``{"lines": n, "truth": {(client, currency): [count, Decimal total]}}``."""
    if shape == "feed":
        return _generate_feed(path, n, seed, clients)
    if shape != "tidy":
        raise ValueError(f"unknown corpus shape {shape!r} (one of {', '.join(SHAPES)})")
    return _generate_tidy(path, n, seed, clients)


def _generate_tidy(path, n: int, seed: int, clients: int) -> dict:
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


# The feed shape.
FEED_START = 1_772_323_200  # 2026-03-01T00:00:00Z
FEED_EVENTS_PER_SECOND = 25  # so most seconds hold many events
FEED_CLIENT_KEYS = ["client_id", "clientId", "client", "customer_id", "account_id", "tenant",
                    "user_id"]
FEED_AMOUNT_KEYS = ["amount", "amt", "total", "price", "value", "cost", "fee", "charge"]
FEED_TIME_KEYS = ["ts"] * 6 + ["timestamp"] * 5 + ["time"] * 3 + ["created_at"] * 3 + [
    "occurred_at"] * 2 + ["event_time"]
FEED_REF_KEYS = ["ref", "order_no", "txn", "request"]
FEED_ZONES = [0, 0, 60, 120, -300, -480, 330, 540]  # minutes east of UTC, one per client
NOTE_WORDS = ("refund", "late delivery", "card declined", "invoice", "renewal", "upgrade",
              "ticket", "promo", "shipping", "partial", "manual adjustment", "nightly batch",
              "export", "café", "Zürich office", "naïve retry", "Müller GmbH", "order", "gift",
              "chargeback", "monthly plan", "seat added", "trial ended", "VAT", "–", "✓")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# JSON numbers are carried as marked strings and written bare, so no amount passes through float.
_NUMBER = "\x01num:"
_NUMBER_TEXT = re.compile(r'"\\u0001num:([-0-9.]+)"')
FEED_BAD_SYNTAX = [
    "{'client_id': 'client-7', 'amount': '12.50'}",
    '{"client_id": "client-7", "amount": "12.50",}',
    '{client_id: "client-7", amount: 12.5}',
    '"client-7 paid 12.50"',
    "42",
    "null",
]


def _pick(rng: random.Random, seq):
    # random() is one C call; choice() and randrange() go through slower Python code
    return seq[int(rng.random() * len(seq))]


def _num(text: str) -> str:
    return _NUMBER + text


def _dump(obj: dict, separators=(", ", ": "), ensure_ascii: bool = False) -> str:
    text = json.dumps(obj, separators=separators, ensure_ascii=ensure_ascii)
    return _NUMBER_TEXT.sub(r"\1", text) if "u0001num:" in text else text


def _grouped(units: int, sep: str) -> str:
    return f"{units:,}".replace(",", sep)


# The amounts written as text. ``feed_money`` writes the first whose bound is above its random
# ``form`` (0-99), so each form takes the share between its bound and the one before:
# (bound, the text made of units, cents and "units.cents", its currency, its sign).
_TEXT_FORMS = [
    (40, lambda u, f, t: t, None, 1),
    (47, lambda u, f, t: f"${_grouped(u, ',')}.{f:02d}", "USD", 1),
    (52, lambda u, f, t: f"{_grouped(u, '.')},{f:02d} €", "EUR", 1),
    (55, lambda u, f, t: f"{_grouped(u, ' ')},{f:02d} €", "EUR", 1),
    (56, lambda u, f, t: f"{_grouped(u, chr(0xA0))},{f:02d} €", "EUR", 1),
    (59, lambda u, f, t: f"CHF {_grouped(u, chr(39))}.{f:02d}", "CHF", 1),
    (63, lambda u, f, t: f"£{_grouped(u, ',')}.{f:02d}", "GBP", 1),
    (66, lambda u, f, t: f"EUR {t}", "EUR", 1),
    (69, lambda u, f, t: f"{t} USD", "USD", 1),
    (72, lambda u, f, t: f"{u},{f:02d}", None, 1),
    (74, lambda u, f, t: f"({t})", None, -1),
    (76, lambda u, f, t: f"-${_grouped(u, ',')}.{f:02d}", "USD", -1),
    (77, lambda u, f, t: f"+{t}", None, 1),
    (78, lambda u, f, t: f"  {t} ", None, 1),
]


def feed_money(cents: int, rng: random.Random) -> tuple[list, str | None, Decimal]:
    """A random written form of ``cents`` as it appears in feeds: ``(fields, currency, exact)``,
    where ``fields`` are ``(role, key, value)`` with role "amount", "cents", "currency" or
    "nested" (an object holding the amount)."""
    units, frac = divmod(cents, 100)
    exact = Decimal(cents).scaleb(-2)
    text = f"{units}.{frac:02d}"
    key = _pick(rng, FEED_AMOUNT_KEYS)
    form = int(rng.random() * 100)
    if form < 18:  # a JSON number, trailing zeros as a writer drops them
        shown = text.rstrip("0").rstrip(".") if rng.random() < 0.5 else text
        return [("amount", key, _num(shown))], None, exact
    if form < 24:  # a whole JSON number of units
        return [("amount", key, _num(str(units)))], None, Decimal(units)
    if form < 30:
        return [("cents", key + "_cents", cents)], None, exact
    if form < 33:
        return [("cents", key + "_cents", str(cents))], None, exact
    if form < 78:  # a text: the first of _TEXT_FORMS whose share reaches ``form``
        write, currency, sign = next(f[1:] for f in _TEXT_FORMS if form < f[0])
        return [("amount", key, write(units, frac, text))], currency, sign * exact
    if form < 80:
        return [("amount", key, f"¥{_grouped(units, ',')}")], "JPY", Decimal(units)
    if form < 88:
        return [("amount", key, {"value": text, "currency": "EUR"})], "EUR", exact
    if form < 91:
        return [("amount", key, {"value": _num(text), "currency": "USD"})], "USD", exact
    if form < 95:
        currency = _pick(rng, ("EUR", "USD", "GBP"))
        return [("amount", key, text), ("currency", _pick(rng, ("currency", "ccy")), currency)
                ], currency, exact
    if form < 98:  # one level down, the currency at the top level
        return [("nested", "order", {"total": text}), ("currency", "currency", "USD")], "USD", exact
    return [("nested", "payment_info", {"price_cents": cents})], None, exact


def _feed_time(t: int, zone: int, rng: random.Random):
    """A time in one of the forms feeds use: ``(key, value)``, or None for no time at all."""
    form = int(rng.random() * 100)
    if form < 10:
        return None
    key = _pick(rng, FEED_TIME_KEYS)
    if form < 38:  # ISO 8601 with the client's offset
        tm = time.gmtime(t + zone * 60)
        sign, off = ("+" if zone >= 0 else "-"), abs(zone)
        return key, "%04d-%02d-%02dT%02d:%02d:%02d%s%02d:%02d" % (
            tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
            off // 60, off % 60)
    if form < 42:
        tm = time.gmtime(t)
        return key, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
            tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            rng.randrange(1000))
    if form < 63:
        tm = time.gmtime(t)
        return key, "%04d-%02d-%02d %02d:%02d:%02d" % (
            tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
    if form < 77:  # RFC 2822, in the client's zone
        tm = time.gmtime(t + zone * 60)
        sign, off = ("+" if zone >= 0 else "-"), abs(zone)
        return key, "%s, %02d %s %04d %02d:%02d:%02d %s%02d%02d" % (
            _DAYS[tm.tm_wday], tm.tm_mday, _MONTHS[tm.tm_mon - 1], tm.tm_year, tm.tm_hour,
            tm.tm_min, tm.tm_sec, sign, off // 60, off % 60)
    if form < 91:
        return key, t
    if form < 97:
        return key, t * 1000 + rng.randrange(1000)
    if form < 99:
        return key, str(t)
    return key, _pick(rng, ("n/a", "yesterday", "0000-00-00 00:00:00"))  # kept, time of receipt


def _note(rng: random.Random) -> str:
    target = 1 + int(79 * rng.random() ** 1.5)  # mostly short, up to 80 characters
    words: list[str] = []
    size = 0
    while size < target:
        word = _pick(rng, NOTE_WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:target].rstrip()


def _feed_event(i: int, rng: random.Random, clients: int, t: int) -> tuple[dict, str, list]:
    """A new event: ``(event, client, money fields' currency and exact amount)``."""
    c = int(clients * rng.random() ** 2)  # a few clients send most events
    name = f"client-{c}"
    zone = FEED_ZONES[c % len(FEED_ZONES)]
    fields: list[tuple[str, object]] = []
    when = _feed_time(t, zone, rng)
    if when is not None:
        fields.append(when)
    form = int(rng.random() * 100)
    if form < 55:
        fields.append((_pick(rng, FEED_CLIENT_KEYS), name))
    elif form < 70:
        fields.append(("customer", {"id": name, "name": f"Customer {c}"}))
    elif form < 80:
        fields.append(("account", {"account_id": name, "plan": _pick(rng, ("free", "pro"))}))
    elif form < 90:
        fields.append(("meta", {"source": name, "region": "eu-west"}))
    else:
        fields.append(("user", {"user_id": name}))
    money_fields, currency, exact = feed_money(int(rng.lognormvariate(8, 1.5)) + 1, rng)
    fields.extend((key, value) for _, key, value in money_fields)
    if rng.random() < 0.6:
        fields.append(("note", _note(rng)))
    # Every new event carries one unique reference, as real feeds do: two new events never
    # share their content by chance (that would make them one event, by the contract).
    ref = f"{(i * 0x9E3779B1) & 0xFFFFFFFFFF:010x}"
    if rng.random() < 0.1:
        fields.append(("event_id", "evt-" + ref))
    else:
        fields.append((_pick(rng, FEED_REF_KEYS), ref))
    if rng.random() < 0.5:
        rng.shuffle(fields)
    return dict(fields), name, [currency, exact]


def _feed_bad_line(i: int, rng: random.Random, clients: int, t: int) -> str:
    """A line that must be quarantined, in the ways feeds break."""
    kind = int(rng.random() * 20)
    if kind < 7:  # cut short (a lost tail): never valid JSON, as the object is not closed
        line = _dump(_feed_event(i, rng, clients, t)[0])
        cut = line[:rng.randrange(1, len(line) - 1)]
        # Not right after a colon: a slice of the corpus (a request body, a writer's share)
        # starting there would read the next line as this key's value, and the truth would
        # no longer hold for that slice. Anywhere else the next line stands alone.
        return cut + "0" if cut.endswith(": ") else cut
    event, _, _ = _feed_event(i, rng, clients, t)
    if kind < 10:
        for key in [k for k in event if k in FEED_AMOUNT_KEYS or k.endswith("_cents")
                    or k in ("order", "payment_info")]:
            del event[key]
        return _dump(event)
    if kind < 12:
        for key in [k for k in event if k in FEED_CLIENT_KEYS
                    or k in ("customer", "account", "meta", "user")]:
            del event[key]
        event["client_id"] = _pick(rng, ("", "   ", None))
        return _dump(event)
    if kind < 15:
        event = {"client_id": f"client-{rng.randrange(clients)}",
                 "amount": _pick(rng, ("n/a", "twelve", "", None, True, "TBD"))}
        return _dump(event)
    if kind < 16:
        return f'{{"client_id": "client-{rng.randrange(clients)}", "amount": NaN}}'
    if kind < 17:
        return _dump({"client_id": f"client-{rng.randrange(clients)}", "amount": "$12.00",
                      "currency": "EUR"})
    return _pick(rng, FEED_BAD_SYNTAX)


def _generate_feed(path, n: int, seed: int, clients: int) -> dict:
    rng = random.Random(seed)
    truth: dict[tuple[str, str | None], list] = {}
    recent: list[tuple[dict, str]] = []  # (event, its line) of the last events, for retries
    clock = float(FEED_START)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            clock += rng.expovariate(FEED_EVENTS_PER_SECOND)
            lag = rng.random()
            # roughly increasing: most events on time, some a few seconds late, a few minutes
            t = int(clock) - (0 if lag < 0.85 else rng.randrange(1, 6) if lag < 0.97
                              else rng.randrange(60, 900))
            r = rng.random()
            if r < 0.20 and recent:
                event, line = _pick(rng, recent)
                how = rng.random()
                if how < 0.45:
                    f.write(line)  # sent again as it was
                elif how < 0.8:
                    items = list(event.items())
                    rng.shuffle(items)
                    f.write(_dump(dict(items)) + "\n")
                else:
                    f.write(_dump(event, (",", ":"), ensure_ascii=True) + "\n")
                continue
            if r < 0.24 and i:
                f.write(_feed_bad_line(i, rng, clients, t) + "\n")
                continue
            event, name, (currency, exact) = _feed_event(i, rng, clients, t)
            line = _dump(event) + "\n"
            f.write(line)
            agg = truth.setdefault((name, currency), [0, Decimal(0)])
            agg[0] += 1
            agg[1] += exact
            recent.append((event, line))
            if len(recent) > 200:
                del recent[:100]
    return {"lines": n, "truth": truth}


FORMATS = ("ndjson", "array", "pretty")


def reformat(path, fmt: str) -> int:
    """Rewrite the JSON Lines file ``path`` in ``fmt`` (module docstring); return how many
    events (JSON values) it holds."""
    if fmt == "ndjson":
        return sum(1 for _ in open(path, "rb"))
    values = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            try:
                value = json.loads(line)
            except ValueError:
                continue
            values.append(line if fmt == "array" else
                          json.dumps(value, indent=2, ensure_ascii=False))
    with open(path, "w", encoding="utf-8") as f:
        if fmt == "array":
            f.write("[\n" + ",\n".join(values) + "\n]\n")
        else:
            f.write("\n".join(values) + "\n")
    return len(values)


def write_truth(truth: dict, path) -> None:
    """The ground truth as ``faultsim stats --json`` prints totals: client, currency, count,
    total (a decimal string)."""
    rows = [{"client": client, "currency": currency, "count": count, "total": str(total)}
            for (client, currency), (count, total) in sorted(
                truth.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=1)
        f.write("\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=SHAPES, default="feed")
    ap.add_argument("--events", type=int, default=1_000_000, help="lines to write")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--out", required=True, help="the file to write")
    ap.add_argument("--format", choices=FORMATS, default="ndjson",
                    help="JSON Lines, one JSON array, or pretty-printed objects")
    ap.add_argument("--truth", help="also write the ground truth (JSON) here")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    info = generate(args.out, args.events, seed=args.seed, clients=args.clients,
                    shape=args.shape)
    values = reformat(args.out, args.format)
    seconds = time.perf_counter() - start
    if args.truth:
        write_truth(info["truth"], args.truth)
    size = os.path.getsize(args.out)
    counted = sum(count for count, _ in info["truth"].values())
    print(json.dumps({"shape": args.shape, "format": args.format, "seed": args.seed,
                      "lines": info["lines"], "values": values,
                      "distinct_events": counted, "bytes": size,
                      "bytes_per_line": round(size / max(info["lines"], 1), 1),
                      "clients": len({client for client, _ in info["truth"]}),
                      "generate_s": round(seconds, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
