"""The truth of a scenario, computed from its inputs without a database, equals what a plain
IngestService stores from the same inputs with no faults: on random messy inputs
(hypothesis), on key reuse, bad lines and money in many forms, with a client's mapping, and for
every built-in scenario. ``compare`` says what differs, client by client."""
import io
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultsim_desktop.core.schemas import new_mapping
from faultsim_desktop.core.service import IngestService
from faultsim_desktop.scenario.builtins import builtin_scenarios
from faultsim_desktop.scenario.expected import (compare, expected_figures, inputs_truth,
                                                scenario_truth, stored_figures)
from faultsim_desktop.scenario.generate import generate_events, generate_lines
from faultsim_desktop.scenario.inputs import scenario_inputs, step_inputs
from faultsim_desktop.scenario.model import Figure, StepKind
from faultsim_desktop.scenario.spec import load_scenario, parse_scenario


def ingest(svc, inputs):
    """Each input as ``faultsim ingest`` reads a file, one after the other; the summed
    outcomes."""
    totals = {"received": 0, "accepted": 0, "duplicates": 0, "rejected": 0, "failed": 0}
    for source, data in inputs:
        summary = svc.ingest_stream(io.BytesIO(data), source, size=len(data))
        for k in totals:
            totals[k] += getattr(summary, k)
    return totals


def stored(svc):
    return stored_figures(svc.stats())


def assert_truth_is_what_is_stored(svc, inputs, registry=None):
    truth = inputs_truth(inputs, registry)
    outcomes = ingest(svc, inputs)
    figures, _names = stored(svc)
    assert compare(truth.figures, figures) == []
    assert figures == truth.figures
    assert outcomes["failed"] == 0
    assert {k: outcomes[k] for k in ("received", "accepted", "duplicates", "rejected")} == \
        {k: v for k, v in truth.as_dict().items() if k != "conflicts"}
    return truth


# ---- random messy inputs ----------------------------------------------------------------

SPELLINGS = ["acme", "ACME", " Acme ", "Globex", "globex", "Müller GmbH", "MÜLLER GMBH"]
KEYS = [None, None, "k-1", "k-2", "k-3", 7]
TIMES = [None, '"2024-05-01T09:00:00Z"', "1714554000", '"2024-05-01 10:15:00"']
BAD = ['{"client": "acme", "amount": 1', "{'client': 'x', 'amount': 2}", '{"amount": 5}',
       '{"client": "acme", "amount": "lots"}', "[1, 2]", '{"client": "", "amount": 1}',
       '{"client": "a", "amount": 1, "amount": 2}']


def _json_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def money(draw):
    """(pairs for the amount and its currency)."""
    cents = draw(st.integers(-99_999_999, 99_999_999))
    d = Decimal(cents).scaleb(-2)
    plain = format(d, "f")
    form = draw(st.integers(0, 7))
    cur = draw(st.sampled_from(["USD", "EUR", "eur", "GBP", None]))
    cur_pair = [(draw(st.sampled_from(["currency", "ccy", "currency_code"])), _json_str(cur))] \
        if cur else []
    if form == 0:
        return [("amount", plain)] + cur_pair
    if form == 1:
        return [(draw(st.sampled_from(["amount", "total", "price"])), _json_str(plain))] \
            + cur_pair
    if form == 2 and d >= 0:
        return [("amount", _json_str(f"${d:,}"))]
    if form == 3 and d >= 0:
        text = f"{d:,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
        return [("amount", _json_str(text + " €"))]
    if form == 4:
        return [("amount_cents", str(cents))] + cur_pair
    if form == 5:
        return [("amount", '{"value": %s, "currency": "EUR"}' % _json_str(plain))]
    if form == 6:
        return [("amount", plain + "000")] + cur_pair  # trailing zeros: the same number
    return [("amount", _json_str(f"{plain} GBP"))]


@st.composite
def event_pairs(draw):
    name = draw(st.sampled_from(SPELLINGS))
    if draw(st.booleans()):
        pairs = [(draw(st.sampled_from(["client", "client_id", "customer"])), _json_str(name))]
    else:
        pairs = [("client", '{"name": %s}' % _json_str(name))]
    pairs += draw(money())
    key = draw(st.sampled_from(KEYS))
    if key is not None:
        pairs.append((draw(st.sampled_from(["idempotency_key", "event_id"])),
                      _json_str(key) if isinstance(key, str) else str(key)))
    t = draw(st.sampled_from(TIMES))
    if t is not None:
        pairs.append(("ts", t))
    return pairs


def render(pairs) -> str:
    return "{" + ", ".join(f"{_json_str(k)}: {v}" for k, v in pairs) + "}"


@st.composite
def messy_inputs(draw):
    """Up to three NDJSON inputs: events, resends (same or reordered keys), bad lines."""
    made: list[list] = []
    inputs = []
    for n in range(draw(st.integers(1, 3))):
        lines = []
        for _ in range(draw(st.integers(1, 25))):
            what = draw(st.integers(0, 9))
            if what <= 5 or not made:
                pairs = draw(event_pairs())
                made.append(pairs)
                lines.append(render(pairs))
            elif what <= 7:  # a resend, perhaps with its keys in another order
                again = draw(st.permutations(draw(st.sampled_from(made))))
                lines.append(render(again))
            elif lines:  # a bad line, never the first (that would make it a stream of values)
                lines.append(draw(st.sampled_from(BAD)))
        inputs.append((f"input-{n}.ndjson", ("\n".join(lines) + "\n").encode("utf-8")))
    return inputs


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(messy_inputs())
def test_the_truth_equals_a_plain_ingest_on_random_inputs(inputs):
    with tempfile.TemporaryDirectory() as d:
        with IngestService(Path(d) / "t.db", workers=0) as svc:
            assert_truth_is_what_is_stored(svc, inputs)


# ---- particular cases, on both backends ------------------------------------------------

def test_key_reuse_the_first_stands(service):
    inputs = [("a.ndjson", b'{"client": "acme", "amount": 100, "currency": "USD", '
                           b'"idempotency_key": "pay-7"}\n'
                           b'{"client": "ACME", "amount": 150, "currency": "USD", '
                           b'"idempotency_key": "pay-7"}\n'
                           b'{"client": "globex", "amount": 100, "currency": "USD", '
                           b'"idempotency_key": "pay-7"}\n'),
              ("b.ndjson", b'{"idempotency_key": "pay-7", "currency": "USD", "amount": 100, '
                           b'"client": "acme"}\n'
                           b'{"client": "acme", "amount": 100.00, "currency": "USD", '
                           b'"idempotency_key": " pay-7"}\n')]
    truth = assert_truth_is_what_is_stored(service, inputs)
    assert truth.figures == {("acme", "USD"): Figure(1, Decimal("100")),
                             ("globex", "USD"): Figure(1, Decimal("100"))}
    # the reordered copy is a duplicate; another amount, or a key written with a space
    # (another content), is a conflict
    assert (truth.accepted, truth.duplicates, truth.conflicts) == (2, 1, 2)


def test_bad_lines_are_rejected_and_the_rest_counted(service):
    sample = Path(__file__).parents[2] / "faultsim_desktop/resources/samples/bad_lines.ndjson"
    truth = assert_truth_is_what_is_stored(service, [("bad_lines.ndjson", sample.read_bytes())])
    assert (truth.received, truth.accepted, truth.rejected) == (9, 3, 6)


def test_money_forms_are_exact(service):
    lines = ['{"client": "Müller GmbH", "amount": "1.234,50 €"}',
             '{"client": "Müller GmbH", "amount": "1 234,50 €"}',
             '{"client": "acme", "amount": "$0.10"}',
             '{"client": "acme", "amount": "0.20 USD"}',
             '{"client": "acme", "amount_cents": 1, "currency": "usd"}',
             '{"client": "acme", "amount": {"value": "0.1", "currency": "USD"}}',
             '{"client": "acme", "amount": 12345678901234567890.123456789, "currency": "USD"}',
             '{"client": "acme", "amount": "(5.00)", "currency": "USD"}',
             '{"client": "Zürich AG", "amount": "CHF 1\'234.50"}',
             '{"client": "Tanaka KK", "amount": "¥1,000"}',
             '{"client": "none", "amount": 7}']
    inputs = [("money.ndjson", ("\n".join(lines) + "\n").encode())]
    truth = assert_truth_is_what_is_stored(service, inputs)
    assert truth.figures[("müller gmbh", "EUR")] == Figure(2, Decimal("2469.00"))
    assert truth.figures[("acme", "USD")] == \
        Figure(6, Decimal("12345678901234567885.533456789"))
    assert truth.figures[("none", "")] == Figure(1, Decimal(7))


def test_generated_events_with_reused_keys(service):
    data = generate_events(5, 2, 600, clients=4, reuse_keys=25)
    truth = assert_truth_is_what_is_stored(service, [("generated:step 2", data)])
    assert truth.conflicts == 25
    assert truth.duplicates > 0 and truth.rejected > truth.conflicts  # resends and bad lines
    assert len({c for c, _ in truth.figures}) == 4


def test_a_clients_mapping_is_applied_as_ingestion_applies_it(service):
    service.save_mapping(new_mapping("acme", "price_cents", units="cents", currency="USD",
                                     key_field="ref"))
    inputs = [("m.ndjson", b'{"client": "acme", "price_cents": 1250, "ref": "r1"}\n'
                           b'{"client": "ACME", "price_cents": 99, "ref": "r1"}\n'
                           b'{"client": "acme", "amount": 5}\n'
                           b'{"client": "globex", "amount": 5, "currency": "EUR"}\n')]
    registry = service.registry()
    truth = assert_truth_is_what_is_stored(service, inputs, registry)
    assert truth.figures[("acme", "USD")] == Figure(1, Decimal("12.50"))
    assert truth.conflicts == 1
    # without the mapping the truth would be another one
    assert inputs_truth(inputs).figures != truth.figures


def test_every_built_in_scenario_truth_is_a_plain_ingest(service):
    """The inputs of each built-in, sent in timeline order with no faults, come to its truth
    (so every built-in can reach ``exact``), and each has events to count."""
    for name, path in builtin_scenarios().items():
        service.reset()
        scenario = load_scenario(path)
        inputs = [i for _step, ins in scenario_inputs(scenario) for i in ins]
        truth = scenario_truth(scenario)
        outcomes = ingest(service, inputs)
        figures, _ = stored(service)
        assert compare(truth.figures, figures) == [], name
        assert outcomes["accepted"] == truth.accepted > 0, name
        assert expected_figures(scenario)[0] == truth.figures, name


# ---- the timeline's order, and what compare says -----------------------------------------

def test_truth_follows_the_timeline_not_the_file(tmp_path):
    (tmp_path / "late.ndjson").write_text('{"client": "a", "amount": 2, "event_id": "k"}\n')
    text = '''name = "order"
[[step]]
at = "2s"
send = "late.ndjson"

[[step]]
at = "1s"
text = '{"client": "a", "amount": 1, "event_id": "k"}'
'''
    figures, names = expected_figures(parse_scenario(text, tmp_path))
    assert figures == {("a", ""): Figure(1, Decimal(1))}  # the one sent first stands
    assert names == {"a": "a"}


def test_only_sending_steps_have_inputs(tmp_path):
    text = '''name = "kinds"
seed = 9
[[step]]
at = 0
fault = "after_commit:0.5"
[[step]]
at = 0
generate = 50
[[step]]
at = 1
restart = true
[[step]]
at = 2
text = '{"client": "a", "amount": 1}'
[[step]]
at = 3
wait = "converged"
'''
    s = parse_scenario(text, tmp_path)
    got = {x.kind: step_inputs(s, x) for x in s.steps}
    assert got[StepKind.FAULT] == got[StepKind.RESTART] == got[StepKind.WAIT] == []
    assert got[StepKind.SEND] == [("scenario:step 4", b'{"client": "a", "amount": 1}')]
    [(source, data)] = got[StepKind.GENERATE]
    assert source == "generated:step 2"
    assert data == generate_events(9, 2, 50)
    assert data.count(b"\n") == 50


def test_generation_is_deterministic_and_differs_by_seed_and_step():
    a = generate_lines(3, 1, 300, clients=6, reuse_keys=10)
    assert a == generate_lines(3, 1, 300, clients=6, reuse_keys=10)
    assert a != generate_lines(4, 1, 300, clients=6, reuse_keys=10)
    assert a != generate_lines(3, 2, 300, clients=6, reuse_keys=10)
    assert len(a) == 300
    truth = inputs_truth([("g", b"\n".join(a) + b"\n")])
    assert truth.conflicts == 10 and truth.received == 300
    assert len({c for c, _ in truth.figures}) == 6
    # many clients: named ones, then numbered ones
    many = inputs_truth([("g", generate_events(1, 1, 2000, clients=25))])
    assert len({c for c, _ in many.figures}) == 25


def test_compare_says_what_differs():
    expected = {("acme", "USD"): Figure(3, Decimal("30.00")),
                ("globex", "EUR"): Figure(1, Decimal("5")),
                ("initech", ""): Figure(2, Decimal("2"))}
    stored_ = {("acme", "USD"): Figure(4, Decimal("42.50")),
               ("globex", "EUR"): Figure(1, Decimal("5.00")),
               ("umbrella", "USD"): Figure(1, Decimal("-1"))}
    names = {"acme": "Acme", "initech": "Initech"}
    assert compare(expected, stored_, names) == [
        "Acme (USD): expected 3 events totalling 30.00, stored 4 events totalling 42.50 "
        "(1 event more, 12.50 more)",
        "Initech (no currency): expected 2 events totalling 2, none stored",
        "umbrella (USD): none expected, 1 event totalling -1 stored",
    ]
    assert compare(expected, dict(expected)) == []
    fewer = {("acme", "USD"): Figure(1, Decimal("30.00"))}
    assert compare({("acme", "USD"): Figure(3, Decimal("30.00"))}, fewer) == [
        "acme (USD): expected 3 events totalling 30.00, stored 1 event totalling 30.00 "
        "(2 events fewer)"]
