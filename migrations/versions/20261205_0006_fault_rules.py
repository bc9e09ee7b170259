"""fault: a team's fault rules (docs/failures.md), and team.fault_count read with the key

Revision ID: 0006_fault_rules
Revises: 0005_server_secret_made
Create Date: 2026-12-05 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sendai_server.store.models

revision: str = '0006_fault_rules'
down_revision: str | None = '0005_server_secret_made'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('team') as batch:
        batch.add_column(sa.Column('fault_count', sa.Integer(), server_default='0',
                                   nullable=False))
    op.create_table('fault',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('team_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('match', sa.JSON(), nullable=False),
    sa.Column('effect', sa.JSON(), nullable=False),
    sa.Column('times', sa.Integer(), nullable=True),
    sa.Column('remaining', sa.Integer(), nullable=True),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=True),
    sa.Column('matched', sa.Integer(), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('created_at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_fault_team_id_team'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_fault')),
    sa.UniqueConstraint('id', name=op.f('uq_fault_id'))
    )
    op.create_index('ix_fault_team_id_seq', 'fault', ['team_id', 'seq'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_fault_team_id_seq', table_name='fault')
    op.drop_table('fault')
    with op.batch_alter_table('team') as batch:
        batch.drop_column('fault_count')
