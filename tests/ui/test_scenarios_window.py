"""Simulate ▸ Scenarios…: a scenario played in the window reaches the verdict and the totals
`faultsim scenario run --json` reaches; the timeline and both charts shade the fault windows;
bad files are listed with step and line; closing ends the run and its engine."""
import json
import multiprocessing
from decimal import Decimal
from pathlib import Path

from faultsim_desktop.cli import main as cli_main
from faultsim_desktop.core.service import IngestService
from faultsim_desktop.scenario.model import RunState, Verdict

RUN_TIMEOUT_MS = 180_000

# a small scenario of every timeline feature the window draws: two fault windows (closed by
# "off"), a send during them, a restart, a wait
SCENARIO = """
name = "window check"
seed = 5
settle = "30s"

[[step]]
at = "0s"
fault = "mid_transaction:0.5"

[[step]]
at = "0s"
send = "events.ndjson"

[[step]]
at = "0.5s"
fault = "after_commit:0.5"

[[step]]
at = "1s"
fault = "off"

[[step]]
at = "1.2s"
restart = true

[[step]]
at = "1.5s"
text = '{"client": "Late", "amount": "7.25", "currency": "EUR", "event_id": "late-1"}'

[[step]]
at = "2s"
wait = "converged"
"""

EVENTS = "\n".join(
    f'{{"client": "{("Acme", "Globex", "Initech")[i % 3]}", "amount": "{i}.{i % 100:02d}", '
    f'"currency": "{("EUR", "USD")[i % 2]}", "event_id": "e{i}"}}' for i in range(1, 121)
) + "\n"


def _scenario_file(tmp_path: Path) -> Path:
    (tmp_path / "events.ndjson").write_text(EVENTS, encoding="utf-8")
    path = tmp_path / "check.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    return path


def _open(qtbot, window):
    window.scenarios_action.trigger()
    sw = window.scenarios_window
    assert sw is not None and sw.isVisible()
    return sw


def _play_to_the_end(qtbot, sw, speed_index=None):
    if speed_index is not None:
        sw.speed_box.setCurrentIndex(speed_index)
    with qtbot.waitSignal(sw.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        sw.play_action.trigger()
    return blocker.args[0]


def _cli_json(capsys, tmp_path, what) -> dict:
    code = cli_main(["scenario", "run", str(what), "--db", str(tmp_path / "cli.db"), "--json"])
    out = capsys.readouterr().out
    result = json.loads(out)
    assert (code == 0) == (result["verdict"] == "exact")
    return result


def _shown(sw) -> list[dict]:
    """The convergence table's stored column, as figures_json writes it."""
    rows = sorted(sw.convergence.model.rows, key=lambda r: r.key)
    return [{"client": r.client, "currency": r.key[1] or None, "count": r.stored.count,
             "total": str(r.stored.total)} for r in rows if r.stored is not None]


def _keyed(figures: list[dict]) -> dict:
    return {(f["client"].casefold(), f["currency"]): (f["count"], Decimal(f["total"]))
            for f in figures}


def test_a_builtin_scenario_in_the_window_matches_the_command_line(qtbot, window, tmp_path,
                                                                   capsys):
    sw = _open(qtbot, window)
    assert sw.entries[0].builtin == "demo"  # the window demo's sequence, judged, comes first
    listed = {e.builtin for e in sw.entries}
    assert {"ack-storm", "crash-large-file", "kill-restart", "http-dropped-answers",
            "key-reuse", "demo"} <= listed
    assert all(e.error is None for e in sw.entries)
    sw.select("key-reuse")
    final = _play_to_the_end(qtbot, sw)
    assert final.verdict is Verdict.EXACT
    assert "EXACT" in sw.convergence.verdict_text()
    headless = _cli_json(capsys, tmp_path, "key-reuse")
    assert headless["verdict"] == final.verdict.value
    assert _keyed(_shown(sw)) == _keyed(headless["stored"]) == _keyed(headless["expected"])
    # every row agrees, and none is marked
    assert not any(r.differs for r in sw.convergence.model.rows)
    assert sw.convergence.model.text(0, 4) == "="


def test_an_opened_file_plays_with_its_fault_windows_shaded(qtbot, window, tmp_path, capsys):
    path = _scenario_file(tmp_path)
    sw = _open(qtbot, window)
    entry = sw.open_scenario(path)
    assert entry.error is None and sw.current_entry() is entry
    assert [sw.steps_tree.topLevelItem(i).text(3) for i in range(7)][:2] == [
        "fault mid_transaction:0.5", "send events.ndjson"]
    # mid-run: the panels move while the run plays, and the list waits for it
    seen = []
    sw.snapshotShown.connect(lambda s: seen.append(s))
    with qtbot.waitSignal(sw.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        sw.play_action.trigger()
        qtbot.waitUntil(lambda: sw.last_snapshot is not None
                        and sw.last_snapshot.state is not RunState.READY, timeout=60_000)
        assert not sw.scenario_list.isEnabled() and sw.stop_action.isEnabled()
    final = blocker.args[0]
    assert final.verdict is Verdict.EXACT, final.error
    assert any(s is not None and s.state is RunState.PLAYING for s in seen)
    # both fault windows, closed by "off" at 1 s, shaded on both charts and on the timeline
    windows = final.fault_windows
    assert {w.point for w in windows} == {"mid_transaction", "after_commit"}
    assert all(w.end_s is not None for w in windows)
    for chart in (sw.stored_chart, sw.outcome_chart):
        shown = [r for r in chart.shading.regions if r.isVisible()]
        assert len(shown) == len(windows)
        for region, w in zip(shown, windows):
            assert region.getRegion() == (w.start_s, w.end_s)
            assert not region.movable
    assert sw.timeline.points == ["mid_transaction", "after_commit"]
    assert len(sw.timeline.bars.opts["x0"]) == len(windows)
    assert sw.timeline.position_line.value() == final.position_s
    # the stored curve ends at the expected count, which is what the headless run stores
    assert sw.stored_chart.expected == sum(f.count for f in final.expected.values()) == 121
    assert sw.stored_chart.curve.getData()[1][-1] == 121
    assert all(sw.steps_tree.topLevelItem(i).text(0).startswith("✓") for i in range(7))
    assert all(sw.steps_tree.topLevelItem(i).text(2).endswith("s") for i in range(7))  # ran at
    # the restart, where it really ran, as a dashed line on both charts
    restart = next(e.t_s for e in final.timeline if e.step == 5)
    for chart in (sw.stored_chart, sw.outcome_chart):
        assert [line.value() for line in chart.restart_lines if line.isVisible()] == [restart]
    headless = _cli_json(capsys, tmp_path, path)
    assert headless["verdict"] == "exact"
    assert _keyed(_shown(sw)) == _keyed(headless["stored"])
    assert sw.convergence.count_labels["pending"].text() == "0"
    assert int(sw.convergence.count_labels["attempts"].text().replace(",", "")) >= 121
    # the report of the run on screen
    report = tmp_path / "report.html"
    assert sw.report_action.isEnabled() and sw.save_report(report)
    text = report.read_text(encoding="utf-8")
    assert "window check" in text and "exact" in text.lower()


def test_a_database_with_other_events_diverges_and_the_row_is_marked(qtbot, window, tmp_path):
    path = _scenario_file(tmp_path)
    db = tmp_path / "mine.db"
    with IngestService(db, workers=0) as svc:  # an event of the user's, not in the scenario
        assert svc.submit_text('{"client": "Acme", "amount": "1000", "currency": "EUR", '
                               '"event_id": "mine-1"}', "mine").wait(30).accepted == 1
    sw = _open(qtbot, window)
    sw.open_scenario(path)
    sw.set_database(db)
    assert "mine.db" in sw.db_label.text()
    final = _play_to_the_end(qtbot, sw)
    assert final.verdict is Verdict.DIVERGED
    assert "DIVERGED" in sw.convergence.verdict_text()
    first = sw.convergence.model.rows[0]  # differences come first
    assert first.key == ("acme", "EUR") and first.differs
    assert sw.convergence.model.text(0, 4) == "≠ +1 event, +1,000.00"
    assert "1 differ" in sw.convergence.summary_label.text()
    assert sum(r.differs for r in sw.convergence.model.rows) == 1
    # the runner's own sentences, as faultsim scenario run prints them, under the verdict
    assert sw.convergence.differences_label.isVisible()
    assert all(d in sw.convergence.differences_label.text() for d in final.differences)
    assert db.exists()  # the user's database stays


def test_faults_left_on_past_settle_end_incomplete_with_every_row_marked(qtbot, window,
                                                                         tmp_path):
    path = tmp_path / "stuck.toml"
    path.write_text('name = "stuck"\nsettle = "1s"\nretries = 1\n\n'
                    '[[step]]\nat = "0s"\nfault = "before_write:always"\n\n'
                    '[[step]]\nat = "0s"\n'
                    'text = \'{"client": "Acme", "amount": "5", "currency": "EUR"}\'\n',
                    encoding="utf-8")
    sw = _open(qtbot, window)
    sw.open_scenario(path)
    final = _play_to_the_end(qtbot, sw)
    assert final.verdict is Verdict.INCOMPLETE
    assert "INCOMPLETE" in sw.convergence.verdict_text()
    assert sw.convergence.count_labels["pending"].text() == "1"
    [row] = sw.convergence.model.rows
    assert row.key == ("acme", "EUR") and row.stored is None
    assert sw.convergence.model.text(0, 4) == "≠ not stored"
    assert sw.convergence.model.judged  # a final difference: red, no longer catching up
    # the fault was never turned off: its window runs to the end of the run
    [w] = final.fault_windows
    assert w.point == "before_write" and w.end_s is None
    region = next(r for r in sw.stored_chart.shading.regions if r.isVisible())
    assert region.getRegion() == (w.start_s, final.position_s)


def test_a_bad_file_is_listed_with_its_step_and_line_and_cannot_play(qtbot, window, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "typo"\n\n[[step]]\nat = "0s"\nfault = "mid_transacton:0.4"\n',
                   encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "not toml\n', encoding="utf-8")
    sw = _open(qtbot, window)
    entry = sw.open_scenario(bad)
    assert entry.scenario is None
    assert "step 1" in entry.error and "line 5" in entry.error
    assert sw.error_label.isVisible() and "step 1" in sw.error_label.text()
    assert sw.scenario_list.currentItem().text().startswith("⚠")
    assert not sw.play_action.isEnabled() and not sw.step_action.isEnabled()
    sw.play()  # a shortcut pressed anyway does nothing
    assert sw.run is None and not sw.live
    entry = sw.open_scenario(broken)
    assert entry.scenario is None and "line 1" in entry.error
    # a built-in still plays after them
    sw.select("key-reuse")
    assert sw.play_action.isEnabled() and not sw.error_label.isVisible()
    # the opened files come back in the next window
    assert [str(bad.resolve()), str(broken.resolve())] == list(
        window.settings.value("scenarios/opened"))


def test_step_runs_one_step_then_stays_paused(qtbot, window, tmp_path):
    sw = _open(qtbot, window)
    sw.open_scenario(_scenario_file(tmp_path))
    sw.step_action.trigger()
    qtbot.waitUntil(lambda: sw.last_snapshot is not None and sw.last_snapshot.next_step >= 2
                    and sw.last_snapshot.state is RunState.PAUSED, timeout=60_000)
    assert sw.steps_tree.topLevelItem(0).text(0).startswith("✓")
    assert sw.play_action.isEnabled() and not sw.pause_action.isEnabled()
    reached = sw.last_snapshot.next_step
    sw.step_action.trigger()
    qtbot.waitUntil(lambda: sw.last_snapshot.next_step == reached + 1, timeout=60_000)
    assert sw.last_snapshot.state is RunState.PAUSED
    held = sw.last_snapshot.position_s
    sw.play_action.trigger()  # goes on from where it paused
    qtbot.waitUntil(lambda: sw.last_snapshot.state is not RunState.PAUSED, timeout=60_000)
    assert sw.pause_action.isEnabled() and not sw.play_action.isEnabled()
    with qtbot.waitSignal(sw.runFinished, timeout=RUN_TIMEOUT_MS) as blocker:
        pass
    final = blocker.args[0]
    assert final.verdict is Verdict.EXACT and final.position_s > held
    assert sw.play_action.isEnabled() and not sw.stop_action.isEnabled()


def test_a_database_that_cannot_be_opened_ends_the_run_with_the_reason(qtbot, window,
                                                                       tmp_path):
    db = tmp_path / "not-a-db.db"
    db.write_bytes(b"these bytes are no SQLite database at all, " * 50)
    sw = _open(qtbot, window)
    sw.open_scenario(_scenario_file(tmp_path))
    sw.set_database(db)
    final = _play_to_the_end(qtbot, sw)
    assert final.verdict is not Verdict.EXACT and final.error
    assert final.error in sw.convergence.verdict_text()
    assert "not a faultsim database" in sw.convergence.verdict_text()
    assert db.read_bytes().startswith(b"these bytes")  # left as it was
    assert sw.play_action.isEnabled() and not sw.live  # the window goes on


def test_closing_the_main_window_ends_the_run_and_its_engine(qtbot, window, tmp_path):
    sw = _open(qtbot, window)
    sw.select("crash-large-file")
    sw.speed_box.setCurrentIndex(0)  # the slowest: still playing when the window closes
    sw.play_action.trigger()
    qtbot.waitUntil(lambda: sw.run is not None and sw.last_snapshot is not None
                    and sw.last_snapshot.state is RunState.PLAYING, timeout=60_000)
    folder = sw.host.tmp
    assert folder is not None and folder.exists()
    window.close()
    assert not sw.isVisible() and sw.run is None and sw.threads() == []
    assert not folder.exists()  # the temporary database is gone
    assert multiprocessing.active_children() == []  # the engine process was killed


def test_closing_the_scenarios_window_stops_its_run(qtbot, window):
    sw = _open(qtbot, window)
    sw.select("crash-large-file")
    sw.speed_box.setCurrentIndex(0)
    sw.play_action.trigger()
    qtbot.waitUntil(lambda: sw.run is not None, timeout=60_000)
    folder = sw.host.tmp
    sw.close()
    assert sw.run is None and not sw.live
    qtbot.waitUntil(lambda: not folder.exists() and sw.threads() == [], timeout=60_000)
    # opened again, it plays again
    assert _open(qtbot, window) is sw and sw.play_action.isEnabled()
