"""Fidelity profiles of teams, the projects' import settings (docs/profiles.md,
docs/project-settings.md), and API lookup connectors (kind, entity_ids)

Revision ID: 0011_profiles_and_settings
Revises: 0010_snapshots
Create Date: 2026-12-07 17:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011_profiles_and_settings'
down_revision: str | None = '0010_snapshots'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('connector') as batch:
        batch.add_column(sa.Column('kind', sa.String(length=16), nullable=False,
                                   server_default='notification'))
        batch.add_column(sa.Column('entity_ids', sa.JSON(), nullable=True))
    with op.batch_alter_table('team') as batch:
        batch.add_column(sa.Column('profile', sa.JSON(), nullable=True))
    with op.batch_alter_table('project') as batch:
        batch.add_column(sa.Column('api_import', sa.Boolean(), nullable=False,
                                   server_default=sa.true()))
        batch.add_column(sa.Column('email_senders', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('email_body', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('email_prepend_body', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    # Projects made before: any sender, as a project made now says it ([]).
    op.execute("UPDATE project SET email_senders = '[]' WHERE email_senders IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('project') as batch:
        batch.drop_column('email_prepend_body')
        batch.drop_column('email_body')
        batch.drop_column('email_senders')
        batch.drop_column('api_import')
    with op.batch_alter_table('team') as batch:
        batch.drop_column('profile')
    with op.batch_alter_table('connector') as batch:
        batch.drop_column('entity_ids')
        batch.drop_column('kind')
