"""Deliveries (docs/notifications.md) as receivers built on ready-made libraries see them, on SQLite
and PostgreSQL: Standard Webhooks and Stripe signatures verified by those packages themselves,
410 Gone, Retry-After, redirects."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import standardwebhooks
import stripe
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from sendai_server.config import Config
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import Receiver
from tests.support import documents
from tests.support.helpers import auth, count_rows
from tests.support.notifications import STANDARD_SECRET, connect, log
from tests.support.pipeline import Project, drain


def test_a_standard_webhooks_secret_signs_for_standardwebhooks_and_for_stripe(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    project = Project(client, uow, seed)
    connect(project, receiver.url, secret=STANDARD_SECRET)
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config)
    [got] = receiver.wait_count(1)
    headers = {name.lower(): value for name, value in got.headers.items()}
    assert headers["webhook-id"] == got.json["id"] == headers["x-sendai-event-id"]
    verified = standardwebhooks.Webhook(STANDARD_SECRET).verify(got.body, headers)
    assert verified["id"] == got.json["id"]
    event = stripe.Webhook.construct_event(got.body.decode(), headers["x-sendai-signature"],
                                           STANDARD_SECRET)
    assert event["id"] == got.json["id"]
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        other = "whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()
        standardwebhooks.Webhook(other).verify(got.body, headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(STANDARD_SECRET).verify(got.body + b" ", headers)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(got.body.decode(), headers["x-sendai-signature"],
                                       "whsec_other")


def test_a_secret_that_is_not_a_standard_webhooks_one_signs_only_x_sendai_signature(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    project = Project(client, uow, seed)
    connect(project, receiver.url, secret="plain secret, not base64!")
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config)
    [got] = receiver.wait_count(1)
    assert not {"webhook-id", "webhook-signature"} & {h.lower() for h in got.headers}
    event = stripe.Webhook.construct_event(got.body.decode(), got.headers["X-Sendai-Signature"],
                                           "plain secret, not base64!")
    assert event["id"] == got.json["id"]


def test_a_410_disables_the_connector_and_fails_its_pending_notifications(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receivers: list[Receiver],
) -> None:
    gone = Receiver(default=410)
    receivers.append(gone)
    project = Project(client, uow, seed, automation="auto_process", threshold=0.0)
    made = connect(project, gone.url)
    assert made["disabled_at"] is None
    [task_id] = project.upload((documents.invoice_pdf(), "a.pdf"))["taskIds"]
    drain(engine, config.with_overrides(delivery_backoff_seconds=0.0))
    assert len(gone.wait_count(1)) == 1  # the export's 410; the processed one is never sent
    entries = sorted(log(project), key=lambda e: e["event"])  # one created_at: any order
    assert [(e["event"], e["status"], len(e["attempts"])) for e in entries] == [
        ("TASK_EXPORT", "failed", 1), ("UPLOAD_PROCESSED", "failed", 0)]
    assert entries[0]["attempts"][0]["status_code"] == 410
    task = project.task(task_id)
    assert task["exported_at"] is None and task["export_failed_at"] is not None
    [listed] = client.get(project.path("/test_helpers/connectors"),
                          headers=auth(project.key)).get_json()["payload"]
    assert listed["disabled_at"] is not None
    project.upload((documents.invoice_pdf(), "b.pdf"))
    drain(engine, config)
    assert count_rows(engine, "SELECT count(*) FROM notification") == 2  # nothing new
    assert len(gone.received) == 1
    # Created again, it receives again.
    client.delete(project.path(f"/test_helpers/connectors/{made['id']}"),
                  headers=auth(project.key))
    gone.default = 200
    connect(project, gone.url)
    project.upload((documents.invoice_pdf(), "c.pdf"))
    drain(engine, config)
    assert len(gone.wait_count(3)) == 3


def _due_after_attempt(engine: Engine) -> float:
    """Seconds between the one attempt and its job's next run."""
    with engine.connect() as conn:
        run_at = conn.execute(text("SELECT run_at FROM job WHERE kind = 'deliver'")).scalar_one()
        at = conn.execute(text("SELECT at FROM notification_attempt")).scalar_one()

    def parsed(value: Any) -> datetime:
        value = datetime.fromisoformat(value) if isinstance(value, str) else value
        return value.replace(tzinfo=None)
    return (parsed(run_at) - parsed(at)).total_seconds()


@pytest.mark.parametrize(("status", "retry_after", "lowest", "highest"), [
    (503, "3", 3.0, 3.9),
    (429, "7200", 3600.0, 3600.9),  # at most an hour
    (500, "3", 1.0, 1.9),  # only 429 and 503: the backoff's 1 s
    (503, "soon", 1.0, 1.9),  # not seconds, not a date: the backoff
    (503, "an HTTP date 30 s ahead", 28.0, 31.0),
])
def test_retry_after_on_429_and_503_is_honoured_up_to_an_hour(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receivers: list[Receiver], status: int, retry_after: str, lowest: float, highest: float,
) -> None:
    if retry_after.startswith("an HTTP date"):
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    busy = Receiver([(status, {"Retry-After": retry_after})])
    receivers.append(busy)
    project = Project(client, uow, seed)
    connect(project, busy.url)
    project.upload((documents.invoice_pdf(), "a.pdf"))
    drain(engine, config)  # the attempt; its retry is not due yet
    busy.wait_count(1)
    [entry] = log(project)
    assert (entry["status"], entry["attempts"][0]["status_code"]) == ("pending", status)
    assert lowest <= _due_after_attempt(engine) <= highest


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receivers: list[Receiver],
) -> None:
    moved = Receiver(default=(302, {"Location": "/elsewhere"}))
    receivers.append(moved)
    project = Project(client, uow, seed)
    connect(project, moved.url)
    project.upload((documents.invoice_pdf(), "a.pdf"))
    drain(engine, config.with_overrides(delivery_backoff_seconds=0.0, delivery_attempts=2))
    got = moved.wait_count(2)
    assert [r.path for r in got] == ["/hook", "/hook"]
    [entry] = log(project)
    assert entry["status"] == "failed"
    assert [a["status_code"] for a in entry["attempts"]] == [302, 302]
