"""The receiver check (docs/receiver-check.md) against real local receivers: one that verifies
as it should passes every case; each flawed one fails exactly its cases; nothing but the URL
given is contacted; a URL that does not answer gives a report. Then where users reach it: the
CLI (its exit status), the endpoint (both databases), the plugin's assertion helper, and the
inspector's notifications page."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import standardwebhooks
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.cli import main
from sendai_server.config import Config
from sendai_server.pipeline.receiver_check import CASES, Target, check_receiver
from sendai_server.services.keys import create_key
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import Receiver
from sendai_server.testing.receiver_check import assert_receiver_safe
from tests.support import documents
from tests.support.helpers import auth
from tests.support.inspector import sign_in
from tests.support.pipeline import Project, drain

SECRET = "whsec_" + base64.b64encode(b"receiver-check-secret-32-bytes!!").decode()
FORGERIES = {"bad_signature", "no_signature", "altered_body", "stale"}


@dataclass
class Flaws:
    skip_signature: bool = False
    ignore_timestamp: bool = False
    act_twice: bool = False
    crash_on_bad_json: bool = False


@dataclass
class CheckedReceiver:
    """A webhook receiver on a free port, in threads: it verifies with `standardwebhooks` as a
    team's receiver should, except where `flaws` say otherwise, and records each event id it
    acts on."""

    flaws: Flaws = field(default_factory=Flaws)
    acted: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    requests: int = 0

    def __post_init__(self) -> None:
        receiver = self
        webhook = standardwebhooks.Webhook(SECRET)
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    receiver.requests += 1
                    receiver.bodies.append(body)
                    status = receiver.answer(webhook, body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/sendai"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def answer(self, webhook: standardwebhooks.Webhook, body: bytes,
               headers: dict[str, str]) -> int:
        flaws = self.flaws
        if not flaws.skip_signature:
            try:
                if flaws.ignore_timestamp:  # the signature, at whatever time it claims
                    lower = {k.lower(): v for k, v in headers.items()}
                    signed_at = int(lower["webhook-timestamp"])
                    expected = webhook.sign(lower["webhook-id"],
                                            datetime.fromtimestamp(signed_at, UTC), body)
                    if expected not in lower["webhook-signature"].split(" "):
                        return 401
                else:
                    webhook.verify(body, headers, json_parse=False)
            except (standardwebhooks.WebhookVerificationError, KeyError, ValueError):
                return 401
        try:
            event = json.loads(body)
        except ValueError:
            return 500 if flaws.crash_on_bad_json else 400
        if not isinstance(event, dict) or "id" not in event:
            return 400
        if event["id"] in self.acted and not flaws.act_twice:
            return 200  # seen: acknowledged, not acted on again
        if event.get("event") in ("UPLOAD_PROCESSED", "UPLOAD_IN_REVIEW", "TASK_EXPORT"):
            self.acted.append(event["id"])
        return 200

    def acted_on(self, event_id: str) -> int:
        return self.acted.count(event_id)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def checked() -> Iterator[list[CheckedReceiver]]:
    made: list[CheckedReceiver] = []
    yield made
    for receiver in made:
        receiver.close()


def _receiver(made: list[CheckedReceiver], **flaws: bool) -> CheckedReceiver:
    receiver = CheckedReceiver(Flaws(**flaws))
    made.append(receiver)
    return receiver


@pytest.mark.parametrize("flaws,failing", [
    ({}, set()),
    ({"skip_signature": True}, FORGERIES),
    ({"ignore_timestamp": True}, {"stale"}),
    ({"act_twice": True}, {"replay"}),
    ({"crash_on_bad_json": True}, {"malformed"}),
], ids=["verifies", "skips_signature", "ignores_timestamp", "acts_twice", "500_on_bad_json"])
def test_each_receiver_fails_exactly_its_cases(
    checked: list[CheckedReceiver], flaws: dict[str, bool], failing: set[str],
) -> None:
    receiver = _receiver(checked, **flaws)
    report = check_receiver(Target(receiver.url, SECRET), acted_on=receiver.acted_on)
    assert [case.name for case in report.cases] == list(CASES)
    assert set(report.failed) == failing, report.table()
    assert report.passed is not failing
    assert receiver.requests == len(CASES)  # each case sent once
    for case in report.cases:
        assert case.status_code is not None and case.duration_ms is not None
        assert (case.why is None) == case.passed
        assert SECRET not in json.dumps(case.sent)


def test_a_flawed_receivers_failures_say_what_to_do(checked: list[CheckedReceiver]) -> None:
    receiver = _receiver(checked, skip_signature=True)
    report = check_receiver(Target(receiver.url, SECRET))
    why = report.case("bad_signature").why
    assert why is not None and "another secret" in why and "`webhook-signature`" in why
    assert "raw request bytes" in (report.case("altered_body").why or "")
    assert "10 minutes old" in (report.case("stale").why or "")
    assert "not JSON" not in (report.case("malformed").why or "")  # it refused: passed


def test_what_each_case_sends_is_signed_as_a_delivery(checked: list[CheckedReceiver]) -> None:
    receiver = _receiver(checked)
    report = check_receiver(Target(receiver.url, SECRET, bearer="tok-123"))
    valid = report.case("valid").sent["headers"]
    assert valid["webhook-id"] == valid["X-Sendai-Event-Id"] == report.case("valid").event_id
    assert valid["X-Sendai-Signature"].startswith("t=")
    assert valid["webhook-signature"].startswith("v1,")
    assert valid["Authorization"] == "Bearer ***"
    assert "X-Sendai-Signature" not in report.case("no_signature").sent["headers"]
    assert "webhook-signature" not in report.case("no_signature").sent["headers"]
    assert report.case("replay").event_id == report.case("valid").event_id
    others = [c.event_id for c in report.cases if c.name not in ("valid", "replay")]
    assert len(set(others)) == len(others) and report.case("valid").event_id not in others


def test_without_an_observer_the_replay_says_how_to_see_it(
    checked: list[CheckedReceiver],
) -> None:
    receiver = _receiver(checked, act_twice=True)
    report = check_receiver(Target(receiver.url, SECRET))
    replay = report.case("replay")
    assert replay.passed and replay.acted_on is None  # 2xx: all that can be seen from outside
    assert "pass*" in report.table() and "*replay: " in report.table()
    assert replay.note is not None and replay.event_id in replay.note
    assert "exactly once" in replay.note


def test_only_the_url_given_is_contacted(checked: list[CheckedReceiver],
                                          receivers: list[Receiver]) -> None:
    bystander = Receiver()
    receivers.append(bystander)
    receiver = _receiver(checked)
    report = check_receiver(Target(receiver.url, SECRET), acted_on=receiver.acted_on)
    assert report.passed, report.table()
    assert receiver.requests == len(CASES)
    assert bystander.received == []


def _refusing_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: nothing listens there


def test_a_url_that_refuses_connections_gives_a_report() -> None:
    report = check_receiver(Target(f"http://127.0.0.1:{_refusing_port()}/hook", SECRET))
    assert set(report.failed) == set(CASES)
    valid = report.case("valid")
    assert valid.status_code is None and valid.error and "ConnectError" in valid.error
    assert all(c.seen == "not sent" for c in report.cases if c.name != "valid")
    assert "not answer" in report.table()


def test_a_url_that_never_answers_gives_a_report_after_its_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        report = check_receiver(Target(url, SECRET), timeout=0.5)
    assert set(report.failed) == set(CASES)
    assert report.case("valid").error == "no answer within 0.5 s"


def test_a_plain_secret_signs_with_stripes_scheme_only(checked: list[CheckedReceiver]) -> None:
    receiver = _receiver(checked)  # verifies Standard Webhooks: every signed case is refused
    report = check_receiver(Target(receiver.url, "plain-secret"))
    assert report.schemes == ["X-Sendai-Signature (Stripe's scheme)"]
    assert "webhook-signature" not in report.case("valid").sent["headers"]
    assert "valid" in report.failed
    assert "`X-Sendai-Signature`" in (report.case("valid").why or "")


# --- the assertion helper -------------------------------------------------------------------------

def test_the_assertion_helper_names_each_failing_case(checked: list[CheckedReceiver]) -> None:
    receiver = _receiver(checked, skip_signature=True)
    report = check_receiver(Target(receiver.url, SECRET))
    with pytest.raises(AssertionError) as raised:
        assert_receiver_safe(report)
    message = str(raised.value)
    for name in FORGERIES:
        assert name in message
    assert "valid:" not in message and "malformed:" not in message
    assert_receiver_safe(check_receiver(Target(_receiver(checked).url, SECRET)))


# --- the command line -----------------------------------------------------------------------------

def test_cli_exits_0_when_every_case_passes(checked: list[CheckedReceiver]) -> None:
    receiver = _receiver(checked)
    result = CliRunner().invoke(main, ["check-receiver", receiver.url, "--secret", SECRET,
                                       "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["passed"] is True and document["failed"] == []
    assert [c["name"] for c in document["cases"]] == list(CASES)
    assert SECRET not in result.output


def test_cli_exits_1_with_a_table_when_a_case_fails(checked: list[CheckedReceiver]) -> None:
    receiver = _receiver(checked, ignore_timestamp=True)
    result = CliRunner().invoke(main, ["check-receiver", receiver.url, "--secret", SECRET])
    assert result.exit_code == 1, result.output
    assert "stale" in result.stdout and "FAIL" in result.stdout
    assert "10 minutes old" in result.stdout
    assert "Traceback" not in result.output


def test_cli_on_a_url_that_does_not_answer_exits_1_with_a_report() -> None:
    url = f"http://127.0.0.1:{_refusing_port()}/hook"
    result = CliRunner().invoke(main, ["check-receiver", url, "--secret", SECRET])
    assert result.exit_code == 1
    assert "not sent" in result.stdout and result.exception is None or \
        isinstance(result.exception, SystemExit)


def test_cli_wants_team_and_project_together() -> None:
    result = CliRunner().invoke(main, ["check-receiver", "http://127.0.0.1:9/x",
                                       "--secret", SECRET, "--team", "team_x"])
    assert result.exit_code == 2
    assert "--team and --project go together" in result.output


def test_cli_refuses_a_url_that_is_not_http() -> None:
    result = CliRunner().invoke(main, ["check-receiver", "ftp://example.com/x",
                                       "--secret", SECRET])
    assert result.exit_code == 2
    assert "http" in result.output


# --- the endpoint (both databases) ----------------------------------------------------------------

def _connector(client: FlaskClient, seed: dict[str, Any], url: str,
               secret: str | None = SECRET) -> str:
    body = {"url": url, **({"secret": secret} if secret else {})}
    response = client.post(
        f"/v2/{seed['team_id']}/project/{seed['project_id']}/test_helpers/connectors",
        json=body, headers=auth(seed["keys"]["helpers"]))
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["payload"]["id"])


def _check_url(seed: dict[str, Any], connector_id: str) -> str:
    return f"/v2/{seed['team_id']}/test_helpers/connectors/{connector_id}/check"


def test_endpoint_checks_a_connectors_receiver_and_keeps_the_last_check(
    client: FlaskClient, seed: dict[str, Any], checked: list[CheckedReceiver],
) -> None:
    receiver = _receiver(checked, crash_on_bad_json=True)
    connector_id = _connector(client, seed, receiver.url)
    response = client.post(_check_url(seed, connector_id),
                           headers=auth(seed["keys"]["helpers"]))
    assert response.status_code == 200, response.get_json()
    report = response.get_json()["payload"]
    assert report["failed"] == ["malformed"] and report["passed"] is False
    assert SECRET not in response.get_data(as_text=True)
    assert receiver.requests == len(CASES)
    assert sign_in(client, seed["keys"]["helpers"]).status_code == 303
    page = client.get(f"/inspect/{seed['team_id']}/project/{seed['project_id']}/notifications")
    assert page.status_code == 200
    row = page.text.split(f'data-connector-id="{connector_id}"')[1].split("</tr>")[0]
    assert "failed: malformed" in row


def test_endpoint_sends_the_projects_newest_real_notification(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    checked: list[CheckedReceiver],
) -> None:
    receiver = _receiver(checked)
    project = Project(client, uow, seed)
    made = project.post("/test_helpers/connectors", json={"url": receiver.url, "secret": SECRET})
    connector_id = made.get_json()["payload"]["id"]
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config)  # extracted: UPLOAD_IN_REVIEW, delivered to the receiver
    [delivered] = receiver.bodies
    real = json.loads(delivered)
    response = client.post(_check_url(seed, connector_id), headers=auth(project.key))
    report = response.get_json()["payload"]
    assert report["notification"] == {"source": "real", "event": "UPLOAD_IN_REVIEW"}
    assert report["passed"] is True, report
    valid = json.loads(receiver.bodies[1])
    assert valid["id"] != real["id"] and {**valid, "id": real["id"]} == real
    assert receiver.requests == 1 + len(CASES)


def test_endpoint_refuses_a_connector_without_a_secret(
    client: FlaskClient, seed: dict[str, Any], checked: list[CheckedReceiver],
) -> None:
    receiver = _receiver(checked)
    connector_id = _connector(client, seed, receiver.url, secret=None)
    response = client.post(_check_url(seed, connector_id),
                           headers=auth(seed["keys"]["helpers"]))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"
    assert "secret" in response.get_json()["error"]["details"]["fields"]
    assert receiver.requests == 0


def test_endpoint_answers_404_for_another_teams_connector(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any],
    checked: list[CheckedReceiver],
) -> None:
    receiver = _receiver(checked)
    connector_id = _connector(client, seed, receiver.url)
    other = seed["other"]
    key = create_key(uow, other["team_id"], ["test_helpers"], [other["project_id"]]).key
    response = client.post(f"/v2/{other['team_id']}/test_helpers/connectors/{connector_id}/check",
                           headers=auth(key))
    assert response.status_code == 404
    response = client.post(_check_url(seed, "conn_00000000000000000000"),
                           headers=auth(seed["keys"]["helpers"]))
    assert response.status_code == 404
    assert receiver.requests == 0


def test_endpoint_needs_the_test_helpers_scope(
    client: FlaskClient, seed: dict[str, Any], checked: list[CheckedReceiver],
) -> None:
    receiver = _receiver(checked)
    connector_id = _connector(client, seed, receiver.url)
    response = client.post(_check_url(seed, connector_id), headers=auth(seed["keys"]["edit"]))
    assert response.status_code == 403
    assert receiver.requests == 0


# --- the plugin ----------------------------------------------------------------------------------

def test_the_plugins_check_uses_a_sample_when_the_project_has_no_notification(
    sendai: Any, checked: list[CheckedReceiver],
) -> None:
    receiver = _receiver(checked, act_twice=True)
    report = sendai.check_receiver(receiver.url, SECRET, acted_on=receiver.acted_on)
    assert report.notification == {"source": "sample", "event": "UPLOAD_PROCESSED"}
    assert report.failed == ["replay"] and report.case("replay").acted_on == 2
    with pytest.raises(AssertionError, match=r"- replay: expected 2xx, acted on once"):
        assert_receiver_safe(report)


def test_the_plugins_check_sends_the_projects_newest_notification(
    sendai: Any, checked: list[CheckedReceiver],
) -> None:
    project = sendai.project(pipeline="auto")
    [task_id] = project.upload(("invoice.pdf", documents.invoice_pdf()))["taskIds"]
    project.wait_for(task_id, "REVIEWING")
    [real] = project.wait_for_notifications(1, timeout=30)
    receiver = _receiver(checked)
    report = project.check_receiver(receiver.url, SECRET, acted_on=receiver.acted_on)
    assert report.notification == {"source": "real", "event": real["event"]}
    assert_receiver_safe(report)
    assert {**json.loads(receiver.bodies[0]), "id": real["id"]} == real
