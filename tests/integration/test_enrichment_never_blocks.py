"""A tagger that overruns its budget leaves the story publishable: it goes out with what was
tagged, and the timeline says what failed. Real worker processes on a stack whose taggers
get one millisecond each."""

import pytest

from tests.support import Stack, wait_for


@pytest.fixture(scope="module")
def starved_stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("starved"), None, {"NEWSWIRE_TAGGER_BUDGET_SECONDS": "0.001"})
    try:
        yield stack.start()
    finally:
        stack.stop()


def test_story_is_delivered_when_taggers_run_out_of_time(starved_stack, seed_story):
    stack = starved_stack
    subscriber, receiver = stack.subscribe()
    try:
        with stack.client(stack.editor_key) as api:
            story = api.post("/v1/stories", json=seed_story).json()
            event = wait_for(
                lambda: next((e for e in receiver.events() if e["event"]["data"]["uri"] == story["uri"]), None),
                timeout=60,
                what="the story despite failed taggers",
            )
            view = api.get(f"/v1/stories/{story['id']}").json()
    finally:
        receiver.stop()
    assert event["event"]["data"]["headlines"][0]["value"] == seed_story["headline"]
    failures = {f["tagger"] for f in view["tags"]["failures"]}
    assert "entities" in failures
    enriched = next(t for t in view["timeline"] if t["event"] == "enriched")
    assert "entities: over its 0.001 s budget" in enriched["detail"]
    assert view["status"] == "published"
