"""The report's pictures as inline SVG: the timeline strip and the two charts over run time,
each with the fault windows shaded. Every string that reaches the SVG is escaped here.

Plain strings, no drawing library: the report must open anywhere with nothing to fetch.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from html import escape

from .model import FaultWindow, Sample, Step, StepKind

WIDTH = 880
_LEFT, _RIGHT = 112, 20  # the left margin fits the fault lanes' point names
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
FAULT_RED = "#c62828"
# the window's light-palette outcome colours (ui/theme.py), so the report reads like the window
SERIES = {"accepted": "#1b7f3a", "duplicates": "#1f5fbf", "failed": "#c62828",
          "rejected": "#b26a00", "stored": "#1b7f3a", "pending": "#8e24aa", "expected": "#333"}
OUTCOMES = ("accepted", "duplicates", "failed", "rejected")
_MAX_BINS = 150  # outcomes-per-second bars wider than a few pixels stay readable


# control characters, bidirectional overrides and lone surrogates in a client's name or a label
# would hide or reorder what the reader sees (or break the file's UTF-8): shown as \uXXXX instead
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
                        "\ud800-\udfff\ufffe\uffff]")


def esc(text: object) -> str:
    """Untrusted text, escaped for HTML and SVG, with invisible and reordering characters made
    visible."""
    return escape(_INVISIBLE.sub(lambda m: f"\\u{ord(m[0]):04x}", str(text)), quote=True)


def grouped(value: float) -> str:
    """A count with thousands grouped; a fraction keeps at most one decimal."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def nice_step(span: float, target: int, integer: bool = False) -> float:
    """A 1-2-5 step that cuts ``span`` into about ``target`` intervals."""
    raw = max(span, 1e-9) / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        step = m * magnitude
        if step >= raw and not (integer and m == 2.5 and magnitude < 10):
            break
    return max(step, 1.0) if integer else step


def ticks(top: float, target: int, integer: bool = False) -> tuple[list[float], float]:
    """Ticks from 0 covering ``top``, and the axis' end (the last tick, never below ``top``)."""
    step = nice_step(top, target, integer)
    n = max(1, math.ceil(top / step - 1e-9))
    return [round(i * step, 10) for i in range(n + 1)], n * step


def seconds_label(t: float) -> str:
    return f"{t:,.0f}" if float(t).is_integer() else f"{t:,.2f}".rstrip("0").rstrip(".")


def window_end(w: FaultWindow, end_s: float) -> float:
    return end_s if w.end_s is None else w.end_s


@dataclass(frozen=True)
class _Plot:
    """Maps run time and values to the pixels of one plot area."""

    x0: float  # pixels
    x1: float
    y0: float  # top
    y1: float  # bottom
    t_end: float
    v_end: float

    def x(self, t: float) -> float:
        return self.x0 + (self.x1 - self.x0) * min(max(t, 0.0), self.t_end) / self.t_end

    def y(self, v: float) -> float:
        return self.y1 - (self.y1 - self.y0) * min(max(v, 0.0), self.v_end) / self.v_end


def _svg(height: int, label: str, body: list[str]) -> str:
    # no xmlns: inside HTML the parser puts <svg> in the SVG namespace, and the document stays
    # free of any URL
    return (f'<svg class="chart" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}"'
            f' role="img" aria-label="{esc(label)}" font-family="{esc(FONT)}" font-size="11">'
            f"<title>{esc(label)}</title>" + "".join(body) + "</svg>")


def _time_axis(p: _Plot, out: list[str], caption: bool = True) -> None:
    marks, _ = ticks(p.t_end, 10)
    for t in marks:
        x = p.x(t)
        out.append(f'<line x1="{x:.1f}" y1="{p.y1:.1f}" x2="{x:.1f}" y2="{p.y1 + 4:.1f}"'
                   f' stroke="#555"/>')
        out.append(f'<text x="{x:.1f}" y="{p.y1 + 16:.1f}" text-anchor="middle"'
                   f' fill="#333">{esc(seconds_label(t))}</text>')
    out.append(f'<line x1="{p.x0}" y1="{p.y1}" x2="{p.x1}" y2="{p.y1}" stroke="#555"/>')
    if caption:
        out.append(f'<text x="{(p.x0 + p.x1) / 2:.1f}" y="{p.y1 + 32:.1f}" text-anchor="middle"'
                   f' fill="#555">seconds into the run</text>')


def _value_axis(p: _Plot, marks: list[float], caption: str, out: list[str]) -> None:
    for v in marks:
        y = p.y(v)
        out.append(f'<line x1="{p.x0}" y1="{y:.1f}" x2="{p.x1}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{p.x0 - 6}" y="{y + 4:.1f}" text-anchor="end"'
                   f' fill="#333">{esc(grouped(v))}</text>')
    out.append(f'<line x1="{p.x0}" y1="{p.y0}" x2="{p.x0}" y2="{p.y1}" stroke="#555"/>')
    mid = (p.y0 + p.y1) / 2
    out.append(f'<text x="{p.x0 - 72}" y="{mid:.1f}" text-anchor="middle" fill="#555"'
               f' transform="rotate(-90 {p.x0 - 72} {mid:.1f})">{esc(caption)}</text>')


def _lanes(windows: tuple[FaultWindow, ...]) -> dict[str, int]:
    """One lane per fault point, in order of first appearance, so labels never sit on each
    other."""
    lanes: dict[str, int] = {}
    for w in windows:
        lanes.setdefault(w.point, len(lanes))
    return lanes


def _window_title(w: FaultWindow) -> str:
    until = "now (still on)" if w.end_s is None else f"{seconds_label(w.end_s)} s"
    return f"{w.spec}: from {seconds_label(w.start_s)} s to {until}"


def _fault_bands(p: _Plot, windows: tuple[FaultWindow, ...], now_s: float,
                 out: list[str]) -> None:
    """Translucent red bands over the plot, each named by its point near the top; a window
    still on reaches ``now_s``."""
    lanes = _lanes(windows)
    for w in windows:
        xa, xb = p.x(w.start_s), p.x(window_end(w, now_s))
        width = max(xb - xa, 1.5)  # a window that opened and closed at once still shows
        out.append(f'<rect class="fault-window" data-point="{esc(w.point)}" x="{xa:.1f}"'
                   f' y="{p.y0:.1f}" width="{width:.1f}" height="{p.y1 - p.y0:.1f}"'
                   f' fill="{FAULT_RED}" fill-opacity="0.13" stroke="{FAULT_RED}"'
                   f' stroke-opacity="0.35"><title>{esc(_window_title(w))}</title>'
                   f"</rect>")
        y = p.y0 + 12 + 13 * lanes[w.point]
        if xa > p.x1 - 130:  # near the right edge the name runs leftwards, inside the plot
            out.append(f'<text x="{xa + width - 3:.1f}" y="{y:.1f}" text-anchor="end"'
                       f' fill="{FAULT_RED}">{esc(w.point)}</text>')
        else:
            out.append(f'<text x="{xa + 3:.1f}" y="{y:.1f}" fill="{FAULT_RED}">'
                       f"{esc(w.point)}</text>")


def _restart_lines(p: _Plot, restarts: tuple[float, ...], out: list[str]) -> None:
    """Where the engine was killed: what follows a restart (resends caught as duplicates)
    reads against it."""
    for t in restarts:
        x = p.x(t)
        out.append(f'<line class="restart" x1="{x:.1f}" y1="{p.y0:.1f}" x2="{x:.1f}"'
                   f' y2="{p.y1:.1f}" stroke="#333" stroke-width="1.2" stroke-dasharray="3 3">'
                   f"<title>engine killed and restarted at {esc(seconds_label(t))} s</title>"
                   "</line>")
        out.append(f'<text x="{x + 3:.1f}" y="{p.y1 - 5:.1f}" fill="#333">restart</text>')


def _legend(items: list[tuple[str, str, bool]], out: list[str], y: float = 16) -> None:
    """Swatches above the plot: (name, colour, dashed)."""
    x = float(_LEFT)
    for name, colour, dashed in items:
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out.append(f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 22:.1f}" y2="{y - 4}"'
                   f' stroke="{colour}" stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{x + 27:.1f}" y="{y}" fill="#222">{esc(name)}</text>')
        x += 40 + 6.5 * len(name)


def _legend_band(x: float, out: list[str], y: float = 16) -> None:
    out.append(f'<rect x="{x:.1f}" y="{y - 10}" width="22" height="11" fill="{FAULT_RED}"'
               f' fill-opacity="0.13" stroke="{FAULT_RED}" stroke-opacity="0.35"/>')
    out.append(f'<text x="{x + 27:.1f}" y="{y}" fill="#222">fault window</text>')


def thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """A long run's line keeps, per pixel column, its first, lowest, highest and last point:
    it looks the same, and the report stays small however long the run."""
    if len(points) <= 2 * WIDTH:
        return points
    out: list[tuple[float, float]] = []
    column: list[tuple[float, float]] = []
    for pt in points:
        if column and int(pt[0]) != int(column[0][0]):
            out += _extremes(column)
            column = []
        column.append(pt)
    return out + _extremes(column)


def _extremes(column: list[tuple[float, float]]) -> list[tuple[float, float]]:
    ys = [y for _, y in column]
    keep = sorted({0, ys.index(min(ys)), ys.index(max(ys)), len(column) - 1})
    return [column[i] for i in keep]


def _polyline(points: list[tuple[float, float]], colour: str, cls: str, width: float = 2,
              extra: str = "") -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in thin(points))
    return (f'<polyline class="{cls}" points="{coords}" fill="none" stroke="{colour}"'
            f' stroke-width="{width:g}" stroke-linejoin="round"{extra}/>')


def _no_data(p: _Plot, out: list[str]) -> None:
    out.append(f'<text x="{(p.x0 + p.x1) / 2:.1f}" y="{(p.y0 + p.y1) / 2:.1f}"'
               f' text-anchor="middle" fill="#777">no samples yet</text>')


def stored_chart(samples: tuple[Sample, ...], windows: tuple[FaultWindow, ...],
                 expected_total: int, end_s: float, now_s: float,
                 restarts: tuple[float, ...] = ()) -> str:
    """Events in the database over run time against the expected count (dashed), with the
    events still pending."""
    height, top, bottom = 300, 34, 254
    peak = max([expected_total] + [max(s.stored, s.pending) for s in samples])
    marks, v_end = ticks(max(peak * 1.08, 1), 5, integer=True)
    _, t_end = ticks(end_s, 10)
    p = _Plot(_LEFT, WIDTH - _RIGHT, top, bottom, t_end, v_end)
    out: list[str] = []
    _value_axis(p, marks, "events", out)
    _fault_bands(p, windows, now_s, out)
    _restart_lines(p, restarts, out)
    if samples:
        out.append(_polyline([(p.x(s.t_s), p.y(s.pending)) for s in samples],
                             SERIES["pending"], "series-pending", 1.5, ' stroke-opacity="0.8"'))
        out.append(_polyline([(p.x(s.t_s), p.y(s.stored)) for s in samples],
                             SERIES["stored"], "series-stored"))
    else:
        _no_data(p, out)
    y = p.y(expected_total)
    out.append(f'<line class="expected" x1="{p.x0}" y1="{y:.1f}" x2="{p.x1}" y2="{y:.1f}"'
               f' stroke="{SERIES["expected"]}" stroke-width="1.5" stroke-dasharray="6 4"/>')
    out.append(f'<text x="{p.x1 - 4}" y="{y - 5:.1f}" text-anchor="end" fill="#222">'
               f"expected {esc(grouped(expected_total))}</text>")
    _time_axis(p, out)
    legend = [("stored", SERIES["stored"], False), ("expected", SERIES["expected"], True),
              ("pending", SERIES["pending"], False)]
    _legend(legend, out)
    _legend_band(_LEFT + sum(40 + 6.5 * len(n) for n, _, _ in legend), out)
    return _svg(height, "Events stored over time against the expected count", out)


def outcome_rates(samples: tuple[Sample, ...], now_s: float
                  ) -> tuple[float, list[tuple[float, float, dict[str, float]]]]:
    """Per bin of run time up to ``now_s``, each outcome's events per second: (bin width in
    seconds, [(start, end, rates)]). The last bin ends at ``now_s`` and its rate is over the
    time it covers.

    Samples are cumulative; what changed between two samples is spread evenly over the time
    between them. A count that goes down (a fresh engine's counters) counts from zero again.
    """
    width = 1.0
    for width in (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0):
        if now_s / width <= _MAX_BINS:
            break
    n = max(1, math.ceil(now_s / width - 1e-9))
    bins = [dict.fromkeys(OUTCOMES, 0.0) for _ in range(n)]
    previous, t_prev = dict.fromkeys(OUTCOMES, 0), 0.0
    for s in samples:
        a, b = max(0.0, min(t_prev, s.t_s)), max(0.0, s.t_s)
        for name in OUTCOMES:
            now = getattr(s, name)
            delta = now - previous[name] if now >= previous[name] else now
            previous[name] = now
            if not delta:
                continue
            if b - a <= 1e-9:
                bins[min(n - 1, max(0, int(b / width)))][name] += delta
                continue
            first = min(n - 1, max(0, int(a / width)))
            for i in range(first, min(n - 1, int(b / width)) + 1):
                lo = a if i == first else i * width
                hi = b if i == n - 1 else min(b, (i + 1) * width)  # the last bin takes the rest
                bins[i][name] += delta * max(hi - lo, 0.0) / (b - a)
        t_prev = s.t_s
    spans = []
    for i, b in enumerate(bins):
        start, end = i * width, min((i + 1) * width, max(now_s, i * width + 1e-3))
        spans.append((start, end, {k: v / (end - start) for k, v in b.items()}))
    return width, spans


def outcomes_chart(samples: tuple[Sample, ...], windows: tuple[FaultWindow, ...],
                   end_s: float, now_s: float, restarts: tuple[float, ...] = ()) -> str:
    """Accepted, duplicates, failed and rejected per second over run time, as step lines."""
    height, top, bottom = 300, 34, 254
    # rates are known up to the last sample, not up to now
    width, bins = outcome_rates(samples, max(samples[-1].t_s, 1e-3) if samples else now_s)
    peak = max((v for _, _, b in bins for v in b.values()), default=0.0)
    marks, v_end = ticks(max(peak * 1.08, 1), 5, integer=peak >= 5)
    t_end = ticks(max(end_s, bins[-1][1]), 10)[1]
    p = _Plot(_LEFT, WIDTH - _RIGHT, top, bottom, t_end, v_end)
    out: list[str] = []
    caption = "events per second" + ("" if width == 1 else f" ({seconds_label(width)} s bins)")
    _value_axis(p, marks, caption, out)
    _fault_bands(p, windows, now_s, out)
    _restart_lines(p, restarts, out)
    if samples:
        for name in OUTCOMES:
            points: list[tuple[float, float]] = []
            for start, end, b in bins:
                y = p.y(b[name])
                points += [(p.x(start), y), (p.x(end), y)]
            out.append(_polyline(points, SERIES[name], f"series-{name}", 1.6))
    else:
        _no_data(p, out)
    _time_axis(p, out)
    legend = [(name, SERIES[name], False) for name in OUTCOMES]
    _legend(legend, out)
    _legend_band(_LEFT + sum(40 + 6.5 * len(n) for n, _, _ in legend), out)
    return _svg(height, "Outcomes per second: accepted, duplicates, failed, rejected", out)


def timeline_strip(placed: list[tuple[Step, float, bool]], windows: tuple[FaultWindow, ...],
                   end_s: float, now_s: float, settle_from: float | None,
                   finished: bool) -> str:
    """The steps as numbered markers on run time (``placed``: each step, when it started or is
    due, and whether it ran), one lane per fault point below them with its windows shaded, the
    settle phase in grey and, while the run goes on, where it is now."""
    lanes = _lanes(windows)
    _, t_end = ticks(end_s, 10)
    xs = _Plot(_LEFT, WIDTH - _RIGHT, 0, 1, t_end, 1.0)
    # markers closer than their width stack upwards (the lowest free level) instead of
    # hiding each other
    level_ends: list[float] = []
    heights = []
    for _, t, _ in placed:
        x = xs.x(t)
        level = next((i for i, end in enumerate(level_ends) if end <= x - 18), len(level_ends))
        if level == len(level_ends):
            level_ends.append(x)
        level_ends[level] = x
        heights.append(level)
    stack_height = max(len(level_ends), 1)
    marker_top = 14
    axis_y = marker_top + 18 * stack_height + 8
    lane_h = 18
    bottom = axis_y + 8 + lane_h * max(len(lanes), 1)
    height = int(bottom + 44)
    p = _Plot(_LEFT, WIDTH - _RIGHT, marker_top, axis_y, t_end, 1.0)
    out: list[str] = []
    if settle_from is not None:
        xa, xb = p.x(settle_from), p.x(now_s)
        out.append(f'<rect class="settle" x="{xa:.1f}" y="{marker_top - 6}"'
                   f' width="{max(xb - xa, 0):.1f}" height="{bottom - marker_top + 6:.1f}"'
                   f' fill="#888" fill-opacity="0.10"><title>settling: waiting for every event'
                   f"'s final outcome</title></rect>")
        out.append(f'<text x="{xb - 3:.1f}" y="{bottom - 4:.1f}" text-anchor="end"'
                   f' fill="#666">settle</text>')
    for point, lane in lanes.items():
        y = axis_y + 8 + lane * lane_h
        out.append(f'<text x="{_LEFT - 6}" y="{y + 13}" text-anchor="end"'
                   f' fill="{FAULT_RED}">{esc(point)}</text>')
        out.append(f'<line x1="{p.x0}" y1="{y + lane_h - 1}" x2="{p.x1}" y2="{y + lane_h - 1}"'
                   f' stroke="#eee"/>')
    if not lanes:
        out.append(f'<text x="{_LEFT - 6}" y="{axis_y + 21}" text-anchor="end" fill="#777">'
                   "no faults</text>")
    for w in windows:
        y = axis_y + 8 + lanes[w.point] * lane_h
        xa, xb = p.x(w.start_s), p.x(window_end(w, now_s))
        out.append(f'<rect class="fault-window" data-point="{esc(w.point)}" x="{xa:.1f}"'
                   f' y="{y + 2}" width="{max(xb - xa, 1.5):.1f}" height="{lane_h - 4}"'
                   f' fill="{FAULT_RED}" fill-opacity="0.28" stroke="{FAULT_RED}"'
                   f' stroke-opacity="0.6"><title>{esc(_window_title(w))}</title></rect>')
        if 5.6 * len(w.spec) + 8 <= xb - xa:  # a spec that does not fit is in the tooltip
            out.append(f'<text x="{xa + 4:.1f}" y="{y + 13}" fill="#7a1010"'
                       f' font-size="10">{esc(w.spec)}</text>')
    for (s, t, ran), level in zip(placed, heights):
        x = p.x(t)
        y = axis_y - 12 - 18 * level
        restart = s.kind is StepKind.RESTART
        colour = "#333" if restart else "#1f5fbf"
        fill, text = (colour, "#fff") if ran else ("#fff", colour)
        # a restart is a square, and its line crosses the fault lanes: the engine died there
        reach = bottom if restart else axis_y
        marker = (f'<rect x="{x - 8:.1f}" y="{y - 8:.1f}" width="16" height="16" fill="{fill}"'
                  f' stroke="{colour}"/>' if restart else
                  f'<circle cx="{x:.1f}" cy="{y:.1f}" r="8" fill="{fill}" stroke="{colour}"/>')
        dash = ' stroke-dasharray="3 3"' if restart else ""
        out.append(f'<g class="step{" ran" if ran else ""}" data-step="{s.index}">'
                   f"<title>{esc(f'step {s.index} at {seconds_label(t)} s: {s.describe()}')}"
                   f'</title><line x1="{x:.1f}" y1="{y + 8:.1f}" x2="{x:.1f}" y2="{reach}"'
                   f' stroke="{colour}" stroke-opacity="0.6"{dash}/>{marker}'
                   f'<text x="{x:.1f}" y="{y + 3.5:.1f}" text-anchor="middle" font-size="9.5"'
                   f' fill="{text}">{s.index}</text></g>')
    _time_axis(_Plot(_LEFT, WIDTH - _RIGHT, marker_top, bottom, t_end, 1.0), out)
    if not finished:
        x = p.x(now_s)
        out.append(f'<line class="position" x1="{x:.1f}" y1="{marker_top - 8}" x2="{x:.1f}"'
                   f' y2="{bottom}" stroke="#000" stroke-width="2"/>')
        out.append(f'<text x="{x + 4:.1f}" y="{marker_top - 1}" fill="#000">now</text>')
    return _svg(height, "Timeline: steps and fault windows", out)
