"""subscribers choose their format (ninjs, newsml-g2, nitf)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.add_column(sa.Column("format", AutoString(length=20), nullable=False, server_default="ninjs"))


def downgrade() -> None:
    with op.batch_alter_table("subscriber") as batch:
        batch.drop_column("format")
