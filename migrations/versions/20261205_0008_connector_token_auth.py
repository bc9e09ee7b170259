"""Connectors: `auth`, OAuth2 client credentials or a custom token exchange (docs/notifications.md)

Revision ID: 0008_connector_token_auth
Revises: 0007_connector_disabled_at
Create Date: 2026-12-05 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008_connector_token_auth'
down_revision: str | None = '0007_connector_disabled_at'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('connector') as batch:
        batch.add_column(sa.Column('auth', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('connector') as batch:
        batch.drop_column('auth')
