"""subscribers choose and manage: filters, secret rotation, failing since, deletion; subscriber
keys; redelivery budgets; the feed's order (published_seq)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from shared.config import get_settings

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    naming = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
    with op.batch_alter_table("subscriber", naming_convention=naming) as batch:
        batch.add_column(sa.Column("previous_secret", AutoString(), nullable=True))
        batch.add_column(sa.Column("previous_secret_expires_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("filters", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("failing_since", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("last_failed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("deleted_at", UTCDateTime(), nullable=True))
        # The name was unique among all subscribers (an unnamed constraint); now among live ones.
        batch.drop_constraint(
            "uq_subscriber_name" if op.get_bind().dialect.name == "sqlite" else "subscriber_name_key", type_="unique"
        )
    op.create_index(
        "uq_subscriber_name_live", "subscriber", ["name"], unique=True, sqlite_where=LIVE, postgresql_where=LIVE
    )

    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("subscriber_id", AutoString(), nullable=True))
        batch.create_foreign_key("fk_api_key_subscriber", "subscriber", ["subscriber_id"], ["id"])
        batch.create_index("ix_api_key_subscriber_id", ["subscriber_id"])

    with op.batch_alter_table("delivery") as batch:
        limit = str(get_settings().delivery_max_attempts)  # what the deployment allowed so far
        batch.add_column(sa.Column("attempt_limit", sa.Integer(), nullable=False, server_default=limit))

    with op.batch_alter_table("story_version") as batch:
        batch.add_column(sa.Column("published_seq", sa.Integer(), nullable=True))
    _number_published_versions()
    with op.batch_alter_table("story_version") as batch:
        batch.create_unique_constraint("uq_story_version_published_seq", ["published_seq"])


def _number_published_versions() -> None:
    bind = op.get_bind()
    ids = (
        bind.execute(sa.text("SELECT id FROM story_version WHERE published_at IS NOT NULL ORDER BY published_at, id"))
        .scalars()
        .all()
    )
    if ids:
        bind.execute(
            sa.text("UPDATE story_version SET published_seq = :seq WHERE id = :id"),
            [{"seq": n, "id": version_id} for n, version_id in enumerate(ids, start=1)],
        )


def downgrade() -> None:
    with op.batch_alter_table("story_version") as batch:
        batch.drop_constraint("uq_story_version_published_seq", type_="unique")
        batch.drop_column("published_seq")
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("attempt_limit")
    with op.batch_alter_table("api_key") as batch:
        batch.drop_index("ix_api_key_subscriber_id")
        batch.drop_constraint("fk_api_key_subscriber", type_="foreignkey")
        batch.drop_column("subscriber_id")
    op.drop_index("uq_subscriber_name_live", table_name="subscriber")
    op.execute("DELETE FROM subscriber WHERE deleted_at IS NOT NULL AND id NOT IN (SELECT subscriber_id FROM delivery)")
    # deleted ones kept for their history give their name up, so that names are unique again
    op.execute("UPDATE subscriber SET name = name || ' (deleted ' || id || ')' WHERE deleted_at IS NOT NULL")
    with op.batch_alter_table("subscriber") as batch:
        for column in (
            "deleted_at",
            "last_failed_at",
            "failing_since",
            "filters",
            "previous_secret_expires_at",
            "previous_secret",
        ):
            batch.drop_column(column)
        batch.create_unique_constraint("uq_subscriber_name", ["name"])
