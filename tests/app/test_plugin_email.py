"""The pytest plugin (docs/plugin.md) with this issue's additions: `upload()` takes an `.eml`, and a
test makes a connector with OAuth2 (`project.connector`) whose token endpoint and receiver it
runs itself."""

from __future__ import annotations

import pytest

from tests.support.plugin import PLUGIN

pytest_plugins = ["pytester"]

SUITE = '''
import json
import threading
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sendai_server

INVOICE = Path(sendai_server.__file__).parent / "samples" / "invoice.pdf"


def test_an_email_and_an_oauth2_connector(sendai, tmp_path):
    token_calls, deliveries, delivered = [], [], threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            raw = b""
            if self.path == "/token":
                token_calls.append(self.headers["Authorization"])
                raw = json.dumps({"access_token": "tok-1", "expires_in": 3600}).encode()
            else:
                deliveries.append((self.headers["Authorization"], json.loads(body)))
                delivered.set()
            self.send_response(200)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        project = sendai.project(pipeline="auto")
        made = project.connector(base + "/hook", events=["upload.in_review"], oauth2={
            "token_url": base + "/token", "client_id": "c", "client_secret": "s3cret"})
        assert made["oauth2"]["client_secret"] == "***"

        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@b.example", "c@d.example", "Hi"
        message.set_content("Total: 10.00 EUR")
        message.add_attachment(INVOICE.read_bytes(), maintype="application", subtype="pdf",
                               filename="invoice.pdf")
        path = tmp_path / "mail.eml"
        path.write_bytes(message.as_bytes())
        body_id, pdf_id = project.upload(path)["taskIds"]
        assert project.wait_for(body_id, "REVIEWING")["name"] == "mail.eml"
        assert project.wait_for(pdf_id, "REVIEWING")["name"] == "invoice.pdf"
        assert delivered.wait(30), "no notification"
        [(authorization, payload)] = deliveries
        assert (authorization, payload["event"]) == ("Bearer tok-1", "UPLOAD_IN_REVIEW")
        assert len(token_calls) == 1
    finally:
        server.shutdown()
        server.server_close()
'''


def test_upload_takes_an_eml_and_a_test_makes_an_oauth2_connector(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_email=SUITE)
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=1)
