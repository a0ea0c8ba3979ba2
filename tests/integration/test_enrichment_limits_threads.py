"""The taggers' time budget under the Celery threads pool, where no signal reaches the task: a
tagger that overruns is cut off there too, and the story goes out with what was tagged. Real
worker processes, the enrichment worker started with ``--pool threads``."""

import pytest

from tests.support import Stack, wait_for


class ThreadsPoolStack(Stack):
    SERVICES = {**Stack.SERVICES, "enrichment": ["worker", "enrichment", "--pool", "threads", "--concurrency", "2"]}


@pytest.fixture(scope="module")
def starved_threads_stack(tmp_path_factory):
    stack = ThreadsPoolStack(tmp_path_factory.mktemp("threads"), None, {"NEWSWIRE_TAGGER_BUDGET_SECONDS": "0.001"})
    try:
        yield stack.start()
    finally:
        stack.stop()


def test_story_is_delivered_when_taggers_run_out_of_time_in_a_threads_pool(starved_threads_stack, seed_story):
    stack = starved_threads_stack
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
    assert "entities" in {f["tagger"] for f in view["tags"]["failures"]}
    enriched = next(t for t in view["timeline"] if t["event"] == "enriched")
    assert "entities: over its 0.001 s budget" in enriched["detail"]
    assert view["status"] == "published"
