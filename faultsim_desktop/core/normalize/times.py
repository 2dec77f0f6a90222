"""Event times: epoch numbers in seconds, milliseconds or microseconds, ISO 8601 and RFC 2822
text -> ISO UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Context, Decimal
from email.utils import parsedate_to_datetime

# Epoch numbers are told apart by magnitude: below 1e11 seconds, 1e14 ms, 1e17 µs.
_SECONDS_BELOW = 10**11
_MILLIS_BELOW = 10**14
_MICROS_BELOW = 10**17
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_UTC = timezone.utc
# Our own context: results must not depend on whatever the caller set globally.
_TIME_CTX = Context(prec=60)


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


_UNIT_READ = {1_000_000: "epoch seconds (below 1e11)", 1_000: "epoch milliseconds (1e11 to 1e14)",
              1: "epoch microseconds (1e14 to 1e17)"}


def _time_from_number(value: int | Decimal, trace: dict | None = None) -> str | None:
    if type(value) is int and -_SECONDS_BELOW < value < _SECONDS_BELOW:
        if trace is not None:
            trace["time_read"] = "whole epoch seconds"
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
    if trace is not None:
        trace["time_read"] = _UNIT_READ[scale]
    if type(value) is int:
        return _time_from_micros(value * scale)
    return _time_from_micros(int(_TIME_CTX.multiply(value, scale).to_integral_value()))


def _time_from_text(text: str, trace: dict | None = None) -> str | None:
    """``_read_text``, remembered: feeds repeat their time strings (many events a second) and
    the same text always reads the same, so each distinct string is read once while it stays
    in a bounded cache, and strings that differ only in their seconds share one reading."""
    cached = _TEXT_TIME.get(text)
    if cached is None:
        cached = _read_text_shared(text)
        if len(_TEXT_TIME) >= _TEXT_TIME_MAX:
            _TEXT_TIME.clear()  # endless distinct strings cannot grow it without limit
        _TEXT_TIME[text] = cached
    result, how = cached
    if trace is not None and how is not None:
        trace["time_read"] = how
    return result


# text -> (result, how it was read or None); and, for the shapes below, the text without its
# seconds -> (the UTC result without its seconds, how), since the seconds never move the rest
_TEXT_TIME: dict[str, tuple[str | None, str | None]] = {}
_TEXT_TIME_MAX = 8192
_MINUTE_TIME: dict[str, tuple[str | None, str | None]] = {}
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
# ISO 8601 without a fraction, offsets in whole minutes; RFC 2822 with a four-digit year. The
# seconds (00 to 59) are the second group: whatever the rest reads as, they stay as written.
# Hours stop at 23: newer Pythons read "24:00:00" as the next midnight, where seconds matter.
_CLOCK_MINUTE = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:"
_SECONDS_APART = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]" + _CLOCK_MINUTE + r")([0-5][0-9])"
    r"((?:[Zz]|[+-][0-9]{2}:?[0-9]{2})?)"
    r"|((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{1,2} (?:" + _MONTHS + r") [0-9]{4} "
    + _CLOCK_MINUTE + r")([0-5][0-9])( (?:[+-][0-9]{4}|GMT|UTC?))"
)


# "00" to "59": the seconds _SECONDS_APART accepts
_SECONDS_TEXTS = frozenset("%02d" % second for second in range(60))
_DIGIT_CHARS = frozenset("0123456789")


def _read_text_shared(text: str) -> tuple[str | None, str | None]:
    # A remembered minute found by slicing, without the pattern. Keys that start with a digit
    # are ISO heads (always 17 characters) with their zones, the others RFC heads with theirs;
    # an RFC key that ends in a digit has a numeric zone (" +hhmm", 6 characters). So a text
    # whose slices make a remembered key is that head, two characters and that zone: it is of
    # the shape when those two are seconds, and reads as the key's minute with them.
    if len(text) >= 19:
        if text[0] in _DIGIT_CHARS:
            minute = _MINUTE_TIME.get(text[:17] + text[19:])
            seconds = text[17:19]
        elif text[-1] in _DIGIT_CHARS:
            minute = _MINUTE_TIME.get(text[:-8] + text[-6:])
            seconds = text[-8:-6]
        else:
            minute = None
        if minute is not None and seconds in _SECONDS_TEXTS:
            prefix, how = minute
            if prefix is None:
                return None, how
            return prefix + seconds + ".000000Z", how
    m = _SECONDS_APART.fullmatch(text)
    if m is None:
        return _read_text_traced(text)
    head, seconds, tail, rfc_head, rfc_seconds, rfc_tail = m.groups()
    if head is None:
        head, seconds, tail = rfc_head, rfc_seconds, rfc_tail
    key = head + tail
    minute = _MINUTE_TIME.get(key)
    if minute is None:
        result, how = _read_text_traced(head + "00" + tail)
        # "...:00.000000Z" -> "...:" ; a text that does not read stays unread with any seconds
        minute = (result[:-10] if result is not None else None, how)
        if len(_MINUTE_TIME) >= _TEXT_TIME_MAX:
            _MINUTE_TIME.clear()
        _MINUTE_TIME[key] = minute
    prefix, how = minute
    if prefix is None:
        return None, how
    return prefix + seconds + ".000000Z", how


def _read_text_traced(text: str) -> tuple[str | None, str | None]:
    trace: dict = {}
    result = _read_text(text, trace)
    return result, trace.get("time_read")


def _read_text(text: str, trace: dict | None = None) -> str | None:
    s = text.strip()
    if not s:
        return None
    if s[0] in "0123456789+-." and _NUMERIC_TIME.fullmatch(s):
        if len(s) > 40:
            return None
        result = _time_from_number(Decimal(s), trace)
        if trace is not None and result is not None:
            trace["time_read"] = "a number in text: " + trace["time_read"]
        return result
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        dt = None
    else:
        m = _PLAIN_UTC.fullmatch(s)
        if m is not None:
            date, clock, fraction = m.groups()
            if trace is not None:
                trace["time_read"] = "ISO 8601, UTC"
            return f"{date}T{clock}.{fraction.ljust(6, '0') if fraction else '000000'}Z"
    how = "ISO 8601"
    if dt is None:
        how = "RFC 2822"
        try:
            dt = parsedate_to_datetime(s)
        # The stdlib RFC 2822 parser is lenient and its failure modes are not documented;
        # an unparseable time must become a warning, never an error.
        except Exception:
            return None
    try:
        if dt.tzinfo is not None and dt.utcoffset():
            dt = dt.astimezone(_UTC)
            how += ", converted to UTC"
        elif dt.tzinfo is None:
            how += " without a zone: taken as UTC"
        result = _format_utc(dt)
    except (OverflowError, ValueError):
        return None
    if trace is not None:
        trace["time_read"] = how
    return result


def parse_time(value, trace: dict | None = None) -> str | None:
    """An event time -> ISO UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, or None when unparseable.
    ``trace``, when given, gets how it was read (``trace["time_read"]``)."""
    kind = type(value)
    if kind is str:
        return _time_from_text(value, trace)
    if kind is int:
        return _time_from_number(value, trace)
    if kind is Decimal and value.is_finite():
        return _time_from_number(value, trace)
    return None


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
