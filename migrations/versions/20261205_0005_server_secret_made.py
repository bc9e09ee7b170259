"""The server's own secret (the pagination token and inspector session signing key), made here

Until now the first request that needed it made it, a write inside a read. A database at
this revision has one; the server only reads it. A secret that a server already made is kept
(tokens and sessions signed with it stay good).

Revision ID: 0005_server_secret_made
Revises: 0004_notifications
Create Date: 2026-12-05 16:30:00
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import sendai_server.store.models

revision: str = '0005_server_secret_made'
down_revision: str | None = '0004_notifications'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As services/signing.py names it; written out, so that this revision never changes with it.
_NAME = 'pagination_token'


def upgrade() -> None:
    server_secret = sa.table(
        'server_secret', sa.column('name', sa.String(64)), sa.column('value', sa.String(200)),
        sa.column('created_at', sendai_server.store.models.UTCDateTime()),
    )
    conn = op.get_bind()
    if conn.scalar(sa.select(server_secret.c.name).where(server_secret.c.name == _NAME)) is None:
        conn.execute(server_secret.insert().values(
            name=_NAME, value=secrets.token_urlsafe(48), created_at=datetime.now(UTC)))


def downgrade() -> None:
    pass  # the secret stays: an older server reads it as its own
