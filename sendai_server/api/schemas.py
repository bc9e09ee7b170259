"""Marshmallow schemas: the one description of what the API takes and returns. flask-smorest
validates and serializes with them and builds /openapi.json from them."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Timestamp(fields.DateTime):
    """ISO 8601 in UTC to the second, ending in Z, as every Send AI example is."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format=TIMESTAMP_FORMAT, allow_none=True, **kwargs)


class JSONNumber(fields.Number):
    """A number returned as it was stored: 100 stays 100 and 0.5 stays 0.5."""

    num_type = float

    def _format_num(self, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        return float(value)


Coordinates = fields.List(
    fields.List(JSONNumber(), validate=validate.Length(equal=2)),
    validate=validate.Length(equal=4),
    # Required: the column is NOT NULL, so a page item without it was a 500 (schemathesis).
    required=True,
    metadata={"description": "Four [x, y] corners of the item's box."},
)
Confidence = JSONNumber(validate=validate.Range(0, 1), required=True)


class MetaSchema(Schema):
    name = fields.String(required=True)
    value = fields.String(required=True)


class AnnotationSchema(Schema):
    id = fields.String(dump_only=True)
    entity_id = fields.String(required=True)
    confidence = Confidence
    content = fields.String(required=True)
    top = JSONNumber(required=True)
    left_of_line = JSONNumber(required=True)


class CheckboxSchema(Schema):
    id = fields.String(dump_only=True)
    confidence = Confidence
    checked = fields.Boolean(required=True)
    coordinates = Coordinates


class SegmentSchema(Schema):
    id = fields.String(dump_only=True)
    confidence = Confidence
    coordinates = Coordinates


class SignatureSchema(SegmentSchema):
    pass


class PageSchema(Schema):
    id = fields.String(dump_only=True)
    width = fields.Integer(required=True)
    height = fields.Integer(required=True)
    annotations = fields.List(fields.Nested(AnnotationSchema), load_default=list)
    checkboxes = fields.List(fields.Nested(CheckboxSchema), load_default=list)
    segments = fields.List(fields.Nested(SegmentSchema), load_default=list)
    signatures = fields.List(fields.Nested(SignatureSchema), load_default=list)


class TaskSchema(Schema):
    """The public task object (API.md §5)."""

    id = fields.String()
    name = fields.String()
    created_at = Timestamp()
    meta = fields.List(fields.Nested(MetaSchema))
    status = fields.String(
        validate=validate.OneOf(
            ["PROCESSING", "REVIEWING", "COMPLETED", "FAILED", "DISCARDED", "FILTERED"]
        )
    )
    step_type = fields.String()
    upload_id = fields.String(allow_none=True)
    project_id = fields.String()
    approved = fields.Boolean()
    exported_at = Timestamp()
    export_failed_at = Timestamp()
    last_opened_at = Timestamp()
    pages = fields.List(fields.Nested(PageSchema))


class TaskEnvelopeSchema(Schema):
    payload = fields.Nested(TaskSchema, required=True)


class ErrorBodySchema(Schema):
    status = fields.Integer(required=True)
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict()


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)
    request_id = fields.String(allow_none=True)
