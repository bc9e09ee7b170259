"""Snapshots of a team's state, restore, reset, export and import (docs/snapshots.md): test
helpers, registered only when SENDAI_TEST_HELPERS is on (404 otherwise), `test_helpers` scope."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, request
from marshmallow import Schema, fields, validate
from werkzeug.routing import BaseConverter

from ...domain.errors import ValidationError
from ...services import snapshots
from ...services.objects import Timestamp
from ...services.snapshot_file import MEDIA_TYPE
from ...store.storage import Storage
from ..auth import requires
from ..context import current_uow
from .blueprint import Blueprint
from .uploads import large_body

blp = Blueprint(
    "snapshots", __name__, url_prefix="/v2/<team_id>/test_helpers",
    description="Save a team's whole state, restore it in place, reset it, and carry it as a "
                "file (off in production).",
)


class SnapshotIdConverter(BaseConverter):
    """A snapshot's id in a path: any segment but `import`, so that `DELETE …/snapshots/import`
    is a wrong method on the import's path (405), not the deletion of a snapshot "import"."""

    regex = r"(?!import$)[^/]+"


class SnapshotSchema(Schema):
    id = fields.String(metadata={"description": "`snap_...`"})
    name = fields.String(allow_none=True)
    created_at = Timestamp()
    schema_revision = fields.String(metadata={
        "description": "The schema revision its rows were written at."})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "Rows per kind (projects, uploads, tasks, …) and stored files."})
    bytes = fields.Integer(metadata={"description": "Its rows, compressed, and its files."})


class SnapshotEnvelopeSchema(Schema):
    payload = fields.Nested(SnapshotSchema, required=True)


class SnapshotListSchema(Schema):
    payload = fields.List(fields.Nested(SnapshotSchema), required=True)


class NewSnapshotSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=snapshots.NAME_LIMIT))


_SNAPSHOT_BODY = {
    "required": True,
    "description": "A file made by `exportTestSnapshot` (or `sendai-server state export`).",
    "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
}


def _storage() -> Storage:
    storage: Storage = current_app.extensions["sendai_storage"]
    return storage


@blp.route("/snapshots", methods=["POST"])
@blp.doc(operationId="createTestSnapshot")
@blp.response(201, SnapshotEnvelopeSchema)
@requires("test_helpers", changes_state=False)
@blp.arguments(NewSnapshotSchema)
def create_snapshot(body: dict[str, Any], team_id: str) -> dict[str, Any]:
    """Save the team's state

    A consistent copy of everything of the team (projects, folders, uploads and their files,
    tasks with pages and events, outcomes, connectors, notifications, jobs, faults, the
    clock), read in one transaction. Keys are not part of it.
    """
    return {"payload": snapshots.create_snapshot(current_uow(), team_id, body.get("name"))}


@blp.route("/snapshots", methods=["GET"])
@blp.doc(operationId="listTestSnapshots")
@blp.response(200, SnapshotListSchema)
@requires("test_helpers", changes_state=False)
def list_snapshots(team_id: str) -> dict[str, Any]:
    """List the team's snapshots, oldest first"""
    return {"payload": snapshots.list_snapshots(current_uow(), team_id)}


@blp.route("/snapshots/<snapshot:snapshot_id>", methods=["DELETE"])
@blp.doc(operationId="deleteTestSnapshot")
@blp.response(200, SnapshotEnvelopeSchema)
@requires("test_helpers", changes_state=False)
def delete_snapshot(team_id: str, snapshot_id: str) -> dict[str, Any]:
    """Delete a snapshot

    The answer shows it as it was. Its files are deleted once nothing else refers to them.
    """
    return {"payload": snapshots.delete_snapshot(current_uow(), _storage(), team_id,
                                                 snapshot_id)}


@blp.route("/snapshots/<snapshot:snapshot_id>/restore", methods=["POST"])
@blp.doc(operationId="restoreTestSnapshot")
@blp.response(200, SnapshotEnvelopeSchema)
@requires("test_helpers", changes_state=False)
def restore_snapshot(team_id: str, snapshot_id: str) -> dict[str, Any]:
    """Restore the team to a snapshot

    In place and in one transaction: the team is again exactly what it was, ids included;
    what was made after is gone, jobs pending then are pending again, keys stay as they are.
    409 `conflict` when another team now holds ids the snapshot has.
    """
    return {"payload": snapshots.restore_snapshot(current_uow(), _storage(), team_id,
                                                  snapshot_id)}


@blp.route("/snapshots/<snapshot:snapshot_id>/export", methods=["GET"])
@blp.doc(operationId="exportTestSnapshot", responses={"200": {
    "description": "The snapshot as one file.",
    "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}})
@requires("test_helpers", changes_state=False)
def export_snapshot(team_id: str, snapshot_id: str) -> Response:
    """Export a snapshot as one file

    Its rows, at the schema revision they were written at, and its files' bytes, with a
    checksum of each. A newer sendai-server imports it.
    """
    data = snapshots.export_bytes(current_uow(), _storage(), team_id, snapshot_id)
    response = Response(data, mimetype=MEDIA_TYPE)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{snapshot_id[:64]}.sendai-snapshot"')
    return response


@blp.route("/snapshots/import", methods=["POST"])
@blp.doc(operationId="importTestSnapshot", requestBody=_SNAPSHOT_BODY)
@blp.response(201, SnapshotEnvelopeSchema)
@large_body
@requires("test_helpers", changes_state=False)
def import_snapshot(team_id: str) -> dict[str, Any]:
    """Import a snapshot file

    A snapshot of this team made from the file (restore it to make it the team's state); an
    older version's file is upgraded on the way in. 400 `validation_error` for a file that is
    not a snapshot, truncated, altered, or from a newer version (`details.reason` says which);
    409 `conflict` when another team holds its ids. Nothing is written then.
    """
    upload = request.files.get("file")
    data = upload.read() if upload is not None else request.get_data(cache=False)
    if not data:
        message = f"Send the snapshot file as the body ({MEDIA_TYPE})."
        raise ValidationError(message, {"fields": {"file": [message]}})
    name = request.args.get("name")
    if name is not None and not 1 <= len(name) <= snapshots.NAME_LIMIT:
        message = f"name has 1 to {snapshots.NAME_LIMIT} characters."
        raise ValidationError(message, {"fields": {"name": [message]}})
    return {"payload": snapshots.import_snapshot(current_uow(), _storage(), team_id, data,
                                                 name)}


@blp.route("/state", methods=["DELETE"])
@blp.doc(operationId="resetTestState")
@blp.response(204)
@requires("test_helpers", changes_state=False)
def reset_state(team_id: str) -> None:
    """Reset the team

    The team is empty: no projects, uploads, tasks, connectors, notifications, jobs, faults
    or clock. Its keys and snapshots stay.
    """
    snapshots.reset_state(current_uow(), _storage(), team_id)


def init_app(app: Flask, api: Any) -> None:
    if app.config["SENDAI"].test_helpers:  # off: the paths do not exist at all (404)
        app.url_map.converters["snapshot"] = SnapshotIdConverter
        api.register_converter(SnapshotIdConverter, lambda _converter: {"type": "string"})
        api.register_blueprint(blp)
