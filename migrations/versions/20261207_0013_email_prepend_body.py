"""upload_file.body_sha256: an email's body prepended to its attachments' tasks
(docs/project-settings.md, email_prepend_body)

Revision ID: 0013_email_prepend_body
Revises: 0012_receiver_checks
Create Date: 2026-12-07 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013_email_prepend_body'
down_revision: str | None = '0012_receiver_checks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('upload_file', schema=None) as batch:
        batch.add_column(sa.Column('body_sha256', sa.String(length=64), nullable=True))
        batch.create_index(batch.f('ix_upload_file_body_sha256'), ['body_sha256'],
                           unique=False)


def downgrade() -> None:
    with op.batch_alter_table('upload_file', schema=None) as batch:
        batch.drop_index(batch.f('ix_upload_file_body_sha256'))
        batch.drop_column('body_sha256')
