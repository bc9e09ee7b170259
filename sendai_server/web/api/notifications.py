"""The delivery log (docs/notifications.md): what was sent to the project's connectors, and what
each receiver answered."""

from __future__ import annotations

from typing import Any

from flask import g

from ...services import notifications
from ..auth import requires
from ..context import current_uow, token_secret
from .blueprint import Blueprint
from .schemas import NotificationListQuerySchema, NotificationListSchema, page_answer

blp = Blueprint(
    "notifications", __name__, url_prefix="/v2/<team_id>/project/<project_id>",
    description="Notifications: the delivery log of the project's connectors.",
)


@blp.route("/notifications", methods=["GET"])
@blp.response(200, NotificationListSchema)
@requires("upload.read")
@blp.arguments(NotificationListQuerySchema, location="query", as_kwargs=True)
def list_notifications(team_id: str, project_id: str, **params: Any) -> dict[str, Any]:
    """List notifications

    Newest first unless `sort=created_at:asc`; `status` (pending, delivered, failed) filters.
    Each has its attempts: when, the receiver's status code or the error, how long it took.
    Pages as tasks do: pass a page's `paginationToken` as `token`.
    """
    query = notifications.NotificationListQuery(
        statuses=tuple(params.get("status", ())),
        descending=params["sort"] == "created_at:desc", limit=params["limit"],
        token=params.get("token"),
    )
    page = notifications.list_notifications(
        current_uow(), g.principal, team_id, project_id, query, token_secret()
    )
    return page_answer(page)
