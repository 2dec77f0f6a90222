"""``faultsim serve`` in a thread of the test's own process, on a free port, for the tests of
the HTTP API, its wire faults and ``faultsim send``."""
from __future__ import annotations

from contextlib import contextmanager

import httpx

from faultsim_desktop.core.faults import parse_fault_spec
from faultsim_desktop.server import BackgroundServer


@contextmanager
def serving_url(service, *specs: str, **options):
    """The server's URL while it serves ``service``; ``specs`` (``"drop_request:always"``...)
    are set on the service's fault switch first. The server is stopped, and known to be, at
    the end."""
    for spec in specs:
        service.faults.set(*parse_fault_spec(spec))
    srv = BackgroundServer(service, port=0, retry_after_s=0, **options)
    try:
        yield srv.url
    finally:
        srv.stop()
    assert not srv.running


@contextmanager
def serving(service, *specs: str, **options):
    """``serving_url`` with an HTTP client on that URL."""
    with serving_url(service, *specs, **options) as url:
        with httpx.Client(base_url=url, timeout=60) as client:
            yield client
