"""What normalization remembers between events (amount texts, the role of each key, minutes of
time texts found by slicing) never changes a reading: a remembered answer is the answer a first
reading gives, rejections included."""
from hypothesis import given, settings
from hypothesis import strategies as st

from faultsim_desktop.core.model import NormalizedEvent, RejectedEvent
from faultsim_desktop.core.normalize import (amounts, fields, normalize, normalize_with_time_value,
                                            parse_time, times)

_AMOUNT_PARTS = st.lists(st.sampled_from(
    list("0123456789") * 4 + list(".,'\u2019 \u00a0\u202f\u2009$€£¥-+\u2212()eE")
    + ["EUR", "usd", "CHF", "XYZ", " ", "12", "345", ",000", ".000"]), min_size=0, max_size=14)


def _reading(read, text: str, field: str):
    try:
        return read(text, field)
    except RejectedEvent as exc:
        return exc.rejection.code, exc.rejection.message


@settings(max_examples=2000, deadline=None)
@given(parts=_AMOUNT_PARTS, earlier=_AMOUNT_PARTS)
def test_a_remembered_amount_text_reads_as_a_first_reading(parts, earlier):
    text = "".join(parts)
    amounts._AMOUNT_TEXTS.clear()
    first = _reading(amounts._read_amount_text, text, "amount")
    _reading(amounts._parse_amount_text, "".join(earlier), "price")
    assert _reading(amounts._parse_amount_text, text, "amount") == first
    assert _reading(amounts._parse_amount_text, text, "amount") == first  # remembered
    # a rejection names the field it was found in, whichever field saw the text before
    _reading(amounts._parse_amount_text, text, "total")
    again = _reading(amounts._parse_amount_text, text, "amount")
    assert again == first


def test_the_amount_memory_stays_bounded():
    amounts._AMOUNT_TEXTS.clear()
    for n in range(amounts._AMOUNT_TEXTS_MAX + 500):
        assert amounts._parse_amount_text(f"{n}.25", "amount")[0] * 4 == 4 * n + 1
    assert len(amounts._AMOUNT_TEXTS) <= amounts._AMOUNT_TEXTS_MAX


_KEY_NAMES = st.one_of(
    st.sampled_from(["client", "Client-ID", "client id", "AMOUNT", "amount_cents", "ts",
                     "TimeStamp", "event-id", "ccy", "note", "id", "price__cents", "x"]),
    st.text(max_size=10))


@settings(max_examples=1000, deadline=None)
@given(_KEY_NAMES)
def test_the_role_of_a_key_is_what_key_info_says(name):
    role, rank, _ = fields._key_info(name)
    expected = (role, rank) if role != fields._NO_ROLE else None
    assert fields._role_of_key(name) == expected
    assert fields._ROLE_OF_KEY[name] == expected  # remembered
    found = fields._scan({name: "x"})[0]
    assert found == [(rank, name, "x") if r == role else None for r in range(len(found))]


def test_the_role_memory_stays_bounded():
    for n in range(fields._KEY_INFO_MAX + 500):
        assert fields._scan({f"junk key {n}": 1, "amount": 2})[0][fields._AMOUNT] == \
            (0, "amount", 2)
    assert len(fields._ROLE_OF_KEY) <= fields._KEY_INFO_MAX
    assert fields._scan({"Amount-Cents": 5})[0][fields._CENTS] == (0, "Amount-Cents", 5)


_REMEMBERED = st.sampled_from([
    "2026-03-01 12:00:05", "2026-03-01T12:00:05+02:00", "2026-03-01T12:00:05Z",
    "2026-03-01T23:59:05-0530", "Sun, 01 Mar 2026 12:00:05 +0200",
    "Sun, 1 Mar 2026 12:00:05 -0800", "Sun, 01 Mar 2026 12:00:05 GMT", "2026-13-01 12:00:05",
])


@settings(max_examples=3000, deadline=None)
@given(remembered=_REMEMBERED, at=st.integers(0, 40), cut=st.integers(0, 3),
       insert=st.text(alphabet="0123456789:+- TZGMabc\u0663", max_size=3))
def test_a_text_near_a_remembered_minute_reads_as_a_first_reading(remembered, at, cut, insert):
    """Texts a few characters away from one whose minute is remembered (other seconds, other
    zones, other lengths, digits of other scripts) read exactly as they do with nothing
    remembered."""
    text = remembered[:at] + insert + remembered[at + cut:]
    times._TEXT_TIME.clear()
    times._MINUTE_TIME.clear()
    trace: dict = {}
    first = parse_time(text, trace), trace.get("time_read")
    times._TEXT_TIME.clear()
    times._MINUTE_TIME.clear()
    parse_time(remembered)
    trace = {}
    assert (parse_time(text, trace), trace.get("time_read")) == first, text


_CLIENTS = st.one_of(
    st.sampled_from(["acme", "Acme", "ACME", " acme", "acme  corp", "Straße", "ǅ", "a\tb",
                     "", "  ", "client-7"]),
    st.text(max_size=8), st.integers(-5, 5), st.none())


@settings(max_examples=1000, deadline=None)
@given(client=_CLIENTS, earlier=_CLIENTS, nested=st.booleans())
def test_a_remembered_client_normalizes_as_a_first_reading(client, earlier, nested):
    """The fast lane's memory of clients in display form (and their keys) gives the event
    ``normalize`` gives, rejections included."""
    def event(value):
        return ({"customer": {"id": value}, "amount": 5} if nested
                else {"client": value, "amount": 5})

    def read(obj, how):
        try:
            return how(obj)
        except RejectedEvent as exc:
            return exc.rejection.code, exc.rejection.message

    first = read(event(client), lambda obj: normalize(obj, received_at="2026-01-01T00:00:00Z"))
    for value in (earlier, client, client):
        got = read(event(value), lambda obj: normalize_with_time_value(
            obj, received_at="2026-01-01T00:00:00Z")[0])
    assert got == first
    if isinstance(got, NormalizedEvent):  # an equal key is the client object itself
        assert (got.client_key is got.client) == (got.client_key == got.client)
