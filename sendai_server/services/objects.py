"""The public objects' schemas (docs/api/tasks.md, docs/api/uploads.md): a task and an upload as
every client sees them, whether the API answers with one or a notification carries it
(services/notifications.py). Below both the API and the services, so each can dump them without
reaching into the other. marshmallow only: no Flask."""

from __future__ import annotations

import math
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from ..domain.lifecycle import TaskStatus
from ..domain.statuses import UploadStatus
from ..domain.storable_text import MESSAGE as UNSTORABLE_MESSAGE
from ..domain.storable_text import is_storable
from ..store.models import ITEM_KINDS

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Timestamp(fields.DateTime):
    """ISO 8601 in UTC to the second, ending in Z, as every Send AI example is."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format=TIMESTAMP_FORMAT, allow_none=True, **kwargs)


def _finite(value: Any) -> None:
    # Python's JSON reader takes NaN and Infinity; no database column or JSON reply can.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError("Must be a finite number.")


def _no_nul(value: str) -> None:
    # PostgreSQL text cannot hold NUL; refuse it on every database alike.
    if not is_storable(value):
        raise ValidationError(UNSTORABLE_MESSAGE)


def Text(max_length: int, *, min_length: int = 0, **kwargs: Any) -> fields.String:
    """A string that fits its column: at most `max_length` characters, no NUL (nor a lone
    surrogate: storable_text.py)."""
    return fields.String(
        validate=[validate.Length(min=min_length, max=max_length), _no_nul], **kwargs
    )


class JSONNumber(fields.Number):
    """A number returned as it was stored: 100 stays 100 and 0.5 stays 0.5."""

    num_type = float
    # Values of exactly these types dump as themselves (api/fast_dump.py relies on it).
    dump_as_is = (int, float)

    def __init__(self, **kwargs: Any) -> None:
        validators = kwargs.pop("validate", None) or []
        validators = validators if isinstance(validators, list) else [validators]
        super().__init__(validate=[_finite, *validators], **kwargs)

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


PIXELS = validate.Range(0, 2_147_483_647)  # fits every database's INTEGER


class MetaSchema(Schema):
    name = Text(200, required=True)
    value = Text(100_000, required=True)


class AnnotationSchema(Schema):
    id = fields.String(dump_only=True)
    entity_id = Text(200, required=True)
    confidence = Confidence
    content = Text(100_000, required=True)
    top = JSONNumber(required=True)
    left_of_line = JSONNumber(required=True)


class CheckboxSchema(Schema):
    id = fields.String(dump_only=True)
    confidence = Confidence
    checked = fields.Boolean(required=True, truthy={True}, falsy={False})  # JSON true/false
    coordinates = Coordinates


class SegmentSchema(Schema):
    id = fields.String(dump_only=True)
    confidence = Confidence
    coordinates = Coordinates


class SignatureSchema(SegmentSchema):
    pass


# One schema per kind of page item (models.ITEM_KINDS); a kind without one fails at import.
ITEM_SCHEMAS: dict[str, type[Schema]] = {
    "annotations": AnnotationSchema, "checkboxes": CheckboxSchema,
    "segments": SegmentSchema, "signatures": SignatureSchema,
}

PageSchema = Schema.from_dict(
    {
        "id": fields.String(dump_only=True),
        "width": fields.Integer(required=True, strict=True, validate=PIXELS),
        "height": fields.Integer(required=True, strict=True, validate=PIXELS),
        **{
            kind.key: fields.List(fields.Nested(ITEM_SCHEMAS[kind.key]), load_default=list)
            for kind in ITEM_KINDS
        },
    },
    name="Page",
)


class TaskSchema(Schema):
    """The public task object (docs/api/tasks.md)."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    created_at = Timestamp(required=True)
    meta = fields.List(fields.Nested(MetaSchema), required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in TaskStatus]))
    step_type = fields.String(required=True)
    upload_id = fields.String(required=True, allow_none=True)
    project_id = fields.String(required=True)
    approved = fields.Boolean(required=True)
    exported_at = Timestamp(required=True)
    export_failed_at = Timestamp(required=True)
    last_opened_at = Timestamp(required=True)
    pages = fields.List(fields.Nested(PageSchema), required=True)



class UploadFileSchema(Schema):
    index = fields.Integer(required=True)
    name = fields.String(required=True)
    file_type = fields.String(required=True)
    file_size = fields.Integer(required=True)
    sha256 = fields.String(required=True)


class UploadSchema(Schema):
    """The upload object (docs/api/uploads.md). `files` maps each of its task ids to its file."""

    id = fields.String(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf([s.value for s in UploadStatus]))
    files = fields.Dict(required=True, keys=fields.String(), values=fields.Nested(UploadFileSchema))
    meta = fields.List(fields.Nested(MetaSchema), required=True)
    folder_id = fields.String(required=True, allow_none=True)
    created_at = Timestamp(required=True)
