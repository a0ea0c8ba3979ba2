"""Migrations carry existing data forward (and back) on SQLite and PostgreSQL: a database
written by the first schema is upgraded, checked, and downgraded again."""

import json
import os

import pytest
import sqlalchemy as sa
from alembic import command

from shared.db import alembic_config, make_engine
from tests.integration.conftest import BACKENDS
from tests.support import PostgresDatabase

OLD_TAGS = {
    "places": [{"type": "place", "name": "Astana", "code": "KZ"}],
    "subjects": [
        {
            "type": "subject",
            "name": "summit meeting",
            "uri": "http://cv.iptc.org/newscodes/mediatopic/20000640",
            "qcode": "medtop:20000640",
            "broader": ["medtop:20000638", "medtop:11000000"],
        }
    ],
}
MANUAL = {"add": [{"type": "place", "name": "Bishkek", "code": "KG"}], "remove": []}


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    pg = PostgresDatabase(os.environ["NEWSWIRE_TEST_POSTGRES_URL"])
    yield pg.create()
    pg.drop()


def write_old_rows(engine):
    with engine.begin() as conn:
        for n, (story_id, key) in enumerate([("s-late", None), ("s-early", "desk-1")]):
            conn.execute(
                sa.text(
                    "INSERT INTO story (id, current_version, idempotency_key, request_hash, manual_tags, created_at) "
                    "VALUES (:id, :current, :key, :hash, :manual, :created)"
                ),
                {
                    "id": story_id,
                    "current": 2 if key else 1,
                    "key": key,
                    "hash": "h1" if key else None,
                    "manual": json.dumps(MANUAL) if key else None,
                    "created": f"2026-11-2{8 - n} 09:00:00+00:00",
                },
            )
        for story_id, version, tags in [("s-early", 1, OLD_TAGS), ("s-early", 2, OLD_TAGS), ("s-late", 1, None)]:
            conn.execute(
                sa.text(
                    "INSERT INTO story_version (story_id, version, headline, urgency, pubstatus, state, tags, "
                    "received_at, stored_at) VALUES (:s, :v, 'h', 5, 'usable', 'published', :tags, "
                    "'2026-11-28 09:00:00+00:00', '2026-11-28 09:00:00+00:00')"
                ),
                {"s": story_id, "v": version, "tags": json.dumps(tags) if tags else None},
            )


def test_0002_carries_keys_versions_order_and_tags_forward_and_back(database_url):
    cfg = alembic_config(make_engine(database_url).url.render_as_string(hide_password=False))
    command.upgrade(cfg, "0001")
    engine = make_engine(database_url)
    write_old_rows(engine)
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        order = conn.execute(sa.text("SELECT id, seq FROM story ORDER BY seq")).all()
        kinds = conn.execute(sa.text("SELECT story_id, version, kind FROM story_version ORDER BY story_id, version"))
        keys = conn.execute(sa.text("SELECT key, request_hash, story_id, version FROM idempotency_record")).all()
        tags = set(conn.execute(sa.text("SELECT kind, code FROM story_tag WHERE story_id = 's-early'")).all())
    assert order == [("s-early", 1), ("s-late", 2)]  # numbered in the order they were filed
    assert kinds.all() == [("s-early", 1, "original"), ("s-early", 2, "retag"), ("s-late", 1, "original")]
    assert keys == [("desk-1", "h1", "s-early", 1)]
    assert tags == {
        ("place", "KZ"),
        ("place", "KG"),
        ("subject", "medtop:20000640"),
        ("subject", "medtop:20000638"),
        ("subject", "medtop:11000000"),
    }
    command.downgrade(cfg, "0001")
    with engine.connect() as conn:
        restored = conn.execute(sa.text("SELECT id, idempotency_key FROM story ORDER BY id")).all()
    assert restored == [("s-early", "desk-1"), ("s-late", None)]
    engine.dispose()
