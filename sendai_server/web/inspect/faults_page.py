"""The inspector's faults page (docs/inspector.md, docs/failures.md): the team's fault rules and
their hits, for a key with the `test_helpers` scope, linked from a project's navigation. Read only:
faults
are made and removed by tests (the API, the plugin, the CLI)."""

from __future__ import annotations

from flask import current_app, render_template

from ...services import faults
from ..context import current_uow
from .views import PROJECT_ROUTE, blp, project_reader


@blp.route(PROJECT_ROUTE + "/faults", methods=["GET"])
def fault_list(team_id: str, project_id: str) -> str:
    project_reader(team_id, project_id, "test_helpers")
    return render_template(
        "faults.html", team_id=team_id, project_id=project_id,
        faults=faults.list_faults(current_uow(), team_id),
        applied=current_app.config["SENDAI"].test_helpers)
