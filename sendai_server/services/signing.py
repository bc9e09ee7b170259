"""The secret that signs list pagination tokens.

SENDAI_SECRET_KEY wins when it is set. Otherwise the server makes a random secret the first
time it needs one and keeps it in the database: every worker and every host that shares the
database then signs and checks tokens with the same key, tokens survive restarts and deploys,
and nobody has to configure anything for a token to work on the next request's worker.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import db
from ..models import ServerSecret

TOKEN_SECRET_NAME = "pagination_token"


def signing_secret(session: Session, configured: str | None) -> str:
    """The configured secret, or the database's (made on first use; racing workers agree on
    the one that was stored first)."""
    if configured:
        return configured
    stored = _stored(session)
    if stored is not None:
        return stored
    db.begin_write(session)
    try:
        session.add(ServerSecret(name=TOKEN_SECRET_NAME, value=secrets.token_urlsafe(48)))
        session.commit()
    except IntegrityError:  # another worker stored one first: use theirs
        session.rollback()
    stored = _stored(session)
    if stored is None:  # pragma: no cover - the row was just written
        raise RuntimeError("the signing secret could not be stored")
    return stored


def _stored(session: Session) -> str | None:
    value = session.scalar(
        select(ServerSecret.value).where(ServerSecret.name == TOKEN_SECRET_NAME)
    )
    session.rollback()
    return value
