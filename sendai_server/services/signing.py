"""The secret that signs list pagination tokens.

SENDAI_SECRET_KEY wins when it is set. Otherwise the server makes a random secret the first
time it needs one and keeps it in the database: every worker and every host that shares the
database then signs and checks tokens with the same key, tokens survive restarts and deploys,
and nobody has to configure anything for a token to work on the next request's worker.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from ..models import ServerSecret
from ..uow import UnitOfWork

TOKEN_SECRET_NAME = "pagination_token"


def signing_secret(uow: UnitOfWork, configured: str | None) -> str:
    """The configured secret, or the database's (made on first use; racing workers agree on
    the one that was stored first)."""
    if configured:
        return configured
    stored = _stored(uow)
    if stored is not None:
        return stored
    try:
        with uow.write() as conn:
            conn.execute(insert(ServerSecret), {
                "name": TOKEN_SECRET_NAME, "value": secrets.token_urlsafe(48),
                "created_at": datetime.now(UTC),
            })
    except IntegrityError:  # another worker stored one first: use theirs
        pass
    stored = _stored(uow)
    if stored is None:  # pragma: no cover - the row was just written
        raise RuntimeError("the signing secret could not be stored")
    return stored


def _stored(uow: UnitOfWork) -> str | None:
    with uow.read() as conn:
        return conn.scalar(
            select(ServerSecret.value).where(ServerSecret.name == TOKEN_SECRET_NAME)
        )
