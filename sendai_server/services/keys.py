"""API keys: creating, revoking, and turning a presented key into a Principal.

Keys are 256-bit random secrets, so a SHA-256 of the key is enough to store and to look up
(no slow KDF on the hot path); the stored and computed hashes are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, insert, or_, select, update

from ..domain import clock
from ..domain.errors import InsufficientScope, NotFound, Unauthenticated, ValidationError
from ..domain.ids import new_id
from ..domain.profiles import Profile, server_default, team_profile
from ..store.models import ApiKey, ApiKeyProject, Project, Team, TeamClock
from ..store.statements import Statement
from ..store.uow import UnitOfWork

KEY_PREFIX = "sk_"

SCOPES = (
    "task.read", "task.edit",
    "upload.read", "upload.create", "upload.edit", "upload.delete",
    "test_helpers",
)
# Send AI's import guide spells some scopes differently; keys created with these store the
# canonical name.
SCOPE_ALIASES = {
    "tasks.view": "task.read",
    "tasks.edit": "task.edit",
    "uploads.view": "upload.read",
    "uploads.create": "upload.create",
    "uploads.edit": "upload.edit",
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key of one team, added to some of its projects, holding scopes."""

    key_id: str
    team_id: str
    scopes: frozenset[str]
    project_ids: frozenset[str]
    # The team's fault rules (docs/failures.md), read with the key: 0 costs no statement for faults.
    fault_count: int = 0
    # The team's frozen clock (docs/clock.md), read with the key; None: real time.
    clock_now: datetime | None = None
    # The team's fidelity profile (docs/profiles.md), read with the key too.
    profile: Profile = field(default_factory=server_default)

    def check_visibility(self, team_id: str, project_id: str) -> None:
        if team_id != self.team_id or project_id not in self.project_ids:
            # The same answer as for a project that does not exist: nothing leaks.
            raise NotFound()

    def check_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise InsufficientScope(scope)


@dataclass(frozen=True)
class CreatedKey:
    id: str
    key: str  # the plain key: shown once, never stored
    scopes: list[str]
    projects: list[str]


def canonical_scope(name: str) -> str:
    scope = SCOPE_ALIASES.get(name, name)
    if scope not in SCOPES:
        known = ", ".join(SCOPES + tuple(SCOPE_ALIASES))
        raise ValidationError(f"Unknown scope {name!r}; known scopes: {known}.")
    return scope


def hash_key(plain_key: str) -> str:
    return hashlib.sha256(plain_key.encode()).hexdigest()


def create_key(
    uow: UnitOfWork, team_id: str, scopes: list[str], project_ids: list[str], name: str = ""
) -> CreatedKey:
    """A new key for `team_id`, added to `project_ids` (each must belong to that team)."""
    canonical = canonical_scopes(scopes)
    projects = list(dict.fromkeys(project_ids))
    with uow.write() as conn:
        if conn.scalar(select(Team.id).where(Team.id == team_id)) is None:
            raise NotFound(f"No team {team_id}.")
        owned = set(conn.scalars(
            select(Project.id).where(Project.team_id == team_id, Project.id.in_(projects))
        ))
        missing = [p for p in projects if p not in owned]
        if missing:
            raise NotFound(f"Team {team_id} has no project {', '.join(missing)}.")
        return insert_key(conn, team_id, canonical, projects, name)


def canonical_scopes(scopes: list[str]) -> list[str]:
    """The scopes' canonical names, sorted, each once; ValidationError for an unknown one or
    for none."""
    canonical = sorted({canonical_scope(s) for s in scopes})
    if not canonical:
        raise ValidationError("A key needs at least one scope.")
    return canonical


def insert_key(conn: Connection, team_id: str, scopes: list[str], project_ids: list[str],
               name: str = "") -> CreatedKey:
    """A new key, inside the caller's write transaction: `scopes` canonical (canonical_scopes),
    `project_ids` the team's own, both checked by the caller."""
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = new_id("key")
    conn.execute(insert(ApiKey), {
        "id": key_id, "team_id": team_id, "name": name, "scopes": scopes,
        "key_hash": hash_key(plain), "created_at": clock.now(),
    })
    if project_ids:
        conn.execute(
            insert(ApiKeyProject), [{"key_id": key_id, "project_id": p} for p in project_ids]
        )
    return CreatedKey(key_id, plain, scopes, project_ids)


def revoke_key(uow: UnitOfWork, key_id: str) -> None:
    with uow.write() as conn:
        if conn.scalar(select(ApiKey.id).where(ApiKey.id == key_id)) is None:
            raise NotFound(f"No key {key_id}.")
        conn.execute(
            update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=clock.now())
        )


# On every request: compiled once, run on the driver (statements.py).
KEY_LOOKUP = Statement(
    select(
        ApiKey.id, ApiKey.team_id, ApiKey.scopes, ApiKey.key_hash,
        ApiKey.revoked_at, ApiKey.last_used_at, ApiKeyProject.project_id, Team.fault_count,
        TeamClock.now, Team.profile,
    )
    .join(Team, Team.id == ApiKey.team_id)
    .outerjoin(ApiKeyProject, ApiKeyProject.key_id == ApiKey.id)
    # A frozen team's time comes with its key, in the same statement (docs/clock.md).
    .outerjoin(TeamClock, TeamClock.team_id == ApiKey.team_id)
    .where(ApiKey.key_hash == bindparam("digest"))
)
_TOUCH_KEY = Statement(
    update(ApiKey)
    .where(ApiKey.id == bindparam("key_id"))
    .where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < bindparam("cutoff")))
    .values(last_used_at=bindparam("now", type_=ApiKey.__table__.c.last_used_at.type))
)


def authenticate(conn: Connection, plain_key: str) -> tuple[Principal, datetime | None]:
    """The principal behind a key, and when the key was last used. Unknown or revoked: 401.
    `conn` is the unit of work's, in read mode."""
    digest = hash_key(plain_key)
    rows = KEY_LOOKUP.rows(conn, {"digest": digest})
    if not rows:
        raise Unauthenticated()
    (key_id, team_id, scopes, key_hash, revoked_at, last_used_at, _, fault_count, frozen,
     stored) = rows[0]
    if not hmac.compare_digest(key_hash, digest):
        raise Unauthenticated()
    if revoked_at is not None:
        raise Unauthenticated("This API key has been revoked.")
    principal = Principal(
        key_id=key_id,
        team_id=team_id,
        scopes=frozenset(scopes),
        project_ids=frozenset(row[6] for row in rows if row[6] is not None),
        fault_count=fault_count,
        clock_now=frozen,
        profile=team_profile(stored),
    )
    return principal, last_used_at


def touch_key(
    uow: UnitOfWork, key_id: str, last_used_at: datetime | None, interval: int
) -> None:
    """Record use, at most once per interval, so that reads do not all become writes."""
    now = clock.now()
    if last_used_at is not None and now - last_used_at < timedelta(seconds=interval):
        return
    cutoff = now - timedelta(seconds=interval)
    with uow.write() as conn:
        _TOUCH_KEY.execute(conn, {"key_id": key_id, "cutoff": cutoff, "now": now})


def principal_of_key_id(
    conn: Connection, key_id: str
) -> tuple[Principal, datetime | None]:
    """The principal of a key known by its id (the inspector's signed-in session keeps only
    the id), and when it was last used: read afresh on every request, so a key revoked or
    deleted meanwhile is refused at once (401), as the Bearer key would be."""
    rows = conn.execute(
        select(ApiKey.team_id, ApiKey.scopes, ApiKey.revoked_at, ApiKey.last_used_at,
               ApiKeyProject.project_id, TeamClock.now, Team.profile)
        .join(Team, Team.id == ApiKey.team_id)
        .outerjoin(ApiKeyProject, ApiKeyProject.key_id == ApiKey.id)
        .outerjoin(TeamClock, TeamClock.team_id == ApiKey.team_id)
        .where(ApiKey.id == key_id)
    ).all()
    if not rows:
        raise Unauthenticated()
    team_id, scopes, revoked_at, last_used_at, _, frozen, stored = rows[0]
    if revoked_at is not None:
        raise Unauthenticated("This API key has been revoked.")
    principal = Principal(
        key_id=key_id, team_id=team_id, scopes=frozenset(scopes),
        project_ids=frozenset(row[4] for row in rows if row[4] is not None),
        clock_now=frozen,
        profile=team_profile(stored),
    )
    return principal, last_used_at
