"""A scenario run as one self-contained HTML document: the verdict, the counts, the timeline
with its fault windows, the charts (inline SVG) and expected against stored per client and
currency. Something a presenter attaches to a ticket: it opens offline, fetches nothing and
runs no script, and every string that came from a scenario file or from the events is escaped.
"""
from __future__ import annotations

import decimal
import re
from datetime import datetime, timezone
from decimal import Decimal

from .. import __version__
from ..core.dburl import label_of
from .model import (ClientKey, Figure, RunSnapshot, RunState, Scenario, Step, StepKind,
                    Verdict)
from .report_charts import (FAULT_RED, esc, outcomes_chart, seconds_label, stored_chart,
                            timeline_strip, window_end)

# exact sums and differences of any two totals, whatever their digits and exponents
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)
_VERDICT_TEXT = {
    Verdict.EXACT: "Every expected event is stored exactly once; nothing is pending.",
    Verdict.DIVERGED: "What is stored differs from what the inputs say.",
    Verdict.INCOMPLETE: "Events were still pending when the run ended.",
}
# the counters a run keeps (RunSnapshot.counts), in reading order, with what they mean
_COUNT_LABELS = {
    "attempts": "events sent (resends included)",
    "stored": "events stored",
    "accepted": "accepted",
    "duplicates": "duplicates",
    "lost_acks": "lost acknowledgements caught as duplicates",
    "rejected": "rejected",
    "quarantined": "in quarantine",
    "failed": "failed",
    "pending": "pending",
    "retries": "write retries (engine)",
    "resent": "events sent again (after a restart, or from the pending outbox)",
    "restarts": "engine restarts",
    "requests": "HTTP requests",
    "http_retries": "HTTP retries (sender)",
}

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial,
  sans-serif; margin: 24px auto; max-width: 920px; padding: 0 16px; color: #1d1d1f;
  background: #fff; line-height: 1.4; }
h1 { font-size: 1.6em; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 1.15em; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.description { color: #444; margin: 0 0 10px; overflow-wrap: anywhere; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0;
  font-size: 0.92em; }
dl.meta dt { color: #666; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.verdict { border-radius: 8px; padding: 14px 18px; margin: 18px 0; color: #fff; }
.verdict strong { display: block; font-size: 1.9em; letter-spacing: 0.04em; }
.verdict p { margin: 4px 0 0; }
.verdict-exact { background: #1b7f3a; }
.verdict-diverged { background: #c62828; }
.verdict-incomplete { background: #b26a00; }
.verdict-none { background: #5f6368; }
ul.differences li { color: #8e1b1b; overflow-wrap: anywhere; }
.run-error { border: 2px solid #c62828; border-radius: 6px; padding: 8px 12px; color: #8e1b1b;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr));
  gap: 8px; }
.tile { border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; }
.tile .n { font-size: 1.45em; font-variant-numeric: tabular-nums; }
.tile .what { color: #555; font-size: 0.85em; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; margin: 8px 0; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 4px 8px; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
th { background: #f5f5f7; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.differs td { background: #fdecea; }
tr.differs td.delta { color: #b71c1c; font-weight: 600; }
tfoot td { font-weight: 600; border-top: 2px solid #ccc; }
tr.not-run td { color: #888; }
.fault-point { color: #c62828; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 6px 0; }
.note { color: #666; font-size: 0.88em; }
footer { margin-top: 32px; color: #777; font-size: 0.85em; border-top: 1px solid #ddd;
  padding-top: 8px; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; }
  .verdict, tr.differs td, svg { print-color-adjust: exact; -webkit-print-color-adjust: exact; } }
"""
# nothing may be fetched or run, even if a string slipped past the escaping
_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def count_text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.3g}"
    return str(value)


def _signed(value: int | Decimal) -> str:
    if isinstance(value, int):
        return f"+{value:,}" if value > 0 else f"{value:,}"
    return f"+{value}" if value.is_finite() and value > 0 else str(value)


def render_report(scenario: Scenario, snapshot: RunSnapshot, *, database: object = None,
                  generated_at: datetime | None = None) -> str:
    """The run as one HTML document. ``database`` (a path or URL, shown with its password
    masked) and ``generated_at`` (default: now) only fill in the header."""
    when = (generated_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    end = _end_of_run(scenario, snapshot)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="faultsim {esc(__version__)}">',
        f"<title>{esc(scenario.name)}: {_verdict_word(snapshot)}: faultsim scenario report"
        "</title>",
        f"<style>{_CSS}</style></head><body>",
        _header(scenario, snapshot, database, when),
        _verdict_banner(snapshot),
        _counts_section(snapshot),
        _timeline_section(scenario, snapshot, end),
        _charts_section(scenario, snapshot, end),
        _figures_section(snapshot),
        f"<footer>Made by faultsim {esc(__version__)} on "
        f"{when.strftime('%Y-%m-%d %H:%M:%S')} UTC. Expected figures come from the scenario's "
        "inputs alone (the same parsing and normalization, no database); stored figures are "
        "read back from the database.</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _verdict_word(snapshot: RunSnapshot) -> str:
    if snapshot.verdict is not None:
        return snapshot.verdict.value
    return "not finished" if snapshot.state is not RunState.FINISHED else "no verdict"


def _now(snapshot: RunSnapshot) -> float:
    """How far the run has got: where a fault window still on ends in the pictures."""
    times = [snapshot.position_s] + [s.t_s for s in snapshot.samples]
    return max(times + [e.t_s for e in snapshot.timeline])


def _end_of_run(scenario: Scenario, snapshot: RunSnapshot) -> float:
    """The right edge of every picture: the latest moment anything in the run refers to."""
    times = [_now(snapshot), scenario.duration_s]
    times += [w.start_s for w in snapshot.fault_windows]
    times += [w.end_s for w in snapshot.fault_windows if w.end_s is not None]
    return max(max(times), 1.0)


def _header(scenario: Scenario, snapshot: RunSnapshot, database: object,
            when: datetime) -> str:
    rows = []
    if scenario.source is not None:
        rows.append(("scenario file", str(scenario.source)))
    rows.append(("seed", "none" if scenario.seed is None else str(scenario.seed)))
    if database is not None:
        rows.append(("database", label_of(database)))
    rows.append(("steps", f"{len(scenario.steps)}, the last at "
                          f"{seconds_label(scenario.duration_s)} s"))
    rows.append(("settle limit", f"{seconds_label(scenario.settle_s)} s"))
    rows.append(("write retries per batch", str(scenario.retries)))
    rows.append(("run", f"{snapshot.state.value} at {seconds_label(round(snapshot.position_s, 2))}"
                        " s"))
    rows.append(("report made", when.strftime("%Y-%m-%d %H:%M:%S UTC")))
    out = [f"<header><h1>{esc(scenario.name)}</h1>"]
    # a description is wrapped text in the file: its blank lines part paragraphs, nothing else
    for paragraph in re.split(r"\n\s*\n", scenario.description.strip()):
        if paragraph.strip():
            out.append(f'<p class="description">{esc(" ".join(paragraph.split()))}</p>')
    out.append('<dl class="meta">')
    out += [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows]
    out.append("</dl></header>")
    return "".join(out)


def _verdict_banner(snapshot: RunSnapshot) -> str:
    verdict = snapshot.verdict
    expected = sum(f.count for f in snapshot.expected.values())
    stored = sum(f.count for f in snapshot.stored.values())
    if verdict is None:
        css, word = "verdict-none", "NO VERDICT YET"
        sentence = (f"The run is {snapshot.state.value} at "
                    f"{seconds_label(round(snapshot.position_s, 2))} s; the verdict comes when "
                    "every event has a final outcome or the settle limit is reached.")
    else:
        css, word, sentence = f"verdict-{verdict.value}", verdict.value.upper(), \
            _VERDICT_TEXT[verdict]
    detail = f"{stored:,} of {expected:,} expected events stored"
    differing = sum(1 for _, _, differs in _rows(snapshot) if differs)
    if differing:
        detail += f"; {differing:,} client and currency row{'s' if differing != 1 else ''} differ"
    pending = snapshot.counts.get("pending")
    if isinstance(pending, int) and pending:
        detail += f"; {pending:,} pending"
    out = [f'<section class="verdict {css}" data-verdict="{verdict.value if verdict else ""}">'
           f"<strong>{word}</strong><p>{esc(sentence)}</p><p>{esc(detail)}.</p></section>"]
    if snapshot.error:
        out.append(f'<p class="run-error"><b>The run could not go on:</b> '
                   f"{esc(snapshot.error)}</p>")
    if snapshot.differences:
        out.append('<h2>Differences</h2><ul class="differences">')
        out += [f"<li>{esc(d)}</li>" for d in snapshot.differences]
        out.append("</ul>")
    return "".join(out)


def _counts_section(snapshot: RunSnapshot) -> str:
    counts = dict(snapshot.counts)
    injected = counts.pop("injected", None)
    keys = [k for k in _COUNT_LABELS if k in counts] + sorted(
        (k for k in counts if k not in _COUNT_LABELS), key=str)
    tiles = []
    for k in keys:
        value = counts[k]
        if isinstance(value, dict):  # a breakdown the report does not know: one line per part
            value = ", ".join(f"{p}: {count_text(n)}" for p, n in value.items()) or "none"
        else:
            value = count_text(value)
        what = _COUNT_LABELS.get(k, str(k).replace("_", " "))
        tiles.append(f'<div class="tile" data-count="{esc(k)}"><div class="n">{esc(value)}'
                     f'</div><div class="what">{esc(what)}</div></div>')
    out = ["<section><h2>Counts</h2>", f'<div class="tiles">{"".join(tiles)}</div>']
    out.append("<h3>Faults injected, by point</h3>")
    if isinstance(injected, dict) and any(injected.values()):
        out.append('<table class="injected"><thead><tr><th>point</th><th class="num">injected'
                   "</th></tr></thead><tbody>")
        for point, n in sorted(injected.items(), key=lambda item: str(item[0])):
            out.append(f'<tr><td class="fault-point">{esc(point)}</td>'
                       f'<td class="num">{esc(count_text(n))}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append('<p class="note">No fault fired during the run.</p>')
    out.append("</section>")
    return "".join(out)


def _placed_steps(scenario: Scenario, snapshot: RunSnapshot) -> list[tuple[Step, float, bool]]:
    """Each step where it sits on run time: when it started if it ran, else when it is due
    (shifted by however late the last step that ran started, e.g. after a wait)."""
    started: dict[int, float] = {}
    for entry in snapshot.timeline:
        if entry.step is not None:
            started.setdefault(entry.step, entry.t_s)
    placed, lag = [], 0.0
    ran = _ran(scenario, snapshot)
    for step in _run_order(scenario):
        if step.index in started:
            lag = max(lag, started[step.index] - step.at_s)
            placed.append((step, started[step.index], step.index in ran))
        else:
            placed.append((step, step.at_s + lag, step.index in ran))
    return sorted(placed, key=lambda p: (p[1], p[0].at_s, p[0].index))


def _run_order(scenario: Scenario) -> list[Step]:
    """Steps run in order of ``at``, ties in file order."""
    return sorted(scenario.steps, key=lambda s: (s.at_s, s.index))


def _ran(scenario: Scenario, snapshot: RunSnapshot) -> set[int]:
    """The indexes of the steps that ran: those before ``next_step`` in run order."""
    order = [s.index for s in _run_order(scenario)]
    cut = order.index(snapshot.next_step) if snapshot.next_step in order else len(order)
    return set(order[:cut])


def _step_what(step: Step) -> str:
    text = step.describe()
    if step.kind is StepKind.HTTP:
        text += f" ({step.concurrency} connections, {step.batch} per request)"
    elif step.kind is StepKind.WAIT:
        text += f" (up to {seconds_label(step.timeout_s)} s)"
    elif step.kind is StepKind.GENERATE:
        text += (f" ({step.count:,} events, {step.clients} clients)" if step.label
                 else f" ({step.clients} clients)")
    return text


def _timeline_section(scenario: Scenario, snapshot: RunSnapshot, end: float) -> str:
    placed = _placed_steps(scenario, snapshot)
    finished = snapshot.state is RunState.FINISHED
    settle_from = None
    if snapshot.state in (RunState.SETTLING, RunState.FINISHED) and placed:
        last = max(placed, key=lambda p: p[1])
        ends = [e.t_s for e in snapshot.timeline if e.step == last[0].index]
        settle_from = max(ends + [last[1]])
    out = ["<section><h2>Timeline</h2>",
           timeline_strip(placed, snapshot.fault_windows, end, _now(snapshot), settle_from,
                          finished),
           '<p class="note">Numbered circles are the steps (filled: it ran); red bars are the '
           "spans when a fault point could fire; grey is the settle phase after the last step."
           "</p>",
           '<table class="steps"><thead><tr><th class="num">step</th><th class="num">due at s'
           '</th><th class="num">started at s</th><th>kind</th><th>what</th>'
           '<th class="num">line</th></tr></thead><tbody>']
    started = {s.index: t for s, t, ran in placed if ran}
    ran_steps = _ran(scenario, snapshot)
    for step in _run_order(scenario):
        ran = step.index in ran_steps
        start = seconds_label(round(started[step.index], 2)) if step.index in started else "—"
        out.append(f'<tr class="{"ran" if ran else "not-run"}" data-step="{step.index}">'
                   f'<td class="num">{step.index}</td>'
                   f'<td class="num">{seconds_label(round(step.at_s, 3))}</td>'
                   f'<td class="num">{start}</td><td>{step.kind.value}</td>'
                   f"<td>{esc(_step_what(step))}</td><td class='num'>{step.line}</td></tr>")
    out.append("</tbody></table>")
    out.append("<h3>Fault windows</h3>")
    if snapshot.fault_windows:
        out.append('<table class="fault-windows"><thead><tr><th>point</th><th>as set</th>'
                   '<th class="num">from s</th><th class="num">to s</th>'
                   '<th class="num">seconds</th></tr></thead><tbody>')
        for w in snapshot.fault_windows:
            until = "still on" if w.end_s is None else seconds_label(round(w.end_s, 2))
            span = seconds_label(round(window_end(w, _now(snapshot)) - w.start_s, 2))
            out.append(f'<tr data-point="{esc(w.point)}"><td class="fault-point">'
                       f"{esc(w.point)}</td><td>{esc(w.spec)}</td>"
                       f'<td class="num">{seconds_label(round(w.start_s, 2))}</td>'
                       f'<td class="num">{until}</td><td class="num">{span}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append('<p class="note">No fault point was on.</p>')
    if snapshot.timeline:
        out.append('<h3>What happened</h3><table class="events"><thead><tr>'
                   '<th class="num">at s</th><th class="num">step</th><th>event</th></tr>'
                   "</thead><tbody>")
        for e in snapshot.timeline:
            step = "" if e.step is None else str(e.step)
            out.append(f'<tr><td class="num">{seconds_label(round(e.t_s, 2))}</td>'
                       f'<td class="num">{step}</td><td>{esc(e.text)}</td></tr>')
        out.append("</tbody></table>")
    out.append("</section>")
    return "".join(out)


def _charts_section(scenario: Scenario, snapshot: RunSnapshot, end: float) -> str:
    expected_total = sum(f.count for f in snapshot.expected.values())
    now = _now(snapshot)
    restarts = tuple(t for step, t, ran in _placed_steps(scenario, snapshot)
                     if ran and step.kind is StepKind.RESTART)
    return "".join([
        "<section><h2>Charts</h2><h3>Events stored against the expected count</h3>",
        stored_chart(snapshot.samples, snapshot.fault_windows, expected_total, end, now,
                     restarts),
        "<h3>Outcomes per second</h3>",
        outcomes_chart(snapshot.samples, snapshot.fault_windows, end, now, restarts),
        f'<p class="note">Red bands (<span style="color:{FAULT_RED}">■</span>) are the fault '
        "windows, named by their point; dashed lines are restarts. Duplicates during a fault or "
        "after a restart are lost acknowledgements and resends being caught; failed events "
        "are retried from the pending outbox.</p>",
        "</section>"])


def _rows(snapshot: RunSnapshot
          ) -> list[tuple[ClientKey, tuple[Figure | None, Figure | None], bool]]:
    keys = sorted(set(snapshot.expected) | set(snapshot.stored))
    rows = []
    for key in keys:
        e, s = snapshot.expected.get(key), snapshot.stored.get(key)
        rows.append((key, (e, s), e != s))
    return rows


def _figures_section(snapshot: RunSnapshot) -> str:
    out = ["<section><h2>Expected and stored, per client and currency</h2>",
           '<table class="figures"><thead><tr><th>client</th><th>currency</th>'
           '<th class="num">expected events</th><th class="num">expected total</th>'
           '<th class="num">stored events</th><th class="num">stored total</th>'
           '<th class="num">events Δ</th><th class="num">total Δ</th></tr></thead><tbody>']
    rows = _rows(snapshot)
    for (client, currency), (e, s), differs in rows:
        name = snapshot.names.get(client, client)
        zero = Figure(0, Decimal(0))
        de, ds = e or zero, s or zero
        count_delta = ds.count - de.count
        total_delta = _EXACT.subtract(ds.total, de.total)
        cells = [
            f"<td>{esc(name)}</td>",
            f"<td>{esc(currency) if currency else '—'}</td>",
            _figure_cells(e, "not expected"),
            _figure_cells(s, "not stored"),
            f'<td class="num delta">{_signed(count_delta) if differs else ""}</td>',
            f'<td class="num delta">{_signed(total_delta) if differs else ""}</td>',
        ]
        css = "differs" if differs else "same"
        out.append(f'<tr class="{css}" data-client="{esc(client)}"'
                   f' data-currency="{esc(currency)}">{"".join(cells)}</tr>')
    if not rows:
        out.append('<tr><td colspan="8" class="note">No events expected and none stored.</td>'
                   "</tr>")
    out.append("</tbody>")
    expected = sum(f.count for f in snapshot.expected.values())
    stored = sum(f.count for f in snapshot.stored.values())
    differing = sum(1 for _, _, differs in rows if differs)
    out.append(f'<tfoot><tr><td colspan="2">all clients ({len(rows):,} rows, {differing:,} '
               f'differ)</td><td class="num">{expected:,}</td><td></td>'
               f'<td class="num">{stored:,}</td><td></td>'
               f'<td class="num delta">{_signed(stored - expected) if stored != expected else ""}'
               "</td><td></td></tr></tfoot></table>")
    out.append('<p class="note">Totals are exact decimals as stored, never rounded; a client\'s '
               "row per currency, since amounts in different currencies do not add up.</p>")
    out.append("</section>")
    return "".join(out)


def _figure_cells(figure: Figure | None, missing: str) -> str:
    if figure is None:
        return (f'<td class="num missing" title="{missing}">—</td>'
                f'<td class="num missing" title="{missing}">—</td>')
    return f'<td class="num">{figure.count:,}</td><td class="num">{figure.total}</td>'
