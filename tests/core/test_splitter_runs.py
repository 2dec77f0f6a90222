"""The splitter takes runs of well-formed objects in one loop (``_Splitter._objects``): its items
(text, line, column, array element number, rejection) are exactly those of its general steps
alone, for any input fed in any pieces: arrays and concatenated objects, pretty-printed or one
per line, with CRLF or lone CR line breaks, stray and missing commas, broken and cut-off
objects, other kinds of values, invalid UTF-8 and objects over the size limit."""
from hypothesis import given, settings
from hypothesis import strategies as st

from faultsim_desktop.core.parsing import split_text
from faultsim_desktop.core.parsing.scan import MAX_EVENT_BYTES
from faultsim_desktop.core.parsing.splitter import _Splitter


class _GeneralSteps(_Splitter):
    def _objects(self) -> bool:
        return False


def _items(cls, text: str, cuts: list[int], line: int = 1, column: int = 1) -> list:
    splitter = cls(line, column)
    out, at = [], 0
    for cut in sorted(set(c for c in cuts if 0 < c < len(text))) + [len(text)]:
        out += splitter.feed(text[at:cut], final=cut == len(text))
        at = cut
    return out


OBJECTS = st.sampled_from([
    '{"client": "acme", "amount": 12.5}',
    '{"client":"b","amount":"1.234,50 €","nested":{"a":[1,2,{"b":null}]}}',
    '{\n  "client": "c",\n  "amount": 3,\n  "meta": {\n    "x": [true, false]\n  }\n}',
    '{\r\n  "client": "crlf",\r\n  "amount": 4\r\n}',
    '{\r "client": "cr", "amount": 5 \r}',
    '{"client": "é ü ✓", "amount": "$1,234.50"}',
    '{"client": "dup", "client": "dup2", "amount": 1}',
    '{"client": "nan", "amount": NaN}',
    '{"client": "ctl", "amount": "1\t2"}',
    '{"client": "bad\udcff", "amount": 1}',  # invalid UTF-8, as the decoder keeps it
    '{"client": "cut", "amount": ',
    '{"client": "unclosed" "amount": 1}',
    '{"a": "line\nbreak"}',
    '{}', '[1, 2]', '"text"', '42', 'null', 'garbage', '}', ']', ':',
    '{"deep": ' + "[" * 40 + "]" * 40 + "}",
    '{"big": "' + "x" * (MAX_EVENT_BYTES + 10) + '"}',
])
SEPARATORS = st.sampled_from([",", ",\n", " ,  ", "\n", "\r\n,", ",,", "", " ", ",\r\n  "])


@st.composite
def documents(draw):
    parts = draw(st.lists(st.tuples(OBJECTS, SEPARATORS), max_size=12))
    body = "".join(obj + sep for obj, sep in parts)
    shape = draw(st.sampled_from(["array", "objects", "two arrays", "unclosed array"]))
    if shape == "array":
        return "[" + draw(st.sampled_from(["", "\n", "\r\n  "])) + body + "]"
    if shape == "two arrays":
        return "[" + body + "]\n[" + body + "]"
    if shape == "unclosed array":
        return "[\n" + body
    return body


@settings(max_examples=400, deadline=None)
@given(documents(), st.lists(st.integers(0, 4000), max_size=6))
def test_runs_of_objects_give_the_general_steps_items(text, cuts):
    assert _items(_Splitter, text, cuts) == _items(_GeneralSteps, text, cuts)


@settings(max_examples=100, deadline=None)
@given(documents(), st.integers(1, 50), st.integers(1, 30))
def test_positions_start_where_the_text_starts(text, line, column):
    assert _items(_Splitter, text, [], line, column) == _items(_GeneralSteps, text, [], line,
                                                              column)


def test_an_array_of_objects_one_per_line():
    text = '[\r\n{"client": "a", "amount": 1},\r\n  {"client": "b", "amount": 2}\r\n,{"x": 1}]'
    items = _items(_Splitter, text, [])
    assert [(t, line, col, index) for t, line, col, index, _ in items] == [
        ('{"client": "a", "amount": 1}', 2, 1, 1),
        ('{"client": "b", "amount": 2}', 3, 3, 2),
        ('{"x": 1}', 4, 2, 3)]
    assert [c.obj for c in split_text(text)] == [
        {"client": "a", "amount": 1}, {"client": "b", "amount": 2}, {"x": 1}]
