"""A connector's last receiver check (docs/receiver-check.md): kept so the inspector's
notifications page can show it. One row per connector, replaced by the next check."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from ..store.models import Connector, ReceiverCheck
from ..store.uow import UnitOfWork


def save_last_check(uow: UnitOfWork, connector_id: str, checked_at: datetime, passed: bool,
                    failed: list[str], report: Mapping[str, Any]) -> None:
    """Replace the connector's last check. A connector deleted while its check ran keeps
    nothing (its row is gone, and the lock finds none)."""
    with uow.write() as conn:
        found = conn.scalar(select(Connector.id).where(Connector.id == connector_id)
                            .with_for_update())
        if found is None:
            return
        conn.execute(delete(ReceiverCheck).where(ReceiverCheck.connector_id == connector_id))
        conn.execute(insert(ReceiverCheck), {
            "connector_id": connector_id, "checked_at": checked_at, "passed": passed,
            "failed": list(failed), "report": dict(report)})


def last_checks(uow: UnitOfWork, project_id: str) -> dict[str, dict[str, Any]]:
    """The last check of each of the project's connectors that has one, by connector id:
    `{"checked_at", "passed", "failed"}`."""
    with uow.read() as conn:
        rows = conn.execute(
            select(ReceiverCheck.connector_id, ReceiverCheck.checked_at, ReceiverCheck.passed,
                   ReceiverCheck.failed)
            .join(Connector, Connector.id == ReceiverCheck.connector_id)
            .where(Connector.project_id == project_id)
        ).all()
    return {row.connector_id: {"checked_at": row.checked_at, "passed": row.passed,
                               "failed": list(row.failed)} for row in rows}
