"""A test's own team in one call (docs/api/test-helpers.md, `POST …/test_helpers/teams`): a
fresh team with one project, its keys and, when asked, a connector, made in one write
transaction. The pytest plugin (docs/plugin.md) makes each test's team with `make_team`, in
its own process: one transaction instead of one per part.

A test helper: the caller's key (`test_helpers`, of the team and project in the path) makes a
team that is not its own, which only a server with the test helpers on allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..store.uow import UnitOfWork
from .connectors import ConnectorSpec, insert_connector
from .keys import Principal, canonical_scopes, insert_key
from .projects import ProjectSettings, check_project, check_team_name, insert_project, insert_team

# How many keys one call makes at most (the plugin asks for two or three).
MAX_KEYS = 10


@dataclass(frozen=True)
class HelperTeamSpec:
    """What to make: a team and its project named `name`, keys holding each of `keys`' scope
    lists (added to the project), and a connector of the project when `connector` is given."""

    name: str
    settings: ProjectSettings
    keys: Sequence[Sequence[str]] = ()
    connector: ConnectorSpec | None = None


def create_helper_team(uow: UnitOfWork, principal: Principal, team_id: str, project_id: str,
                       spec: HelperTeamSpec) -> dict[str, Any]:
    """The new team's and project's ids, its keys (`id`, `key` shown once, `scopes`, in the
    order asked) and its connector (or None). Everything is checked before anything is
    written: a refusal (400, 404 for a path the key does not reach) changes nothing."""
    principal.check_visibility(team_id, project_id)
    return make_team(uow, spec)


def make_team(uow: UnitOfWork, spec: HelperTeamSpec) -> dict[str, Any]:
    """`create_helper_team`'s work, for a caller of the server's own (the pytest plugin's
    harness, in the server's process): no key, so no path to check."""
    check_team_name(spec.name)
    check_project(spec.name, spec.settings)
    scopes = [canonical_scopes(list(wanted)) for wanted in spec.keys]
    if spec.connector is not None:
        spec.connector.check()
    with uow.write() as conn:
        new_team = insert_team(conn, spec.name)
        new_project, _folders = insert_project(conn, new_team, spec.name, spec.settings)
        keys = [insert_key(conn, new_team, wanted, [new_project], "test " + " ".join(wanted))
                for wanted in scopes]
        connector = (insert_connector(conn, new_project, spec.connector)
                     if spec.connector is not None else None)
    return {"team_id": new_team, "project_id": new_project,
            "keys": [{"id": k.id, "key": k.key, "scopes": k.scopes} for k in keys],
            "connector": connector}
