"""The scheduler sweeps every second. On SQLite the pipeline's writers take turns, so a sweep
with nothing to do must only read: it looks first and opens a write transaction only for work it
found. (Each sweep doing its work is tested where its rules are: tests/api/test_publish_rules.py,
test_delivery_rules.py, test_idempotency_scope.py.)"""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

from services.publish import sweeps
from shared import events, idempotency, lifecycle
from shared.config import get_settings
from shared.models import VersionState
from tests.api.pipeline import enrich, render, version_row

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}


def idle_sweep() -> dict[str, object]:
    """What the scheduler's sweep runs on the database (its broker look is not needed here)."""
    return {
        "relayed": events.relay_unsent(),
        "requeued": lifecycle.requeue_stuck(timedelta(hours=1), idle_states=list(VersionState)),
        "released": sweeps.release_due_embargoes(),
        "deliveries": sweeps.due_deliveries(),
        "expired keys": idempotency.sweep(),
    }


def file_and_publish(api, story: dict, **headers: str) -> str:
    answer = api.editor.post("/v1/stories", json=story, headers=headers)
    assert answer.status_code == 202
    story_id = answer.json()["id"]
    enrich(story_id, 1)
    render(story_id, 1)
    return story_id


def test_a_sweep_with_nothing_to_do_runs_while_a_writer_holds_the_database(api):
    answer = api.admin.post("/v1/subscribers", json={"name": "site", "url": "http://127.0.0.1:9/hook"})
    assert answer.status_code == 201
    # rows each sweep looks at, none of them due: a published story with its delivery queued a
    # moment ago, a remembered Idempotency-Key, an embargo that lifts in 2100
    published = file_and_publish(api, STORY, **{"Idempotency-Key": "k1"})
    parked = file_and_publish(api, {**STORY, "embargoed_until": "2100-01-01T00:00:00Z"})
    assert version_row(published, 1).state == VersionState.published
    assert version_row(parked, 1).state == VersionState.embargoed
    writer = sqlite3.connect(get_settings().sqlalchemy_url.removeprefix("sqlite:///"), isolation_level=None)
    outcome: dict[str, object] = {}
    sweep = threading.Thread(target=lambda: outcome.update(idle_sweep()), daemon=True)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process's write transaction, held
        sweep.start()
        sweep.join(timeout=10)  # a sweep that asked for the write lock would wait up to 30 s
        assert not sweep.is_alive(), "the idle sweep waited for the writer"
    finally:
        writer.execute("ROLLBACK")
        sweep.join(timeout=60)
        writer.close()
    assert outcome == {"relayed": 0, "requeued": [], "released": [], "deliveries": [], "expired keys": 0}
