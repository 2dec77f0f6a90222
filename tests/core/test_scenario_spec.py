"""Scenario files: every step kind reads as its Step; every mistake is a ScenarioError that
names the step (from 1, in file order) and the line where the mistake is written."""
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultsim_desktop.scenario.builtins import builtin_scenarios, resolve
from faultsim_desktop.scenario.model import ScenarioError, StepKind
from faultsim_desktop.scenario.spec import load_scenario, parse_duration, parse_scenario

HEAD = 'name = "a scenario"\nseed = 3\n'


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "one.ndjson").write_text('{"client": "a", "amount": 1}\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "two.ndjson").write_text('{"client": "b", "amount": 2}\n')
    return tmp_path


def parse(text, folder):
    return parse_scenario(text, folder)


def error(text, folder) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, folder)
    return caught.value


def test_every_step_kind(folder):
    s = parse(HEAD + '''description = "what it shows"
settle = "45s"
retries = 2

[[step]]
at = "0s"
fault = "mid_transaction:0.4"

[[step]]
at = "500ms"
fault = ["after_commit:next=3", "latency:50ms", "before_write:p=0.2"]
label = "three points"

[[step]]
at = 1
send = "one.ndjson"

[[step]]
at = 1.5
text = """
{"client": "c", "amount": "3.50"}
"""

[[step]]
at = "2s"
http = "sub/two.ndjson"

[[step]]
at = "2.5s"
http = "one.ndjson"
concurrency = 8
batch = 10

[[step]]
at = "3s"
generate = 500
rate = 250.5
clients = 7
reuse_keys = 4

[[step]]
at = "3.5s"
generate = 10

[[step]]
at = "4s"
restart = true

[[step]]
at = "5s"
retry = true

[[step]]
at = "6s"
wait = "converged"
timeout = "1m"

[[step]]
at = "7s"
wait = "converged"

[[step]]
at = "8s"
fault = "off"
''', folder)
    assert (s.name, s.seed, s.description, s.settle_s, s.retries) == \
        ("a scenario", 3, "what it shows", 45.0, 2)
    st = s.steps
    assert [x.index for x in st] == list(range(1, 14))
    assert [x.kind for x in st] == [
        StepKind.FAULT, StepKind.FAULT, StepKind.SEND, StepKind.SEND, StepKind.HTTP,
        StepKind.HTTP, StepKind.GENERATE, StepKind.GENERATE, StepKind.RESTART, StepKind.RETRY,
        StepKind.WAIT, StepKind.WAIT, StepKind.FAULT]
    assert [x.at_s for x in st] == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8]
    assert st[0].faults == ("mid_transaction:0.4",)
    assert st[1].faults == ("after_commit:next=3", "latency:50ms", "before_write:p=0.2")
    assert st[1].label == "three points" and st[1].describe() == "three points"
    assert st[2].path == (folder / "one.ndjson").resolve() and st[2].text is None
    assert st[3].text == '{"client": "c", "amount": "3.50"}\n' and st[3].path is None
    assert st[4].path == (folder / "sub" / "two.ndjson").resolve()
    assert (st[4].concurrency, st[4].batch) == (4, 50)  # the defaults
    assert (st[5].concurrency, st[5].batch) == (8, 10)
    assert (st[6].count, st[6].rate, st[6].clients, st[6].reuse_keys) == (500, 250.5, 7, 4)
    assert (st[7].count, st[7].rate, st[7].clients, st[7].reuse_keys) == (10, 0.0, 5, 0)
    assert st[10].timeout_s == 60.0 and st[11].timeout_s == 60.0
    assert st[12].faults == ("off",) and st[12].describe() == "faults off"
    # each step's line is its [[step]] header's
    text_lines = (HEAD + 'description = "what it shows"\nsettle = "45s"\nretries = 2\n\n'
                  ).count("\n")
    assert st[0].line == text_lines + 1


def test_defaults_of_the_top_level(folder):
    s = parse('name = "x"\n[[step]]\nat = "0s"\nretry = true\n', folder)
    assert (s.seed, s.description, s.settle_s, s.retries, s.source) == (None, "", 60.0, 5, None)


def test_steps_run_in_order_of_at_and_ties_in_file_order(folder):
    s = parse(HEAD + '''
[[step]]
at = "3s"
retry = true

[[step]]
at = "1s"
fault = "latency:10ms"

[[step]]
at = "1s"
restart = true

[[step]]
at = "0.5s"
fault = "off"
''', folder)
    assert [x.index for x in s.steps] == [4, 2, 3, 1]
    assert [x.line for x in s.steps] == [16, 8, 12, 4]
    assert s.duration_s == 3.0


@pytest.mark.parametrize("text, seconds", [
    ("2.5s", 2.5), ("500ms", 0.5), ("1m", 60.0), ("0s", 0.0), (" 3 s ", 3.0), ("1.5min", 90.0),
    ("2h", 7200.0), (".5s", 0.5), (4, 4.0), (0.25, 0.25), ("7", 7.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_load_scenario_reads_paths_relative_to_the_file(folder):
    path = folder / "sub" / "s.toml"
    path.write_text(HEAD + '[[step]]\nat = "0s"\nsend = "../one.ndjson"\n')
    s = load_scenario(path)
    assert s.source == path
    assert s.steps[0].path == (folder / "one.ndjson").resolve()


# ---- every mistake names the step and the line ------------------------------------------

STEP = '[[step]]\nat = "0s"\n'


@pytest.mark.parametrize("body, step, line, words", [
    # unknown keys
    (STEP + 'fault = "off"\ncolour = "red"\n', 1, 6, "unknown key 'colour'"),
    (STEP + 'fault = "off"\n\n' + STEP + 'send = "one.ndjson"\nconcurency = 3\n', 2, 10,
     "unknown key 'concurency'"),
    # no kind, two kinds
    ('[[step]]\nat = "1s"\nlabel = "nothing"\n', 1, 3, "does nothing"),
    (STEP + 'send = "one.ndjson"\n# a comment\nfault = "off"\n', 1, 7,
     "both 'send' and 'fault'"),
    (STEP + 'text = "{}"\nsend = "one.ndjson"\n', 1, 6, "both 'text' and 'send'"),
    # an option of another kind
    (STEP + 'send = "one.ndjson"\nrate = 5\n', 1, 6, "'rate' belongs to a generate step"),
    (STEP + 'generate = 5\ntimeout = "1s"\n', 1, 6, "'timeout' belongs to a wait step"),
    # bad fault specs
    (STEP + 'fault = "mid_transacton:0.4"\n', 1, 5,
     "unknown fault point 'mid_transacton'; choose one of"),
    (STEP + 'fault = ["off",\n  "mid_transaction:1.5"]\n', 1, 5,
     "probability must be between 0 and 1"),
    (STEP + 'fault = "after_commit:next=0"\n', 1, 5, "next=N needs a whole number"),
    (STEP + 'fault = []\n', 1, 5, "fault must be a spec"),
    (STEP + 'fault = 3\n', 1, 5, "fault must be a spec"),
    # durations
    ('[[step]]\nat = "2 seconds"\nretry = true\n', 1, 4, "'2 seconds' is not a duration"),
    ('[[step]]\nat = -1\nretry = true\n', 1, 4, "0 or more"),
    ('[[step]]\nat = nan\nretry = true\n', 1, 4, "finite"),
    ('[[step]]\nat = true\nretry = true\n', 1, 4, "not true"),
    ('[[step]]\nretry = true\n', 1, 3, "has no time"),
    (STEP + 'wait = "converged"\ntimeout = "soon"\n', 1, 6, "timeout 'soon' is not a duration"),
    # files
    (STEP + 'send = "missing.ndjson"\n', 1, 5, "file not found: missing.ndjson"),
    (STEP + 'http = "sub"\n', 1, 5, "file not found: sub"),
    (STEP + 'send = ""\n', 1, 5, "must be a file name"),
    (STEP + 'text = "   "\n', 1, 5, "text must be the events"),
    # values of each kind
    (STEP + 'http = "one.ndjson"\nconcurrency = 0\n', 1, 6, "concurrency must be a whole number"),
    (STEP + 'http = "one.ndjson"\nbatch = 2.5\n', 1, 6, "batch must be a whole number"),
    (STEP + 'generate = 0\n', 1, 5, "generate must be how many events"),
    (STEP + 'generate = "many"\n', 1, 5, "generate must be how many events"),
    (STEP + 'generate = 10\nrate = -1\n', 1, 6, "rate must be a number"),
    (STEP + 'generate = 10\nclients = 0\n', 1, 6, "clients must be a whole number"),
    (STEP + 'generate = 10\nreuse_keys = 11\n', 1, 6, "reuse_keys must be a whole number"),
    (STEP + 'restart = false\n', 1, 5, "restart takes true"),
    (STEP + 'retry = "yes"\n', 1, 5, "retry takes true"),
    (STEP + 'wait = "done"\n', 1, 5, "wait takes \"converged\""),
    (STEP + 'retry = true\nlabel = 3\n', 1, 6, "label must be text"),
])
def test_every_error_names_the_step_and_the_line(folder, body, step, line, words):
    e = error(HEAD + body, folder)
    assert (e.step, e.line) == (step, line)
    assert str(e).startswith(f"step {step}, line {line}: ")
    assert words in str(e)


@pytest.mark.parametrize("text, line, words", [
    ('name = "x"\nspeed = 2\n' + STEP + 'retry = true\n', 2, "unknown key 'speed'"),
    ('name = "x"\n[other]\nx = 1\n' + STEP + 'retry = true\n', 2, "unknown key 'other'"),
    ('seed = 1\n' + STEP + 'retry = true\n', None, "needs a name"),
    ('name = 5\n' + STEP + 'retry = true\n', 1, "name must be text"),
    ('name = "x"\nseed = "eleven"\n' + STEP + 'retry = true\n', 2, "seed must be a whole"),
    ('name = "x"\nsettle = "forever"\n' + STEP + 'retry = true\n', 2, "'forever' is not"),
    ('name = "x"\nretries = -1\n' + STEP + 'retry = true\n', 2, "retries must be"),
    ('name = "x"\ndescription = 1\n' + STEP + 'retry = true\n', 2, "description must be"),
    ('name = "x"\n', None, "no steps"),
    ('name = "x"\nstep = 3\n', 2, "step must be [[step]] tables"),
])
def test_top_level_errors_name_the_line(folder, text, line, words):
    e = error(text, folder)
    assert e.step is None and e.line == line
    assert words in str(e)
    if line is not None:
        assert str(e).startswith(f"line {line}: ")


def test_a_toml_syntax_error_keeps_tomllibs_line_and_column(folder):
    e = error(HEAD + STEP + 'fault = "off\n', folder)
    assert e.line == 5
    assert "(at line 5, column" in str(e) and "not a valid TOML file" in str(e)


def test_lines_are_counted_past_comments_strings_and_multiline_values(folder):
    """A [[step]] inside a string or a comment is no header, and values spanning lines
    (multi-line strings of both kinds, arrays, inline tables) move the count on."""
    text = HEAD + '''description = """
[[step]]
at = "9s"
""" # [[step]]
# [[step]]
[[step]]  # the first step
label = '[[step]] in a label'
at = "0s"
text = \'\'\'
{"client": "x", "amount": 1}
[[step]]
\'\'\'

[[step]]
"at" = "1s"
fault = [
  "after_commit:0.1", # [[step]]
  "latency:5ms",
]

[[ step ]]
at = "2s"
text = "a \\"quoted\\" [[step]] \\\\"
generate = 3
'''
    e = error(text, folder)
    assert (e.step, e.line) == (3, 26)
    assert "both 'text' and 'generate'" in str(e)
    s = parse(text.replace("generate = 3\n", ""), folder)
    assert [x.line for x in s.steps] == [8, 16, 23]
    assert s.steps[1].faults == ("after_commit:0.1", "latency:5ms")


def test_unknown_key_in_a_later_step_after_a_multiline_string(folder):
    text = HEAD + STEP + 'text = """\n{"client": "a", "amount": 1}\n{"client": "b",\n' \
        ' "amount": 2}\n"""\n\n' + STEP + 'retry = true\nlabl = "oops"\n'
    e = error(text, folder)
    assert (e.step, e.line) == (2, 14)


def test_load_scenario_errors(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        load_scenario(tmp_path / "absent.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'name = "x"\n# caf\xe9\n')
    e = pytest.raises(ScenarioError, load_scenario, bad).value
    assert e.line == 2 and "not UTF-8" in str(e)


# ---- the built-in scenarios ------------------------------------------------------------

def test_the_built_in_scenarios_load():
    found = builtin_scenarios()
    assert list(found)[:6] == ["demo", "ack-storm", "crash-large-file", "kill-restart",
                               "http-dropped-answers", "key-reuse"]
    for name, path in found.items():
        s = load_scenario(path)
        assert s.name and s.description and s.steps, name
        assert s.duration_s <= 20, name  # short enough to watch
        kinds = {x.kind for x in s.steps}
        assert StepKind.WAIT in kinds, name  # each ends converged before its verdict
        # faults go on and off again within the run
        faults = [x for x in s.steps if x.kind is StepKind.FAULT]
        if faults:
            assert faults[-1].faults == ("off",), name
    large = load_scenario(found["crash-large-file"])
    assert sum(x.count for x in large.steps) >= 20_000
    assert any(x.kind is StepKind.RESTART for x in load_scenario(found["kill-restart"]).steps)
    http = load_scenario(found["http-dropped-answers"]).steps
    assert sum(x.kind is StepKind.HTTP for x in http) == 2
    assert any("drop_response" in f for x in http for f in x.faults)
    assert any(x.reuse_keys for x in load_scenario(found["key-reuse"]).steps)


def test_resolve_names_and_paths(tmp_path):
    assert resolve("ack-storm") == builtin_scenarios()["ack-storm"]
    mine = tmp_path / "mine.toml"
    mine.write_text(HEAD + STEP + "retry = true\n")
    assert resolve(str(mine)) == mine
    assert resolve(mine) == mine
    e = pytest.raises(ScenarioError, resolve, "ack-strom").value
    assert "no scenario file or built-in scenario named 'ack-strom'" in str(e)
    assert "ack-storm" in str(e) and "kill-restart" in str(e)
    e = pytest.raises(ScenarioError, resolve, str(tmp_path / "nope.toml")).value
    assert "no scenario file at" in str(e)


def test_builtins_come_from_the_package():
    assert all(p.parent == Path(resolve("demo")).parent for p in builtin_scenarios().values())


def test_a_byte_order_mark_is_no_error(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff".encode() + (HEAD + STEP + "retry = true\n").encode())
    assert load_scenario(path).name == "a scenario"


# (the key a filler sets, or None; its lines): padding a step's keys may not shift the count
FILLERS = [
    (None, ["# a comment [[step]]"]),
    (None, [""]),
    ("label", ['label = """', "two [[step]]", 'lines"""']),
    ("label", ["label = '''", "[[step]] ", "'''"]),
    ("label", ['label = "one \\" [[step]] # not a comment"']),
    ("fault", ["fault = [", '  "latency:5ms",  # ]', '  "off",', "]"]),
    ("text", ["text = '''", '{"client": "a",', ' "amount": 1}', "'''"]),
]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_the_line_of_a_misspelled_key_is_where_it_is_written(data):
    """Steps padded with comments, blank lines, multi-line strings and arrays: a misspelled
    key is reported in its step at the line it is on."""
    lines = ['name = "fuzzed"']
    n_steps = data.draw(st.integers(1, 5))
    bad_step = data.draw(st.integers(1, n_steps))
    want_line = None
    for index in range(1, n_steps + 1):
        lines += data.draw(st.sampled_from(FILLERS[:2]))[1]
        lines += ["[[step]]", f'at = "{index}s"']
        picks = data.draw(st.lists(st.sampled_from(FILLERS), max_size=5))
        label = kind = False
        for key, filler in picks:
            if key == "label":
                if label:
                    continue
                label = True
            elif key is not None:
                if kind:
                    continue
                kind = True
            lines += filler
        if not kind:
            lines.append("retry = true")
        if index == bad_step:
            lines.append("colour = 1")
            want_line = len(lines)
    text = "\n".join(lines) + "\n"
    e = error(text, Path("."))
    assert (e.step, e.line) == (bad_step, want_line), text
