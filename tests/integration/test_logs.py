"""With NEWSWIRE_LOG_FORMAT=json every process of the real stack (the API under uvicorn, each
Celery worker, the scheduler, the receiver) writes one JSON object a line, and a story's lines in
each of them carry its id; the delivery worker says how each attempt went."""

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.integration.conftest import running_stack
from tests.support import wait_for

REQUEST_ID = "desk-7f3a.1"


@pytest.fixture(scope="module")
def json_stack(tmp_path_factory):
    yield from running_stack("sqlite", tmp_path_factory.mktemp("logs"), extra_env={"NEWSWIRE_LOG_FORMAT": "json"})


def lines(path: Path) -> list[dict]:
    """Every line of a log, parsed; a line that is not a JSON object fails the test."""
    parsed = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"{path.name}:{number} is not JSON: {line!r}") from None
        assert isinstance(data, dict), f"{path.name}:{number}: {line!r}"
        assert {"time", "level", "logger", "message"} <= data.keys(), f"{path.name}:{number}: {line!r}"
        parsed.append(data)
    return parsed


def test_every_process_logs_json_lines_carrying_the_story(json_stack, seed_story):
    stack = json_stack
    subscriber, receiver = stack.subscribe()
    try:
        with stack.client(stack.editor_key) as api:
            answer = api.post("/v1/stories", json=seed_story, headers={"X-Request-ID": REQUEST_ID})
        assert answer.status_code == 202, answer.text
        assert answer.headers["x-request-id"] == REQUEST_ID
        story = answer.json()
        wait_for(
            lambda: any(e["event"]["data"]["uri"] == story["uri"] for e in receiver.events()),
            timeout=90,
            what="the story at the receiver",
        )
        with stack.engine.connect() as conn:  # the outcome is logged once recorded: wait for that
            delivery_id = wait_for(
                lambda: conn.execute(
                    sa.text(
                        "SELECT id FROM delivery WHERE story_id = :s AND subscriber_id = :sub AND state = 'delivered'"
                    ),
                    {"s": story["id"], "sub": subscriber["id"]},
                ).scalar(),
                timeout=30,
                what="the delivery to be recorded",
            )
    finally:
        receiver.stop()
    stack.stop()  # shutdown lines too must be JSON; every line is complete once the processes exited

    logs = {path.name: lines(path) for path in sorted(stack.data_dir.glob("*.log"))}
    receiver_log = Path(receiver.log.name).name
    assert {"api.log", "enrichment.log", "publish.log", "delivery.log", "beat.log", receiver_log} <= set(logs)
    assert all(logs.values()), {name: len(found) for name, found in logs.items()}

    def of_story(name: str) -> list[dict]:
        return [line for line in logs[name] if line.get("story_id") == story["id"]]

    api = of_story("api.log")
    assert any(line["message"] == "story filed" and line.get("request_id") == REQUEST_ID for line in api), api
    requests = [
        line for line in logs["api.log"] if line.get("request_id") == REQUEST_ID and line["message"] == "request"
    ]
    assert [(r["method"], r["path"], r["status_code"]) for r in requests] == [("POST", "/v1/stories", 202)]
    assert all(line["service"] == "api" for line in logs["api.log"])
    assert any(line["logger"].startswith("uvicorn") for line in logs["api.log"])  # uvicorn's own lines too

    enriched = [line for line in of_story("enrichment.log") if line["message"] == "version enriched"]
    assert enriched and enriched[0]["version"] == 1 and enriched[0]["service"] == "worker-enrichment"
    assert any(line["message"] == "version published" and line["version"] == 1 for line in of_story("publish.log"))
    assert any(line["logger"].startswith("celery") for line in logs["enrichment.log"])  # Celery's own lines too

    outcome = [line for line in of_story("delivery.log") if line["message"] == "delivery attempted"]
    assert len(outcome) == 1, outcome
    assert outcome[0]["delivery_id"] == delivery_id and outcome[0]["subscriber_id"] == subscriber["id"]
    assert (outcome[0]["outcome"], outcome[0]["status_code"], outcome[0]["attempt"]) == ("delivered", 200, 1)
    assert outcome[0]["version"] == 1 and outcome[0]["latency_ms"] >= 0

    received = [line for line in logs[receiver_log] if line.get("story_id") == story["id"]]
    assert received and received[0]["message"].startswith("received story.published") and received[0]["version"] == 1
