"""The crash panel's HTTP faults: shown while the window serves, set on the served engine's
POST /events whatever the database crash switch says, counted in the panel's tally, off when
the server stops."""
import threading

import httpx

from faultsim_desktop.core.faults import WIRE_POINTS, FaultMode, FaultPoint

from .helpers import open_window

BODY = '{"client": "webshop", "amount": "10.10", "currency": "EUR", "ts": 1700000000}\n'


def post_from_thread(url, body, outcomes):
    """POST off the GUI thread (the window keeps painting); ``outcomes`` gets the status
    code, or the name of the network error."""
    def run():
        with httpx.Client(base_url=url, timeout=60) as c:
            try:
                outcomes.append(c.post("/events", content=body).status_code)
            except httpx.TransportError as exc:
                outcomes.append(type(exc).__name__)
    t = threading.Thread(target=run)
    t.start()
    return t


def start_serving(qtbot, w):
    w.serve_control.port.setValue(0)
    with qtbot.waitSignal(w.serve_control.runningChanged, timeout=10_000):
        w.serve_control.button.click()
    return w.serve_control.url


def test_wire_faults_show_while_serving_and_act_on_posts(qtbot, window):
    panel = window.fault_panel
    assert not panel.wire.isVisible()
    url = start_serving(qtbot, window)
    assert panel.wire.isVisible()
    assert not window.crash_action.isChecked()  # the database switch stays off throughout

    panel.wire.set_wire_fault(FaultPoint.DROP_REQUEST, FaultMode.NEXT_N, count=1)
    panel.wire.set_wire_fault(FaultPoint.HTTP_503, FaultMode.NEXT_N, count=1)
    faults = window.service.faults
    assert faults.get(FaultPoint.DROP_REQUEST).mode is FaultMode.NEXT_N
    outcomes = []
    for _ in range(3):  # one at a time: dropped, then 503, then stored
        post_from_thread(url, BODY, outcomes).join()
    assert outcomes[0] in ("RemoteProtocolError", "ReadError", "WriteError")
    assert outcomes[1:] == [503, 201]
    qtbot.waitUntil(lambda: panel.injected.text() == (
        "Faults injected so far: 2\nrequests dropped unread: 1\nrequests answered 503: 1"),
        timeout=10_000)
    assert window.service.counts()["events"] == 1

    # the database fault's controls leave the wire alone, and the reverse; a spent "next N"
    # stays spent when another point changes
    panel.wire.set_wire_fault(FaultPoint.DROP_RESPONSE, FaultMode.ALWAYS)
    panel.set_fault(FaultPoint.AFTER_COMMIT, FaultMode.PROBABILITY, probability=0.2)
    assert faults.get(FaultPoint.DROP_RESPONSE).mode is FaultMode.ALWAYS
    assert faults.get(FaultPoint.AFTER_COMMIT).mode is FaultMode.PROBABILITY
    assert faults.get(FaultPoint.DROP_REQUEST).mode is FaultMode.OFF
    post_from_thread(url, BODY.replace("10.10", "2.50"), outcomes).join()
    assert outcomes[-1] in ("RemoteProtocolError", "ReadError")
    assert window.service.counts()["events"] == 2  # committed, then the answer was cut

    with qtbot.waitSignal(window.serve_control.runningChanged, timeout=30_000):
        window.serve_control.button.click()
    assert not panel.wire.isVisible()
    assert all(faults.get(p).mode is FaultMode.OFF for p in WIRE_POINTS)
    assert "drop_response" not in faults.summary()
    assert panel.wire.enabled_boxes[FaultPoint.DROP_RESPONSE].isChecked()  # kept for next time


def test_wire_faults_set_before_serving_apply_when_the_server_starts(qtbot, window):
    panel = window.fault_panel
    panel.wire.set_wire_fault(FaultPoint.SLOW_RESPONSE, FaultMode.PROBABILITY, probability=0.6)
    panel.wire.delay_ms.setValue(350)
    faults = window.service.faults
    assert faults.get(FaultPoint.SLOW_RESPONSE).mode is FaultMode.OFF  # nothing serves yet
    messages = []
    window.message.connect(messages.append)
    start_serving(qtbot, window)
    config = faults.get(FaultPoint.SLOW_RESPONSE)
    assert (config.mode, config.probability, config.delay_s) == (FaultMode.PROBABILITY, 0.6,
                                                                 0.35)
    panel.wire.set_wire_fault(FaultPoint.SLOW_RESPONSE, FaultMode.OFF)
    assert faults.get(FaultPoint.SLOW_RESPONSE).mode is FaultMode.OFF
    assert messages[-1] == "HTTP faults off"
    panel.wire.set_wire_fault(FaultPoint.HTTP_503, FaultMode.PROBABILITY, probability=0.25)
    assert messages[-1] == "HTTP faults on POST /events: http_503 p=0.25"
    window.serve_control.shutdown()


def test_wire_settings_are_remembered_but_start_off(qtbot, make_window, settings, db_path):
    first = make_window()
    first.fault_panel.wire.set_wire_fault(FaultPoint.DROP_RESPONSE, FaultMode.PROBABILITY,
                                          probability=0.45)
    first.fault_panel.wire.delay_ms.setValue(1500)
    first.close()
    second = open_window(qtbot, db_path, settings, restore=True)
    try:
        wire = second.fault_panel.wire
        assert not wire.enabled_boxes[FaultPoint.DROP_RESPONSE].isChecked()
        assert wire.probabilities[FaultPoint.DROP_RESPONSE].value() == 0.45
        assert wire.delay_ms.value() == 1500
        assert all(c.mode is FaultMode.OFF for c in wire.configs().values())
    finally:
        second.close()
