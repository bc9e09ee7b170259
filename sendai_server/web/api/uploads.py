"""Upload and folder endpoints (docs/project-settings.md, docs/api/uploads.md): each view
authorizes, calls one service, returns. Create answers at the three paths Send AI's pages print, so
their samples run unchanged."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, g, request
from marshmallow import ValidationError as SchemaError

from ...domain import file_types
from ...domain.errors import NotFound, ValidationError
from ...services import projects, uploads
from ...services.profiles import unseen
from ...services.tasks import Caller
from ...services.upload_move import change_upload_project
from ...store.storage import Storage
from ..auth import requires
from ..context import current_storage, current_uow, token_secret
from .blueprint import Blueprint
from .disposition import content_disposition
from .schemas import (
    CreatedUploadSchema,
    DeletedUploadEnvelopeSchema,
    FolderListSchema,
    UploadEnvelopeSchema,
    UploadFormSchema,
    UploadListQuerySchema,
    UploadListSchema,
    UploadProjectMoveSchema,
    page_answer,
)

blp = Blueprint(
    "uploads", __name__, url_prefix="/",
    description="Uploads: documents in, one task per file; and the folders they sit in.",
)

F = TypeVar("F", bound=Callable[..., Any])
PROJECT = "/v2/<team_id>/project/<project_id>"

# The multipart body, documented by hand: webargs reads either the form or the files, and an
# upload is both (the view reads them and validates the form with UploadFormSchema).
_MULTIPART = {
    "required": True,
    "content": {"multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "array", "minItems": 1, "maxItems": uploads.MAX_FILES,
                         "items": {"type": "string", "format": "binary"},
                         "description": "1 to 100 files (PDF, PNG, JPEG, TIFF, email), each "
                                        "at most 40 MiB; repeat the field for several."},
                "name": {"type": "string", "maxLength": 500},
                "meta": {"type": "string", "description": 'JSON text of [{"name", "value"}].'},
                "projectId": {"type": "string"},
            },
        },
        "encoding": {"file": {"style": "form", "explode": True}},
    }},
}


def large_body(view: F) -> F:
    """The request may be as large as SENDAI_MAX_UPLOAD_BYTES (api/__init__.py reads it)."""
    view.sendai_large_body = True  # type: ignore[attr-defined]
    return view


def _storage() -> Storage:
    storage: Storage = current_storage()
    return storage


def _create(team_id: str, project_id: str | None) -> dict[str, Any]:
    try:
        form = UploadFormSchema().load(request.form.to_dict(flat=True))
    except SchemaError as exc:
        raise ValidationError("The upload's form is not valid; see details.fields.",
                              {"fields": exc.messages}) from exc
    sent_project = form.get("projectId")
    if project_id is None:
        if not sent_project:
            message = "projectId is required on this path."
            raise ValidationError(message, {"fields": {"projectId": [message]}})
        project_id = sent_project
        try:
            g.principal.check_visibility(team_id, project_id)
        except NotFound:  # 404, or 403 under no_access=forbidden (docs/profiles.md)
            raise unseen(current_uow(), g.principal, team_id, project_id=project_id) from None
    elif sent_project is not None and sent_project != project_id:
        message = "projectId must be the project in the path."
        raise ValidationError(message, {"fields": {"projectId": [message]}})
    files = [
        uploads.IncomingFile(name=(f.filename or "file")[:500], stream=f.stream)
        for f in request.files.getlist("file")
    ]
    return uploads.create_upload(
        current_uow(), _storage(), Caller(g.principal, g.request_id), team_id, project_id,
        files, name=form.get("name"), meta=form.get("meta"),
        default_delay=current_app.config["SENDAI"].pipeline_delay,
    )


@blp.route(f"{PROJECT}/upload", methods=["POST"])
@blp.response(200, CreatedUploadSchema)
@blp.doc(requestBody=_MULTIPART, operationId="createUpload")
@large_body
@requires("upload.create")
def create_upload(team_id: str, project_id: str) -> dict[str, Any]:
    """Upload documents

    Each file becomes a task, PROCESSING until the pipeline has read it. Answers Send AI's
    documented object (camelCase, not wrapped), with `taskIds` besides.
    """
    return _create(team_id, project_id)


@blp.route("/v2/<team_id>/upload", methods=["POST"])
@blp.response(200, CreatedUploadSchema)
@blp.doc(requestBody=_MULTIPART, operationId="createTeamUpload")
@large_body
@requires("upload.create")
def create_team_upload(team_id: str) -> dict[str, Any]:
    """Upload documents (the import guide's path)

    As `POST /v2/{team_id}/project/{project_id}/upload`, with `projectId` required.
    """
    return _create(team_id, None)


@blp.route("/api/v1/uploads", methods=["POST"])
@blp.response(200, CreatedUploadSchema)
@blp.doc(requestBody=_MULTIPART, operationId="createUploadV1")
@large_body
@requires("upload.create")
def create_upload_v1() -> dict[str, Any]:
    """Upload documents (Send AI's upload sample's path)

    As `POST /v2/{team_id}/project/{project_id}/upload`, with `projectId` required; the team is
    the key's own.
    """
    return _create(g.principal.team_id, None)


@blp.route(f"{PROJECT}/upload", methods=["GET"])
@blp.response(200, UploadListSchema)
@blp.doc(operationId="listUploads")
@requires("upload.read")
@blp.arguments(UploadListQuerySchema, location="query", as_kwargs=True)
def list_uploads(team_id: str, project_id: str, **params: Any) -> dict[str, Any]:
    """List uploads

    Newest first unless `sort=created_at:asc`; `status` (repeatable) and `folder_id` filter.
    Pages as tasks do: pass a page's `paginationToken` as `token`.
    """
    query = uploads.UploadListQuery(
        statuses=tuple(params.get("status", ())), folder_id=params.get("folder_id"),
        descending=params["sort"] == "created_at:desc", limit=params["limit"],
        token=params.get("token"),
    )
    page = uploads.list_uploads(
        current_uow(), g.principal, team_id, project_id, query, token_secret()
    )
    return page_answer(page)


@blp.route(f"{PROJECT}/upload/<upload_id>", methods=["GET"])
@blp.response(200, UploadEnvelopeSchema)
@requires("upload.read")
def get_upload(team_id: str, project_id: str, upload_id: str) -> dict[str, Any]:
    """Get an upload"""
    return {"payload": uploads.get_upload(
        current_uow(), g.principal, team_id, project_id, upload_id)}


@blp.route("/v2/<team_id>/upload/<upload_id>", methods=["GET"])
@blp.response(200, UploadEnvelopeSchema)
@blp.doc(operationId="getTeamUpload")
@requires("upload.read")
def get_team_upload(team_id: str, upload_id: str) -> dict[str, Any]:
    """Get an upload (the import guide's path)"""
    return {"payload": uploads.get_upload(current_uow(), g.principal, team_id, None, upload_id)}


_BINARY = {"type": "string", "format": "binary"}


@blp.route(f"{PROJECT}/upload/<upload_id>/files/<int(signed=True):index>", methods=["GET"])
# Documented with each media type a file is served with, not application/octet-stream: a
# check of real answers against this document (proxy mode, docs/proxy.md) found the difference.
@blp.response(200, _BINARY, content_type=file_types.CONTENT_TYPES[0])
@blp.doc(responses={200: {"description": "The file's bytes, with its content type.",
                          "content": {media: {"schema": _BINARY}
                                      for media in file_types.CONTENT_TYPES}}})
@blp.doc(operationId="getUploadFile")
@requires("upload.read")
def get_upload_file(team_id: str, project_id: str, upload_id: str, index: int) -> Response:
    """Get one of an upload's files

    The index-th file (0-based) as it was uploaded.
    """
    if not 0 <= index < uploads.MAX_FILES:  # nor a number no INTEGER column holds (a 500 once)
        raise NotFound(f"Upload {upload_id} has no file {index}.")
    row, chunks = uploads.file_of_upload(
        current_uow(), _storage(), g.principal, team_id, project_id, upload_id, index
    )
    return Response(chunks, content_type=row["content_type"], headers={
        "Content-Length": str(row["file_size"]),
        "Content-Disposition": content_disposition(row["name"]),
    })


@blp.route(f"{PROJECT}/upload/<upload_id>/move/<folder_id>", methods=["POST"])
@blp.response(200, UploadEnvelopeSchema)
@requires("upload.edit")
def move_upload(team_id: str, project_id: str, upload_id: str, folder_id: str) -> dict[str, Any]:
    """Move an upload to a folder

    One of the project's folders; any body is ignored.
    """
    return {"payload": uploads.move_upload(
        current_uow(), g.principal, team_id, project_id, upload_id, folder_id)}


def upload_found_before_body(view: F) -> F:
    """Answer an unknown upload (404) before the body is read (400): docs/api/index.md's order."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        uploads.get_upload(current_uow(), g.principal, kwargs["team_id"],
                           kwargs["project_id"], kwargs["upload_id"])
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@blp.route(f"{PROJECT}/upload/<upload_id>/move", methods=["PUT"])
@blp.response(200, UploadEnvelopeSchema)
@blp.doc(operationId="changeUploadProject")
@requires("upload.edit")
@upload_found_before_body
@blp.arguments(UploadProjectMoveSchema)
def change_project(body: dict[str, Any], team_id: str, project_id: str,
                   upload_id: str) -> dict[str, Any]:
    """Move an upload to another project

    Another project of the same team (the key must see both) takes the upload and its tasks;
    their ids, events and files stay. Into `folder_id` when given, else the new project's
    Inbox. All in one transaction.
    """
    return {"payload": change_upload_project(
        current_uow(), g.principal, team_id, project_id, upload_id,
        target_project_id=body.get("project_id"), folder_id=body.get("folder_id"))}


@blp.route(f"{PROJECT}/upload/<upload_id>", methods=["DELETE"])
@blp.response(200, DeletedUploadEnvelopeSchema)
@requires("upload.delete")
def delete_upload(team_id: str, project_id: str, upload_id: str) -> dict[str, Any]:
    """Delete an upload

    With its tasks, their events and their jobs; a stored file goes once no upload refers to
    its content.
    """
    return {"payload": uploads.delete_upload(
        current_uow(), _storage(), g.principal, team_id, project_id, upload_id)}


@blp.route(f"{PROJECT}/folder", methods=["GET"])
@blp.response(200, FolderListSchema)
@blp.doc(operationId="listFolders")
@requires("upload.read")
def list_folders(team_id: str, project_id: str) -> dict[str, Any]:
    """List the project's folders

    The four system folders (Inbox, Processed, Reported, Bin) first, then the project's own:
    the ids to move uploads to.
    """
    return {"payload": projects.list_folders(current_uow(), g.principal, team_id, project_id)}
