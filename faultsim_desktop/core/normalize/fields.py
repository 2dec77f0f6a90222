"""Which field is which: the names each role goes by, the per-key classification cache, the one
pass over an object's keys, and the client's display form."""
from __future__ import annotations

import enum
import unicodedata
from decimal import Decimal

from faultsim_desktop.core.model import RejectCode, RejectedEvent, Rejection

CLIENT_NAMES = (
    "client_id", "client", "source", "customer_id", "customer", "account_id", "account",
    "tenant_id", "tenant", "user_id", "id",
)
AMOUNT_NAMES = ("amount", "amt", "value", "cost", "price", "total", "sum", "charge", "fee", "payment")
TIME_NAMES = ("timestamp", "ts", "time", "date", "created_at", "occurred_at", "event_time")
IDEMPOTENCY_NAMES = ("idempotency_key", "event_id", "message_id")
CURRENCY_NAMES = ("currency", "currency_code", "ccy", "cur")

MAX_DIGITS = 100  # an amount needing more digits than this in plain form is rejected
_INT_LIMIT = 10**MAX_DIGITS


class _Role(enum.IntEnum):
    """What a field means to normalization; the value indexes the per-object scan."""

    CLIENT = 0
    AMOUNT = 1
    CENTS = 2
    TIME = 3
    IDEMPOTENCY = 4
    CURRENCY = 5


_CLIENT = _Role.CLIENT.value
_AMOUNT = _Role.AMOUNT.value
_CENTS = _Role.CENTS.value
_TIME = _Role.TIME.value
_IDEMPOTENCY = _Role.IDEMPOTENCY.value
_CURRENCY = _Role.CURRENCY.value
_NO_ROLE = -1
_ROLE_COUNT = len(_Role)


def _plain_key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


_ROLE_OF: dict[str, tuple[int, int]] = {}
for _role, _names in (
    (_CLIENT, CLIENT_NAMES),
    (_AMOUNT, AMOUNT_NAMES),
    (_TIME, TIME_NAMES),
    (_IDEMPOTENCY, IDEMPOTENCY_NAMES),
    (_CURRENCY, CURRENCY_NAMES),
):
    for _rank, _name in enumerate(_names):
        _ROLE_OF[_plain_key(_name)] = (_role, _rank)
for _rank, _name in enumerate(AMOUNT_NAMES):
    _ROLE_OF[_plain_key(_name) + "cents"] = (_CENTS, _rank)
del _role, _names, _rank, _name

# raw key -> (role, rank, field_key); bounded so hostile inputs with endless distinct keys
# cannot grow it without limit (past the bound, keys are classified afresh each time).
_KEY_INFO: dict[str, tuple[int, int, str]] = {}
_KEY_INFO_MAX = 20_000


def _key_info(name: str) -> tuple[int, int, str]:
    info = _KEY_INFO.get(name)
    if info is None:
        fk = _plain_key(name)
        role, rank = _ROLE_OF.get(fk, (_NO_ROLE, 0))
        info = (role, rank, fk)
        if len(_KEY_INFO) < _KEY_INFO_MAX:
            _KEY_INFO[name] = info
    return info


# raw key -> (role, rank), or None for a key without a role: what _scan reads of _key_info.
# A plain dict (a subclass's item lookup is a Python-level call); bounded like _KEY_INFO,
# but started afresh when full, so that hostile inputs with endless distinct keys cost one
# _role_of_key call per key and no more.
_ROLE_OF_KEY: dict[str, tuple[int, int] | None] = {}


def _role_of_key(name: str) -> tuple[int, int] | None:
    role, rank, _ = _key_info(name)
    info = (role, rank) if role != _NO_ROLE else None
    if len(_ROLE_OF_KEY) >= _KEY_INFO_MAX:
        _ROLE_OF_KEY.clear()
    _ROLE_OF_KEY[name] = info
    return info


def time_rank(name: str) -> int | None:
    """The rank of ``name`` among the time names (0 is best), or None when it is not one."""
    info = _KEY_INFO.get(name) or _key_info(name)
    return info[1] if info[0] == _TIME else None


def field_key(name: str) -> str:
    """The form field names are matched in: lower case without ``_``, ``-`` and spaces."""
    return _key_info(name)[2]


def name_rule(names: tuple[str, ...], key: str, parent: str | None = None, what: str = "") -> str:
    """How the heuristics chose field ``key`` (under ``parent`` when one level down): the name
    it reads as and that name's rank among ``names`` (core/explain.py shows it)."""
    rank = _key_info(key)[1]
    name = names[rank]
    spelled = f'"{key}"' if key == name else f'"{key}" (read as "{name}")'
    rule = f"heuristic: {what or 'field'} name {spelled}, choice {rank + 1} of {len(names)}"
    if parent is not None:
        rule += f'; one level down in "{parent}" (none at the top level)'
    return rule


def _reject(code: RejectCode, message: str) -> RejectedEvent:
    return RejectedEvent(Rejection(code, message))


def _show(value) -> str:
    """A value as a user would recognise it in a message: JSON-like, cut short."""
    if type(value) is str:
        text = value if len(value) <= 60 else value[:57] + "..."
        return '"' + text + '"'
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is list:
        return "a list"
    if type(value) is dict:
        return "an object"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _scan(obj: dict) -> tuple[list, list | None, list | None]:
    """What one object holds for each role, in one pass over its keys.

    Returns ``found`` (per role the best-ranked ``(rank, key, value)`` or None), the dict values
    as ``(key, dict)`` in document order (or None), and ``(role, first key, later key)`` for keys
    that mean the same field (or None).
    """
    found: list = [None] * _ROLE_COUNT
    nested = None
    dups = None
    role_of = _ROLE_OF_KEY
    for key, value in obj.items():
        try:
            info = role_of[key]
        except KeyError:
            info = _role_of_key(key)
        if type(value) is dict:
            if nested is None:
                nested = []
            nested.append((key, value))
            if info is None:
                continue
            role, rank = info
            # A dict under a client or time name is a container, searched one level down.
            if role == _CLIENT or role == _TIME:
                continue
        elif info is None:
            continue
        else:
            role, rank = info
        current = found[role]
        if current is None or rank < current[0]:
            found[role] = (rank, key, value)
        elif rank == current[0]:
            if dups is None:
                dups = []
            dups.append((role, current[1], key))
    return found, nested, dups


def client_display(value) -> str:
    """Display form of a client: NFC, trimmed, runs of whitespace collapsed to one space."""
    if type(value) is not str:
        value = _integral_text(value)
    if not value.isascii():
        value = unicodedata.normalize("NFC", value)
    return " ".join(value.split())


def _integral_text(value) -> str:
    """Decimal text of an int or an integral Decimal (bounded in size)."""
    if type(value) is int:
        if -_INT_LIMIT < value < _INT_LIMIT:
            return str(value)
    elif type(value) is Decimal and value.is_finite() and value == value.to_integral_value():
        if value.is_zero() or value.adjusted() < MAX_DIGITS:
            return str(int(value))
    raise ValueError(f"not an integer: {value!r}")


def _client_from(value, field: str) -> str:
    kind = type(value)
    if kind is str:
        display = client_display(value)
        if not display:
            raise _reject(RejectCode.NO_CLIENT, f'client {_show(value)} in field "{field}" is blank')
        return display
    if kind is int or kind is Decimal:
        try:
            return _integral_text(value)
        except ValueError:
            raise _reject(
                RejectCode.BAD_CLIENT,
                f'client {_show(value)} in field "{field}" is not a string or an integer',
            ) from None
    if value is None:
        raise _reject(RejectCode.NO_CLIENT, f'client field "{field}" is null')
    raise _reject(
        RejectCode.BAD_CLIENT, f'client {_show(value)} in field "{field}" is not a string or an integer'
    )
