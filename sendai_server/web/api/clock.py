"""A team's clock over HTTP (docs/clock.md): freeze, read, advance, resume. Test helpers: the
paths exist only when SENDAI_TEST_HELPERS is on, and need the `test_helpers` scope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ...pipeline.clock_advance import advance
from ...pipeline.worker import Handler, load_handlers
from ...services import team_clock
from ...services.objects import Timestamp
from ..auth import requires
from ..context import current_uow
from .blueprint import Blueprint

_HANDLERS = "sendai_clock_handlers"
# Times a clock may be set to: far enough from the ends of what every database stores.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_MAX_SECONDS = team_clock.MAX_ADVANCE.total_seconds()

blp = Blueprint(
    "clock", __name__, url_prefix="/v2/<team_id>/test_helpers/clock",
    description="A team's clock: stop the team's time, move it, and what falls due meanwhile "
                "runs at once, in order (off in production).",
)


def _moment(**metadata: Any) -> fields.AwareDateTime:
    return fields.AwareDateTime(
        format="iso", default_timezone=UTC, metadata=metadata,
        validate=validate.Range(min=_EARLIEST, max=_LATEST,
                                error="Must be between 1970-01-01 and 9000-01-01."))


class FreezeSchema(Schema):
    frozen_at = _moment(description="Where the team's time stops (ISO 8601); default: now.")


class AdvanceClockSchema(Schema):
    seconds = fields.Float(validate=validate.Range(
        min=0, max=_MAX_SECONDS, error="From 0 to 31622400 (366 days); the clock does not go "
                                       "backwards."),
        metadata={"description": "How far to move the clock, in seconds (or send `to`)."})
    to = _moment(description="The time to move the clock to (or send `seconds`).")

    @validates_schema
    def _one_of(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if ("seconds" in data) == ("to" in data):
            message = "Send either 'seconds' or 'to', not both and not neither."
            raise ValidationError({"seconds": [message], "to": [message]})


class PendingJobSchema(Schema):
    kind = fields.String(metadata={"description": "extract, auto_complete or deliver."})
    due_at = Timestamp()
    subject = fields.String(allow_none=True, metadata={
        "description": "The task (`task_...`) or the notification (`evt_...`)."})


class RanJobSchema(PendingJobSchema):
    outcome = fields.String(metadata={
        "description": "A step's task status after it (REVIEWING, COMPLETED, ...); a "
                       "delivery's delivered, retry or failed."})


class ClockSchema(Schema):
    team_id = fields.String()
    now = Timestamp()
    frozen_at = Timestamp()
    advanced_seconds = fields.Float()
    pending = fields.List(fields.Nested(PendingJobSchema))


class AdvancedClockSchema(ClockSchema):
    ran = fields.List(fields.Nested(RanJobSchema))
    settled = fields.Boolean(metadata={
        "description": "false: the cap of jobs per advance was reached; the clock stands at "
                       "the last job run."})


class ClockEnvelopeSchema(Schema):
    payload = fields.Nested(ClockSchema, required=True)


class AdvancedClockEnvelopeSchema(Schema):
    payload = fields.Nested(AdvancedClockSchema, required=True)


@blp.route("", methods=["POST"])
@blp.doc(operationId="freezeTestClock")
@blp.response(200, ClockEnvelopeSchema)
@requires("test_helpers", changes_state=False)
@blp.arguments(FreezeSchema)
def freeze_clock(body: dict[str, Any], team_id: str) -> dict[str, Any]:
    """Freeze the team's clock

    The team's time stops at `frozen_at` (default now): what the server writes for the team
    carries that time, and nothing of the team happens by itself until the clock is advanced
    or resumed. Freezing a frozen clock sets it anew.
    """
    return {"payload": team_clock.freeze(current_uow(), team_id, body.get("frozen_at"))}


@blp.route("", methods=["GET"])
@blp.doc(operationId="getTestClock")
@blp.response(200, ClockEnvelopeSchema)
@requires("test_helpers", changes_state=False)
def get_clock(team_id: str) -> dict[str, Any]:
    """Read the team's clock

    Its time and what waits for it (404 while the team runs on real time).
    """
    return {"payload": team_clock.read_clock(current_uow(), team_id)}


@blp.route("/advance", methods=["POST"])
@blp.doc(operationId="advanceTestClock")
@blp.response(200, AdvancedClockEnvelopeSchema)
@requires("test_helpers", changes_state=False)
@blp.arguments(AdvanceClockSchema)
def advance_clock(body: dict[str, Any], team_id: str) -> dict[str, Any]:
    """Advance the team's clock

    By `seconds`, or `to` a time. Answers once everything of the team that falls due by then
    has run, one job at a time in due order, each at its own moment (deliveries sent to their
    receivers); `ran` lists them.
    """
    config = current_app.config["SENDAI"]
    return {"payload": advance(current_uow(), team_id, _handlers(current_app), config,
                               seconds=body.get("seconds"), to=body.get("to"))}


@blp.route("", methods=["DELETE"])
@blp.doc(operationId="resumeTestClock")
@blp.response(204)
@requires("test_helpers", changes_state=False)
def resume_clock(team_id: str) -> None:
    """Resume real time

    The team's time runs again; what fell due while the clock stood runs by the workers, and
    what still waits keeps the wait it had left (404 when the clock is not frozen).
    """
    team_clock.resume(current_uow(), team_id)


def _handlers(app: Flask) -> dict[str, Handler]:
    """The worker's job handlers, made once per process."""
    handlers: dict[str, Handler] | None = app.extensions.get(_HANDLERS)
    if handlers is None:
        handlers = app.extensions[_HANDLERS] = load_handlers(app.config["SENDAI"])
    return handlers


def init_app(app: Flask, api: Any) -> None:
    if app.config["SENDAI"].test_helpers:  # off: the paths do not exist at all (404)
        api.register_blueprint(blp)
