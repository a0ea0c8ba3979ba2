"""browser sessions of the web desk and the subscriber portal

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("token_hash", AutoString(length=64), primary_key=True),
        sa.Column("api_key_id", AutoString(), sa.ForeignKey("api_key.id"), nullable=False),
        sa.Column("csrf_token", AutoString(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_web_session_api_key_id", "web_session", ["api_key_id"])


def downgrade() -> None:
    op.drop_index("ix_web_session_api_key_id", table_name="web_session")
    op.drop_table("web_session")
