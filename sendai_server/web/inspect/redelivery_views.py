"""The notifications view's one action: send a notification again (services/redelivery.py),
a POST with the session's CSRF token like the task page's actions. The view needs
`upload.read` (as the notifications view does) and `task.edit`, the scope of the inspector's
other actions: a `TASK_EXPORT` delivered now exports its task."""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, url_for
from werkzeug.wrappers import Response as BaseResponse

from ...domain import clock
from ...domain.errors import ValidationError
from ...services.redelivery import resend_notification
from ..context import current_uow
from .session import check_csrf, signed_in_principal
from .views import PROJECT_ROUTE, blp

RESEND_SCOPES = ("upload.read", "task.edit")


@blp.app_template_filter("pretty_json")
def pretty_json(value: Any) -> str:
    """A payload as a person reads it (the template escapes it; `tojson` would show escapes)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


@blp.route(PROJECT_ROUTE + "/notifications/<notification_id>/resend", methods=["POST"])
def resend(team_id: str, project_id: str, notification_id: str) -> BaseResponse:
    principal = signed_in_principal()
    check_csrf()
    principal.check_visibility(team_id, project_id)
    for scope in RESEND_SCOPES:
        principal.check_scope(scope)
    try:
        with clock.frozen_at(principal.clock_now):  # on a frozen team's clock
            attempt = resend_notification(current_uow(), principal, team_id, project_id,
                                          notification_id)
    except ValidationError as error:
        flash(error.message, "error")
    else:
        flash(f"Notification {notification_id} will be sent again, as attempt {attempt}, "
              "with the same event id.", "info")
    return redirect(url_for("inspect.notification_list", team_id=team_id,
                            project_id=project_id), 303)
