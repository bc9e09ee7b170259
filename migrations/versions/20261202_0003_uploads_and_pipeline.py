"""Projects' pipeline settings, folders, uploads and their files, jobs, registered outcomes;
every task gets an upload (docs/project-settings.md, docs/api/uploads.md, docs/pipeline.md)

Revision ID: 0003_uploads_and_pipeline
Revises: 0002_server_secret
Create Date: 2026-12-02 08:00:00
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import sendai_server.store.models

revision: str = '0003_uploads_and_pipeline'
down_revision: str | None = '0002_server_secret'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYSTEM_FOLDERS = ("Inbox", "Processed", "Reported", "Bin")


def upgrade() -> None:
    with op.batch_alter_table('project') as batch:
        batch.add_column(sa.Column('automation', sa.String(length=16), nullable=False,
                                   server_default='auto_predict'))
        batch.add_column(sa.Column('threshold', sa.Float(), nullable=False, server_default='0.9'))
        batch.add_column(sa.Column('pipeline', sa.String(length=16), nullable=False,
                                   server_default='auto'))
        batch.add_column(sa.Column('delay', sa.Float(), nullable=True))

    op.create_table('folder',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('system', sa.Boolean(), nullable=False),
    sa.Column('created_at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_folder_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_folder')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_folder_project_id_name'))
    )
    op.create_table('upload',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('folder_id', sa.String(length=64), nullable=True),
    sa.Column('meta', sa.JSON(), nullable=False),
    sa.Column('moved_at', sendai_server.store.models.UTCDateTime(), nullable=True),
    sa.Column('created_at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['folder_id'], ['folder.id'], name=op.f('fk_upload_folder_id_folder'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_upload_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upload'))
    )
    op.create_index('ix_upload_project_id_created_at_id', 'upload', ['project_id', 'created_at', 'id'], unique=False)
    op.create_index(op.f('ix_upload_folder_id'), 'upload', ['folder_id'], unique=False)

    # Every project gets its four system folders; every task an upload of its own (named like
    # the task, in its project's Inbox, without files) unless it names an existing one.
    conn = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    folder = sa.table('folder', sa.column('id'), sa.column('project_id'), sa.column('name'),
                      sa.column('system'), sa.column('created_at'))
    projects = [row[0] for row in conn.execute(sa.text("SELECT id FROM project"))]
    rows = [{"id": f"folder_{secrets.token_hex(10)}", "project_id": project, "name": name,
             "system": True, "created_at": now}
            for project in projects for name in SYSTEM_FOLDERS]
    if rows:
        conn.execute(folder.insert(), rows)
    conn.execute(sa.text(
        "UPDATE task SET upload_id = 'upl_' || substr(id, 6) WHERE upload_id IS NULL"))
    conn.execute(sa.text(
        "INSERT INTO upload (id, project_id, name, folder_id, meta, created_at, updated_at) "
        "SELECT task.upload_id, task.project_id, task.name, "
        "(SELECT folder.id FROM folder WHERE folder.project_id = task.project_id "
        "AND folder.name = 'Inbox'), '[]', task.created_at, task.created_at FROM task "
        "WHERE task.upload_id NOT IN (SELECT upload.id FROM upload)"))

    with op.batch_alter_table('task') as batch:
        batch.alter_column('upload_id', existing_type=sa.String(length=64), nullable=False)
        batch.create_foreign_key(batch.f('fk_task_upload_id_upload'), 'upload', ['upload_id'], ['id'], ondelete='CASCADE')
        batch.create_index(batch.f('ix_task_upload_id'), ['upload_id'], unique=False)

    op.create_table('upload_file',
    sa.Column('upload_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('file_type', sa.String(length=16), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('file_size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_upload_file_task_id_task'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['upload_id'], ['upload.id'], name=op.f('fk_upload_file_upload_id_upload'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('upload_id', 'position', name=op.f('pk_upload_file')),
    sa.UniqueConstraint('task_id', name=op.f('uq_upload_file_task_id'))
    )
    op.create_index(op.f('ix_upload_file_sha256'), 'upload_file', ['sha256'], unique=False)
    op.create_table('job',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('run_at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('leased_until', sendai_server.store.models.UTCDateTime(), nullable=True),
    sa.Column('lease_token', sa.String(length=64), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], name=op.f('fk_job_task_id_task'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_job_run_at', 'job', ['run_at'], unique=False)
    op.create_index(op.f('ix_job_task_id'), 'job', ['task_id'], unique=False)
    op.create_table('outcome',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('pages', sa.JSON(), nullable=True),
    sa.Column('created_at', sendai_server.store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_outcome_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'sha256', name=op.f('pk_outcome'))
    )


def downgrade() -> None:
    op.drop_table('outcome')
    op.drop_index(op.f('ix_job_task_id'), table_name='job')
    op.drop_index('ix_job_run_at', table_name='job')
    op.drop_table('job')
    op.drop_index(op.f('ix_upload_file_sha256'), table_name='upload_file')
    op.drop_table('upload_file')
    with op.batch_alter_table('task') as batch:
        batch.drop_index(batch.f('ix_task_upload_id'))
        batch.drop_constraint(batch.f('fk_task_upload_id_upload'), type_='foreignkey')
        batch.alter_column('upload_id', existing_type=sa.String(length=64), nullable=True)
    op.drop_index(op.f('ix_upload_folder_id'), table_name='upload')
    op.drop_index('ix_upload_project_id_created_at_id', table_name='upload')
    op.drop_table('upload')
    op.drop_table('folder')
    with op.batch_alter_table('project') as batch:
        batch.drop_column('delay')
        batch.drop_column('pipeline')
        batch.drop_column('threshold')
        batch.drop_column('automation')
