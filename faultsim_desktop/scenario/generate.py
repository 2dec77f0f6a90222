"""Messy events made from a seed: what a ``generate`` step sends.

The same (seed, step, count, clients, reuse_keys) always makes the same bytes, so a run can be
replayed and the expected truth computed without the engine. The events look like the ones
real senders produce: field names spelled many ways, clients nested in objects and written in
several cases, money as numbers, locale strings, currency signs, cents and objects. Among them:

- resends: an earlier event again, its keys in another order and its spacing changed (the
  engine must count it once);
- bad lines: broken JSON, a missing client, an amount that is no number (quarantined);
- when ``reuse_keys`` asks for them, events that reuse an earlier event's idempotency key
  with another amount (the first one stands; the other is quarantined as a conflict).

One event per line (NDJSON). The first line is always a good event, so the engine reads the
input as JSON Lines and a broken line is rejected alone.
"""
from __future__ import annotations

import random
from decimal import Decimal

# Each client: its spellings (one display form once trimmed and casefolded), its currency.
_CLIENTS = (
    (("acme", "Acme", "ACME", " Acme "), "USD"),
    (("globex", "Globex", "GLOBEX"), "EUR"),
    (("Initech", "initech", "INITECH"), "GBP"),
    (("Umbrella Corp", "umbrella corp", "UMBRELLA CORP"), "USD"),
    (("Müller GmbH", "MÜLLER GMBH", "müller gmbh"), "EUR"),
    (("Zürich AG", "zürich ag", "ZÜRICH AG"), "CHF"),
    (("Tanaka KK", "tanaka kk", "TANAKA KK"), "JPY"),
    (("Smith & Sons", "smith & sons", "SMITH & SONS"), "GBP"),
    (("Dupont SA", "dupont sa", "DUPONT SA"), "EUR"),
    (("Hooli", "hooli", "HOOLI"), "USD"),
)
_CLIENT_FIELDS = ("client", "client_id", "clientId", "customer", "account_id", "Tenant")
_KEY_FIELDS = ("event_id", "idempotency_key", "message_id")
_CURRENCY_FIELDS = ("currency", "currency_code", "ccy", "Currency")
_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
RESEND_SHARE = 0.03  # of the events: an earlier event sent again
BAD_SHARE = 0.02  # of the events: a line the engine rejects
_BAD_LINES = (
    '{"client": "acme", "amount": 10.00, "currency": "USD"',  # cut short
    "{'client': 'globex', 'amount': 3}",  # single quotes: not JSON
    '{"amount": 5, "currency": "USD"}',  # no client
    '{"client": "Initech", "amount": "twelve", "currency": "GBP"}',  # no number
    '{"client": "Hooli", "amount": NaN, "currency": "USD"}',  # not a JSON number
    "not an event at all",
)


def generate_events(seed: int | None, step: int, count: int, clients: int = 5,
                    reuse_keys: int = 0) -> bytes:
    """``count`` lines of messy events (NDJSON) for step ``step`` of a scenario seeded
    ``seed``: good events, resends, bad lines and ``reuse_keys`` key conflicts."""
    return b"".join(line + b"\n" for line in generate_lines(seed, step, count, clients,
                                                              reuse_keys))


def generate_lines(seed: int | None, step: int, count: int, clients: int = 5,
                   reuse_keys: int = 0) -> list[bytes]:
    """The lines of ``generate_events``, without their line breaks."""
    rng = random.Random(f"faultsim-scenario:{seed}:{step}")
    pool = _client_pool(clients)
    reuse_keys = max(0, min(reuse_keys, count - 1))
    # where the conflicts go: never the first line, which must be a good event
    conflicts = set(rng.sample(range(1, count), reuse_keys)) if reuse_keys else set()
    prefix = f"s{seed if seed is not None else 0}g{step}"
    good: list[list[tuple[str, str]]] = []  # the events made so far, as (key, JSON) pairs
    # (event, where its idempotency key is, its currency): what a conflict copies
    keyed: list[tuple[list[tuple[str, str]], int, str]] = []
    lines: list[bytes] = []
    for i in range(count):
        roll = rng.random()
        if i in conflicts and keyed:
            pairs = _conflicting(rng, *rng.choice(keyed))
        elif i and roll < BAD_SHARE:
            lines.append(rng.choice(_BAD_LINES).encode("utf-8"))
            continue
        elif good and roll < BAD_SHARE + RESEND_SHARE:
            pairs = rng.choice(good)[:]
            rng.shuffle(pairs)
            lines.append(_dump(pairs, spaced=rng.random() < 0.5))
            continue
        else:
            pairs, key_at, currency = _event(rng, pool, f"{prefix}-{i}", i)
            good.append(pairs)
            keyed.append((pairs, key_at, currency))
        lines.append(_dump(pairs, spaced=rng.random() < 0.7))
    return lines


def _client_pool(clients: int) -> list[tuple[tuple[str, ...], str]]:
    """``clients`` distinct clients: the named ones first, then numbered ones."""
    pool = list(_CLIENTS[:clients])
    for n in range(len(pool), clients):
        pool.append(((f"client-{n + 1:03d}", f"Client-{n + 1:03d}", f"CLIENT-{n + 1:03d}"),
                     ("USD", "EUR", "GBP")[n % 3]))
    return pool


def _event(rng: random.Random, pool, key: str, i: int
           ) -> tuple[list[tuple[str, str]], int, str]:
    """One good event as (key, JSON value) pairs, the index of its idempotency key and its
    currency."""
    spellings, currency = rng.choice(pool)
    name = rng.choice(spellings)
    pairs: list[tuple[str, str]] = []
    shape = rng.random()
    if shape < 0.7:
        pairs.append((rng.choice(_CLIENT_FIELDS), _str(name)))
    elif shape < 0.85:
        pairs.append(("client", '{"id": %s, "name": %s}' % (_str(name.strip().lower()),
                                                            _str(name))))
    else:
        pairs.append(("meta", '{"source": %s}' % _str(name)))
    cents = rng.randint(1, 500_000) * (-1 if rng.random() < 0.04 else 1)
    pairs.extend(_money(rng, Decimal(cents).scaleb(-2), currency))
    key_at = len(pairs)
    pairs.append((rng.choice(_KEY_FIELDS), _str(key)))
    pairs.append(_time(rng, i))
    if rng.random() < 0.2:
        pairs.append(("note", _str(rng.choice(("retry-safe", "from batch job", "ünïcode ✓",
                                                "tab\there", "line\nbreak")))))
    return pairs, key_at, currency


def _money(rng: random.Random, amount: Decimal, currency: str) -> list[tuple[str, str]]:
    """The amount (and its currency) in one of the forms senders use."""
    field = rng.choice(("amount", "amount", "Amount", "cost", "total", "price", "fee"))
    cur_field = rng.choice(_CURRENCY_FIELDS)
    code = currency if rng.random() < 0.7 else currency.lower()
    if currency == "JPY":  # no minor unit: whole yen
        amount = amount.to_integral_value()
    plain = format(amount, "f")
    form = rng.randrange(8)
    if form == 0:  # a JSON number
        return [(field, plain), (cur_field, _str(code))]
    if form == 1:  # a string
        return [(field, _str(plain)), (cur_field, _str(code))]
    if form == 2 and amount >= 0 and currency in _SIGNS:  # a sign and thousands separators
        return [(field, _str(_SIGNS[currency] + f"{amount:,}"))]
    if form == 3 and amount >= 0 and currency == "EUR":  # the European way
        text = f"{amount:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
        return [(field, _str(f"{text} €"))]
    if form == 4:  # the code after the number
        return [(field, _str(f"{plain} {currency}"))]
    if form == 5:  # an object
        return [(field, '{"value": %s, "currency": %s}' % (_str(plain), _str(currency)))]
    if form == 6 and currency != "JPY":  # cents
        return [("amount_cents", str(int(amount.scaleb(2)))), (cur_field, _str(code))]
    # a number written with trailing zeros or an exponent: the same value
    return [(field, plain + ("0" if "." in plain else ".00")), (cur_field, _str(code))]


def _conflicting(rng: random.Random, pairs: list[tuple[str, str]], key_at: int,
                 currency: str) -> list[tuple[str, str]]:
    """An event with the same client and idempotency key as ``pairs`` but another amount."""
    other = Decimal(rng.randint(1, 500_000)).scaleb(-2)
    if currency == "JPY":
        other = other.to_integral_value()
    return [pairs[0], ("amount", format(other, "f")), ("currency", _str(currency)),
            pairs[key_at], ("ts", str(1_714_000_000 + rng.randrange(86_400)))]


def _time(rng: random.Random, i: int) -> tuple[str, str]:
    t = 1_714_550_400 + i * 3 + rng.randrange(3)  # roughly in order, as real feeds are
    form = rng.randrange(4)
    if form == 0:
        return "ts", str(t)
    if form == 1:
        return "occurred_at", str(t * 1000)
    day, rest = divmod(t - 1_714_521_600, 86_400)
    hh, rest = divmod(rest, 3600)
    mm, ss = divmod(rest, 60)
    if form == 2:
        return "timestamp", _str(f"2024-05-{1 + day % 28:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z")
    return "created_at", _str(f"2024-05-{1 + day % 28:02d} {hh:02d}:{mm:02d}:{ss:02d}")


def _str(text: str) -> str:
    """A JSON string literal (non-ASCII kept as is, as most senders write it)."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _dump(pairs: list[tuple[str, str]], spaced: bool) -> bytes:
    sep, colon = (", ", ": ") if spaced else (",", ":")
    return ("{" + sep.join(f"{_str(k)}{colon}{v}" for k, v in pairs) + "}").encode("utf-8")
