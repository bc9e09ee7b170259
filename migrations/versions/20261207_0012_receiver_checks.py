"""receiver_check: a connector's last receiver check (docs/receiver-check.md)

Revision ID: 0012_receiver_checks
Revises: 0011_profiles_and_settings
Create Date: 2026-12-07 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sendai_server.store.models

revision: str = '0012_receiver_checks'
down_revision: str | None = '0011_profiles_and_settings'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('receiver_check',
    sa.Column('connector_id', sa.String(length=64), nullable=False),
    sa.Column('checked_at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.Column('passed', sa.Boolean(), nullable=False),
    sa.Column('failed', sa.JSON(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['connector_id'], ['connector.id'],
                            name=op.f('fk_receiver_check_connector_id_connector'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('connector_id', name=op.f('pk_receiver_check'))
    )


def downgrade() -> None:
    op.drop_table('receiver_check')
