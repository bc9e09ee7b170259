"""Connectors: `disabled_at`, set when a receiver answers 410 Gone (docs/notifications.md)

Revision ID: 0007_connector_disabled_at
Revises: 0006_fault_rules
Create Date: 2026-12-05 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sendai_server.store.models

revision: str = '0007_connector_disabled_at'
down_revision: str | None = '0006_fault_rules'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('connector') as batch:
        batch.add_column(sa.Column('disabled_at', sendai_server.store.models.UTCDateTime(),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('connector') as batch:
        batch.drop_column('disabled_at')
