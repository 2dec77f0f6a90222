"""The scenario report: one self-contained HTML document that shows the verdict, the counts, the
timeline and charts with fault windows shaded, and expected against stored per client."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timezone
from decimal import MAX_PREC, Decimal, localcontext
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultsim_desktop.scenario.builtins import resolve
from faultsim_desktop.scenario.model import (FaultWindow, Figure, RunSnapshot, RunState, Sample,
                                             Scenario, Step, StepKind, TimelineEntry, Verdict)
from faultsim_desktop.scenario.report import render_report
from faultsim_desktop.scenario.report_charts import outcome_rates
from faultsim_desktop.scenario.runner import ScenarioRun
from faultsim_desktop.scenario.spec import load_scenario

WHEN = datetime(2026, 12, 6, 23, 0, tzinfo=timezone.utc)
HOSTILE = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>',
           "</td></tr></table><h1>pwned</h1>", "Tom & Jerry's <b>", "https://evil.example/a"]


class Page(HTMLParser):
    """What a browser would build from the document: every element with its attributes, the
    rows of each table body (cell texts) and the text inside each class and each tag."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.tables: dict[str, list[tuple[dict[str, str], list[str]]]] = {}
        self.texts: dict[str, str] = {}
        self._open: list[tuple[str, dict[str, str]]] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_body_of: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a))
        if tag == "table":
            self._table = a.get("class", "")
            self.tables.setdefault(self._table, [])
        elif tag in ("tbody", "tfoot", "thead"):
            self._in_body_of = tag
        elif tag == "tr" and self._table is not None and self._in_body_of == "tbody":
            self._row = []
            self.tables[self._table].append((a, self._row))
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        if tag not in ("meta", "line", "rect", "circle", "polyline", "br"):
            self._open.append((tag, a))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._table = None
        while self._open:
            t, _ = self._open.pop()
            if t == tag:
                break

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        for tag, a in self._open:
            self.texts[f"<{tag}>"] = self.texts.get(f"<{tag}>", "") + data
            for cls in a.get("class", "").split():
                self.texts[cls] = self.texts.get(cls, "") + data

    def tags(self, name: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements
                if t == name and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]


def svgs(text: str) -> list[ET.Element]:
    """Each inline chart as the XML an SVG renderer reads (it must be well formed)."""
    out, start = [], 0
    while (i := text.find("<svg", start)) >= 0:
        j = text.index("</svg>", i) + len("</svg>")
        out.append(ET.fromstring(text[i:j]))
        start = j
    return out


def scenario(name="lost acknowledgements, a crash and a restart", steps=None) -> Scenario:
    steps = steps or (
        Step(1, 4, 0.0, StepKind.FAULT, faults=("mid_transaction:0.4",)),
        Step(2, 7, 0.0, StepKind.SEND, path=Path("/s/one.ndjson")),
        Step(3, 10, 1.0, StepKind.FAULT, faults=("after_commit:0.3",)),
        Step(4, 13, 2.0, StepKind.RESTART),
        Step(5, 16, 2.5, StepKind.HTTP, path=Path("/s/two.ndjson"), concurrency=4, batch=50),
        Step(6, 21, 3.0, StepKind.FAULT, faults=("off",)),
    )
    return Scenario(name, steps, seed=11, description="a short demo", settle_s=20,
                    source=Path("/s/demo.toml"))


def samples(n=40, dt=0.25) -> tuple[Sample, ...]:
    out = []
    for i in range(n):
        acc = min(1250 * i, 12000)
        out.append(Sample(i * dt, acc, acc, 7 * i, 2 * (i > 3), 3 * min(i, 10), max(0, 40 - i)))
    return tuple(out)


EXPECTED = {("acme", "EUR"): Figure(5012, Decimal("182734.50")),
            ("acme", "USD"): Figure(1990, Decimal("99120.125")),
            ("globex", "EUR"): Figure(4998, Decimal("250001.00")),
            ("initech", ""): Figure(3, Decimal("-12.5"))}
NAMES = {"acme": "ACME Corp", "globex": "Globex", "initech": "Initech"}


def snapshot(verdict: Verdict | None = Verdict.EXACT, **changes) -> RunSnapshot:
    finished = verdict is not None
    base = RunSnapshot(
        state=RunState.FINISHED if finished else RunState.PLAYING,
        position_s=10.0 if finished else 2.2,
        next_step=7 if finished else 5,
        timeline=(TimelineEntry(0.0, "step 1: fault mid_transaction:0.4", 1),
                  TimelineEntry(0.0, "step 2: send one.ndjson", 2),
                  TimelineEntry(1.0, "step 3: fault after_commit:0.3", 3),
                  TimelineEntry(2.0, "engine killed and started again", 4)),
        fault_windows=(FaultWindow("mid_transaction", "mid_transaction:0.4", 0.0, 3.0),
                       FaultWindow("after_commit", "after_commit:0.3", 1.0, 3.0)),
        samples=samples(),
        expected=dict(EXPECTED), stored=dict(EXPECTED), names=dict(NAMES),
        counts={"attempts": 14120, "injected": {"mid_transaction": 61, "after_commit": 17},
                "retries": 95, "lost_acks": 17, "pending": 0, "restarts": 1, "requests": 84,
                "accepted": 12000, "duplicates": 273, "rejected": 2, "failed": 0},
        verdict=verdict)
    return replace(base, **changes)


def render(snap: RunSnapshot, scen: Scenario | None = None, **kw) -> str:
    return render_report(scen or scenario(), snap, generated_at=WHEN, **kw)


def figure_rows(snap: RunSnapshot) -> list[tuple[str, list[str]]]:
    """What the table must show for ``snap``, worked out from the snapshot alone."""
    rows = []
    for key in sorted(set(snap.expected) | set(snap.stored)):
        e, s = snap.expected.get(key), snap.stored.get(key)
        cells = [snap.names.get(key[0], key[0]), key[1] or "—"]
        for f in (e, s):
            cells += ["—", "—"] if f is None else [f"{f.count:,}", str(f.total)]
        if e == s:
            cells += ["", ""]
        else:
            zero = Figure(0, Decimal(0))
            dc = (s or zero).count - (e or zero).count
            with localcontext(prec=MAX_PREC):  # a difference is exact, never rounded
                dt = (s or zero).total - (e or zero).total
            cells += [f"+{dc:,}" if dc > 0 else f"{dc:,}", f"+{dt}" if dt > 0 else str(dt)]
        rows.append(("same" if e == s else "differs", cells))
    return rows


@pytest.mark.parametrize("verdict, word", [(Verdict.EXACT, "EXACT"),
                                           (Verdict.DIVERGED, "DIVERGED"),
                                           (Verdict.INCOMPLETE, "INCOMPLETE"),
                                           (None, "NO VERDICT YET")])
def test_the_banner_shows_the_verdict(verdict, word):
    page = Page(render(snapshot(verdict)))
    [banner] = page.tags("section", data_verdict=verdict.value if verdict else "")
    assert banner["class"] == f"verdict verdict-{verdict.value if verdict else 'none'}"
    assert page.texts["verdict"].startswith(word)
    assert "12,003 of 12,003 expected events stored" in page.texts["verdict"]
    # the document's <title> comes first; the charts' own titles follow it
    assert page.texts["<title>"].startswith(f"lost acknowledgements, a crash and a restart: "
                                            f"{verdict.value if verdict else 'not finished'}: "
                                            "faultsim scenario report")


def test_the_table_shows_expected_and_stored_per_client_and_currency_as_the_snapshot_has_them():
    snap = snapshot(Verdict.EXACT)
    page = Page(render(snap))
    rows = page.tables["figures"]
    assert [(a["class"], cells) for a, cells in rows] == figure_rows(snap)
    assert rows[0][1][:4] == ["ACME Corp", "EUR", "5,012", "182734.50"]
    assert not any(a["class"] == "differs" for a, _ in rows)


def test_differences_are_highlighted_with_their_amounts():
    stored = dict(EXPECTED)
    stored[("globex", "EUR")] = Figure(4997, Decimal("249950.00"))  # one event lost
    del stored[("initech", "")]
    stored[("umbrella", "JPY")] = Figure(1, Decimal("100"))  # stored but never sent
    snap = snapshot(Verdict.DIVERGED, stored=stored)
    page = Page(render(snap))
    rows = page.tables["figures"]
    assert [(a["class"], cells) for a, cells in rows] == figure_rows(snap)
    differs = {cells[0]: cells for a, cells in rows if a["class"] == "differs"}
    assert differs["Globex"][-2:] == ["-1", "-51.00"]
    assert differs["Initech"][4:] == ["—", "—", "-3", "+12.5"]
    assert differs["umbrella"][2:] == ["—", "—", "1", "100", "+1", "+100"]
    assert "3 client and currency rows differ" in page.texts["verdict"]
    assert "DIVERGED" in page.texts["verdict"]


def test_the_runs_differences_are_listed_under_the_verdict():
    said = ("Globex EUR: expected 4,998 events totalling 250001.00, stored 4,997 totalling "
            "249950.00", "<b>umbrella</b> JPY: stored 1 event never sent")
    page = Page(render(snapshot(Verdict.DIVERGED, differences=said)))
    assert page.texts["differences"] == "".join(said)
    assert len(page.tags("li")) == 2 and not page.tags("b")
    assert "differences" not in Page(render(snapshot(Verdict.EXACT))).texts


def test_totals_are_exact_decimals_whatever_their_digits():
    big = Decimal("12345678901234567890123456789.0000000001")
    snap = snapshot(Verdict.DIVERGED, expected={("acme", "EUR"): Figure(2, Decimal("1E-10"))},
                    stored={("acme", "EUR"): Figure(2, big)})
    [(_, cells)] = Page(render(snap)).tables["figures"]
    assert cells[3] == "1E-10" and cells[5] == str(big)
    # 39 digits: the default 28-digit context would round the difference
    assert cells[7] == "+12345678901234567890123456789.0000000000"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_are_shown_as_text_never_as_markup(hostile):
    key = hostile.casefold()
    snap = snapshot(Verdict.EXACT, expected={(key, "EUR"): Figure(1, Decimal("1"))},
                    stored={(key, "EUR"): Figure(1, Decimal("1"))}, names={key: hostile},
                    error=hostile,
                    fault_windows=(FaultWindow("after_commit", hostile, 0.5, 1.0),),
                    timeline=(TimelineEntry(0.5, hostile, 1),),
                    counts={"attempts": 1, hostile: 2, "injected": {hostile: 1}})
    scen = scenario(name=hostile, steps=(
        Step(1, 3, 0.5, StepKind.FAULT, faults=(hostile,), label=hostile),))
    page = Page(render(snap, scen))
    assert not {t for t, _ in page.elements} & {"script", "img", "iframe", "object", "a", "link"}
    assert len(page.tags("h1")) == 1  # the scenario's name, not one smuggled in
    assert len(page.tags("b")) == 1  # the error's own lead-in
    assert page.texts["<h1>"] == hostile
    [(row, cells)] = page.tables["figures"]
    assert cells[0] == hostile and row["data-client"] == key
    assert page.texts["run-error"].endswith(hostile)
    assert any(hostile in cells for _, cells in page.tables["steps"])
    assert any(hostile in cells for _, cells in page.tables["fault-windows"])
    assert any(hostile in cells for _, cells in page.tables["events"])
    assert page.tags("div", data_count=hostile)
    svgs(render(snap, scen))  # the charts, titles and labels included, stay well-formed XML


def test_invisible_and_reordering_characters_are_shown_not_obeyed():
    name = "evil\u202egnp.exe\x00"
    snap = snapshot(Verdict.EXACT, expected={("x", ""): Figure(1, Decimal(1))},
                    stored={("x", ""): Figure(1, Decimal(1))}, names={"x": name})
    [(_, cells)] = Page(render(snap)).tables["figures"]
    assert cells[0] == "evil\\u202egnp.exe\\u0000"


def test_the_document_is_self_contained():
    text = render(snapshot(Verdict.EXACT), database="postgresql://me:s3cret@db.example/runs")
    page = Page(text)
    assert "http://" not in text and "https://" not in text
    assert "s3cret" not in text and "postgresql://me:***@db.example/runs" in text
    tags = {t for t, _ in page.elements}
    assert not {"script", "link", "iframe", "object", "embed", "img"} & tags
    assert not [a for _, a in page.elements if {"href", "src", "xlink:href"} & set(a)]
    assert "url(" not in text and "@import" not in text
    [csp] = page.tags("meta", http_equiv="Content-Security-Policy")
    assert csp["content"].startswith("default-src 'none'")


def test_hostile_links_stay_text():
    text = render(snapshot(Verdict.EXACT, names={"acme": "https://evil.example/x"}))
    assert not [a for _, a in Page(text).elements if {"href", "src", "xlink:href"} & set(a)]


def test_the_timeline_and_both_charts_shade_every_fault_window():
    snap = snapshot(Verdict.EXACT)
    pictures = svgs(render(snap))
    assert len(pictures) == 3  # the timeline, stored against expected, outcomes per second
    for svg in pictures:
        bands = [r for r in svg.iter("rect") if r.get("class") == "fault-window"]
        assert [b.get("data-point") for b in bands] == ["mid_transaction", "after_commit"]
        assert all(0 < float(b.get("fill-opacity")) < 1 and float(b.get("width")) > 0
                   for b in bands)
        labels = {t.text for t in svg.iter("text")}
        assert {"mid_transaction", "after_commit"} <= labels
    rows = Page(render(snap)).tables["fault-windows"]
    assert [cells for _, cells in rows] == [
        ["mid_transaction", "mid_transaction:0.4", "0", "3", "3"],
        ["after_commit", "after_commit:0.3", "1", "3", "2"]]


def test_a_window_still_on_reaches_where_the_run_is_now():
    snap = snapshot(None, fault_windows=(FaultWindow("drop_response", "drop_response", 1.0),),
                    samples=samples(n=9))  # the run is at 2.2 s of a 3 s timeline
    timeline, stored, outcomes = svgs(render(snap))
    [now] = [ln for ln in timeline.iter("line") if ln.get("class") == "position"]
    for svg in (timeline, stored, outcomes):  # the three share one time axis
        [band] = [r for r in svg.iter("rect") if r.get("class") == "fault-window"]
        right = float(band.get("x")) + float(band.get("width"))
        assert right == pytest.approx(float(now.get("x1")), abs=0.2)
        assert right < 860  # not to the axis' end: what comes after now is unknown
    [(_, cells)] = Page(render(snap)).tables["fault-windows"]
    assert cells[3:] == ["still on", "1.2"]


def test_steps_that_ran_are_told_from_those_still_to_come():
    page = Page(render(snapshot(None)))  # next_step 5: steps 1-4 ran
    assert [a["class"] for a, _ in page.tables["steps"]] == ["ran"] * 4 + ["not-run"] * 2
    timeline = svgs(render(snapshot(None)))[0]
    marks = {g.get("data-step"): g.get("class") for g in timeline.iter("g")}
    assert marks == {"1": "step ran", "2": "step ran", "3": "step ran", "4": "step ran",
                     "5": "step", "6": "step"}


def test_the_counts_are_shown_grouped_with_the_faults_injected_by_point():
    page = Page(render(snapshot(Verdict.EXACT, counts={
        "attempts": 1234567, "lost_acks": 17, "pending": 0, "retries": 95,
        "injected": {"mid_transaction": 61, "drop_response": 3000}})))
    tiles = {a["data-count"] for a in page.tags("div") if "data-count" in a}
    assert tiles == {"attempts", "lost_acks", "pending", "retries"}
    assert "1,234,567events sent (resends included)" in page.texts["tiles"]
    assert "17lost acknowledgements caught as duplicates" in page.texts["tiles"]
    assert [cells for _, cells in page.tables["injected"]] == [
        ["drop_response", "3,000"], ["mid_transaction", "61"]]


def test_the_stored_chart_scales_to_the_data_with_the_expected_count_dashed():
    many = tuple(Sample(t, 400_000 * t, 400_000 * t, 0, 0, 0, 0) for t in range(6))
    snap = snapshot(Verdict.EXACT, samples=many,
                    expected={("acme", "EUR"): Figure(2_000_000, Decimal("1"))},
                    stored={("acme", "EUR"): Figure(2_000_000, Decimal("1"))})
    _, stored, _ = svgs(render(snap))
    [expected] = [ln for ln in stored.iter("line") if ln.get("class") == "expected"]
    assert expected.get("stroke-dasharray")
    labels = [t.text for t in stored.iter("text")]
    assert "expected 2,000,000" in labels
    ticks = [int(x.replace(",", "")) for x in labels if x and x.replace(",", "").isdigit()
             and "," in x]
    assert max(ticks) >= 2_000_000  # no capped axis
    [line] = [p for p in stored.iter("polyline") if p.get("class") == "series-stored"]
    ys = [float(pt.split(",")[1]) for pt in line.get("points").split()]
    assert len(ys) == len(many) and ys == sorted(ys, reverse=True)  # rising on the page
    assert {"stored", "expected", "pending", "fault window"} <= set(labels)  # the legend


def test_outcomes_per_second_add_up_to_the_outcomes_counted():
    run = (Sample(0.5, 0, 100, 0, 0, 0, 0), Sample(1.5, 0, 300, 40, 1, 0, 0),
           # a fresh engine's counters start again from zero
           Sample(2.0, 0, 50, 10, 0, 5, 0), Sample(3.25, 0, 250, 10, 3, 5, 0))
    width, bins = outcome_rates(run, 3.25)
    assert width == 1.0 and [(a, b) for a, b, _ in bins] == [(0, 1), (1, 2), (2, 3), (3, 3.25)]
    total = {k: sum(r[k] * (b - a) for a, b, r in bins) for k in bins[0][2]}
    assert total == pytest.approx({"accepted": 300 + 50 + 200, "duplicates": 40 + 10,
                                   "rejected": 1 + 3, "failed": 5})
    assert bins[0][2]["accepted"] == pytest.approx(100 + 100)  # 0-0.5 s, then half of 0.5-1.5
    _, long_bins = outcome_rates((Sample(599.0, 0, 6000, 0, 0, 0, 0),), 600.0)
    assert len(long_bins) <= 150  # long runs get wider bins, not a thousand slivers


def test_outcomes_chart_draws_each_outcome_with_a_legend():
    _, _, outcomes = svgs(render(snapshot(Verdict.EXACT)))
    drawn = {p.get("class") for p in outcomes.iter("polyline")}
    assert drawn == {"series-accepted", "series-duplicates", "series-failed", "series-rejected"}
    labels = {t.text for t in outcomes.iter("text")}
    assert {"accepted", "duplicates", "failed", "rejected", "events per second",
            "seconds into the run"} <= labels


def test_a_run_with_no_samples_yet_still_renders():
    snap = RunSnapshot(state=RunState.READY, position_s=0.0, next_step=1)
    text = render(snap)
    page = Page(text)
    assert page.texts["verdict"].startswith("NO VERDICT YET")
    assert [cells for _, cells in page.tables["figures"]] == [
        ["No events expected and none stored."]]
    assert all("no samples yet" in {t.text for t in svg.iter("text")} for svg in svgs(text)[1:])


ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=30)  # surrogates too
PLAIN = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cf", "Co", "Cn",
                                                                 "Zl", "Zp")), max_size=20)
MONEY = st.decimals(allow_nan=False, allow_infinity=False, places=None,
                    min_value=Decimal("-1e12"), max_value=Decimal("1e12"))
FIGURES = st.dictionaries(st.tuples(PLAIN, st.sampled_from(["", "EUR", "USD", "JPY"])),
                          st.builds(Figure, st.integers(0, 10**7), MONEY), max_size=6)


@settings(max_examples=60, deadline=None)
@given(expected=FIGURES, stored=FIGURES, spelling=PLAIN,
       verdict=st.sampled_from([*Verdict, None]),
       times=st.lists(st.floats(0, 500), max_size=12),
       cumulative=st.lists(st.integers(0, 10**6), min_size=4, max_size=4))
def test_any_snapshot_renders_and_its_table_is_the_snapshot(expected, stored, spelling, verdict,
                                                             times, cumulative):
    names = {c: spelling + c for c, _ in expected}
    run = tuple(Sample(t, *cumulative, 0, 0) for t in sorted(times))
    snap = snapshot(verdict, expected=expected, stored=stored, names=names, samples=run,
                    fault_windows=tuple(FaultWindow("latency", "latency:50ms", t, None)
                                        for t in times[:3]))
    text = render(snap)
    assert [(a.get("class", ""), cells) for a, cells in Page(text).tables["figures"]] == (
        figure_rows(snap) or [("", ["No events expected and none stored."])])
    assert len(svgs(text)) == 3


@settings(max_examples=40, deadline=None)
@given(name=ANY_TEXT, label=ANY_TEXT, client=ANY_TEXT, error=ANY_TEXT)
def test_any_text_anywhere_renders_as_valid_utf8_with_well_formed_charts(name, label, client,
                                                                         error):
    snap = snapshot(Verdict.DIVERGED, names={"acme": client}, error=error or None,
                    fault_windows=(FaultWindow(label, label, 0.0, 1.0),),
                    timeline=(TimelineEntry(0.0, label, 1),), differences=(client,))
    scen = scenario(name=name, steps=(Step(1, 3, 0.0, StepKind.FAULT, faults=(label,),
                                           label=label),))
    text = render(snap, scen)
    text.encode("utf-8")  # what Save report writes: a lone surrogate would fail here
    page = Page(text)
    assert len(page.tags("h1")) == 1 and not page.tags("script")
    assert len(page.tables["figures"]) == len(EXPECTED)
    svgs(text)


def test_a_wrapped_description_reads_as_paragraphs():
    scen = replace(scenario(), description="\nHalf of all writes fail\nafter their rows are "
                                           "written.\n\nThen the outbox is sent again.\n")
    page = Page(render(snapshot(Verdict.EXACT), scen))
    assert len([a for a in page.tags("p") if a.get("class") == "description"]) == 2
    assert page.texts["description"] == ("Half of all writes fail after their rows are written."
                                         "Then the outbox is sent again.")


def test_steps_run_in_order_of_at_whatever_their_order_in_the_file():
    scen = scenario(steps=(Step(1, 3, 2.0, StepKind.RESTART),
                           Step(2, 6, 0.0, StepKind.FAULT, faults=("after_commit:0.3",)),
                           Step(3, 9, 1.0, StepKind.SEND, text="{}")))
    snap = snapshot(None, next_step=1, timeline=(TimelineEntry(0.0, "fault", 2),
                                                 TimelineEntry(1.0, "send", 3)))
    rows = Page(render(snap, scen)).tables["steps"]
    assert [(a["data-step"], a["class"]) for a, _ in rows] == [
        ("2", "ran"), ("3", "ran"), ("1", "not-run")]


def test_steps_a_moment_apart_are_both_seen():
    scen = scenario(steps=(Step(1, 3, 0.0, StepKind.FAULT, faults=("after_commit:0.3",)),
                           Step(2, 6, 0.0, StepKind.SEND, text="{}")))
    snap = snapshot(Verdict.EXACT, next_step=3, timeline=(TimelineEntry(0.0, "a", 1),
                                                          TimelineEntry(0.0006, "b", 2)))
    timeline = svgs(render(snap, scen))[0]
    ys = [c.get("cy") for c in timeline.iter("circle")]
    assert len(ys) == 2 and ys[0] != ys[1]  # stacked, not drawn on top of each other


@pytest.mark.parametrize("name", ["kill-restart", "crash-large-file"])
def test_a_played_scenario_reads_back_as_its_final_snapshot(tmp_path, name):
    """A built-in scenario played against a real engine (restarts in one, a fault window in
    the other): the report says what the run says."""
    scen = load_scenario(resolve(name))
    run = ScenarioRun(scen, tmp_path / "run.db", speed=2.0)
    try:
        run.start()
        snap = run.wait(timeout=120)
    finally:
        run.close()
    assert snap.state is RunState.FINISHED and snap.verdict is not None
    text = render_report(scen, snap, database=tmp_path / "run.db")
    page = Page(text)
    assert page.tags("section", data_verdict=snap.verdict.value)
    assert [(a["class"], cells) for a, cells in page.tables["figures"]] == figure_rows(snap)
    assert len(page.tables["steps"]) == len(scen.steps)
    assert all(a["class"] == "ran" for a, _ in page.tables["steps"])
    tiles = {a["data-count"] for a in page.tags("div") if "data-count" in a}
    assert {"attempts", "lost_acks", "pending", "retries", "restarts"} <= tiles
    restarts = sum(s.kind is StepKind.RESTART for s in scen.steps)
    timeline, stored, outcomes = svgs(text)
    assert sum(r.get("width") == "16" for r in timeline.iter("rect")) == restarts
    for svg in (stored, outcomes):  # the charts mark each restart too
        assert sum(ln.get("class") == "restart" for ln in svg.iter("line")) == restarts
    assert restarts or snap.fault_windows  # each scenario shows one of the two
    for svg in (timeline, stored, outcomes):
        bands = [r.get("data-point") for r in svg.iter("rect")
                 if r.get("class") == "fault-window"]
        assert bands == [w.point for w in snap.fault_windows]
    [line] = [p for p in stored.iter("polyline") if p.get("class") == "series-stored"]
    assert len(line.get("points").split()) == len(snap.samples)
    assert "http://" not in text and "https://" not in text


def test_a_long_run_draws_the_same_line_in_a_small_file():
    # three hours at ten samples a second, rising but for one dip that must survive thinning
    many = tuple(Sample(i / 10, i - (5000 if i == 50_001 else 0), i, 0, 0, 0, 0)
                 for i in range(108_000))
    text = render(snapshot(Verdict.EXACT, samples=many))
    [line] = [p for p in svgs(text)[1].iter("polyline") if p.get("class") == "series-stored"]
    points = [tuple(map(float, pt.split(","))) for pt in line.get("points").split()]
    assert len(points) <= 4 * 880 and len(text) < 400_000
    assert points[0] == (112.0, 254.0)  # from the first sample...
    ys = [y for _, y in points]
    assert min(ys) == pytest.approx(254 - 220 * 107_999 / 125_000, abs=0.1)  # ...to the last
    # on the page a rising line only climbs: the dip is the one place it drops
    assert sum(b > a + 0.5 for a, b in zip(ys, ys[1:])) == 1


def test_the_charts_mark_the_restarts_that_happened():
    _, stored, outcomes = svgs(render(snapshot(None)))  # step 4, the restart, ran at 2 s
    for svg in (stored, outcomes):
        [line] = [ln for ln in svg.iter("line") if ln.get("class") == "restart"]
        assert line.find("title").text == "engine killed and restarted at 2 s"
    _, stored, outcomes = svgs(render(snapshot(None, next_step=4)))  # not yet
    assert not [ln for svg in (stored, outcomes) for ln in svg.iter("line")
                if ln.get("class") == "restart"]
