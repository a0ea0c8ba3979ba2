"""idempotency keys belong to an API key and expire

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from shared.config import get_settings

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: Records whose API key cannot be told any more (no key of the filer's name); they only expire.
UNKNOWN_KEY = "unknown"
SEEDS = "seeds"  # ``services.ingest.seeds.SEEDS_KEY``: the seed loader's records, kept for good


def upgrade() -> None:
    with op.batch_alter_table("idempotency_record") as batch:
        batch.add_column(sa.Column("api_key_id", AutoString(length=64), nullable=True))
        batch.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
    _scope_existing_records()
    with _new_primary_key() as batch:
        batch.alter_column("api_key_id", existing_type=AutoString(length=64), nullable=False)
        batch.create_primary_key("pk_idempotency_record", ["api_key_id", "key"])
        batch.create_index("ix_idempotency_record_expires_at", ["expires_at"])


@contextmanager
def _new_primary_key() -> Iterator[BatchOperations]:
    """Batch operations on the table with its primary key dropped: PostgreSQL drops the
    constraint; SQLite copies the table (batch mode) from a definition without one."""
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("idempotency_record", copy_from=_without_primary_key()) as batch:
            yield batch
        return
    name = sa.inspect(op.get_bind()).get_pk_constraint("idempotency_record")["name"]
    with op.batch_alter_table("idempotency_record") as batch:
        batch.drop_constraint(name, type_="primary")
        batch.drop_index("ix_idempotency_record_expires_at", if_exists=True)
        yield batch


def _without_primary_key() -> sa.Table:
    """The table as it stands during this migration (both key columns there), keyed by nothing."""
    return sa.Table(
        "idempotency_record",
        sa.MetaData(),
        sa.Column("key", AutoString(length=200), nullable=False),
        sa.Column("request_hash", AutoString(), nullable=False),
        sa.Column("story_id", AutoString(), sa.ForeignKey("story.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("api_key_id", AutoString(length=64), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
    )


def _scope_existing_records() -> None:
    """Give each record the API key that filed its version (by the key's name, as versions record
    it) and an expiry a TTL after it was made; the seed loader's records stay for good."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT r.key, r.created_at, v.filed_by FROM idempotency_record r "
            "LEFT JOIN story_version v ON v.story_id = r.story_id AND v.version = r.version"
        )
    ).all()
    keys: dict[str, str] = {}
    for key_id, name in bind.execute(sa.text("SELECT id, name FROM api_key ORDER BY created_at DESC")).all():
        keys[name] = key_id  # several keys of one name: the oldest
    ttl = timedelta(seconds=get_settings().idempotency_ttl_seconds)
    updates = []
    for key, created_at, filed_by in rows:
        seeded = filed_by == SEEDS
        owner = SEEDS if seeded else keys.get(filed_by, UNKNOWN_KEY)
        expires = None if seeded else _as_utc(created_at) + ttl
        updates.append({"record": key, "owner": owner, "expires": expires})
    if updates:
        table = sa.table(
            "idempotency_record",
            sa.column("key", AutoString()),
            sa.column("api_key_id", AutoString()),
            sa.column("expires_at", UTCDateTime()),
        )
        bind.execute(
            table.update()
            .where(table.c.key == sa.bindparam("record"))
            .values(api_key_id=sa.bindparam("owner"), expires_at=sa.bindparam("expires")),
            updates,
        )


def _as_utc(value):
    """SQLite hands back text; PostgreSQL an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.utcoffset() is None else value


def downgrade() -> None:
    # One key per text again: of the records that share a key, the oldest stays.
    op.execute(
        "DELETE FROM idempotency_record WHERE EXISTS (SELECT 1 FROM idempotency_record o "
        "WHERE o.key = idempotency_record.key AND (o.created_at < idempotency_record.created_at "
        "OR (o.created_at = idempotency_record.created_at AND o.api_key_id < idempotency_record.api_key_id)))"
    )
    with _new_primary_key() as batch:
        batch.create_primary_key("idempotency_record_pkey", ["key"])
        batch.drop_column("expires_at")
        batch.drop_column("api_key_id")
