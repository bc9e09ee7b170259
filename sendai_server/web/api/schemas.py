"""Marshmallow schemas: the one description of what the API takes and returns. flask-smorest
validates and serializes with them and builds /openapi.json from them. The public objects
(a task, an upload, and the fields they are made of) are objects.py's, shared with the
notifications."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_dump,
    post_load,
    validate,
    validates_schema,
)

from ...domain.ids import LOOKUP_ID
from ...domain.lifecycle import PIPELINE_EVENTS, TaskStatus
from ...domain.notification_events import NOTIFICATION_EVENTS, SUBSCRIPTIONS
from ...domain.statuses import NotificationStatus, UploadStatus
from ...services.connectors import KINDS as CONNECTOR_KINDS
from ...services.connectors import METHODS as CONNECTOR_METHODS
from ...services.objects import MetaSchema, PageSchema, TaskSchema, Text, Timestamp, UploadSchema
from ...services.paging import Page
from .fast_dump import CompiledDumpSchema

UPLOAD_STATUSES = [s.value for s in UploadStatus]
NOTIFICATION_STATUSES = [s.value for s in NotificationStatus]

class TaskEnvelopeSchema(CompiledDumpSchema):
    payload = fields.Nested(TaskSchema, required=True)


class ErrorBodySchema(Schema):
    status = fields.Integer(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict()


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)
    request_id = fields.String(required=True, allow_none=True)


class CompleteEnvelopeSchema(TaskEnvelopeSchema):
    """complete's answer: the task, and Send AI's message beside it."""

    message = fields.String(required=True)


def page_of(item: type[Schema], name: str) -> type[CompiledDumpSchema]:
    """A list's answer (docs/api/tasks.md): `payload`, `count`, `more`, `paginationToken`."""
    return CompiledDumpSchema.from_dict({  # type: ignore[return-value]
        "payload": fields.List(fields.Nested(item), required=True),
        "count": fields.Integer(required=True,
                                metadata={"description": "How many match the filters."}),
        "more": fields.Boolean(required=True),
        "paginationToken": fields.String(
            allow_none=True, required=True,
            metadata={"description": "Pass as `token` for the next page; null on the last "
                                     "page."},
        ),
    }, name=name)


def page_answer(page: Page) -> dict[str, Any]:
    """A page of a list (services/paging.py) as `page_of`'s schema dumps it."""
    return {"payload": page.items, "count": page.count, "more": page.more,
            "paginationToken": page.token}


TaskListSchema = page_of(TaskSchema, "TaskListSchema")


class PagingQuerySchema(Schema):
    """What every list takes besides its filters (docs/api/tasks.md's paging)."""

    sort = fields.String(
        load_default="created_at:desc",
        validate=validate.OneOf(["created_at:asc", "created_at:desc"]),
    )
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    token = fields.String(validate=validate.Length(min=1, max=2000))


class TaskListQuerySchema(PagingQuerySchema):
    status = fields.List(
        fields.String(validate=validate.OneOf([s.value for s in TaskStatus])),
        metadata={"description": "Repeat for several statuses."},
    )
    approved = fields.Boolean(truthy={"true"}, falsy={"false"})


class ReportIssueSchema(Schema):
    label = Text(200, min_length=1, required=True)
    value = Text(200, min_length=1, required=True)


class ReportSchema(Schema):
    """What a report says is wrong with a task (docs/api/tasks.md)."""

    issues = fields.List(
        fields.Nested(ReportIssueSchema), required=True, validate=validate.Length(min=1)
    )
    message = Text(10_000, allow_none=True)


class TaskEventSchema(Schema):
    """One change in a task's audit trail. A report's event also carries its issues and
    message; the pipeline's `fail`, its `details` (why a file could not be read)."""

    id = fields.String(required=True)
    task_id = fields.String(required=True)
    action = fields.String(required=True)
    from_status = fields.String(required=True, allow_none=True)
    to_status = fields.String(required=True)
    approved = fields.Boolean(required=True)
    key_id = fields.String(required=True, allow_none=True)
    request_id = fields.String(required=True, allow_none=True)
    created_at = Timestamp(required=True)
    issues = fields.List(fields.Nested(ReportIssueSchema), attribute="details.issues")
    message = fields.String(allow_none=True, attribute="details.message")
    details = fields.String(attribute="details.reason",
                            metadata={"description": "Why the pipeline failed the task."})
    warnings = fields.List(fields.Dict(), attribute="details.warnings", metadata={
        "description": "A completion's API lookup warnings: annotation_id, entity_id, message."})

    @post_dump(pass_original=True)
    def _fields_of_their_actions_only(
        self, data: dict[str, Any], original: Any, **_: Any
    ) -> dict[str, Any]:
        if original["action"] != "report":
            data.pop("issues", None)
            data.pop("message", None)
        if original["action"] != "fail" or not (original.get("details") or {}).get("reason"):
            data.pop("details", None)
        if not (original.get("details") or {}).get("warnings"):
            data.pop("warnings", None)
        return data


class TaskEventListSchema(Schema):
    payload = fields.List(fields.Nested(TaskEventSchema), required=True)


class HelperTaskSchema(Schema):
    """A task for the test helpers to create: a public task object's parts, without ids."""

    name = Text(500, min_length=1)
    status = fields.Enum(TaskStatus, load_default=TaskStatus.REVIEWING)
    pages = fields.List(fields.Nested(PageSchema), load_default=list)
    meta = fields.List(fields.Nested(MetaSchema), load_default=list)


class AdvanceSchema(Schema):
    event = fields.String(required=True, validate=validate.OneOf(PIPELINE_EVENTS))


class OutcomeSchema(Schema):
    """A registered outcome (docs/api/test-helpers.md): how the pipeline ends for a file with this
    hash."""

    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"),
                           metadata={"description": "Hex SHA-256 of the file's bytes."})
    status = fields.String(
        required=True, validate=validate.OneOf(["REVIEWING", "COMPLETED", "FAILED", "FILTERED"])
    )
    pages = fields.List(fields.Nested(PageSchema), allow_none=True)


class OutcomeEnvelopeSchema(Schema):
    payload = fields.Nested(OutcomeSchema, required=True)


# --- uploads and folders (docs/project-settings.md, docs/api/uploads.md) ------------------------

class MetaText(fields.String):
    """`meta` as the upload form sends it: JSON text of [{"name", "value"}, ...]."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            pairs = json.loads(text)
        except ValueError as exc:
            raise ValidationError("meta must be JSON text.") from exc
        return UploadMetaSchema(many=True).load(pairs if isinstance(pairs, list) else [pairs])


class UploadMetaSchema(Schema):
    name = Text(200, min_length=1, required=True)
    value = Text(10_000, required=True)


class UploadFormSchema(Schema):
    """The form fields of an upload (besides its files)."""

    name = Text(500, min_length=1)
    meta = MetaText(validate=validate.Length(max=200_000))
    projectId = Text(64, min_length=1)  # noqa: N815 - Send AI's name

    @post_load
    def _at_most_50_pairs(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if len(data.get("meta") or []) > 50:
            raise ValidationError({"meta": ["At most 50 pairs."]})
        return data


class CreatedUploadSchema(CompiledDumpSchema):
    """Send AI's documented answer to an upload: a bare camelCase object (docs/api/uploads.md)."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    projectId = fields.String(required=True)  # noqa: N815
    status = fields.String(required=True, metadata={"example": "processing"})
    fileType = fields.String(required=True, metadata={"example": "pdf"})  # noqa: N815
    fileSize = fields.Integer(required=True)  # noqa: N815
    createdAt = Timestamp(required=True)  # noqa: N815
    updatedAt = Timestamp(required=True)  # noqa: N815
    taskIds = fields.List(fields.String(), required=True)  # noqa: N815


class UploadEnvelopeSchema(CompiledDumpSchema):
    payload = fields.Nested(UploadSchema, required=True)


UploadListSchema = page_of(UploadSchema, "UploadListSchema")


class UploadListQuerySchema(PagingQuerySchema):
    status = fields.List(
        fields.String(validate=validate.OneOf(UPLOAD_STATUSES)),
        metadata={"description": "Repeat for several statuses."},
    )
    folder_id = fields.String(validate=validate.Regexp(LOOKUP_ID.pattern + "$"))


class UploadProjectMoveSchema(Schema):
    """`PUT …/upload/{upload_id}/move`: another project of the team, a folder, or both."""

    project_id = Text(64, min_length=1, metadata={"description": "A project of the same team."})
    folder_id = Text(64, min_length=1, metadata={
        "description": "One of the target project's folders (default: its Inbox)."})

    @validates_schema
    def _at_least_one(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("Give project_id, folder_id or both.", "_schema")


class DeletedUploadSchema(Schema):
    id = fields.String(required=True)
    deleted = fields.Boolean(required=True)


class DeletedUploadEnvelopeSchema(Schema):
    payload = fields.Nested(DeletedUploadSchema, required=True)


class FolderSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    system = fields.Boolean(required=True)
    created_at = Timestamp(required=True)


class FolderListSchema(Schema):
    payload = fields.List(fields.Nested(FolderSchema), required=True)


# --- connectors and notifications (docs/api/test-helpers.md, docs/notifications.md) -------------

class OAuth2Schema(Schema):
    """OAuth2 client credentials: a token from `token_url`, renewed before it expires."""

    token_url = Text(2000, required=True)
    client_id = Text(2000, min_length=1, required=True)
    client_secret = Text(2000, min_length=1, required=True,
                         metadata={"description": "Never shown: `***` in every answer."})
    scope = Text(2000, min_length=1, allow_none=True)


class TokenExchangeSchema(Schema):
    """A custom token exchange: `method` to `url` with `query` and `form`, the token at
    `token_key` of the JSON answer, its expiry at `expiry_key`."""

    method = fields.String(load_default="POST", validate=validate.OneOf(["GET", "POST"]))
    url = Text(2000, required=True)
    query = fields.Dict(keys=Text(200, min_length=1), values=Text(2000))
    form = fields.Dict(keys=Text(200, min_length=1), values=Text(2000),
                       metadata={"description": "Values never shown: `***`."})
    token_key = Text(200, min_length=1, required=True)
    expiry_key = Text(200, min_length=1, allow_none=True)
    expiry_type = fields.String(load_default="seconds", validate=validate.OneOf(
        ["datetime", "seconds", "milliseconds"]))


class ConnectorSchema(Schema):
    """A connector: where a project's notifications go. `bearer` and `secret` are taken, never
    shown: an answer has `"***"` when one is set, null otherwise."""

    id = fields.String(dump_only=True)
    name = Text(200, min_length=1)
    url = Text(2000, required=True, metadata={"description": "http:// or https:// only."})
    method = fields.String(load_default="POST", validate=validate.OneOf(CONNECTOR_METHODS))
    headers = fields.Dict(keys=Text(200, min_length=1), values=Text(2000), load_default=dict)
    bearer = Text(2000, min_length=1, allow_none=True,
                  metadata={"description": "Sent as `Authorization: Bearer …`; never shown."})
    secret = Text(2000, min_length=1, allow_none=True,
                  metadata={"description": "Signs each attempt (`X-Sendai-Signature`); never "
                                           "shown."})
    events = fields.List(fields.String(validate=validate.OneOf(list(SUBSCRIPTIONS))),
                         load_default=lambda: list(SUBSCRIPTIONS),
                         validate=validate.Length(min=1))
    created_at = Timestamp(dump_only=True)
    disabled_at = Timestamp(dump_only=True,
                            metadata={"description": "When a receiver's 410 disabled it."})
    oauth2 = fields.Nested(OAuth2Schema, allow_none=True)
    token_exchange = fields.Nested(TokenExchangeSchema, allow_none=True)
    kind = fields.String(load_default="notification", validate=validate.OneOf(CONNECTOR_KINDS),
                         metadata={"description": "`notification`, or `api_lookup`: asked for "
                                                  "the annotations of `entity_ids` when a task "
                                                  "is completed."})
    entity_ids = fields.List(Text(200, min_length=1), load_default=list,
                             metadata={"description": "An api_lookup connector's entities."})


class ConnectionTestSchema(Schema):
    status_code = fields.Integer(required=True, allow_none=True)
    duration_ms = fields.Integer(required=True)
    error = fields.String(required=True, allow_none=True)


class ConnectionTestEnvelopeSchema(Schema):
    payload = fields.Nested(ConnectionTestSchema, required=True)


class ConnectorEnvelopeSchema(Schema):
    payload = fields.Nested(ConnectorSchema, required=True)


class ConnectorListSchema(Schema):
    payload = fields.List(fields.Nested(ConnectorSchema), required=True)


class DeletedConnectorEnvelopeSchema(Schema):
    payload = fields.Nested(DeletedUploadSchema, required=True)


class NotificationAttemptSchema(Schema):
    n = fields.Integer(required=True)
    at = Timestamp(required=True)
    status_code = fields.Integer(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)
    duration_ms = fields.Integer(required=True, allow_none=True)


class NotificationSchema(Schema):
    """A notification (docs/notifications.md): what was sent to which connector, and what each
    attempt got back."""

    id = fields.String(required=True)
    event = fields.String(required=True,
                          validate=validate.OneOf([e.event for e in NOTIFICATION_EVENTS]))
    connector_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(NOTIFICATION_STATUSES))
    created_at = Timestamp(required=True)
    attempts = fields.List(fields.Nested(NotificationAttemptSchema), required=True)


NotificationListSchema = page_of(NotificationSchema, "NotificationListSchema")


class NotificationListQuerySchema(PagingQuerySchema):
    status = fields.List(
        fields.String(validate=validate.OneOf(NOTIFICATION_STATUSES)),
        metadata={"description": "pending, delivered or failed; repeat for several."},
    )
