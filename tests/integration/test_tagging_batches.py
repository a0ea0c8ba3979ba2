"""Versions that wait for the enrichment worker are tagged in batches by the real worker: with
the worker down a backlog builds; once it is back, each version is enriched exactly once, some in
a batch with others, none left held, and every story reaches the site."""

import json

import pytest
import sqlalchemy as sa

from tests.integration.conftest import BACKENDS, running_stack
from tests.support import wait_for

PLACES = {"Tashkent": "UZ", "Almaty": "KZ", "Bishkek": "KG", "Tbilisi": "GE", "Baku": "AZ", "Astana": "KZ"}


@pytest.fixture(scope="module", params=BACKENDS)
def json_stack(request, tmp_path_factory):
    """The whole stack, logging JSON lines (each carries its story and the size of its batch)."""
    folder = tmp_path_factory.mktemp(f"batches-{request.param}")
    yield from running_stack(request.param, folder, extra_env={"NEWSWIRE_LOG_FORMAT": "json"})


def enriched_lines(stack, story_ids: set[str]) -> list[dict]:
    lines = [
        json.loads(line) for line in (stack.data_dir / "enrichment.log").read_text().splitlines() if line[:1] == "{"
    ]
    return [line for line in lines if line.get("message") == "version enriched" and line.get("story_id") in story_ids]


def test_a_backlog_is_tagged_in_batches_each_version_once(json_stack):
    stack = json_stack
    _subscriber, receiver = stack.subscribe()
    stack.kill("enrichment")
    try:
        with stack.client(stack.editor_key) as api:
            filed = [
                api.post(
                    "/v1/stories", json={"headline": f"Talks in {place}", "body_text": f"Ministers met in {place}."}
                )
                for place in PLACES
            ]
            by_story = {answer.json()["id"]: PLACES[place] for answer, place in zip(filed, PLACES, strict=True)}
            assert all(answer.status_code == 202 for answer in filed)
    finally:
        stack.restart("enrichment")
    ids = {answer.json()["id"] for answer in filed}
    wait_for(lambda: ids <= {e["event"]["data"]["uri"].rsplit(":", 1)[-1] for e in receiver.events()}, timeout=120)

    lines = enriched_lines(stack, ids)
    assert sorted(line["story_id"] for line in lines) == sorted(ids)
    assert max(line["batch"] for line in lines) > 1
    receiver.stop()
    with stack.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT story_id, state, tries, held_until, tags FROM story_version")).all()
    mine = [row for row in rows if row.story_id in ids]
    assert {(row.state, row.tries, row.held_until) for row in mine} == {("published", 0, None)}
    for row in mine:
        tags = row.tags if isinstance(row.tags, dict) else json.loads(row.tags)
        assert by_story[row.story_id] in {place.get("code") for place in tags["places"]}
