"""Shared pieces of the snapshot tests (tests/app/test_snapshots.py, test_snapshot_files.py):
a team with a row in every table of its state, and its rows compared table by table."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, insert, select, text

from sendai_server.services.team_state import Rows, capture
from sendai_server.store.models import Connector, ReceiverCheck, TeamClock
from sendai_server.store.uow import UnitOfWork
from tests.support import documents
from tests.support.helpers import auth

HELPERS = "helpers"


def team_path(seed: dict[str, Any], rest: str = "") -> str:
    return f"/v2/{seed['team_id']}/test_helpers{rest}"


def project_path(seed: dict[str, Any], rest: str = "") -> str:
    return f"/v2/{seed['team_id']}/project/{seed['project_id']}{rest}"


def call(client: FlaskClient, seed: dict[str, Any], method: str, path: str,
         status: int, **kwargs: Any) -> Any:
    response = client.open(path, method=method, headers=auth(seed["keys"][HELPERS]), **kwargs)
    assert response.status_code == status, (path, response.get_json(silent=True))
    return response.get_json(silent=True)


def state_of(engine: Engine, team_id: str) -> Rows:
    with UnitOfWork(engine) as uow, uow.write() as conn:
        return capture(conn, team_id)


def upload(client: FlaskClient, seed: dict[str, Any], body: bytes, name: str) -> dict[str, Any]:
    data = {"file": [(io.BytesIO(body), name)]}
    return call(client, seed, "POST", project_path(seed, "/upload"), 200, data=data,
                content_type="multipart/form-data")


def build_state(client: FlaskClient, seed: dict[str, Any]) -> dict[str, Any]:
    """The seed's team with a row in every table: an upload with its file, a connector and its
    notification with a pending delivery, an outcome, a fault, a custom folder."""
    call(client, seed, "POST", project_path(seed, "/test_helpers/connectors"), 201,
         json={"url": "http://127.0.0.1:9/hook", "secret": "whsec_x"})
    made = upload(client, seed, documents.invoice_pdf(), "invoice.pdf")
    task_id = made["taskIds"][0]
    call(client, seed, "POST", project_path(seed, "/test_helpers/outcomes"), 201,
         json={"sha256": "0" * 64, "status": "FAILED"})
    call(client, seed, "POST", team_path(seed, "/faults"), 201,
         json={"match": {"operation": "discardTask"}, "effect": {"status": 503}, "times": 2})
    reviewing = seed["tasks"]["REVIEWING"][0]
    call(client, seed, "POST", project_path(seed, f"/test_helpers/task/{reviewing}/advance"),
         400, json={"event": "to_review"})
    processing = seed["tasks"]["PROCESSING"][0]
    call(client, seed, "POST", project_path(seed, f"/test_helpers/task/{processing}/advance"),
         200, json={"event": "to_review"})
    return {"upload": made, "task": task_id}


def change_everything(client: FlaskClient, seed: dict[str, Any]) -> None:
    """Changes after the snapshot, in every kind of row."""
    edit = auth(seed["keys"]["edit"])
    for task_id in seed["tasks"]["REVIEWING"][:2]:
        client.post(project_path(seed, f"/task/{task_id}/approve"), headers=edit)
    call(client, seed, "DELETE", team_path(seed, "/faults"), 200)
    upload(client, seed, documents.other_invoice_pdf(), "later.pdf")
    call(client, seed, "POST", project_path(seed, "/test_helpers/task"), 201,
         json={"name": "made later", "status": "COMPLETED"})
    call(client, seed, "POST", project_path(seed, "/test_helpers/connectors"), 201,
         json={"url": "http://127.0.0.1:9/later"})


def assert_same_rows(before: Rows, after: Rows) -> None:
    assert set(before) == set(after)
    for table in before:
        assert after[table] == before[table], f"table {table} differs"


@pytest.fixture
def state(client: FlaskClient, engine: Engine, seed: dict[str, Any]) -> dict[str, Any]:
    made = build_state(client, seed)
    with engine.begin() as conn:  # a delivery attempt, as the worker would have logged it
        seq = conn.scalar(text("SELECT min(seq) FROM notification WHERE project_id = :p"),
                          {"p": seed["project_id"]})
        conn.execute(text("INSERT INTO notification_attempt (notification_seq, n, at, "
                          "status_code, error, duration_ms) VALUES (:s, 1, :at, 503, NULL, 12)"),
                     {"s": seq, "at": datetime(2026, 12, 7, 12, 0, 0)})
        # The controls' rows no request of this fixture makes: the connector's last receiver
        # check (docs/receiver-check.md) and a frozen clock (docs/clock.md).
        at = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
        connector_id = conn.scalar(select(Connector.id).where(
            Connector.project_id == seed["project_id"]).order_by(Connector.created_at))
        conn.execute(insert(ReceiverCheck).values(
            connector_id=connector_id, checked_at=at, passed=False, failed=["stale"],
            report={"cases": []}))
        conn.execute(insert(TeamClock).values(
            team_id=seed["team_id"], now=at, frozen_at=at, advanced_seconds=0.0, ticks=0))
    return made
