"""Time strings read once and remembered: a repeated text, or one that differs from a text already
read only in its seconds, reads exactly as a first reading of it would, trace included."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultsim_desktop.core.normalize import normalize, parse_time
from faultsim_desktop.core.normalize import times

_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _forget() -> None:
    times._TEXT_TIME.clear()
    times._MINUTE_TIME.clear()


def _first_reading(text: str) -> tuple[str | None, str | None]:
    """What the text reads as, and how, with nothing remembered."""
    _forget()
    trace: dict = {}
    return parse_time(text, trace), trace.get("time_read")


def _iso(dt: datetime, offset_minutes: int, sep: str, colon: bool) -> str:
    local = dt + timedelta(minutes=offset_minutes)
    if offset_minutes == 0 and not colon:
        zone = "Z"
    else:
        sign = "+" if offset_minutes >= 0 else "-"
        h, m = divmod(abs(offset_minutes), 60)
        zone = f"{sign}{h:02d}:{m:02d}" if colon else f"{sign}{h:02d}{m:02d}"
    return local.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + zone


def _rfc(dt: datetime, offset_minutes: int) -> str:
    local = dt + timedelta(minutes=offset_minutes)
    sign = "+" if offset_minutes >= 0 else "-"
    h, m = divmod(abs(offset_minutes), 60)
    return (f"{_DAYS[local.weekday()]}, {local.day:02d} {_MONTHS[local.month - 1]} "
            f"{local.year} {local:%H:%M:%S} {sign}{h:02d}{m:02d}")


moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31))
offsets = st.sampled_from([0, 60, 120, -300, 330, -570, 845, -720])


@settings(max_examples=300, deadline=None)
@given(moment=moments, offset=offsets, seconds=st.lists(st.integers(0, 59), min_size=1,
                                                          max_size=6),
       form=st.sampled_from(["iso-T", "iso-space", "iso-basic", "rfc"]))
def test_times_of_one_minute_read_as_the_clock_says(moment, offset, seconds, form):
    """Every second of a minute, in any order, reads as its own UTC time."""
    _forget()
    for second in seconds:
        dt = moment.replace(second=second, microsecond=0)
        text = {"iso-T": lambda: _iso(dt, offset, "T", True),
                "iso-space": lambda: _iso(dt, offset, " ", True),
                "iso-basic": lambda: _iso(dt, offset, "T", False),
                "rfc": lambda: _rfc(dt, offset)}[form]()
        expected = dt.replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        assert parse_time(text) == expected, text
        assert parse_time(text) == expected, text  # again, remembered


fields = st.tuples(st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32),
                   st.integers(0, 24), st.integers(0, 60), st.integers(0, 59))
zones = st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+02:00", "+0530", "-14:00",
                         "+24:00", "+99:99", " +0000", " -0000", " GMT", " UT", " UTC", " +2400"])


@settings(max_examples=400, deadline=None)
@given(parts=fields, zone=zones, shape=st.sampled_from(["iso", "iso-space", "rfc"]),
       other_second=st.integers(0, 59), other_zone=zones, day=st.sampled_from(_DAYS))
def test_any_text_of_the_common_shapes_reads_as_a_first_reading(parts, zone, shape,
                                                                  other_second, other_zone, day):
    """Valid or not (month 13, day 32, hour 24, a year out of range), a text reads the same,
    with the same explanation, after texts of the same minute (in its zone and in another)
    were read before it."""
    year, month, dom, hour, minute, second = parts
    if shape == "rfc":
        month_name = _MONTHS[(month - 1) % 12]

        def text_of(s, z):
            return f"{day}, {dom:02d} {month_name} {year:04d} {hour:02d}:{minute:02d}:{s:02d}" \
                + (z if z.startswith(" ") else " " + (z or "+0000"))
    else:
        sep = "T" if shape == "iso" else " "

        def text_of(s, z):
            return f"{year:04d}-{month:02d}-{dom:02d}{sep}{hour:02d}:{minute:02d}:{s:02d}" \
                + z.strip()
    text = text_of(second, zone)
    first = _first_reading(text)
    _forget()
    parse_time(text_of(other_second, other_zone))  # a minute of another zone remembered
    parse_time(text_of(other_second, zone))  # its own minute remembered
    trace: dict = {}
    assert (parse_time(text, trace), trace.get("time_read")) == first
    trace = {}
    assert (parse_time(text, trace), trace.get("time_read")) == first  # the text remembered


@pytest.mark.parametrize("text", [
    "2026-03-01T12:00:00.250+02:00", "1772000000", "1772000000000.5", " 2026-03-01 12:00:00 ",
    "Sun, 1 Mar 26 12:00:00 +0000", "2026-03-01T24:00:00", "not a time", "",
])
def test_other_texts_read_the_same_when_repeated(text):
    first = _first_reading(text)
    trace: dict = {}
    assert (parse_time(text, trace), trace.get("time_read")) == first


def test_explain_reports_the_same_rule_for_a_remembered_time():
    event = {"client": "acme", "amount": 5, "time": "Sun, 01 Mar 2026 14:00:07 +0200"}
    _forget()
    first: dict = {}
    first_event = normalize(event, received_at="2026-01-01T00:00:00Z", trace=first)
    again: dict = {}
    again_event = normalize(dict(event, time="Sun, 01 Mar 2026 14:00:31 +0200"),
                            received_at="2026-01-01T00:00:00Z", trace=again)
    assert first_event.event_time == "2026-03-01T12:00:07.000000Z"
    assert again_event.event_time == "2026-03-01T12:00:31.000000Z"
    assert first["time"][2] == again["time"][2]
    assert first["time"][2].endswith("read as RFC 2822, converted to UTC")


def test_endless_distinct_times_keep_the_memory_bounded():
    _forget()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(3 * times._TEXT_TIME_MAX):
        moment = start + timedelta(minutes=i)
        assert parse_time(moment.strftime("%Y-%m-%d %H:%M:%S")) == \
            moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    assert len(times._TEXT_TIME) <= times._TEXT_TIME_MAX
    assert len(times._MINUTE_TIME) <= times._TEXT_TIME_MAX
