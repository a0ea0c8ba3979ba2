"""Metrics of the real stack: the API's ``/metrics`` and each worker's and the scheduler's own
port, scraped before and after one story travels to a reference receiver. The enrichment and
publish workers run prefork pools, so their stage series only move if the pool processes'
samples reach the worker's page."""

from __future__ import annotations

import os

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from shared.embedded_redis import free_port
from tests.integration.conftest import BACKENDS
from tests.support import PostgresDatabase, Stack, wait_for

METERED = ("enrichment", "publish", "delivery", "beat")
QUEUES = ("enrichment", "publish", "delivery")


class MeteredStack(Stack):
    """The stack, with each worker and the scheduler serving /metrics on a free port of its own."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.metrics_ports = {name: free_port() for name in METERED}
        self.SERVICES = {
            name: [*command, "--metrics-port", str(self.metrics_ports[name])] if name in METERED else command
            for name, command in Stack.SERVICES.items()
        }

    def metrics_url(self, name: str) -> str:
        return f"{self.api_url}/metrics" if name == "api" else f"http://127.0.0.1:{self.metrics_ports[name]}/metrics"


@pytest.fixture(scope="module", params=BACKENDS)
def metered(request, tmp_path_factory):
    pg = PostgresDatabase(os.environ["NEWSWIRE_TEST_POSTGRES_URL"]) if request.param == "postgres" else None
    running = MeteredStack(tmp_path_factory.mktemp(f"metrics-{request.param}"), pg.create() if pg else None)
    try:
        yield running.start()
    finally:
        running.stop()
        if pg:
            pg.drop()


def scrape(stack: MeteredStack, name: str) -> dict[tuple[str, tuple], float] | None:
    """Every sample on one process's page, by (name, sorted labels); None while it does not answer."""
    try:
        answer = httpx.get(stack.metrics_url(name), timeout=5)
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def stage(samples: dict, name: str) -> float:
    return value(samples, "newswire_story_stage_seconds_count", stage=name)


def tagger_runs(samples: dict) -> float:
    return sum(v for (name, _), v in samples.items() if name == "newswire_tagger_duration_seconds_count")


def delivery_state(stack: MeteredStack, story_id: str, subscriber_id: str) -> str | None:
    with stack.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT state FROM delivery WHERE story_id = :story AND subscriber_id = :subscriber"),
            {"story": story_id, "subscriber": subscriber_id},
        ).scalar()


def test_every_stage_moves_its_series_on_the_process_that_ends_it(metered, seed_story):
    subscriber, receiver = metered.subscribe()
    try:
        before = {
            name: wait_for(lambda n=name: scrape(metered, n), timeout=60, what=f"{name}'s /metrics")
            for name in ("api", *METERED)
        }
        with metered.client(metered.editor_key) as api:
            answer = api.post("/v1/stories", json=seed_story)
        assert answer.status_code == 202, answer.text
        story = answer.json()

        wait_for(
            lambda: delivery_state(metered, story["id"], subscriber["id"]) == "delivered",
            timeout=90,
            what="the delivery to be recorded as delivered",
        )
        assert any(e["event"]["data"]["uri"] == story["uri"] for e in receiver.events())
        # each series is observed just after its stage's transaction commits: wait for the last one
        delivered = wait_for(
            lambda: (lambda s: s if s and stage(s, "delivered") > stage(before["delivery"], "delivered") else None)(
                scrape(metered, "delivery")
            ),
            timeout=10,
            what="the delivered stage on the delivery worker's page",
        )
        after = {name: scrape(metered, name) for name in ("api", "enrichment", "publish", "beat")}
    finally:
        receiver.stop()

    enrichment, publish = after["enrichment"], after["publish"]
    assert stage(enrichment, "enriched") == stage(before["enrichment"], "enriched") + 1
    assert tagger_runs(enrichment) > tagger_runs(before["enrichment"])
    assert stage(publish, "published") == stage(before["publish"], "published") + 1
    assert stage(delivered, "delivered") == stage(before["delivery"], "delivered") + 1
    outcome = {"outcome": "delivered"}
    attempts = "newswire_delivery_attempts_total"
    assert value(delivered, attempts, **outcome) == value(before["delivery"], attempts, **outcome) + 1
    took = value(delivered, "newswire_story_stage_seconds_sum", stage="delivered")
    assert 0 < took - value(before["delivery"], "newswire_story_stage_seconds_sum", stage="delivered") < 90

    api_before, api_after = before["api"], after["api"]
    post = {"handler": "/v1/stories", "method": "POST", "status": "202"}
    assert (
        value(api_after, "newswire_http_requests_total", **post)
        == value(api_before, "newswire_http_requests_total", **post) + 1
    )
    assert value(api_after, "newswire_http_request_duration_seconds_count", **post) >= 1
    for name, label, state in (
        ("newswire_story_versions", "state", "published"),
        ("newswire_deliveries", "state", "delivered"),
    ):
        assert value(api_after, name, **{label: state}) == value(api_before, name, **{label: state}) + 1
    assert value(api_after, "newswire_stories", status="published") >= 1
    depths = {dict(labels)["queue"]: v for (name, labels), v in api_after.items() if name == "newswire_queue_messages"}
    assert set(depths) == set(QUEUES) and all(v >= 0 for v in depths.values())  # Redis answered
    assert ("newswire_outbox_unsent_events", ()) in api_after

    sweeps = "newswire_scheduler_sweeps_total"
    assert value(after["beat"], sweeps, result="ok") > value(before["beat"], sweeps, result="ok")
