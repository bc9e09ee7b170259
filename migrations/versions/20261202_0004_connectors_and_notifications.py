"""Connectors, the notification outbox and its delivery attempts (docs/notifications.md)

Revision ID: 0004_notifications
Revises: 0003_uploads_and_pipeline
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sendai_server.store.models

revision: str = '0004_notifications'
down_revision: str | None = '0003_uploads_and_pipeline'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('connector',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('bearer', sa.String(length=2000), nullable=True),
    sa.Column('secret', sa.String(length=2000), nullable=True),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('created_at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_connector_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connector'))
    )
    op.create_index(op.f('ix_connector_project_id'), 'connector', ['project_id'], unique=False)
    op.create_table('notification',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('connector_id', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('upload_id', sa.String(length=64), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.Column('finished_at', sendai_server.store.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['connector_id'], ['connector.id'], name=op.f('fk_notification_connector_id_connector'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_notification_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_notification')),
    sa.UniqueConstraint('id', name=op.f('uq_notification_id'))
    )
    op.create_index('ix_notification_connector_id_status', 'notification', ['connector_id', 'status'], unique=False)
    op.create_index('ix_notification_project_id_created_at_id', 'notification', ['project_id', 'created_at', 'id'], unique=False)
    op.create_table('notification_attempt',
    sa.Column('notification_seq', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['notification_seq'], ['notification.seq'], name=op.f('fk_notification_attempt_notification_seq_notification'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('notification_seq', 'n', name=op.f('pk_notification_attempt'))
    )


def downgrade() -> None:
    op.drop_table('notification_attempt')
    op.drop_index('ix_notification_project_id_created_at_id', table_name='notification')
    op.drop_index('ix_notification_connector_id_status', table_name='notification')
    op.drop_table('notification')
    op.drop_index(op.f('ix_connector_project_id'), table_name='connector')
    op.drop_table('connector')
