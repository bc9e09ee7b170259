"""Test helpers (docs/api/test-helpers.md): registered only when the server runs with
SENDAI_TEST_HELPERS on; otherwise these paths do not exist (404). They need the `test_helpers`
scope."""

from __future__ import annotations

from typing import Any

from flask import current_app, g
from marshmallow import Schema, fields, validate

from ...pipeline.connection_test import send_test_notification
from ...pipeline.deliveries import make_client
from ...services import connectors, helper_tasks, team_helpers
from ...services.keys import SCOPE_ALIASES, SCOPES
from ...services.objects import Text
from ...services.projects import AUTOMATIONS, MAX_DELAY_SECONDS, PIPELINES, ProjectSettings
from ...services.tasks import Caller
from ..auth import requires
from ..context import current_uow
from .blueprint import Blueprint
from .schemas import (
    AdvanceSchema,
    ConnectionTestEnvelopeSchema,
    ConnectorEnvelopeSchema,
    ConnectorListSchema,
    ConnectorSchema,
    DeletedConnectorEnvelopeSchema,
    HelperTaskSchema,
    OutcomeEnvelopeSchema,
    OutcomeSchema,
    TaskEnvelopeSchema,
)
from .tasks import task_found_before_body

blp = Blueprint(
    "test_helpers", __name__, url_prefix="/v2/<team_id>/project/<project_id>/test_helpers",
    description="Drive the pipeline's side of the lifecycle in tests (off in production).",
)


def _caller() -> Caller:
    return Caller(principal=g.principal, request_id=g.request_id)


@blp.route("/task", methods=["POST"])
@blp.doc(operationId="createTestTask")  # a test helper, not a Send AI operation
@blp.response(201, TaskEnvelopeSchema)
@requires("test_helpers")
@blp.arguments(HelperTaskSchema)
def create_task(spec: dict[str, Any], team_id: str, project_id: str) -> dict[str, Any]:
    """Create a task in any status

    With the given name, pages (without ids) and meta; REVIEWING unless `status` says otherwise.
    """
    task = helper_tasks.create_test_task(current_uow(), _caller(), team_id, project_id, **spec)
    return {"payload": task}


@blp.route("/task/<task_id>/advance", methods=["POST"])
@blp.doc(operationId="advanceTestTask")
@blp.response(200, TaskEnvelopeSchema)
@requires("test_helpers")
@task_found_before_body
@blp.arguments(AdvanceSchema)
def advance_task(
    body: dict[str, Any], team_id: str, project_id: str, task_id: str
) -> dict[str, Any]:
    """Advance a task with a pipeline event

    to_review, auto_complete, fail, filter (from PROCESSING), retry (from FAILED), export and
    export_fail (on a COMPLETED task), through the same state machine as every action.
    """
    task = helper_tasks.advance_task(
        current_uow(), _caller(), team_id, project_id, task_id, body["event"],
        pipeline_delay=current_app.config["SENDAI"].pipeline_delay,
    )
    return {"payload": task}


@blp.route("/outcomes", methods=["POST"])
@blp.doc(operationId="registerTestOutcome")
@blp.response(201, OutcomeEnvelopeSchema)
@requires("test_helpers")
@blp.arguments(OutcomeSchema)
def register_outcome(outcome: dict[str, Any], team_id: str, project_id: str) -> dict[str, Any]:
    """Register how the pipeline ends for a file

    From now on, every file with this SHA-256 uploaded to this project ends the pipeline with
    this status and, when given, exactly these pages. A later call for the same hash replaces
    it.
    """
    registered = helper_tasks.register_outcome(
        current_uow(), g.principal, team_id, project_id, **outcome
    )
    return {"payload": registered}


@blp.route("/connectors", methods=["POST"])
@blp.doc(operationId="createTestConnector")
@blp.response(201, ConnectorEnvelopeSchema)
@requires("test_helpers")
@blp.arguments(ConnectorSchema)
def create_connector(body: dict[str, Any], team_id: str, project_id: str) -> dict[str, Any]:
    """Add a connector

    An http(s) endpoint that receives the project's notifications (docs/notifications.md). The
    answer, like every later one, shows whether a bearer token and a secret are set, never their
    values.
    """
    spec = connectors.ConnectorSpec(**body)
    return {"payload": connectors.create_for(current_uow(), g.principal, team_id, project_id,
                                             spec)}


@blp.route("/connectors", methods=["GET"])
@blp.doc(operationId="listTestConnectors")
@blp.response(200, ConnectorListSchema)
@requires("test_helpers")
def list_connectors(team_id: str, project_id: str) -> dict[str, Any]:
    """List the project's connectors"""
    return {"payload": connectors.list_for(current_uow(), g.principal, team_id, project_id)}


@blp.route("/connectors/<connector_id>", methods=["DELETE"])
@blp.doc(operationId="deleteTestConnector")
@blp.response(200, DeletedConnectorEnvelopeSchema)
@requires("test_helpers")
def delete_connector(team_id: str, project_id: str, connector_id: str) -> dict[str, Any]:
    """Delete a connector

    With its notifications and their delivery log.
    """
    return {"payload": connectors.delete_for(current_uow(), g.principal, team_id, project_id,
                                             connector_id)}


@blp.route("/connectors/<connector_id>/test", methods=["POST"])
@blp.doc(operationId="testConnector")
@blp.response(200, ConnectionTestEnvelopeSchema)
@requires("test_helpers")
def test_connector(team_id: str, project_id: str, connector_id: str) -> dict[str, Any]:
    """Test a connector's connection

    Send AI's "Test Connection": one `{"event": "TEST", …}` notification, sent now with the
    connector's headers, signatures and token, outside the outbox. Answers what the receiver
    said: its status code, how long it took, or what went wrong.
    """
    config = current_app.config["SENDAI"]
    with make_client(config) as client:
        result = send_test_notification(current_uow(), g.principal, team_id, project_id,
                                 connector_id, client, config.delivery_timeout_seconds)
    return {"payload": result}


# --- a test's own team in one call (services/team_helpers.py) --------------------------------

class HelperProjectSchema(Schema):
    """The new project's settings (docs/project-settings.md); its pipeline `manual` unless
    said."""

    automation = fields.String(validate=validate.OneOf(AUTOMATIONS))
    pipeline = fields.String(validate=validate.OneOf(PIPELINES))
    threshold = fields.Float(validate=validate.Range(0, 1))
    delay = fields.Float(allow_none=True, validate=validate.Range(0, MAX_DELAY_SECONDS))


class HelperTeamSchema(Schema):
    name = Text(200, min_length=1, load_default="Test team",
                metadata={"description": "The team's and its project's name."})
    project = fields.Nested(HelperProjectSchema, load_default=dict)
    keys = fields.List(
        fields.List(fields.String(validate=validate.OneOf([*SCOPES, *SCOPE_ALIASES])),
                    validate=validate.Length(min=1)),
        load_default=list, validate=validate.Length(max=team_helpers.MAX_KEYS),
        metadata={"description": "One list of scopes per key to make; each key is added to "
                                 "the new project."})
    connector = fields.Nested(ConnectorSchema, allow_none=True, metadata={
        "description": "A connector of the new project, as `POST …/test_helpers/connectors` "
                       "takes it."})


class HelperTeamKeySchema(Schema):
    id = fields.String(required=True)
    key = fields.String(required=True, metadata={"description": "The plain key: shown once."})
    scopes = fields.List(fields.String(), required=True)


class HelperTeamMadeSchema(Schema):
    team_id = fields.String(required=True)
    project_id = fields.String(required=True)
    keys = fields.List(fields.Nested(HelperTeamKeySchema), required=True)
    connector = fields.Nested(ConnectorSchema, required=True, allow_none=True)


class HelperTeamEnvelopeSchema(Schema):
    payload = fields.Nested(HelperTeamMadeSchema, required=True)


@blp.route("/teams", methods=["POST"])
@blp.doc(operationId="createTestTeam")
@blp.response(201, HelperTeamEnvelopeSchema)
@requires("test_helpers")
@blp.arguments(HelperTeamSchema)
def create_team(body: dict[str, Any], team_id: str, project_id: str) -> dict[str, Any]:
    """Make a test's own team

    A fresh team with one project, keys for it and, when asked, a connector, in one
    transaction: what the pytest plugin makes for each test (docs/plugin.md). The team is not
    the caller's: the caller's key reaches none of it.
    """
    connector = body.get("connector")
    spec = team_helpers.HelperTeamSpec(
        name=body["name"], settings=ProjectSettings(**{"pipeline": "manual", **body["project"]}),
        keys=body["keys"],
        connector=connectors.ConnectorSpec(**connector) if connector is not None else None)
    made = team_helpers.create_helper_team(current_uow(), g.principal, team_id, project_id,
                                           spec)
    return {"payload": made}
