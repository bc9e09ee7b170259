"""A team's clock (docs/clock.md): the `team_clock` table, and each job's team

Revision ID: 0009_team_clock
Revises: 0008_connector_token_auth
Create Date: 2026-12-07 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sendai_server.store.models

revision: str = '0009_team_clock'
down_revision: str | None = '0008_connector_token_auth'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('team_clock',
    sa.Column('team_id', sa.String(length=64), nullable=False),
    sa.Column('now', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.Column('frozen_at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.Column('advanced_seconds', sa.Float(), nullable=False),
    sa.Column('ticks', sa.Integer(), server_default='0', nullable=False),
    sa.Column('advancing_until', sendai_server.store.models.UTCDateTime(), nullable=True),
    sa.Column('advancing_token', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], name=op.f('fk_team_clock_team_id_team'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('team_id', name=op.f('pk_team_clock'))
    )
    with op.batch_alter_table('job') as batch:
        batch.add_column(sa.Column('team_id', sa.String(length=64), nullable=True))
        batch.create_foreign_key(batch.f('fk_job_team_id_team'), 'team', ['team_id'], ['id'],
                                 ondelete='CASCADE')
        batch.create_index(batch.f('ix_job_team_id'), ['team_id'], unique=False)
    # The jobs waiting now learn their team: by their task, or their notification's project.
    op.execute(
        "UPDATE job SET team_id = (SELECT project.team_id FROM task JOIN project"
        " ON project.id = task.project_id WHERE task.id = job.task_id)"
        " WHERE job.task_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('job') as batch:
        batch.drop_index(batch.f('ix_job_team_id'))
        batch.drop_constraint(batch.f('fk_job_team_id_team'), type_='foreignkey')
        batch.drop_column('team_id')
    op.drop_table('team_clock')
