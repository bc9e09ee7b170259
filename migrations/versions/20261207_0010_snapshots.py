"""snapshot, snapshot_table, snapshot_file: a team's saved states (docs/snapshots.md)

Revision ID: 0010_snapshots
Revises: 0009_team_clock
Create Date: 2026-12-07 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sendai_server.store.models

revision: str = '0010_snapshots'
down_revision: str | None = '0009_team_clock'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('snapshot',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('team_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('created_at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.Column('schema_revision', sa.String(length=64), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_snapshot_team_id_team'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_snapshot'))
    )
    op.create_index('ix_snapshot_team_id_created_at', 'snapshot', ['team_id', 'created_at'],
                    unique=False)
    op.create_table('snapshot_table',
    sa.Column('snapshot_id', sa.String(length=64), nullable=False),
    sa.Column('table_name', sa.String(length=64), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['snapshot.id'],
                            name=op.f('fk_snapshot_table_snapshot_id_snapshot'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'table_name', name=op.f('pk_snapshot_table'))
    )
    op.create_table('snapshot_file',
    sa.Column('snapshot_id', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['snapshot.id'],
                            name=op.f('fk_snapshot_file_snapshot_id_snapshot'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'sha256', name=op.f('pk_snapshot_file'))
    )
    op.create_index(op.f('ix_snapshot_file_sha256'), 'snapshot_file', ['sha256'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_snapshot_file_sha256'), table_name='snapshot_file')
    op.drop_table('snapshot_file')
    op.drop_table('snapshot_table')
    op.drop_index('ix_snapshot_team_id_created_at', table_name='snapshot')
    op.drop_table('snapshot')
