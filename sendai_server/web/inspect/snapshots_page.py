"""The inspector's snapshots page (docs/snapshots.md): the team's snapshots, for a key with the
`test_helpers` scope, and a button that restores one (a POST with the session's CSRF token,
like the task page's actions). Only on a server with test helpers on, as the endpoints."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response as BaseResponse

from ...domain.errors import NotFound, SendAIError
from ...services import snapshots
from ..context import current_uow
from .session import check_csrf, signed_in_principal
from .views import PROJECT_ROUTE, blp, project_reader

SCOPE = "test_helpers"


def _require_helpers() -> None:
    if not current_app.config["SENDAI"].test_helpers:
        raise NotFound()


@blp.route(PROJECT_ROUTE + "/snapshots", methods=["GET"])
def snapshot_list(team_id: str, project_id: str) -> str:
    _require_helpers()
    project_reader(team_id, project_id, SCOPE)
    return render_template("snapshots.html", team_id=team_id, project_id=project_id,
                           snapshots=snapshots.list_snapshots(current_uow(), team_id))


@blp.route(PROJECT_ROUTE + "/snapshots/<snapshot_id>/restore", methods=["POST"])
def snapshot_restore(team_id: str, project_id: str, snapshot_id: str) -> BaseResponse:
    _require_helpers()
    principal = signed_in_principal()
    check_csrf()
    principal.check_visibility(team_id, project_id)
    principal.check_scope(SCOPE)
    try:
        restored = snapshots.restore_snapshot(current_uow(), current_app.extensions[
            "sendai_storage"], team_id, snapshot_id)
    except SendAIError as error:
        if isinstance(error, NotFound):
            raise
        flash(error.message, "error")
    else:
        flash(f"The team is again as snapshot {restored['id']} saw it.", "info")
    # The project shown may not exist in the restored state: back to the projects.
    return redirect(url_for("inspect.projects"), 303)
