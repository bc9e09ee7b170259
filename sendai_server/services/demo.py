"""Demo data (docs/cli.md `seed`): a team with tasks in every state, keys for each role, and a
second team for isolation checks. Every run makes a fresh team, so runs never collide."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select

from ..domain.lifecycle import TaskStatus
from ..store.models import Project, Task, Team
from ..store.uow import UnitOfWork
from .keys import create_key, revoke_key
from .projects import ProjectSettings, create_project, create_team
from .task_creation import TaskSpec, create_tasks, synthetic_pages

# Send AI's discard page's example task: name, meta and pages (its ids are made fresh).
EXAMPLE_TASK: dict[str, Any] = {
    "name": "Document Analysis Task",
    "meta": [{"name": "category", "value": "invoice"}],
    "pages": [
        {
            "width": 2480,
            "height": 3508,
            "annotations": [
                {"entity_id": "total_amount", "confidence": 0.98, "content": "$1,234.56",
                 "top": 120.5, "left_of_line": 340.0},
            ],
            "checkboxes": [
                {"confidence": 0.92, "checked": True,
                 "coordinates": [[100, 100], [120, 100], [120, 120], [100, 120]]},
            ],
            "segments": [
                {"confidence": 0.87,
                 "coordinates": [[50, 50], [400, 50], [400, 200], [50, 200]]},
            ],
            "signatures": [
                {"confidence": 0.83,
                 "coordinates": [[800, 600], [1100, 600], [1100, 750], [800, 750]]},
            ],
        }
    ],
}

EDIT_SCOPES = ["task.read", "task.edit"]
HELPER_SCOPES = ["test_helpers", "task.read", "task.edit",
                 "upload.read", "upload.create", "upload.edit", "upload.delete"]


def _team_with_project(uow: UnitOfWork, name: str) -> tuple[str, str, dict[str, str]]:
    """A team and its project, whose pipeline is `manual`: tasks stay where the seed puts them
    (docs/cli.md), and uploads are extracted but move only when the test helpers move them."""
    team_id = create_team(uow, name)
    project_id, folders = create_project(
        uow, team_id, f"{name} project", ProjectSettings(pipeline="manual")
    )
    return team_id, project_id, folders


def seed_demo(uow: UnitOfWork) -> dict[str, Any]:
    """Create the demo data and return docs/cli.md's `seed --json` document."""
    rng = random.Random()
    team_id, project_id, folders = _team_with_project(uow, "Demo team")
    keys = {
        "edit": create_key(uow, team_id, EDIT_SCOPES, [project_id], "demo edit").key,
        "read": create_key(uow, team_id, ["task.read"], [project_id], "demo read").key,
        "helpers": create_key(uow, team_id, HELPER_SCOPES, [project_id], "demo helpers").key,
    }
    revoked = create_key(uow, team_id, EDIT_SCOPES, [project_id], "demo revoked")
    revoke_key(uow, revoked.id)
    keys["revoked"] = revoked.key

    specs = [TaskSpec(status=TaskStatus.REVIEWING, **EXAMPLE_TASK)]
    specs += [
        TaskSpec(name=f"Invoice {n}", status=TaskStatus.REVIEWING,
                 meta=[{"name": "category", "value": "invoice"}],
                 pages=synthetic_pages(1, 3, rng))
        for n in (2, 3)
    ]
    specs += [
        TaskSpec(name=f"{status.value.title()} document", status=status,
                 pages=synthetic_pages(1, 2, rng))
        for status in TaskStatus
        if status is not TaskStatus.REVIEWING
    ]
    task_ids = create_tasks(uow, project_id, specs)
    tasks: dict[str, list[str]] = {status.value: [] for status in TaskStatus}
    for spec, task_id in zip(specs, task_ids, strict=True):
        tasks[TaskStatus(spec.status).value].append(task_id)

    other_team, other_project, _ = _team_with_project(uow, "Other team")
    other_key = create_key(uow, other_team, EDIT_SCOPES, [other_project], "other edit").key
    other_spec = TaskSpec(name="Other team's task", pages=synthetic_pages(1, 1, rng))
    [other_task] = create_tasks(uow, other_project, [other_spec])
    return {
        "team_id": team_id,
        "project_id": project_id,
        "keys": keys,
        "tasks": tasks,
        "folders": {name.lower(): folder_id for name, folder_id in folders.items()},
        "other": {
            "team_id": other_team, "project_id": other_project,
            "task_id": other_task, "key": other_key,
        },
    }


def is_empty(uow: UnitOfWork) -> bool:
    with uow.read() as conn:
        return conn.scalar(select(Team.id).limit(1)) is None


def demo_curl(uow: UnitOfWork, base_url: str) -> dict[str, str]:
    """A fresh edit key on the oldest demo project and a REVIEWING task to discard with it
    (one is made if none is left), so the printed curl always works."""
    with uow.read() as conn:
        team_id, project_id = conn.execute(
            select(Project.team_id, Project.id).order_by(Project.created_at).limit(1)
        ).one()
    key = create_key(uow, team_id, EDIT_SCOPES, [project_id], "make run demo")
    with uow.read() as conn:
        task_id = conn.scalar(
            select(Task.id)
            .where(Task.project_id == project_id, Task.status == TaskStatus.REVIEWING)
            .order_by(Task.created_at)
            .limit(1)
        )
    if task_id is None:
        [task_id] = create_tasks(uow, project_id, [TaskSpec(name="Demo task")])
    url = f"{base_url}/v2/{team_id}/project/{project_id}/task/{task_id}/discard"
    return {
        "key": key.key,
        "url": url,
        "curl": f"curl -X POST '{url}' -H 'Authorization: Bearer {key.key}'",
    }


UPLOAD_DEMO_PROJECT = "Uploads demo"
UPLOAD_DEMO_SCOPES = ["upload.read", "upload.create", "upload.edit", "upload.delete",
                      "task.read", "task.edit"]


def upload_demo_curl(uow: UnitOfWork, base_url: str, sample: str) -> dict[str, str]:
    """A project of the oldest demo team whose pipeline runs (`auto`; made once), a fresh key
    with the upload and task scopes, and a curl that uploads `sample` there (docs/cli.md)."""
    with uow.read() as conn:
        team_id: str = conn.execute(
            select(Project.team_id).order_by(Project.created_at).limit(1)
        ).scalar_one()
        project_id = conn.scalar(
            select(Project.id).where(Project.team_id == team_id,
                                     Project.name == UPLOAD_DEMO_PROJECT)
        )
    if project_id is None:
        project_id, _ = create_project(uow, team_id, UPLOAD_DEMO_PROJECT,
                                       ProjectSettings(pipeline="auto"))
    key = create_key(uow, team_id, UPLOAD_DEMO_SCOPES, [project_id], "make run upload demo")
    url = f"{base_url}/v2/{team_id}/project/{project_id}/upload"
    return {
        "key": key.key,
        "url": url,
        "curl": f"curl -F 'file=@{sample}' '{url}' -H 'Authorization: Bearer {key.key}'",
        "task_url": f"{base_url}/v2/{team_id}/project/{project_id}/task",
    }
