"""Idempotency-Keys: an empty one is refused, each belongs to the API key that sent it, and
each is remembered for 24 hours, after which it may be used again."""

import os
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from pydantic import ValidationError

from services.ingest.stories import idempotency
from shared import db
from shared import idempotency as shared_idempotency
from shared.config import Settings
from shared.models import IdempotencyRecord
from shared.timeutil import utcnow
from tests.api.conftest import BACKENDS, client, count, make_key
from tests.support import PostgresDatabase

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}


def post(api_client, key, body=STORY):
    return api_client.post("/v1/stories", json=body, headers={"Idempotency-Key": key})


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_key_is_refused_every_time(api, key):
    for _ in range(2):
        answer = post(api.editor, key)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "invalid_idempotency_key"
        assert "Idempotency-Key header is empty" in answer.json()["error"]["message"]
    assert count("story") == 0 and count("idempotency_record") == 0
    assert post(api.editor, "real-key").status_code == 202


def test_two_api_keys_may_use_the_same_key(api):
    other_desk = client(make_key("editor", "other desk"))
    mine = post(api.editor, "desk-42").json()
    theirs = post(other_desk, "desk-42", {**STORY, "headline": "Another story"})
    assert theirs.status_code == 202, theirs.text
    assert theirs.json()["id"] != mine["id"]
    assert post(api.editor, "desk-42").json() == mine
    assert post(other_desk, "desk-42", {**STORY, "headline": "Another story"}).json() == theirs.json()
    assert count("story") == 2


def later(monkeypatch, delta):
    for module in (idempotency, shared_idempotency):
        monkeypatch.setattr(module, "utcnow", lambda: utcnow() + delta)


def test_a_key_is_kept_24_hours_then_may_be_used_again(api, monkeypatch):
    first = post(api.editor, "daily").json()
    later(monkeypatch, timedelta(hours=23, minutes=59))
    assert post(api.editor, "daily", {**STORY, "headline": "Other"}).status_code == 409
    assert post(api.editor, "daily").json() == first
    later(monkeypatch, timedelta(hours=24, seconds=1))
    again = post(api.editor, "daily", {**STORY, "headline": "Other"})
    assert again.status_code == 202, again.text
    assert again.json()["id"] != first["id"]
    assert count("story") == 2 and count("idempotency_record") == 1


def test_expired_records_are_purged_and_kept_ones_stay(api, monkeypatch):
    story = post(api.editor, "old").json()
    with db.session_scope() as session:  # the seed loader's keys never expire
        session.add(
            IdempotencyRecord(api_key_id="seeds", key="seed:a.json", request_hash="h", story_id=story["id"], version=1)
        )
    later(monkeypatch, timedelta(days=2))
    assert shared_idempotency.sweep() == 1
    with db.read_scope() as session:
        assert session.exec(sa.select(IdempotencyRecord.key)).scalars().all() == ["seed:a.json"]


def test_keys_are_kept_24_hours_at_least():
    assert Settings().idempotency_ttl_seconds == 86400
    with pytest.raises(ValidationError, match="86400"):
        Settings(idempotency_ttl_seconds=3600)


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    database = PostgresDatabase(os.environ["NEWSWIRE_TEST_POSTGRES_URL"])
    yield database.create()
    database.drop()


def test_the_migration_scopes_existing_keys(database_url):
    cfg = db.alembic_config(database_url)
    command.upgrade(cfg, "0004")
    engine = db.make_engine(database_url)
    made = datetime(2026, 11, 28, 9, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO api_key (id, name, role, key_hash, prefix, created_at) "
                "VALUES ('k1', 'desk', 'editor', 'h', 'nw_', :at)"
            ),
            {"at": made},
        )
        for story, filed_by in [("s1", "desk"), ("s2", "seeds"), ("s3", "gone")]:
            conn.execute(
                sa.text("INSERT INTO story (id, seq, current_version, created_at) VALUES (:s, :n, 1, :at)"),
                {"s": story, "n": int(story[1]), "at": made},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO story_version (story_id, version, headline, urgency, pubstatus, state, kind, tries, "
                    "filed_by, received_at, stored_at) VALUES (:s, 1, 'h', 5, 'usable', 'stored', 'original', 0, "
                    ":by, :at, :at)"
                ),
                {"s": story, "by": filed_by, "at": made},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO idempotency_record (key, request_hash, story_id, version, created_at) "
                    "VALUES (:k, 'h', :s, 1, :at)"
                ),
                {"k": f"key-{story}", "s": story, "at": made},
            )
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(IdempotencyRecord.key, IdempotencyRecord.api_key_id, IdempotencyRecord.expires_at).order_by(
                IdempotencyRecord.key
            )
        ).all()
    assert rows == [
        ("key-s1", "k1", made + timedelta(days=1)),
        ("key-s2", "seeds", None),
        ("key-s3", "unknown", made + timedelta(days=1)),
    ]
    command.downgrade(cfg, "0004")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT key FROM idempotency_record ORDER BY key")).scalars().all() == [
            "key-s1",
            "key-s2",
            "key-s3",
        ]
    engine.dispose()
