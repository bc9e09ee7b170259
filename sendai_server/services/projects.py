"""Teams, projects and their pipeline settings, folders (docs/project-settings.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ..domain import clock
from ..domain.emails import check_sender_pattern
from ..domain.errors import NotFound, ValidationError
from ..domain.ids import is_lookup_id, new_id
from ..domain.profiles import BY_NAME
from ..store.models import Folder, Project, Team
from ..store.uow import UnitOfWork
from .keys import Principal

SYSTEM_FOLDERS = ("Inbox", "Processed", "Reported", "Bin")
INBOX, PROCESSED = "Inbox", "Processed"
AUTOMATIONS = ("none", "auto_predict", "auto_process")
PIPELINES = ("auto", "manual")
MAX_DELAY_SECONDS = 3600
EMAIL_BODY_CHOICES = BY_NAME["email_body"].choices  # the profile's switch of that name


@dataclass(frozen=True)
class ProjectSettings:
    """What the pipeline does with a project's uploads. `delay` None: the server's default."""

    automation: str = "auto_predict"
    threshold: float = 0.9
    pipeline: str = "auto"
    delay: float | None = None
    # Imports (docs/project-settings.md). `email_body` None: the team's profile decides.
    api_import: bool = True
    email_body: str | None = None
    email_senders: tuple[str, ...] = ()  # empty: any sender
    email_prepend_body: bool = False  # an email's body text: each attachment task's 1st page

    def check(self) -> None:
        bad = [why for p in self.email_senders if (why := check_sender_pattern(p)) is not None]
        if bad:
            raise ValidationError(f"email_senders: {'; '.join(bad)}.",
                                  {"fields": {"email_senders": bad}})
        if self.email_body is not None and self.email_body not in EMAIL_BODY_CHOICES:
            raise ValidationError(f"email_body is one of {', '.join(EMAIL_BODY_CHOICES)}.",
                                  {"fields": {"email_body": ["Not a known choice."]}})
        if self.automation not in AUTOMATIONS:
            raise ValidationError(f"automation is one of {', '.join(AUTOMATIONS)}.")
        if not 0 <= self.threshold <= 1:
            raise ValidationError("threshold is between 0 and 1.")
        if self.pipeline not in PIPELINES:
            raise ValidationError(f"pipeline is one of {', '.join(PIPELINES)}.")
        if self.delay is not None and not 0 <= self.delay <= MAX_DELAY_SECONDS:
            raise ValidationError(f"delay is between 0 and {MAX_DELAY_SECONDS} seconds.")


def create_team(uow: UnitOfWork, name: str) -> str:
    check_team_name(name)
    with uow.write() as conn:
        return insert_team(conn, name)


def check_team_name(name: str) -> None:
    if not name.strip() or len(name) > 200:
        raise ValidationError("A team's name is 1 to 200 characters.")


def insert_team(conn: Connection, name: str) -> str:
    """A new team (its name already checked), inside the caller's write transaction."""
    team_id = new_id("team")
    conn.execute(insert(Team), {"id": team_id, "name": name, "created_at": _now()})
    return team_id


def create_project(
    uow: UnitOfWork, team_id: str, name: str, settings: ProjectSettings | None = None
) -> tuple[str, dict[str, str]]:
    """A new project with its four system folders; its id and {folder name: folder id}."""
    settings = settings or ProjectSettings()
    check_project(name, settings)
    with uow.write() as conn:
        if conn.scalar(select(Team.id).where(Team.id == team_id)) is None:
            raise NotFound(f"No team {team_id}.")
        return insert_project(conn, team_id, name, settings)


def check_project(name: str, settings: ProjectSettings) -> None:
    settings.check()
    if not name.strip() or len(name) > 200:
        raise ValidationError("A project's name is 1 to 200 characters.")


def insert_project(conn: Connection, team_id: str, name: str, settings: ProjectSettings
                   ) -> tuple[str, dict[str, str]]:
    """A new project of an existing team (its name and settings already checked) with its
    system folders, inside the caller's write transaction."""
    project_id = new_id("proj")
    conn.execute(insert(Project), {
        "id": project_id, "team_id": team_id, "name": name, "created_at": _now(),
        **asdict(settings),
    })
    return project_id, _add_system_folders(conn, project_id)


def update_project(uow: UnitOfWork, project_id: str, **changes: Any) -> ProjectSettings:
    """Change some of a project's settings; the project's settings after the change."""
    with uow.write() as conn:
        current = project_settings(conn, project_id)
        settings = ProjectSettings(**{**asdict(current), **changes})
        settings = replace(settings, email_senders=tuple(settings.email_senders))
        settings.check()
        conn.execute(update(Project).where(Project.id == project_id).values(**asdict(settings)))
    return settings


def project_settings(conn: Connection, project_id: str) -> ProjectSettings:
    row = conn.execute(
        select(Project.automation, Project.threshold, Project.pipeline, Project.delay,
               Project.api_import, Project.email_body, Project.email_senders,
               Project.email_prepend_body)
        .where(Project.id == project_id)
    ).first()
    if row is None:
        raise NotFound(f"No project {project_id}.")
    return ProjectSettings(*row[:-2], email_senders=tuple(row[-2] or ()),
                           email_prepend_body=bool(row[-1]))


def _add_system_folders(conn: Connection, project_id: str) -> dict[str, str]:
    now = _now()
    folders = {name: new_id("folder") for name in SYSTEM_FOLDERS}
    conn.execute(insert(Folder), [
        {"id": folder_id, "project_id": project_id, "name": name, "system": True,
         "created_at": now}
        for name, folder_id in folders.items()
    ])
    return folders


def create_folder(uow: UnitOfWork, project_id: str, name: str) -> str:
    """A custom folder: 2 to 15 characters, unique in the project (docs/project-settings.md)."""
    if not 2 <= len(name) <= 15 or "\x00" in name:
        raise ValidationError("A folder's name is 2 to 15 characters.")
    folder_id = new_id("folder")
    with uow.write() as conn:
        if conn.scalar(select(Project.id).where(Project.id == project_id)) is None:
            raise NotFound(f"No project {project_id}.")
        taken = conn.scalar(
            select(Folder.id).where(Folder.project_id == project_id, Folder.name == name)
        )
        if taken is not None:
            raise ValidationError(f"The project already has a folder named {name!r}.")
        conn.execute(insert(Folder), {"id": folder_id, "project_id": project_id, "name": name,
                                      "system": False, "created_at": _now()})
    return folder_id


def list_folders(
    uow: UnitOfWork, principal: Principal, team_id: str, project_id: str
) -> list[dict[str, Any]]:
    principal.check_visibility(team_id, project_id)
    with uow.read() as conn:
        rows = conn.execute(
            select(Folder.id, Folder.name, Folder.system, Folder.created_at)
            .where(Folder.project_id == project_id)
        ).mappings().all()
    # The system folders first, in Send AI's order; then the project's own, oldest first.
    order = {name: index for index, name in enumerate(SYSTEM_FOLDERS)}
    return sorted((dict(row) for row in rows), key=lambda f: (
        not f["system"], order.get(f["name"], 0), f["created_at"], f["id"]))


def folder_ids(conn: Connection, project_id: str) -> dict[str, str]:
    """The project's folders by name."""
    rows = conn.execute(
        select(Folder.name, Folder.id).where(Folder.project_id == project_id)
    ).all()
    return {name: folder_id for name, folder_id in rows}


def find_folder(conn: Connection, project_id: str, folder_id: str) -> str:
    """The folder's id when it is one of this project's; else 404 (docs/api/uploads.md Move)."""
    if is_lookup_id(folder_id):
        found = conn.scalar(
            select(Folder.id).where(Folder.id == folder_id, Folder.project_id == project_id)
        )
        if found is not None:
            return str(found)
    raise NotFound(f"Folder {folder_id[:64]!r} was not found.")


def _now() -> datetime:
    return clock.now()


def visible_projects(uow: UnitOfWork, principal: Principal) -> list[dict[str, Any]]:
    """The projects the principal's key was added to (its team's only), oldest first."""
    with uow.read() as conn:
        rows = conn.execute(
            select(Project.id, Project.name, Project.pipeline, Project.automation,
                   Project.created_at)
            .where(Project.team_id == principal.team_id,
                   Project.id.in_(sorted(principal.project_ids)))
            .order_by(Project.created_at, Project.id)
        ).mappings().all()
    return [dict(row) for row in rows]
