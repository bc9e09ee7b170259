"""API keys: creating, revoking, and turning a presented key into a Principal.

Keys are 256-bit random secrets, so a SHA-256 of the key is enough to store and to look up
(no slow KDF on the hot path); the stored and computed hashes are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, bindparam, or_, select, update
from sqlalchemy.orm import Session

from .. import db
from ..errors import InsufficientScope, NotFound, Unauthenticated, ValidationError
from ..ids import new_id
from ..models import ApiKey, ApiKeyProject, Project, Team

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
    session: Session, team_id: str, scopes: list[str], project_ids: list[str], name: str = ""
) -> CreatedKey:
    """A new key for `team_id`, added to `project_ids` (each must belong to that team)."""
    canonical = sorted({canonical_scope(s) for s in scopes})
    if not canonical:
        raise ValidationError("A key needs at least one scope.")
    db.begin_write(session)
    if session.get(Team, team_id) is None:
        session.rollback()
        raise NotFound(f"No team {team_id}.")
    owned = set(
        session.scalars(
            select(Project.id).where(Project.team_id == team_id, Project.id.in_(project_ids))
        )
    )
    missing = [p for p in project_ids if p not in owned]
    if missing:
        session.rollback()
        raise NotFound(f"Team {team_id} has no project {', '.join(missing)}.")
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("key"), team_id=team_id, name=name, scopes=canonical, key_hash=hash_key(plain),
        projects=[ApiKeyProject(project_id=p) for p in dict.fromkeys(project_ids)],
    )
    session.add(key)
    session.commit()
    return CreatedKey(key.id, plain, canonical, list(dict.fromkeys(project_ids)))


def revoke_key(session: Session, key_id: str) -> None:
    db.begin_write(session)
    key = session.get(ApiKey, key_id)
    if key is None:
        session.rollback()
        raise NotFound(f"No key {key_id}.")
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
    session.commit()


# Built once (building a select costs more than running it); run on a plain Connection: no
# ORM statement handling for what is a plain row read.
_KEY_LOOKUP = (
    select(
        ApiKey.id, ApiKey.team_id, ApiKey.scopes, ApiKey.key_hash,
        ApiKey.revoked_at, ApiKey.last_used_at, ApiKeyProject.project_id,
    )
    .outerjoin(ApiKeyProject, ApiKeyProject.key_id == ApiKey.id)
    .where(ApiKey.key_hash == bindparam("digest"))
)


def authenticate(conn: Connection, plain_key: str) -> tuple[Principal, datetime | None]:
    """The principal behind a key, and when the key was last used. Unknown or revoked: 401.
    The read's transaction is left open (the caller's to end)."""
    digest = hash_key(plain_key)
    rows = conn.execute(_KEY_LOOKUP, {"digest": digest}).all()
    if not rows or not hmac.compare_digest(rows[0].key_hash, digest):
        raise Unauthenticated()
    first = rows[0]
    if first.revoked_at is not None:
        raise Unauthenticated("This API key has been revoked.")
    principal = Principal(
        key_id=first.id,
        team_id=first.team_id,
        scopes=frozenset(first.scopes),
        project_ids=frozenset(r.project_id for r in rows if r.project_id is not None),
    )
    return principal, first.last_used_at


def touch_key(engine: Engine, key_id: str, last_used_at: datetime | None, interval: int) -> None:
    """Record use, at most once per interval, so that reads do not all become writes."""
    now = datetime.now(UTC)
    if last_used_at is not None and now - last_used_at < timedelta(seconds=interval):
        return
    cutoff = now - timedelta(seconds=interval)
    with db.write_connection(engine) as conn:
        conn.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < cutoff))
            .values(last_used_at=now)
        )
