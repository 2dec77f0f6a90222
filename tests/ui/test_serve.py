"""The window's "Serve on port" switch: events posted over HTTP show up live; off frees the port."""
import threading
from decimal import Decimal

import httpx
import pytest

from faultsim_desktop.core.model import Outcome

from .helpers import totals

BODY = ('{"client": "webshop", "amount": "10.10", "currency": "EUR"}\n'
        '{"client": "webshop", "amount": "0.05", "currency": "EUR"}\n'
        '{"client": "webshop", "amount": "ten"}\n')


def post_from_thread(url, body, answers):
    def run():
        with httpx.Client(base_url=url, timeout=60) as c:
            answers.append(c.post("/events", content=body))
    t = threading.Thread(target=run)
    t.start()
    return t


def test_serve_switch_shows_http_events_live_and_off_closes_the_port(qtbot, window):
    control = window.serve_control
    control.port.setValue(0)  # any free port
    with qtbot.waitSignal(control.runningChanged, timeout=10_000):
        control.button.click()
    url = control.url
    assert url.startswith("http://127.0.0.1:") and control.url_label.text() == url

    answers = []
    poster = post_from_thread(url, BODY, answers)
    qtbot.waitUntil(lambda: totals(window) == {("webshop", "EUR"): (2, Decimal("10.15"))},
                    timeout=20_000)
    qtbot.waitUntil(lambda: window.log_view.model.rowCount() == 3, timeout=20_000)
    rows = window.log_view.model.rows()
    assert sorted(r.outcome for r in rows) == sorted([Outcome.ACCEPTED, Outcome.ACCEPTED,
                                                      Outcome.REJECTED])
    assert {r.source for r in rows} == {"http:127.0.0.1"}
    poster.join()
    assert answers[0].status_code == 422  # two stored, one rejected: each listed
    assert [e["outcome"] for e in answers[0].json()["events"]] == ["accepted", "accepted",
                                                                   "rejected"]

    with qtbot.waitSignal(control.runningChanged, timeout=30_000) as stopped:
        control.button.click()
    assert stopped.args == [False] and not control.button.isChecked()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health")


def test_closing_the_window_stops_the_server(qtbot, make_window):
    w = make_window()
    w.serve_control.port.setValue(0)
    w.serve_control.button.click()
    url = w.serve_control.url
    assert httpx.get(url + "/health").json()["status"] == "ok"
    w.close()  # the fixture then checks that no thread or timer is left
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health")


def test_a_port_in_use_is_reported_and_the_switch_stays_off(qtbot, window, make_window):
    window.serve_control.port.setValue(0)
    window.serve_control.button.click()
    taken = int(window.serve_control.url.rsplit(":", 1)[1])
    other = make_window()
    other.serve_control.port.setValue(taken)
    with qtbot.waitSignal(other.message, timeout=10_000) as said:
        other.serve_control.button.click()
    assert said.args[0].startswith(f"Cannot serve on port {taken}")
    assert not other.serve_control.button.isChecked() and not other.serve_control.running


def test_switching_databases_keeps_serving_into_the_new_one(qtbot, window, tmp_path):
    control = window.serve_control
    control.port.setValue(0)
    control.button.click()
    assert window.switch_database(tmp_path / "other.db")
    assert control.running and control.button.isChecked()
    r = httpx.post(control.url + "/events", content='{"client": "moved", "amount": "1.5"}')
    assert r.status_code == 201
    assert window.service.db_path == tmp_path / "other.db"
    assert [(s.client, s.total) for s in window.service.stats()] == [("moved", Decimal("1.5"))]
