"""A scenario file (TOML) -> ``Scenario``, or a ``ScenarioError`` that names the step and the
line.

``tomllib`` checks the syntax and gives the values but no line numbers, so ``_locate`` walks the
text once more (comments, strings of every kind, values that span lines) to find the line of
every ``[[step]]`` header and of every key; a problem is then reported where it is written.
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..core.faults import parse_fault_spec
from .model import Scenario, ScenarioError, Step, StepKind

_TOP_KEYS = ("name", "seed", "description", "settle", "retries", "step")
# the key that says what a step does, in the order a message lists them
_KIND_KEYS = {"fault": StepKind.FAULT, "send": StepKind.SEND, "text": StepKind.SEND,
              "http": StepKind.HTTP, "generate": StepKind.GENERATE,
              "restart": StepKind.RESTART, "wait": StepKind.WAIT, "retry": StepKind.RETRY}
# options and the kinds they belong to
_OPTIONS = {"concurrency": StepKind.HTTP, "batch": StepKind.HTTP,
            "rate": StepKind.GENERATE, "clients": StepKind.GENERATE,
            "reuse_keys": StepKind.GENERATE, "timeout": StepKind.WAIT}
_COMMON = ("at", "label")
_STEP_KEYS = _COMMON + tuple(_KIND_KEYS) + tuple(_OPTIONS)

DEFAULT_SETTLE_S = 60.0
DEFAULT_RETRIES = 5
DEFAULT_CONCURRENCY = 4
DEFAULT_BATCH = 50
DEFAULT_CLIENTS = 5
DEFAULT_WAIT_S = 60.0
# a scenario is a demo: more than this many generated events in one step is a typo
MAX_GENERATE = 2_000_000
MAX_CONCURRENCY = 64

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|min|h)?\s*$", re.IGNORECASE)
_UNIT_S = {"ms": 0.001, "s": 1.0, "": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


def parse_duration(value, what: str = "duration") -> float:
    """Seconds from ``"2.5s"``, ``"500ms"``, ``"1m"`` or a number of seconds; ValueError
    that says what it expected."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} must be a duration like \"2.5s\", \"500ms\", \"1m\" or a "
                         f"number of seconds, not {_show(value)}")
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m is None:
            raise ValueError(f"{what} {value!r} is not a duration; write it like \"2.5s\", "
                             "\"500ms\" or \"1m\"")
        seconds = float(m.group(1)) * _UNIT_S[(m.group(2) or "").lower()]
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{what} must be a finite duration of 0 or more, not {_show(value)}")
    return seconds


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; paths inside it are relative to its folder."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"cannot read the scenario {p}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")  # a byte order mark, as some editors write, is no error
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ScenarioError(f"{p.name} is not UTF-8 text (byte {exc.start})",
                            line=line) from None
    return parse_scenario(text, p.resolve().parent, source=p)


def parse_scenario(text: str, base: Path, source: Path | None = None) -> Scenario:
    """Check ``text`` as a scenario file whose relative paths start at ``base``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        error = ScenarioError(f"not a valid TOML file: {exc}")
        m = _TOML_AT.search(str(exc))
        error.line = int(m.group(1)) if m else None
        raise error from None
    try:
        where = _locate(text)
    except (ValueError, IndexError, tomllib.TOMLDecodeError):  # never expected: report unplaced
        where = _Lines()
    for key in doc:
        if key not in _TOP_KEYS:
            raise ScenarioError(f"unknown key {key!r}; a scenario has {_choices(_TOP_KEYS)} "
                                "and [[step]] tables", line=where.top.get(key))
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError("the scenario needs a name: name = \"...\" at the top"
                            if name is None else f"name must be text, not {_show(name)}",
                            line=where.top.get("name"))
    seed = doc.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ScenarioError(f"seed must be a whole number, not {_show(seed)}",
                            line=where.top.get("seed"))
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError(f"description must be text, not {_show(description)}",
                            line=where.top.get("description"))
    try:
        settle = parse_duration(doc.get("settle", DEFAULT_SETTLE_S), "settle")
    except ValueError as exc:
        raise ScenarioError(str(exc), line=where.top.get("settle")) from None
    retries = doc.get("retries", DEFAULT_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
        raise ScenarioError(f"retries must be a whole number from 0 to 100, not "
                            f"{_show(retries)}", line=where.top.get("retries"))
    tables = doc.get("step")
    if tables is None:
        raise ScenarioError("the scenario has no steps: add [[step]] tables")
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ScenarioError("step must be [[step]] tables", line=where.top.get("step"))
    if not tables:
        raise ScenarioError("the scenario has no steps: add [[step]] tables",
                            line=where.top.get("step"))
    steps = [_step(i, table, where.step(i), base) for i, table in enumerate(tables, 1)]
    steps.sort(key=lambda s: s.at_s)  # stable: steps at the same time keep the file's order
    return Scenario(name=name.strip(), steps=tuple(steps), seed=seed,
                    description=description.strip(), settle_s=settle, retries=retries,
                    source=Path(source) if source is not None else None)


def _step(index: int, table: dict, where: "_StepLines", base: Path) -> Step:
    def fail(message: str, key: str | None = None) -> ScenarioError:
        return ScenarioError(message, step=index, line=where.line_of(key))

    for key in table:
        if key not in _STEP_KEYS:
            raise fail(f"unknown key {key!r}; a step has at, label, one of "
                       f"{_choices(_KIND_KEYS)}, and options {_choices(_OPTIONS)}", key)
    kinds = [k for k in table if k in _KIND_KEYS]
    if not kinds:
        raise fail(f"the step does nothing: give it one of {_choices(_KIND_KEYS)}")
    if len(kinds) > 1:
        raise fail(f"a step does one thing, but this one has both {kinds[0]!r} and "
                   f"{kinds[1]!r}: make them two steps", kinds[1])
    kind_key = kinds[0]
    kind = _KIND_KEYS[kind_key]
    for key in table:
        if key in _OPTIONS and _OPTIONS[key] is not kind:
            raise fail(f"{key!r} belongs to a {_OPTIONS[key].value} step, not to a "
                       f"{kind_key} step", key)
    if "at" not in table:
        raise fail("the step has no time: add at = \"0s\" (or \"500ms\", \"1m\")")
    try:
        at_s = parse_duration(table["at"], "at")
    except ValueError as exc:
        raise fail(str(exc), "at") from None
    label = table.get("label", "")
    if not isinstance(label, str):
        raise fail(f"label must be text, not {_show(label)}", "label")
    value = table[kind_key]
    fields: dict = {"index": index, "line": where.header, "at_s": at_s, "kind": kind,
                    "label": label.strip()}

    def number(key: str, default, low, high=None, whole=True):
        v = table.get(key, default)
        ok = not isinstance(v, bool) and isinstance(v, int if whole else (int, float))
        if ok and not whole:
            ok = math.isfinite(v)
        if not ok or v < low or (high is not None and v > high):
            span = f"from {low:,} to {high:,}" if high is not None else f"of {low} or more"
            raise fail(f"{key} must be a {'whole ' if whole else ''}number {span}, not "
                       f"{_show(v)}", key)
        return v

    if kind is StepKind.FAULT:
        specs = [value] if isinstance(value, str) else value
        if not isinstance(specs, list) or not specs or \
                not all(isinstance(s, str) for s in specs):
            raise fail("fault must be a spec like \"mid_transaction:0.4\", \"off\", or a list "
                       f"of them, not {_show(value)}", kind_key)
        for spec in specs:
            if spec.strip().lower() == "off":
                continue
            try:
                parse_fault_spec(spec)
            except ValueError as exc:
                raise fail(str(exc), kind_key) from None
        fields["faults"] = tuple(s.strip() for s in specs)
    elif kind_key == "text":
        if not isinstance(value, str) or not value.strip():
            raise fail(f"text must be the events to send, not {_show(value)}", kind_key)
        fields["text"] = value
    elif kind in (StepKind.SEND, StepKind.HTTP):
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{kind_key} must be a file name, not {_show(value)}", kind_key)
        path = (base / value).resolve()
        if not path.is_file():
            raise fail(f"file not found: {value} (looked for {path})", kind_key)
        fields["path"] = path
        if kind is StepKind.HTTP:
            fields["concurrency"] = number("concurrency", DEFAULT_CONCURRENCY, 1,
                                           MAX_CONCURRENCY)
            fields["batch"] = number("batch", DEFAULT_BATCH, 1, 100_000)
    elif kind is StepKind.GENERATE:
        if isinstance(value, bool) or not isinstance(value, int) or \
                not 1 <= value <= MAX_GENERATE:
            raise fail(f"generate must be how many events, a whole number from 1 to "
                       f"{MAX_GENERATE:,}, not {_show(value)}", kind_key)
        fields["count"] = value
        fields["rate"] = float(number("rate", 0, 0, whole=False))
        fields["clients"] = number("clients", DEFAULT_CLIENTS, 1, 1000)
        fields["reuse_keys"] = number("reuse_keys", 0, 0, value)
    elif kind is StepKind.WAIT:
        if value != "converged":
            raise fail(f"wait takes \"converged\", not {_show(value)}", kind_key)
        try:
            fields["timeout_s"] = parse_duration(table.get("timeout", DEFAULT_WAIT_S), "timeout")
        except ValueError as exc:
            raise fail(str(exc), "timeout") from None
    elif value is not True:  # restart, retry
        raise fail(f"{kind_key} takes true, not {_show(value)} (leave the step out instead)",
                   kind_key)
    return Step(**fields)


def _choices(names) -> str:
    return ", ".join(names)


def _show(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        kind = "a table" if isinstance(value, dict) else "a list"
        return kind if len(repr(value)) > 40 else f"{kind} {value!r}"
    return repr(value)


@dataclass
class _StepLines:
    header: int | None = None
    keys: dict[str, int] = field(default_factory=dict)

    def line_of(self, key: str | None) -> int | None:
        if key is not None and key in self.keys:
            return self.keys[key]
        return self.header


@dataclass
class _Lines:
    """Where things are written: top-level keys, and each step's header and keys."""

    top: dict[str, int] = field(default_factory=dict)
    steps: list[_StepLines] = field(default_factory=list)

    def step(self, index: int) -> _StepLines:
        if index <= len(self.steps):
            return self.steps[index - 1]
        # steps written inline (step = [{...}]): the line of the step key is all there is
        return _StepLines(self.top.get("step"))


def _locate(text: str) -> _Lines:
    """The lines of top-level keys, ``[[step]]`` headers and the keys under each.

    Only called on text tomllib accepted, so it can be lenient: it tracks strings (basic,
    literal, both multi-line forms), comments and brackets, so that ``[[step]]`` inside a
    string or a key inside an inline table is never taken for one of the file's own."""
    out = _Lines()
    table: str | None = ""  # "" top level, "step" an array-of-tables entry, None elsewhere
    i, n, line = 0, len(text), 1
    while i < n:
        # at the start of a statement: skip blanks and blank or comment lines
        c = text[i]
        if c in " \t\r":
            i += 1
            continue
        if c == "\n":
            line += 1
            i += 1
            continue
        if c == "#":
            i = _line_end(text, i)
            continue
        if c == "[":
            array = text.startswith("[[", i)
            j = i + (2 if array else 1)
            name, j = _read_key(text, j)
            j = text.find("]", j)
            out.top.setdefault(name, line)
            if array and name == "step":
                out.steps.append(_StepLines(line))
                table = "step"
            else:
                table = None
            i = _line_end(text, j)
            continue
        key, j = _read_key(text, i)
        if table == "":
            out.top.setdefault(key, line)
        elif table == "step" and out.steps:
            out.steps[-1].keys.setdefault(key, line)
        i, line = _skip_value(text, text.index("=", j) + 1, line)
    return out


def _line_end(text: str, i: int) -> int:
    j = text.find("\n", i)
    return len(text) if j < 0 else j


def _read_key(text: str, i: int) -> tuple[str, int]:
    """The first part of a (possibly dotted, possibly quoted) key starting at ``i``, and where
    the whole key ends."""
    parts: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            i += 1
        elif c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if c == '"' and text[j] == "\\" else 1
            parts.append(tomllib.loads(f"k = {text[i:j + 1]}")["k"])
            i = j + 1
        elif c == ".":
            i += 1
        elif c in "=]\n#":
            break
        else:
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_-"):
                j += 1
            parts.append(text[i:j])
            i = max(j, i + 1)
    return (parts[0] if parts else ""), i


def _skip_value(text: str, i: int, line: int) -> tuple[int, int]:
    """Past a value (to the end of its last line): returns the index and the line count."""
    depth = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            if depth == 0:
                return i + 1, line
            i += 1
        elif c == "#":
            i = _line_end(text, i)
        elif c in "[{":
            depth += 1
            i += 1
        elif c in "]}":
            depth -= 1
            i += 1
        elif c == '"' or c == "'":
            triple = text.startswith(c * 3, i)
            if triple:
                end = text.find(c * 3, i + 3)
                while c == '"' and end > 0 and _escaped(text, end):
                    end = text.find(c * 3, end + 1)
                end = n if end < 0 else end + 3
                while end < n and text[end] == c:  # up to two quotes may close the content
                    end += 1
            else:
                end = i + 1
                while end < n and text[end] != c and text[end] != "\n":
                    end += 2 if c == '"' and text[end] == "\\" else 1
                end += 1
            line += text.count("\n", i, min(end, n))
            i = end
        else:
            i += 1
    return i, line


def _escaped(text: str, i: int) -> bool:
    """True when the character at ``i`` follows an odd number of backslashes."""
    k = i - 1
    while k >= 0 and text[k] == "\\":
        k -= 1
    return (i - 1 - k) % 2 == 1
