"""Messy event -> NormalizedEvent: finds the client, amount, currency, time and idempotency key.

Runs on every event of multi-million-event files, so the common shapes take fast paths (a
per-key classification cache, one pass over the top-level keys, precompiled patterns) and the
general rules run only when those do not apply. Money is ``Decimal`` end to end, never float.
"""
from __future__ import annotations

import enum
import re
import unicodedata
from datetime import datetime, timedelta, timezone
from decimal import Context, Decimal
from email.utils import parsedate_to_datetime

from faultsim_desktop.core.model import NormalizedEvent, RejectCode, RejectedEvent, Rejection

__all__ = ["client_display", "field_key", "find_client", "normalize", "parse_amount", "parse_time"]

CLIENT_NAMES = (
    "client_id", "client", "source", "customer_id", "customer", "account_id", "account",
    "tenant_id", "tenant", "user_id", "id",
)
AMOUNT_NAMES = ("amount", "amt", "value", "cost", "price", "total", "sum", "charge", "fee", "payment")
TIME_NAMES = ("timestamp", "ts", "time", "date", "created_at", "occurred_at", "event_time")
IDEMPOTENCY_NAMES = ("idempotency_key", "event_id", "message_id")
CURRENCY_NAMES = ("currency", "currency_code", "ccy", "cur")

# Active ISO 4217 codes, plus a few withdrawn recently enough to still appear in old exports.
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR
    ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD
    MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR
    PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF
    XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL
    """.split()
)
CURRENCY_SIGNS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}

MAX_DIGITS = 100  # an amount needing more digits than this in plain form is rejected
_INT_LIMIT = 10**MAX_DIGITS

# Epoch numbers are told apart by magnitude: below 1e11 seconds, 1e14 ms, 1e17 µs.
_SECONDS_BELOW = 10**11
_MILLIS_BELOW = 10**14
_MICROS_BELOW = 10**17
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_UTC = timezone.utc
# Our own contexts: results must not depend on whatever the caller set globally, and the
# default 28-digit precision would round long amounts (scaleb rounds to the context).
_TIME_CTX = Context(prec=60)
_EXACT_CTX = Context(prec=MAX_DIGITS + 10)


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


def time_rank(name: str) -> int | None:
    """The rank of ``name`` among the time names (0 is best), or None when it is not one."""
    info = _KEY_INFO.get(name) or _key_info(name)
    return info[1] if info[0] == _TIME else None


def field_key(name: str) -> str:
    """The form field names are matched in: lower case without ``_``, ``-`` and spaces."""
    return _key_info(name)[2]


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
    get = _KEY_INFO.get
    for key, value in obj.items():
        info = get(key)
        if info is None:
            info = _key_info(key)
        role = info[0]
        if type(value) is dict:
            if nested is None:
                nested = []
            nested.append((key, value))
            # A dict under a client or time name is a container, searched one level down.
            if role == _CLIENT or role == _TIME:
                continue
        if role < 0:
            continue
        current = found[role]
        if current is None or info[1] < current[0]:
            found[role] = (info[1], key, value)
        elif info[1] == current[0]:
            if dups is None:
                dups = []
            dups.append((role, current[1], key))
    return found, nested, dups


def _scan_children(children: list) -> list:
    return [(parent, _scan(child)[0]) for parent, child in children]


def _pick_nested(scans: list, role: int):
    """Name-major search one level down: best rank, ties to the earlier object.

    Returns ``(parent key, hit, found of that object)`` or None.
    """
    best = None
    for parent, found in scans:
        hit = found[role]
        if hit is not None and (best is None or hit[0] < best[1][0]):
            best = (parent, hit, found)
    return best


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


_DIGITS = frozenset("0123456789")
_GROUP_ALWAYS = frozenset("'\u2019 \u00a0\u202f\u2009")  # these only ever group digits
_CORE_CHARS = _DIGITS | _GROUP_ALWAYS | {".", ","}
_MINUS_SIGNS = frozenset("-\u2212")
# The common shapes: an optional code, sign and currency sign, digits with comma thousands,
# optional dot decimals, an optional code. They obey the general rules (the tests check that
# both agree); everything else, and any conflict or unknown code, goes the general way.
_FAST_AMOUNT = re.compile(
    r"(?:([A-Za-z]{3}) ?)?([-+]?)([$€£¥]?)([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(\.[0-9]+)?(?: ?([A-Za-z]{3}))?"
)
# The other common shapes, still without a character loop: "1.234,56 €", "10 587,57",
# "CHF 29'025.83", "(45.60)", "EUR 1.234.567". Whatever the general rules would reject, or
# could read otherwise, is left to them (the tests compare both on random strings).
_FAST_AMOUNT_2 = re.compile(
    "(?:([A-Za-z]{3})[ \u00a0]?)?([-+\u2212]?)(\\(?)([$€£¥]?)[ \u00a0]?"
    "([0-9]+(?:[.,'\u2019 \u00a0\u202f\u2009][0-9]+)*)"
    "[ \u00a0]?([$€£¥]?)(\\)?)(?:[ \u00a0]?([A-Za-z]{3}))?"
)
_NOT_LAST = frozenset("$€£¥)")
_SCIENTIFIC = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]{1,4}")
_CENTS_TEXT = re.compile(r"-?[0-9]+")


def _plain_digits(d: Decimal) -> int:
    """How many digits ``d`` needs when written without an exponent."""
    _, digits, exponent = d.as_tuple()
    if exponent >= 0:
        return len(digits) + exponent
    return max(len(digits), -exponent)


def _checked(d: Decimal, raw, field: str) -> Decimal:
    if _plain_digits(d) > MAX_DIGITS:
        raise _reject(
            RejectCode.BAD_AMOUNT,
            f"amount {_show(raw)} in field \"{field}\" needs more than {MAX_DIGITS} digits",
        )
    return d


def _not_a_number(raw, field: str, why: str = "") -> RejectedEvent:
    tail = f" ({why})" if why else ""
    return _reject(RejectCode.BAD_AMOUNT, f'amount {_show(raw)} in field "{field}" is not a number{tail}')


def _currency_conflict(raw, field: str, first: str, second: str) -> RejectedEvent:
    return _reject(
        RejectCode.CURRENCY_CONFLICT,
        f'amount {_show(raw)} in field "{field}" names two currencies: {first} and {second}',
    )


def _parse_amount_text(text: str, field: str) -> tuple[Decimal, str | None]:
    s = text.strip()
    if not s:
        raise _reject(RejectCode.NO_AMOUNT, f'amount {_show(text)} in field "{field}" is blank')
    if len(s) <= MAX_DIGITS:
        # _FAST_AMOUNT ends in a digit or a letter and has no apostrophe: skip a sure failure
        m = None if s[-1] in _NOT_LAST or "'" in s else _FAST_AMOUNT.fullmatch(s)
        if m is not None:
            code_before, sign, symbol, whole, fraction, code_after = m.groups()
            currency = None
            if symbol:
                currency = CURRENCY_SIGNS[symbol]
            code = code_before or code_after
            if code is not None:
                code = code.upper()
                if currency is not None or (code_before and code_after) or code not in ISO_4217:
                    return _parse_amount_general(s, text, field)
                currency = code
            if "," in whole:
                whole = whole.replace(",", "")
            return Decimal(sign + whole + fraction if fraction else sign + whole), currency
        quick = _other_shapes(s)
        if quick is not None:
            return quick
    return _parse_amount_general(s, text, field)


def _other_shapes(s: str) -> tuple[Decimal, str | None] | None:
    """``_FAST_AMOUNT_2``'s shapes read as the general rules read them; None: not one of them,
    or anything the general rules would question (they then decide, with their message)."""
    m = _FAST_AMOUNT_2.fullmatch(s)
    if m is None:
        return None
    code_before, sign, opened, symbol_before, number, symbol_after, closed, code_after = m.groups()
    if opened or closed:
        if not (opened and closed) or sign:
            return None
        sign = "-"
    elif sign == "\u2212":
        sign = "-"
    currency = None
    if symbol_before:
        currency = CURRENCY_SIGNS[symbol_before]
    if symbol_after:
        if currency is not None and CURRENCY_SIGNS[symbol_after] != currency:
            return None
        currency = CURRENCY_SIGNS[symbol_after]
    for code in (code_before, code_after):
        if code:
            code = code.upper()
            if code not in ISO_4217 or (currency is not None and code != currency):
                return None
            currency = code
    plain = _plain_number(number)
    if plain is None:
        return None
    return Decimal(sign + plain), currency


def _plain_number(core: str) -> str | None:
    """``_read_separated`` for digit runs joined by single separators (``_FAST_AMOUNT_2``'s
    number), by string methods; None where it would raise."""
    if core.isdigit():
        return core
    last_dot, last_comma = core.rfind("."), core.rfind(",")
    if last_dot >= 0 and last_comma >= 0:  # both: the last one is the decimal point
        if last_dot > last_comma:
            decimal_mark, group_mark = ".", ","
        else:
            decimal_mark, group_mark = ",", "."
        if core.count(decimal_mark) > 1:
            return None
    elif last_dot >= 0:  # one dot is the decimal point; a repeated one groups
        decimal_mark, group_mark = (".", "") if core.find(".") == last_dot else ("", ".")
    elif last_comma >= 0:
        if core.find(",") != last_comma:  # a repeated comma groups
            decimal_mark, group_mark = "", ","
        else:  # one comma groups when exactly three digits follow it
            after = core[last_comma + 1:]
            decimal_mark, group_mark = ("", ",") if len(after) == 3 and after.isdigit() \
                else (",", "")
    else:
        decimal_mark, group_mark = "", ""
    if decimal_mark:
        whole, _, fraction = core.partition(decimal_mark)
        if not fraction.isdigit():  # a separator after the decimal point is misplaced
            return None
    else:
        whole, fraction = core, ""
    if group_mark:
        whole = whole.replace(group_mark, "")
    if not whole.isdigit():  # spaces of any kind, then apostrophes: str.translate costs more
        whole = "".join(whole.split())
        if not whole.isdigit():
            whole = whole.replace("'", "").replace("\u2019", "")
    return whole + "." + fraction if fraction else whole


def _take_letters(s: str, start: int, step: int, end: int) -> int:
    """Index just past the run of ASCII letters starting at ``start`` going by ``step``."""
    i = start
    while i != end and s[i].isascii() and s[i].isalpha():
        i += step
    return i


def _parse_amount_general(s: str, raw: str, field: str) -> tuple[Decimal, str | None]:
    """Peel signs, brackets and currency marks off both ends, then read the number between."""
    i, j = 0, len(s)
    sign = ""
    opened = closed = 0
    currency = None

    def note_currency(code: str) -> None:
        nonlocal currency
        if currency is not None and currency != code:
            raise _currency_conflict(raw, field, currency, code)
        currency = code

    def note_code(token: str) -> None:
        code = token.upper()
        if code not in ISO_4217:
            raise _reject(
                RejectCode.BAD_AMOUNT,
                f'amount {_show(raw)} in field "{field}": "{token}" is not a known currency code',
            )
        note_currency(code)

    while i < j:
        ch = s[i]
        if ch in _DIGITS or ch == ".":
            break
        if ch.isspace():
            i += 1
        elif ch == "+" or ch in _MINUS_SIGNS:
            if sign:
                raise _not_a_number(raw, field, "more than one sign")
            sign = "-" if ch != "+" else "+"
            i += 1
        elif ch == "(":
            opened += 1
            i += 1
        elif ch in CURRENCY_SIGNS:
            note_currency(CURRENCY_SIGNS[ch])
            i += 1
        elif ch.isascii() and ch.isalpha():
            k = _take_letters(s, i, 1, j)
            if k - i != 3:
                raise _not_a_number(raw, field)
            note_code(s[i:k])
            i = k
        else:
            raise _not_a_number(raw, field)
    while j > i:
        ch = s[j - 1]
        if ch in _DIGITS or ch == ".":
            break
        if ch.isspace():
            j -= 1
        elif ch == ")":
            closed += 1
            j -= 1
        elif ch in CURRENCY_SIGNS:
            note_currency(CURRENCY_SIGNS[ch])
            j -= 1
        elif ch.isascii() and ch.isalpha():
            k = _take_letters(s, j - 1, -1, i - 1)
            if j - 1 - k != 3:
                raise _not_a_number(raw, field)
            note_code(s[k + 1 : j])
            j = k + 1
        else:
            raise _not_a_number(raw, field)
    core = s[i:j]
    if not core:
        raise _not_a_number(raw, field)
    if opened or closed:
        if opened != 1 or closed != 1:
            raise _not_a_number(raw, field, "unbalanced brackets")
        if sign:
            raise _not_a_number(raw, field, "both brackets and a sign")
        sign = "-"
    if "e" in core or "E" in core:
        if _SCIENTIFIC.fullmatch(core) is None:
            raise _not_a_number(raw, field)
        return _checked(Decimal(sign + core), raw, field), currency
    return _checked(Decimal(sign + _read_separated(core, raw, field)), raw, field), currency


def _read_separated(core: str, raw: str, field: str) -> str:
    """Digits with grouping and decimal separators -> plain ASCII decimal text."""
    if not _CORE_CHARS.issuperset(core):
        raise _not_a_number(raw, field)
    dots = core.count(".")
    commas = core.count(",")
    decimal_mark = group_mark = None
    if dots and commas:
        # When both appear, the last one is the decimal point and must appear once.
        decimal_mark = "." if core.rfind(".") > core.rfind(",") else ","
        group_mark = "," if decimal_mark == "." else "."
        if core.count(decimal_mark) > 1:
            raise _not_a_number(raw, field, f'"{decimal_mark}" used as the decimal point more than once')
    elif dots:
        decimal_mark, group_mark = (".", None) if dots == 1 else (None, ".")
    elif commas == 1:
        after = core[core.index(",") + 1 :]
        if len(after) == 3 and _DIGITS.issuperset(after):
            group_mark = ","
        else:
            decimal_mark = ","
    elif commas:
        group_mark = ","
    out = []
    last = len(core) - 1
    seen_decimal = False
    digit_count = 0
    for index, ch in enumerate(core):
        if ch in _DIGITS:
            out.append(ch)
            digit_count += 1
        elif ch == decimal_mark:
            # ".5" and "12." are fine; a bare "," at either end is more likely junk than 0,5.
            if (index == 0 or index == last) and ch != ".":
                raise _not_a_number(raw, field)
            out.append(".")
            seen_decimal = True
        elif ch == group_mark or ch in _GROUP_ALWAYS:
            if (
                seen_decimal
                or index == 0
                or index == last
                or core[index - 1] not in _DIGITS
                or core[index + 1] not in _DIGITS
            ):
                raise _not_a_number(raw, field, f'misplaced separator "{ch}"')
        else:
            raise _not_a_number(raw, field)
    if digit_count == 0:
        raise _not_a_number(raw, field)
    if digit_count > MAX_DIGITS:
        raise _reject(
            RejectCode.BAD_AMOUNT,
            f"amount {_show(raw)} in field \"{field}\" has more than {MAX_DIGITS} digits",
        )
    return "".join(out)


def _parse_cents(value, field: str) -> Decimal:
    kind = type(value)
    if kind is int:
        if -_INT_LIMIT < value < _INT_LIMIT:
            return Decimal(value).scaleb(-2, _EXACT_CTX)
    elif kind is str:
        text = value.strip()
        if _CENTS_TEXT.fullmatch(text) and len(text) <= MAX_DIGITS + 1:
            return Decimal(text).scaleb(-2, _EXACT_CTX)
        if not text:
            raise _reject(RejectCode.NO_AMOUNT, f'cents {_show(value)} in field "{field}" is blank')
    elif kind is Decimal:
        if value.is_finite() and value == value.to_integral_value() and _plain_digits(value) <= MAX_DIGITS:
            return Decimal(int(value)).scaleb(-2, _EXACT_CTX)
    elif value is None:
        raise _reject(RejectCode.NO_AMOUNT, f'cents field "{field}" is null')
    raise _reject(RejectCode.BAD_AMOUNT, f'cents {_show(value)} in field "{field}" is not a whole number')


def _currency_from_field(value, field: str) -> str | None:
    """A currency field's code, or None when null or blank."""
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        code = text.upper()
        if code in ISO_4217:
            return code
        sign = CURRENCY_SIGNS.get(text)
        if sign is not None:
            return sign
    elif value is None:
        return None
    raise _reject(RejectCode.BAD_AMOUNT, f'currency {_show(value)} in field "{field}" is not an ISO 4217 code')


def _parse_amount_object(obj: dict, field: str) -> tuple[Decimal, str | None]:
    """``{"value": ..., "currency": ...}``: the first amount name inside, then ``*_cents``."""
    found = _scan(obj)[0]
    hit = found[_AMOUNT]
    if hit is not None:
        inner = hit[2]
        inner_field = f"{field}.{hit[1]}"
        if type(inner) is dict:
            raise _reject(
                RejectCode.BAD_AMOUNT, f'amount in field "{inner_field}" is an object inside an object'
            )
        amount, currency = _parse_amount_value(inner, inner_field)
    else:
        hit = found[_CENTS]
        if hit is None:
            raise _reject(RejectCode.BAD_AMOUNT, f'amount object in field "{field}" has no value')
        amount, currency = _parse_cents(hit[2], f"{field}.{hit[1]}"), None
    cur_hit = found[_CURRENCY]
    if cur_hit is not None:
        named = _currency_from_field(cur_hit[2], f"{field}.{cur_hit[1]}")
        if named is not None:
            if currency is not None and currency != named:
                raise _currency_conflict(obj, field, currency, named)
            currency = named
    return amount, currency


def _parse_amount_value(value, field: str) -> tuple[Decimal, str | None]:
    kind = type(value)
    if kind is int:
        if -_INT_LIMIT < value < _INT_LIMIT:
            return Decimal(value), None
        raise _reject(
            RejectCode.BAD_AMOUNT, f"amount in field \"{field}\" has more than {MAX_DIGITS} digits"
        )
    if kind is Decimal:
        if not value.is_finite():
            raise _not_a_number(value, field)
        return _checked(value, value, field), None
    if kind is str:
        return _parse_amount_text(value, field)
    if kind is dict:
        return _parse_amount_object(value, field)
    if value is None:
        raise _reject(RejectCode.NO_AMOUNT, f'amount field "{field}" is null')
    if kind is bool:
        raise _reject(RejectCode.BAD_AMOUNT, f'amount {_show(value)} in field "{field}" is a boolean, not a number')
    raise _not_a_number(value, field)


def parse_amount(value, field: str = "amount") -> tuple[Decimal, str | None]:
    """An amount value (number, string or amount object) -> (exact Decimal, ISO code or None).

    ``field`` only names the value in rejection messages. Raises ``RejectedEvent``.
    """
    return _parse_amount_value(value, field)


_NUMERIC_TIME = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# The usual UTC shapes, rewritten by slicing once fromisoformat has validated the fields.
_PLAIN_UTC = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,6}))?(?:[Zz]|[+-]00:?00)?"
)


def _format_utc(dt: datetime) -> str:
    # Not strftime: "%Y" does not pad years below 1000 to four digits on Linux.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (
        dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond
    )


_DAY_TEXT: dict[int, str] = {}  # days since the epoch -> "YYYY-MM-DDT": events cluster in days


def _time_from_micros(micros: int) -> str | None:
    days, rem = divmod(micros, 86_400_000_000)
    day = _DAY_TEXT.get(days)
    if day is None:
        try:
            d = _EPOCH + timedelta(days=days)
        except OverflowError:
            return None
        day = "%04d-%02d-%02dT" % (d.year, d.month, d.day)
        if len(_DAY_TEXT) > 4096:
            _DAY_TEXT.clear()
        _DAY_TEXT[days] = day
    seconds, us = divmod(rem, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return "%s%02d:%02d:%02d.%06dZ" % (day, hours, minutes, seconds, us)


_MINUTE_TEXT: dict[int, str] = {}  # minutes since the epoch -> "YYYY-MM-DDTHH:MM:"


def _time_from_seconds(seconds: int) -> str | None:
    """Whole epoch seconds, the commonest time: one divmod and a cached minute."""
    minute, second = divmod(seconds, 60)
    prefix = _MINUTE_TEXT.get(minute)
    if prefix is None:
        text = _time_from_micros(minute * 60_000_000)
        if text is None:
            return None
        prefix = text[:-10]  # without "00.000000Z"
        if len(_MINUTE_TEXT) > 4096:
            _MINUTE_TEXT.clear()
        _MINUTE_TEXT[minute] = prefix
    return "%s%02d.000000Z" % (prefix, second)


def _time_from_number(value: int | Decimal) -> str | None:
    if type(value) is int and -_SECONDS_BELOW < value < _SECONDS_BELOW:
        return _time_from_seconds(value)
    magnitude = abs(value) if type(value) is int else value.copy_abs()
    if magnitude < _SECONDS_BELOW:
        scale = 1_000_000
    elif magnitude < _MILLIS_BELOW:
        scale = 1_000
    elif magnitude < _MICROS_BELOW:
        scale = 1
    else:
        return None
    if type(value) is int:
        return _time_from_micros(value * scale)
    return _time_from_micros(int(_TIME_CTX.multiply(value, scale).to_integral_value()))


def _time_from_text(text: str) -> str | None:
    s = text.strip()
    if not s:
        return None
    if s[0] in "0123456789+-." and _NUMERIC_TIME.fullmatch(s):
        if len(s) > 40:
            return None
        return _time_from_number(Decimal(s))
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        dt = None
    else:
        m = _PLAIN_UTC.fullmatch(s)
        if m is not None:
            date, clock, fraction = m.groups()
            return f"{date}T{clock}.{fraction.ljust(6, '0') if fraction else '000000'}Z"
    if dt is None:
        try:
            dt = parsedate_to_datetime(s)
        # The stdlib RFC 2822 parser is lenient and its failure modes are not documented;
        # an unparseable time must become a warning, never an error.
        except Exception:
            return None
    try:
        if dt.tzinfo is not None and dt.utcoffset():
            dt = dt.astimezone(_UTC)
        return _format_utc(dt)
    except (OverflowError, ValueError):
        return None


def parse_time(value) -> str | None:
    """An event time -> ISO UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, or None when unparseable."""
    kind = type(value)
    if kind is str:
        return _time_from_text(value)
    if kind is int:
        return _time_from_number(value)
    if kind is Decimal and value.is_finite():
        return _time_from_number(value)
    return None


_new = tuple.__new__
_received_cache: tuple[str, str] = ("", "")


def _receipt_time(received_at: str) -> str:
    global _received_cache
    cached = _received_cache
    if cached[0] == received_at:
        return cached[1]
    parsed = parse_time(received_at) if type(received_at) is str else None
    result = parsed if parsed is not None else received_at
    _received_cache = (received_at, result)
    return result


def _idempotency_key(obj: dict, hit: tuple, warnings: list) -> str | None:
    candidates = [hit]
    value = hit[2]
    if value is None or (type(value) is str and not value.strip()):
        # Null or blank counts as absent, so a lower-ranked name may still supply the key.
        for key, other in obj.items():
            info = _key_info(key)
            if info[0] == _IDEMPOTENCY and info[1] != hit[0]:
                candidates.append((info[1], key, other))
        candidates.sort(key=lambda candidate: candidate[0])
    for _, key, value in candidates:
        kind = type(value)
        if kind is str:
            text = value.strip()
            if text:
                return text
            warnings.append(f'idempotency key in field "{key}" is blank; treated as absent')
            continue
        if value is None:
            warnings.append(f'idempotency key in field "{key}" is null; treated as absent')
            continue
        if kind is int or kind is Decimal:
            try:
                return _integral_text(value)
            except ValueError:
                pass
        raise _reject(
            RejectCode.BAD_IDEMPOTENCY_KEY,
            f'idempotency key {_show(value)} in field "{key}" is not a string or an integer',
        )
    return None


_MAX_SAME_FIELD_WARNINGS = 10
_NO_CLIENT_MESSAGE = "no client field (looked for " + ", ".join(CLIENT_NAMES) + ")"
_NO_AMOUNT_MESSAGE = (
    "no amount field (looked for " + ", ".join(AMOUNT_NAMES) + " and their *_cents forms)"
)


def _find_client(found: list, children: list | None) -> tuple[str, list | None]:
    """The heuristic client of a scanned object (display form) and the scans one level down
    when they were needed; raises RejectedEvent when there is none."""
    nested = None  # one level down is scanned only when the top level lacks something
    hit = found[_CLIENT]
    if hit is not None:
        client_field = hit[1]
    else:
        if children:
            nested = _scan_children(children)
        pick = _pick_nested(nested, _CLIENT) if children else None
        if pick is None:
            raise _reject(RejectCode.NO_CLIENT, _NO_CLIENT_MESSAGE)
        hit = pick[1]
        client_field = f"{pick[0]}.{hit[1]}"
    value = hit[2]
    if (
        type(value) is str
        and value.isascii()
        and value.isprintable()
        and value
        and value[0] != " "
        and value[-1] != " "
        and "  " not in value
    ):
        client = value  # already in display form: the common case
    else:
        client = _client_from(value, client_field)
    return client, nested


def find_client(obj: dict) -> str:
    """The client the heuristics find in ``obj`` (display form); raises RejectedEvent."""
    found, children, _ = _scan(obj)
    return _find_client(found, children)[0]


def normalize(obj: dict, *, received_at: str) -> NormalizedEvent:
    """One parsed JSON object -> NormalizedEvent, or raises RejectedEvent saying why not."""
    found, children, dups = _scan(obj)
    client, nested = _find_client(found, children)
    return _normalize_found(obj, found, children, dups, client, nested, received_at)


TIME_TIE = object()  # two spellings of the best time name: the caller settles which


def normalize_with_time_value(obj: dict, *, received_at: str) -> tuple[NormalizedEvent, object]:
    """``normalize``, and what its one scan of the keys found for the time at the top level:
    the value of the best-ranked time name that is not an object, None when there is none,
    or ``TIME_TIE`` when two spellings of that name tie (normalization takes the first;
    ``fingerprint.time_bucket`` must not depend on key order and takes the smallest)."""
    found, children, dups = _scan(obj)
    client, nested = _find_client(found, children)
    event = _normalize_found(obj, found, children, dups, client, nested, received_at)
    if dups is not None and any(d[0] == _TIME for d in dups):
        return event, TIME_TIE
    hit = found[_TIME]
    return event, (hit[2] if hit is not None else None)


def _normalize_found(obj: dict, found: list, children: list | None, dups: list | None,
                     client: str, nested: list | None, received_at: str) -> NormalizedEvent:
    """The rest of ``normalize`` once ``obj`` is scanned and its client found (the schema
    registry finds the client first, then hands the event here when no mapping applies)."""
    warnings: list[str] = []
    amount_found = found
    hit = found[_AMOUNT]
    if hit is not None:
        amount_field = hit[1]
    else:
        if children and nested is None:
            nested = _scan_children(children)
        pick = _pick_nested(nested, _AMOUNT) if children else None
        if pick is not None:
            hit, amount_found = pick[1], pick[2]
            amount_field = f"{pick[0]}.{hit[1]}"
    if hit is not None:
        value = hit[2]
        if type(value) is int and -_INT_LIMIT < value < _INT_LIMIT:
            amount, currency = Decimal(value), None
        elif type(value) is str:
            amount, currency = _parse_amount_text(value, amount_field)
        else:
            amount, currency = _parse_amount_value(value, amount_field)
    else:
        hit = found[_CENTS]
        if hit is not None:
            amount_field = hit[1]
        else:
            if children and nested is None:
                nested = _scan_children(children)
            pick = _pick_nested(nested, _CENTS) if children else None
            if pick is None:
                raise _reject(RejectCode.NO_AMOUNT, _NO_AMOUNT_MESSAGE)
            hit, amount_found = pick[1], pick[2]
            amount_field = f"{pick[0]}.{hit[1]}"
        value = hit[2]
        amount, currency = _parse_cents(value, amount_field), None
    currency_hit = amount_found[_CURRENCY]
    prefix = amount_field[: len(amount_field) - len(hit[1])]
    if currency_hit is None and amount_found is not found:
        # {"order": {"total": 75}, "currency": "USD"}: a top-level currency covers a nested amount
        currency_hit, prefix = found[_CURRENCY], ""
    if currency_hit is not None:
        # The currency sits beside the amount, so it shares the amount's parent, if any.
        currency_field = prefix + currency_hit[1]
        named = _currency_from_field(currency_hit[2], currency_field)
        if named is not None:
            if currency is not None and currency != named:
                raise _reject(
                    RejectCode.CURRENCY_CONFLICT,
                    f'amount {_show(value)} in field "{amount_field}" is in {currency} '
                    f'but field "{currency_field}" says {named}',
                )
            currency = named

    hit = found[_TIME]
    if hit is not None:
        time_field = hit[1]
    else:
        if children and nested is None:
            nested = _scan_children(children)
        pick = _pick_nested(nested, _TIME) if children else None
        if pick is not None:
            hit = pick[1]
            time_field = f"{pick[0]}.{hit[1]}"
    if hit is None:
        event_time = _receipt_time(received_at)
        warnings.append("no event time; used the time of receipt")
    else:
        when = hit[2]
        event_time = (_time_from_seconds(when)  # the commonest case, without two more calls
                      if type(when) is int and -_SECONDS_BELOW < when < _SECONDS_BELOW
                      else parse_time(when))
        if event_time is None:
            event_time = _receipt_time(received_at)
            warnings.append(
                f'time {_show(hit[2])} in field "{time_field}" is not a recognised time; '
                "used the time of receipt"
            )

    hit = found[_IDEMPOTENCY]
    idempotency_key = _idempotency_key(obj, hit, warnings) if hit is not None else None

    if dups is not None:
        same = [(first, second) for role, first, second in dups
                if found[role] is not None and found[role][1] == first]
        # a hostile event may spell one field 100,000 ways: its warnings stay a few lines
        for first, second in same[:_MAX_SAME_FIELD_WARNINGS]:
            warnings.append(f"fields {_show(first)} and {_show(second)} mean the same; "
                            f"used {_show(first)}")
        if len(same) > _MAX_SAME_FIELD_WARNINGS:
            warnings.append(f"{len(same) - _MAX_SAME_FIELD_WARNINGS:,} more fields repeat "
                            "fields already used; the first spelling of each was used")

    client_key = client.casefold()
    if client_key == client:  # one object: pickled once between processes, not twice
        client_key = client
    return _new(NormalizedEvent, (  # not NormalizedEvent(): its __new__ is Python code
        client, client_key, amount, currency, event_time, idempotency_key, tuple(warnings)))
