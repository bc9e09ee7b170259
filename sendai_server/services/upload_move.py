"""Moving an upload to another project of its team (docs/api/uploads.md, `PUT …/upload/{id}/move`):
the upload and its tasks change project together, in one write; their ids, events and files
stay. A project or folder the key cannot see is not found (404), whichever it is."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from ..domain import clock
from ..domain.errors import NotFound
from ..domain.ids import is_lookup_id
from ..store.models import Task, Upload
from ..store.uow import UnitOfWork
from .keys import Principal
from .projects import INBOX, find_folder
from .uploads import find_folder_by_name, get_upload


def change_upload_project(
    uow: UnitOfWork, principal: Principal, team_id: str, project_id: str, upload_id: str, *,
    target_project_id: str | None, folder_id: str | None,
) -> dict[str, Any]:
    """Move the upload (and its tasks) to `target_project_id` (default: where it is), into
    `folder_id` (default: the new project's Inbox; in the same project, where it is). The key
    must see both projects; the scope was checked on the path's."""
    principal.check_visibility(team_id, project_id)
    target = target_project_id or project_id
    principal.check_visibility(team_id, target)  # the same team, a project the key may see
    if not is_lookup_id(upload_id):
        raise NotFound(f"Upload {upload_id[:64]!r} was not found.")
    now = clock.now()
    with uow.write() as conn:
        found = conn.scalar(
            select(Upload.id)
            .where(Upload.id == upload_id, Upload.project_id == project_id).with_for_update()
        )
        if found is None:
            raise NotFound(f"Upload {upload_id} was not found.")
        values: dict[str, Any] = {"project_id": target, "updated_at": now}
        if folder_id is not None:
            values.update(folder_id=find_folder(conn, target, folder_id), moved_at=now)
        elif target != project_id:
            values.update(folder_id=find_folder_by_name(conn, target, INBOX), moved_at=None)
        if target != project_id:
            conn.execute(update(Task).where(Task.upload_id == upload_id)
                         .values(project_id=target))
        conn.execute(update(Upload).where(Upload.id == upload_id).values(**values))
    return get_upload(uow, principal, team_id, target, upload_id)
