"""A team's fidelity profile (docs/profiles.md): set and read through the test helpers, and
the places that need more than the profile the key lookup already carries (services/keys.py).

`no_access` is read here only: under `forbidden`, a project or upload that the key's team has
but the key may not see is refused with 403 instead of 404. The check costs a statement only
on that refusal, never on a request that is let through.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from ..domain.errors import Forbidden, NotFound, SendAIError, ValidationError
from ..domain.profiles import Profile, ProfileError, check_settings, team_profile
from ..store.models import Project, Team, Upload
from ..store.uow import UnitOfWork
from .keys import Principal


def read_profile(uow: UnitOfWork, principal: Principal, team_id: str) -> Profile:
    """The team's profile: every switch and its choice."""
    _own_team(principal, team_id)
    with uow.read() as conn:
        stored = conn.scalar(select(Team.profile).where(Team.id == team_id))
    return team_profile(stored)


def set_profile(
    uow: UnitOfWork, principal: Principal, team_id: str, settings: dict[str, Any]
) -> Profile:
    """Put the team on the server's default with `settings`' switches changed (the switches
    not named return to the server's default: a PUT states the whole profile). An unknown
    switch or choice: 400 naming each, nothing changed."""
    _own_team(principal, team_id)
    try:
        checked = check_settings(settings)
    except ProfileError as exc:
        raise ValidationError(
            f"The profile names an unknown switch or choice: {exc}",
            {"fields": {name: [message] for name, message in exc.fields.items()}},
        ) from exc
    with uow.write() as conn:
        conn.execute(update(Team).where(Team.id == team_id).values(profile=checked or None))
    return team_profile(checked)


def _own_team(principal: Principal, team_id: str) -> None:
    if team_id != principal.team_id:
        raise NotFound()


def unseen(
    uow: UnitOfWork, principal: Principal, team_id: str, *, project_id: str | None = None,
    upload_id: str | None = None,
) -> SendAIError:
    """The refusal for a project or upload the key may not see: 404 (`not_found`), or under
    `no_access=forbidden` 403 when the key's own team has it."""
    if principal.profile["no_access"] != "forbidden" or team_id != principal.team_id:
        return NotFound()
    with uow.read() as conn:
        if upload_id is not None:
            found = conn.scalar(
                select(Upload.id).join(Project, Project.id == Upload.project_id)
                .where(Upload.id == upload_id, Project.team_id == team_id)
            )
        else:
            found = conn.scalar(
                select(Project.id).where(Project.id == project_id, Project.team_id == team_id)
            )
    if found is None:
        return NotFound()
    return Forbidden("This API key has no access to this "
                     f"{'upload' if upload_id is not None else 'project'}.")
