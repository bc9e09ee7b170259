"""The secret that signs list pagination tokens and the inspector's sessions.

SENDAI_SECRET_KEY wins when it is set. Otherwise the secret is the one the database keeps,
made by its migration (0005_server_secret_made): every worker and every host that shares the
database then signs and checks tokens with the same key, tokens survive restarts and deploys,
and nobody has to configure anything for a token to work on the next request's worker.
Reading it never writes.
"""

from __future__ import annotations

from sqlalchemy import select

from ..domain.errors import Unavailable
from ..store.models import ServerSecret
from ..store.uow import NOT_MIGRATED, UnitOfWork

TOKEN_SECRET_NAME = "pagination_token"


def signing_secret(uow: UnitOfWork, configured: str | None) -> str:
    """The configured secret, or the database's. A database without one was not migrated to
    this version's head: 503, as for any table it lacks."""
    if configured:
        return configured
    with uow.read() as conn:
        stored: str | None = conn.scalar(
            select(ServerSecret.value).where(ServerSecret.name == TOKEN_SECRET_NAME)
        )
    if stored is None:
        raise Unavailable(NOT_MIGRATED)
    return stored
