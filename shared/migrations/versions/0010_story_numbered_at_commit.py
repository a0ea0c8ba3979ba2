"""a story is numbered just before its transaction commits, so its row is inserted unnumbered

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("story") as batch:
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("story") as batch:
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=False)
