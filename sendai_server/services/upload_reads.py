"""Reading uploads as their public objects (docs/api/uploads.md): the row, its status derived from
its tasks, and `files` (each task id mapped to its file). Every function takes the unit of work's
connection; `api.schemas.UploadSchema` dumps the result."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from ..store.models import Upload, UploadFile
from .upload_status import status_of

_UPLOAD_COLUMNS = (Upload.id, Upload.name, Upload.folder_id, Upload.meta, Upload.created_at,
                   Upload.updated_at, Upload.project_id)


def select_uploads() -> Any:
    return select(*_UPLOAD_COLUMNS, status_of(Upload.id).label("status"))


def with_files(conn: Connection, uploads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each upload's `files`: its task ids mapped to their files (docs/api/uploads.md)."""
    by_id = {u["id"]: u for u in uploads}
    for upload in uploads:
        upload["files"] = {}
    if by_id:
        rows = conn.execute(
            select(UploadFile).where(UploadFile.upload_id.in_(list(by_id)))
            .order_by(UploadFile.upload_id, UploadFile.position)
        ).mappings()
        for row in rows:
            by_id[row["upload_id"]]["files"][row["task_id"]] = {
                "index": row["position"], "name": row["name"], "file_type": row["file_type"],
                "file_size": row["file_size"], "sha256": row["sha256"],
            }
    return uploads


def load_upload(conn: Connection, upload_id: str) -> dict[str, Any] | None:
    """The upload object, whatever project it is in; None when there is no such upload."""
    row = conn.execute(select_uploads().where(Upload.id == upload_id)).mappings().first()
    return None if row is None else with_files(conn, [dict(row)])[0]
