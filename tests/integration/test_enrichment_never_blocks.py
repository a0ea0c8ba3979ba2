"""A tagger that overruns its budget leaves the story publishable: it goes out with what was
tagged, and the timeline says what failed. Real worker processes on a stack whose taggers
get one millisecond each, with the enrichment worker's default prefork pool and with
``--pool threads``, where no signal reaches the task and the budget must hold all the same."""

import pytest

from tests.support import Stack, wait_for


class ThreadsPoolStack(Stack):
    SERVICES = {**Stack.SERVICES, "enrichment": ["worker", "enrichment", "--pool", "threads", "--concurrency", "2"]}


@pytest.fixture(scope="module", params=["prefork", "threads"])
def starved_stack(request, tmp_path_factory):
    stack_class = ThreadsPoolStack if request.param == "threads" else Stack
    stack = stack_class(tmp_path_factory.mktemp("starved"), None, {"NEWSWIRE_TAGGER_BUDGET_SECONDS": "0.001"})
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
            view = wait_for(
                lambda: (lambda v: v if v["status"] == "published" else None)(
                    api.get(f"/v1/stories/{story['id']}").json()
                ),
                timeout=30,
                what="the story's status to say published",
            )
    finally:
        receiver.stop()
    assert event["event"]["data"]["headlines"][0]["value"] == seed_story["headline"]
    failures = {f["tagger"] for f in view["tags"]["failures"]}
    assert "entities" in failures
    enriched = next(t for t in view["timeline"] if t["event"] == "enriched")
    assert "entities: over its 0.001 s budget" in enriched["detail"]
