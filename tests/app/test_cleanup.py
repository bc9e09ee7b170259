"""services.cleanup: what the pytest plugin drops when a test ends (its projects' waiting jobs
and, once the worker holds none of them, their connectors), on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from sendai_server.domain.ids import new_id
from sendai_server.services.cleanup import LeftoverJobs, drop_waiting_jobs
from sendai_server.services.connectors import ConnectorSpec, create_connector
from sendai_server.services.projects import ProjectSettings, create_project, create_team
from sendai_server.services.task_creation import TaskSpec, create_tasks
from sendai_server.store.jobs import DELIVER, enqueue
from sendai_server.store.models import Connector, Job, Notification, utcnow
from sendai_server.store.uow import UnitOfWork


def _project_with_jobs(uow: UnitOfWork) -> dict[str, Any]:
    """A project with a task, a waiting job for it, a connector, a notification and a waiting
    delivery of that notification."""
    team_id = create_team(uow, "cleanup")
    project_id, _ = create_project(uow, team_id, "cleanup", ProjectSettings(pipeline="manual"))
    connector = create_connector(uow, project_id, ConnectorSpec(
        url="http://127.0.0.1:9/hook", name="hook", events=("upload.in_review",)))
    [task_id] = create_tasks(uow, project_id, [TaskSpec(name="a.pdf")])
    with uow.write() as conn:
        task_job = enqueue(conn, "extract", task_id=task_id)
        seq = conn.execute(insert(Notification).values(
            id=new_id("ntf"), project_id=project_id, connector_id=connector["id"],
            event="upload.in_review", upload_id=new_id("upl"), body="{}",
            created_at=utcnow())).inserted_primary_key[0]  # type: ignore[index]
        delivery = enqueue(conn, DELIVER, payload={"notification": seq})
    return {"project_id": project_id, "jobs": {task_job, delivery}}


def _job_ids(uow: UnitOfWork) -> set[int]:
    with uow.read() as conn:
        return set(conn.scalars(select(Job.id)))


def _connector_projects(uow: UnitOfWork) -> set[str]:
    with uow.read() as conn:
        return set(conn.scalars(select(Connector.project_id)))


def _lease(uow: UnitOfWork, job_id: int, seconds: float) -> None:
    with uow.write() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(
            leased_until=utcnow() + timedelta(seconds=seconds), lease_token="t@worker"))


def test_drops_the_projects_waiting_jobs_and_connectors_and_nothing_of_another(
    uow: UnitOfWork,
) -> None:
    mine, other = _project_with_jobs(uow), _project_with_jobs(uow)

    assert drop_waiting_jobs(uow, [mine["project_id"]]) == LeftoverJobs(dropped=2, held=False)

    assert _job_ids(uow) == other["jobs"]
    assert _connector_projects(uow) == {other["project_id"]}


@pytest.mark.parametrize("which", ["task job", "delivery"])
def test_a_job_the_worker_holds_is_left_and_so_are_the_connectors_until_it_is_done(
    uow: UnitOfWork, which: str,
) -> None:
    mine = _project_with_jobs(uow)
    task_job, delivery = sorted(mine["jobs"])
    held = task_job if which == "task job" else delivery

    _lease(uow, held, 60)
    assert drop_waiting_jobs(uow, [mine["project_id"]]) == LeftoverJobs(dropped=1, held=True)
    assert _job_ids(uow) == {held}
    assert _connector_projects(uow) == {mine["project_id"]}

    _lease(uow, held, -1)  # its lease ran out: the worker is done with it
    assert drop_waiting_jobs(uow, [mine["project_id"]]) == LeftoverJobs(dropped=1, held=False)
    assert _job_ids(uow) == set()
    assert _connector_projects(uow) == set()


def test_no_projects_is_nothing_to_do(uow: UnitOfWork) -> None:
    mine = _project_with_jobs(uow)

    assert drop_waiting_jobs(uow, []) == LeftoverJobs(dropped=0, held=False)
    assert _job_ids(uow) == mine["jobs"]
