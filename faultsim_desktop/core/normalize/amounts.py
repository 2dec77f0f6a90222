"""Amounts: numbers, strings in any common notation, amount objects and cents -> exact Decimal
and an ISO 4217 code. Money is ``Decimal`` end to end, never float."""
from __future__ import annotations

import re
from decimal import Context, Decimal

from faultsim_desktop.core.model import RejectCode, RejectedEvent

from .fields import (_AMOUNT, _CENTS, _CURRENCY, _INT_LIMIT, CURRENCY_NAMES, MAX_DIGITS, _reject,
                     _scan, _show, name_rule)

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

# Our own context: results must not depend on whatever the caller set globally, and the default
# 28-digit precision would round long amounts (scaleb rounds to the context).
_EXACT_CTX = Context(prec=MAX_DIGITS + 10)


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


_GROUP_NAMES = {"'": "apostrophes", "\u2019": "apostrophes", " ": "spaces",
                "\u00a0": "no-break spaces", "\u202f": "narrow no-break spaces",
                "\u2009": "thin spaces"}


def _separators_rule(number: str, decimal_mark: str | None, group_mark: str | None) -> str:
    """In words, what the marks a reading chose (``decimal_mark``, ``group_mark``) made of the
    separators in ``number``; for core/explain.py, never on the normalizing path itself."""
    has_decimal = bool(decimal_mark) and decimal_mark in number
    has_group = bool(group_mark) and group_mark in number
    if has_decimal and has_group:
        text = (f'both separators: the last, "{decimal_mark}", is the decimal mark; '
                f'"{group_mark}" groups digits')
    elif has_decimal:
        text = ('one ".": the decimal mark' if decimal_mark == "." else
                'one "," not followed by exactly three digits: the decimal mark')
    elif has_group:
        text = (f'"{group_mark}" more than once: it groups digits'
                if number.count(group_mark) > 1 else
                f'one "{group_mark}" followed by exactly three digits: it groups thousands')
    else:
        text = "plain digits"
    spaces = sorted({_GROUP_NAMES[ch] for ch in number if ch in _GROUP_ALWAYS})
    if spaces:
        text += "; " + " and ".join(spaces) + " group digits"
    return text


# amount text -> its reading; bounded like the time caches (past the bound it starts afresh).
# A text reads the same whatever its field; texts that are rejected are not kept.
_AMOUNT_TEXTS: dict[str, tuple[Decimal, str | None]] = {}
_AMOUNT_TEXTS_MAX = 8192


def _parse_amount_text(text: str, field: str, trace: dict | None = None
                       ) -> tuple[Decimal, str | None]:
    """``_read_amount_text``, remembered per text when there is no trace to fill."""
    if trace is not None:
        return _read_amount_text(text, field, trace)
    reading = _AMOUNT_TEXTS.get(text)
    if reading is None:
        reading = _read_amount_text(text, field)
        if len(_AMOUNT_TEXTS) >= _AMOUNT_TEXTS_MAX:
            _AMOUNT_TEXTS.clear()
        _AMOUNT_TEXTS[text] = reading
    return reading


def _read_amount_text(text: str, field: str, trace: dict | None = None
                      ) -> tuple[Decimal, str | None]:
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
                    return _parse_amount_general(s, text, field, trace)
                currency = code
            if trace is not None:
                trace["reading"] = {
                    "how": _separators_rule(whole + (fraction or ""), "." if fraction else None,
                                            ","),
                    "currency_from": (f'the sign "{symbol}"' if symbol else
                                      f'the code "{code_before or code_after}"' if code else None)}
            if "," in whole:
                whole = whole.replace(",", "")
            return Decimal(sign + whole + fraction if fraction else sign + whole), currency
        quick = _other_shapes(s, trace)
        if quick is not None:
            return quick
    return _parse_amount_general(s, text, field, trace)


def _other_shapes(s: str, trace: dict | None = None) -> tuple[Decimal, str | None] | None:
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
    plain = _plain_number(number, trace)
    if plain is None:
        return None
    if trace is not None:
        marks = [f'the {"sign" if len(m) == 1 else "code"} "{m}"'
                 for m in (code_before, symbol_before, symbol_after, code_after) if m]
        how = trace.pop("separators")
        if opened:
            how += "; brackets: negative"
        trace["reading"] = {"how": how, "currency_from": " and ".join(marks) or None}
    return Decimal(sign + plain), currency


def _plain_number(core: str, trace: dict | None = None) -> str | None:
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
    if trace is not None:
        trace["separators"] = _separators_rule(core, decimal_mark, group_mark)
    return whole + "." + fraction if fraction else whole


def _take_letters(s: str, start: int, step: int, end: int) -> int:
    """Index just past the run of ASCII letters starting at ``start`` going by ``step``."""
    i = start
    while i != end and s[i].isascii() and s[i].isalpha():
        i += step
    return i


def _currency_code(token: str, raw: str, field: str) -> str:
    """The ISO 4217 code three letters written beside an amount spell, or the rejection."""
    code = token.upper()
    if code not in ISO_4217:
        raise _reject(
            RejectCode.BAD_AMOUNT,
            f'amount {_show(raw)} in field "{field}": "{token}" is not a known currency code',
        )
    return code


# One closure only (note_currency): compiled, closures that call each other share one scope
# that holds them, a reference cycle per call that only the cyclic collector frees.
def _parse_amount_general(s: str, raw: str, field: str, trace: dict | None = None
                          ) -> tuple[Decimal, str | None]:
    """Peel signs, brackets and currency marks off both ends, then read the number between."""
    i, j = 0, len(s)
    sign = ""
    opened = closed = 0
    currency = None
    marks: list[str] = []  # the currency signs and codes, as written

    def note_currency(code: str, token: str) -> None:
        nonlocal currency
        marks.append(f'the {"sign" if len(token) == 1 else "code"} "{token}"')
        if currency is not None and currency != code:
            raise _currency_conflict(raw, field, currency, code)
        currency = code

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
            note_currency(CURRENCY_SIGNS[ch], ch)
            i += 1
        elif ch.isascii() and ch.isalpha():
            k = _take_letters(s, i, 1, j)
            if k - i != 3:
                raise _not_a_number(raw, field)
            note_currency(_currency_code(s[i:k], raw, field), s[i:k])
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
            note_currency(CURRENCY_SIGNS[ch], ch)
            j -= 1
        elif ch.isascii() and ch.isalpha():
            k = _take_letters(s, j - 1, -1, i - 1)
            if j - 1 - k != 3:
                raise _not_a_number(raw, field)
            note_currency(_currency_code(s[k + 1 : j], raw, field), s[k + 1 : j])
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
    if trace is not None:
        trace["reading"] = {"how": "", "currency_from": " and ".join(marks) or None}
    if "e" in core or "E" in core:
        if _SCIENTIFIC.fullmatch(core) is None:
            raise _not_a_number(raw, field)
        if trace is not None:
            trace["reading"]["how"] = "scientific notation" + ("; brackets: negative"
                                                               if opened else "")
        return _checked(Decimal(sign + core), raw, field), currency
    number = _read_separated(core, raw, field, trace)
    if trace is not None:
        trace["reading"]["how"] = trace.pop("separators") + ("; brackets: negative"
                                                             if opened else "")
    return _checked(Decimal(sign + number), raw, field), currency


def _read_separated(core: str, raw: str, field: str, trace: dict | None = None) -> str:
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
    if trace is not None:
        trace["separators"] = _separators_rule(core, decimal_mark, group_mark)
    return "".join(out)


_CENTS_READING = {"how": "a whole number of cents: divided by 100", "currency_from": None}


def _parse_cents(value, field: str, trace: dict | None = None) -> Decimal:
    if trace is not None:
        trace["reading"] = _CENTS_READING
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


def _parse_amount_object(obj: dict, field: str, trace: dict | None = None
                         ) -> tuple[Decimal, str | None]:
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
        amount, currency = _parse_amount_value(inner, inner_field, trace)
    else:
        hit = found[_CENTS]
        if hit is None:
            raise _reject(RejectCode.BAD_AMOUNT, f'amount object in field "{field}" has no value')
        inner_field = f"{field}.{hit[1]}"
        amount, currency = _parse_cents(hit[2], inner_field, trace), None
    if trace is not None:
        reading = trace["reading"] = dict(trace["reading"])
        reading["how"] = f'an amount object: its field "{inner_field}", ' + reading["how"]
    cur_hit = found[_CURRENCY]
    if cur_hit is not None:
        named = _currency_from_field(cur_hit[2], f"{field}.{cur_hit[1]}")
        if named is not None:
            if currency is not None and currency != named:
                raise _currency_conflict(obj, field, currency, named)
            currency = named
            if trace is not None:
                reading["currency_from"] = f'its field "{field}.{cur_hit[1]}"'
                reading["currency_field"] = (f"{field}.{cur_hit[1]}", cur_hit[2])
    return amount, currency


_JSON_INTEGER = {"how": "a JSON integer: exact", "currency_from": None}
_JSON_NUMBER = {"how": "a JSON number: exact, never a binary float", "currency_from": None}


def _parse_amount_value(value, field: str, trace: dict | None = None
                        ) -> tuple[Decimal, str | None]:
    kind = type(value)
    if kind is int:
        if -_INT_LIMIT < value < _INT_LIMIT:
            if trace is not None:
                trace["reading"] = _JSON_INTEGER
            return Decimal(value), None
        raise _reject(
            RejectCode.BAD_AMOUNT, f"amount in field \"{field}\" has more than {MAX_DIGITS} digits"
        )
    if kind is Decimal:
        if not value.is_finite():
            raise _not_a_number(value, field)
        if trace is not None:
            trace["reading"] = _JSON_NUMBER
        return _checked(value, value, field), None
    if kind is str:
        return _parse_amount_text(value, field, trace)
    if kind is dict:
        return _parse_amount_object(value, field, trace)
    if value is None:
        raise _reject(RejectCode.NO_AMOUNT, f'amount field "{field}" is null')
    if kind is bool:
        raise _reject(RejectCode.BAD_AMOUNT, f'amount {_show(value)} in field "{field}" is a boolean, not a number')
    raise _not_a_number(value, field)


def parse_amount(value, field: str = "amount", trace: dict | None = None
                 ) -> tuple[Decimal, str | None]:
    """An amount value (number, string or amount object) -> (exact Decimal, ISO code or None).

    ``field`` only names the value in rejection messages. Raises ``RejectedEvent``.
    ``trace``, when given, gets how the value was read (``trace["reading"]``).
    """
    return _parse_amount_value(value, field, trace)


def currency_beside(hit, prefix: str, currency: str | None, value, amount_field: str,
                    trace: dict | None = None) -> str | None:
    """The amount's currency once the currency field ``hit`` (a scan hit, its field under
    ``prefix``; None: there is none) is read: the field's currency when it names one, else
    ``currency`` (the one the amount text gave). CURRENCY_CONFLICT when both name one and
    they differ."""
    if hit is None:
        if trace is not None:
            _trace_amount_currency(trace, currency, amount_field, value, "no currency field")
        return currency
    _, currency_key, currency_value = hit
    currency_field = prefix + currency_key
    if trace is not None:  # before the read: a conflict still shows the field it came from
        where = "beside the amount" if prefix or "." not in amount_field else "at the top level"
        trace["currency"] = (currency_field, currency_value,
                             name_rule(CURRENCY_NAMES, currency_key, what="currency")
                             + f", {where}")
    named = _currency_from_field(currency_value, currency_field)
    if named is None:
        if trace is not None:
            _trace_amount_currency(trace, currency, amount_field, value,
                                   f'currency field "{currency_field}" is null or blank')
        return currency
    if currency is not None and currency != named:
        raise _reject(RejectCode.CURRENCY_CONFLICT,
                      f'amount {_show(value)} in field "{amount_field}" is in {currency} '
                      f'but field "{currency_field}" says {named}')
    if trace is not None and currency is not None:
        field, raw, rule = trace["currency"]
        trace["currency"] = (field, raw, rule + "; the amount names the same currency")
    return named


def _trace_amount_currency(trace: dict, currency: str | None, amount_field: str, value,
                           why: str) -> None:
    if currency is None:
        trace["currency"] = (None, None, f"none: {why} and the amount names none")
        return
    reading = trace.get("reading") or {}
    inner = reading.get("currency_field")
    if inner is not None:  # an amount object's own currency field
        trace["currency"] = (*inner, f"the amount object's currency field ({why} beside it)")
        return
    trace["currency"] = (amount_field, value, f"from the amount: "
                         f"{reading.get('currency_from') or 'its text'} ({why})")
