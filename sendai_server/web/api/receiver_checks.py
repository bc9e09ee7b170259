"""`POST /v2/{team_id}/test_helpers/connectors/{connector_id}/check` (docs/receiver-check.md):
a connector's receiver checked with its own URL and secret. A test helper: registered only
with SENDAI_TEST_HELPERS on, and needs the `test_helpers` scope."""

from __future__ import annotations

from typing import Any

from flask import current_app, g
from marshmallow import Schema, fields

from ...pipeline.receiver_check import check_connector
from ..auth import requires
from ..context import current_uow
from .blueprint import Blueprint

blp = Blueprint(
    "receiver_checks", __name__, url_prefix="/v2/<team_id>/test_helpers/connectors",
    description="Check that a connector's receiver refuses forged, stale and malformed "
                "deliveries and acts on a replay once (off in production).",
)


class SentSchema(Schema):
    method = fields.String()
    url = fields.String()
    headers = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "As sent; the bearer token as `***`. No secret is ever shown."})
    body_bytes = fields.Integer()
    at = fields.String(allow_none=True, metadata={"description": "ISO 8601; null: not sent."})


class CheckCaseSchema(Schema):
    name = fields.String(metadata={"description": "valid, bad_signature, no_signature, "
                                                  "altered_body, stale, replay, unknown_event "
                                                  "or malformed."})
    event_id = fields.String()
    sent = fields.Nested(SentSchema)
    expected = fields.String(metadata={"description": "What a safe receiver answers."})
    seen = fields.String(metadata={"description": "What this one answered, and how fast."})
    status_code = fields.Integer(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    passed = fields.Boolean()
    why = fields.String(allow_none=True, metadata={
        "description": "For a failure: what to change in the receiver."})
    note = fields.String(allow_none=True)
    acted_on = fields.Integer(allow_none=True, metadata={
        "description": "replay only: times the receiver acted on its event, when known."})


class ReceiverReportSchema(Schema):
    url = fields.String()
    checked_at = fields.String(metadata={"description": "ISO 8601"})
    passed = fields.Boolean()
    failed = fields.List(fields.String())
    schemes = fields.List(fields.String())
    notification = fields.Dict(metadata={
        "description": "The body's source (`real`: the project's newest notification, or "
                       "`sample`) and its event."})
    cases = fields.List(fields.Nested(CheckCaseSchema))


class ReceiverReportEnvelopeSchema(Schema):
    payload = fields.Nested(ReceiverReportSchema, required=True)


@blp.route("/<connector_id>/check", methods=["POST"])
@blp.doc(operationId="checkTestConnectorReceiver")  # a test helper, not a Send AI operation
@blp.response(200, ReceiverReportEnvelopeSchema)
@requires("test_helpers")
def check_connector_receiver(team_id: str, connector_id: str) -> dict[str, Any]:
    """Check a connector's receiver

    Sends the connector's URL a valid delivery and forged, stale, replayed, unknown and
    malformed ones, each once, signed with its secret as its deliveries are, and answers
    what it said to each against what a safe receiver says. The report is kept as the
    connector's last check (the inspector's notifications page shows it). A connector
    without a secret: 400.
    """
    config = current_app.config["SENDAI"]
    report = check_connector(current_uow(), g.principal, team_id, connector_id,
                             timeout=config.delivery_timeout_seconds)
    return {"payload": report.to_dict()}
