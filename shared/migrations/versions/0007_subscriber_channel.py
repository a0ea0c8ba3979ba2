"""subscribers may take their stories over SFTP or into a folder, with encrypted credentials

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.add_column(sa.Column("channel", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("credentials", AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_column("credentials")
        batch.drop_column("channel")
