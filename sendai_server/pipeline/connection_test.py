"""Send AI's "Test Connection" (docs/notifications.md): one `{"event": "TEST", …}` notification sent
to a connector now, outside the outbox (nothing is stored), with everything a delivery sends: its
headers, signatures and token. The answer is what the receiver said."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import select

from ..domain import clock
from ..domain.errors import NotFound
from ..domain.ids import is_lookup_id, new_id
from ..services.keys import Principal
from ..store.models import Connector, Project
from ..store.uow import UnitOfWork
from .deliveries import send


def send_test_notification(uow: UnitOfWork, principal: Principal, team_id: str, project_id: str,
                    connector_id: str, client: httpx.Client, timeout: float) -> dict[str, Any]:
    """Send the TEST notification; `{"status_code", "duration_ms", "error"}`."""
    principal.check_visibility(team_id, project_id)
    row = None
    if is_lookup_id(connector_id):
        with uow.read() as conn:
            row = conn.execute(
                select(Connector.id.label("connector_id"), Connector.url, Connector.method,
                       Connector.headers, Connector.bearer, Connector.secret, Connector.auth,
                       Project.team_id)
                .join(Project, Project.id == Connector.project_id)
                .where(Connector.id == connector_id, Connector.project_id == project_id)
            ).mappings().first()
    if row is None:
        raise NotFound(f"Connector {connector_id[:64]!r} was not found.")
    event_id = new_id("evt")
    body = json.dumps({
        "id": event_id, "event": "TEST", "event_level": "TEST", "team_id": row["team_id"],
        "project_id": project_id,
        "created_at": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "upload": None, "task": None,
    }, separators=(",", ":"))
    attempt = send(client, SimpleNamespace(**row, id=event_id, body=body), 1, timeout)
    return {"status_code": attempt.status_code, "duration_ms": attempt.duration_ms,
            "error": attempt.error}
