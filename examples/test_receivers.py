"""docs/receiver-check.md: the two Flask receivers beside this file, checked with the plugin's
`sendai.check_receiver`. The safe one passes every case; the one without verification fails
exactly the forged ones."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator

import pytest
import safe_receiver
import unsafe_receiver
from werkzeug.serving import make_server

from sendai_server.testing import assert_receiver_safe

SECRET = "whsec_" + base64.b64encode(b"an example secret of 32 bytes!!!").decode()


@pytest.fixture
def serve() -> Iterator:
    """Serve a Flask app on a free port in a thread; the URL of its webhook route."""
    servers = []

    def start(app):
        server = make_server("127.0.0.1", 0, app, threaded=True)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_port}/webhooks/sendai"

    yield start
    for server in servers:
        server.shutdown()


def test_the_safe_receiver_passes_every_case(sendai, serve):
    app = safe_receiver.create_app(SECRET)
    url = serve(app)

    report = sendai.check_receiver(url, SECRET, acted_on=app.config["ACTED_ON"].count)

    assert_receiver_safe(report)  # on failure: each failing case, and what to change


def test_the_receiver_without_verification_fails_the_forged_cases(sendai, serve):
    app = unsafe_receiver.create_app(SECRET)
    url = serve(app)

    report = sendai.check_receiver(url, SECRET, acted_on=app.config["ACTED_ON"].count)

    assert set(report.failed) == {"bad_signature", "no_signature", "altered_body", "stale"}
    with pytest.raises(AssertionError, match="bad_signature"):
        assert_receiver_safe(report)
