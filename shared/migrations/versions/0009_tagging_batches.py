"""a version taken into another version's tagging batch is held until a time

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("story_version") as batch:
        batch.add_column(sa.Column("held_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("story_version") as batch:
        batch.drop_column("held_until")
