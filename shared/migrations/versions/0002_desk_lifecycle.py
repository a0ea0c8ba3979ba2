"""desk lifecycle: version kinds, notes, who filed, failed state; idempotency records for every
filing request; the story list's order (seq) and tag index; key last use; kill time

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import json

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

from shared.tags import EditorTagChanges, StoryTags, effective_tags, index_codes

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("last_used_at", UTCDateTime(), nullable=True))

    with op.batch_alter_table("story_version") as batch:
        batch.add_column(sa.Column("kind", AutoString(), nullable=False, server_default="original"))
        batch.add_column(sa.Column("note", AutoString(), nullable=True))
        batch.add_column(sa.Column("filed_by", AutoString(), nullable=True))
        batch.add_column(sa.Column("error", AutoString(), nullable=True))
        batch.add_column(sa.Column("tries", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("failed_at", UTCDateTime(), nullable=True))
    # Before kinds existed, a later version could only come from an editor's tag change.
    op.execute("UPDATE story_version SET kind = 'retag' WHERE version > 1")

    op.create_table(
        "idempotency_record",
        sa.Column("key", AutoString(length=200), nullable=False),
        sa.Column("request_hash", AutoString(), nullable=False),
        sa.Column("story_id", AutoString(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["story_id"], ["story.id"]),
        sa.PrimaryKeyConstraint("key"),
    )
    op.execute(
        "INSERT INTO idempotency_record (key, request_hash, story_id, version, created_at) "
        "SELECT idempotency_key, request_hash, id, 1, created_at FROM story "
        "WHERE idempotency_key IS NOT NULL AND request_hash IS NOT NULL"
    )

    # The unique constraint on story.idempotency_key was created unnamed: PostgreSQL drops it
    # with its column; SQLite's table copy needs it named (by convention) to leave it out.
    naming = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
    with op.batch_alter_table("story", naming_convention=naming) as batch:
        batch.add_column(sa.Column("killed_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        if op.get_bind().dialect.name == "sqlite":
            batch.drop_constraint("uq_story_idempotency_key", type_="unique")
        batch.drop_column("idempotency_key")
        batch.drop_column("request_hash")
        batch.create_index("ix_story_created", ["created_at", "id"])
    _number_existing_stories()
    with op.batch_alter_table("story") as batch:
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint("uq_story_seq", ["seq"])

    op.create_table(
        "story_tag",
        sa.Column("story_id", AutoString(), nullable=False),
        sa.Column("kind", AutoString(), nullable=False),
        sa.Column("code", AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["story_id"], ["story.id"]),
        sa.PrimaryKeyConstraint("story_id", "kind", "code"),
    )
    op.create_index("ix_story_tag_code", "story_tag", ["kind", "code", "story_id"])
    _index_existing_stories()


def _number_existing_stories() -> None:
    bind = op.get_bind()
    ids = bind.execute(sa.text("SELECT id FROM story ORDER BY created_at, id")).scalars().all()
    if ids:
        bind.execute(
            sa.text("UPDATE story SET seq = :seq WHERE id = :id"),
            [{"seq": n, "id": story_id} for n, story_id in enumerate(ids, start=1)],
        )


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _index_existing_stories() -> None:
    """Fill the tag index from each story's newest tagged version and its editors' changes."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT s.id, s.manual_tags, v.tags FROM story s JOIN story_version v ON v.story_id = s.id "
            "ORDER BY s.id, v.version DESC"
        )
    ).all()
    newest: dict[str, tuple] = {}
    for story_id, manual, tags in rows:
        if story_id not in newest or (not newest[story_id][1] and _json(tags)):
            newest[story_id] = (_json(manual), _json(tags))
    codes = [
        {"story_id": story_id, "kind": kind, "code": code}
        for story_id, (manual, tags) in newest.items()
        for kind, code in index_codes(
            effective_tags(StoryTags.from_stored(tags or None), EditorTagChanges.from_stored(manual or None))
        )
    ]
    if codes:
        bind.execute(sa.text("INSERT INTO story_tag (story_id, kind, code) VALUES (:story_id, :kind, :code)"), codes)


def downgrade() -> None:
    op.drop_index("ix_story_tag_code", table_name="story_tag")
    op.drop_table("story_tag")
    with op.batch_alter_table("story") as batch:
        batch.drop_constraint("uq_story_seq", type_="unique")
        batch.drop_column("seq")
        batch.drop_index("ix_story_created")
        batch.add_column(sa.Column("idempotency_key", AutoString(), nullable=True))
        batch.add_column(sa.Column("request_hash", AutoString(), nullable=True))
        batch.drop_column("killed_at")
        batch.create_unique_constraint("uq_story_idempotency_key", ["idempotency_key"])
    # The keys of creates (the only requests that file a version 1) go back onto their stories.
    op.execute(
        "UPDATE story SET idempotency_key = (SELECT r.key FROM idempotency_record r "
        "WHERE r.story_id = story.id AND r.version = 1), request_hash = (SELECT r.request_hash "
        "FROM idempotency_record r WHERE r.story_id = story.id AND r.version = 1)"
    )
    op.drop_table("idempotency_record")
    with op.batch_alter_table("story_version") as batch:
        for column in ("failed_at", "tries", "error", "filed_by", "note", "kind"):
            batch.drop_column(column)
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("last_used_at")
