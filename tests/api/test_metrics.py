"""``GET /metrics`` on a small real database: the pipeline's gauges count what the tables hold,
HTTP requests are counted by route template, and the stage, tagger and delivery series move
where each stage ends. Everything parses with prometheus_client's own text parser."""

from __future__ import annotations

import time
from datetime import timedelta

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from services.enrichment import service as enrichment
from services.publish import delivery
from shared import db, metrics, queue
from shared.config import get_settings
from shared.models import Delivery, OutboxEvent
from shared.timeutil import utcnow
from shared.webhook_client import SendResult
from tests.api.pipeline import deliveries, enrich, mark_delivered, render, version_row

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "DUSHANBE, Tajikistan - Kerry arrived in Tajikistan."}
OK = SendResult(200, 25.0, None, "ok", None)


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of the page, by (name, sorted labels)."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_gauges_count_the_pipeline_state(api, monkeypatch):
    monkeypatch.setattr(queue, "backlog", lambda names: {name: 2 for name in names} | {"delivery": 7})
    subscribers = [
        api.admin.post("/v1/subscribers", json={"name": f"s{n}", "url": f"http://127.0.0.1:9/{n}"}).json()["id"]
        for n in range(2)
    ]
    published, enriched, received = (api.editor.post("/v1/stories", json=STORY).json()["id"] for _ in range(3))
    enrich(published, 1)
    render(published, 1)
    enrich(enriched, 1)
    first, second = deliveries(published)
    mark_delivered(first.id)
    with db.session_scope() as session:
        session.exec(update(Delivery).where(Delivery.id == second.id).values(created_at=utcnow() - timedelta(hours=1)))
        session.add(OutboxEvent(kind="version.stored", version_id=1, created_at=utcnow() - timedelta(minutes=2)))

    samples = scrape(api.anonymous)

    assert value(samples, "newswire_stories", status="published") == 1
    assert value(samples, "newswire_stories", status="enriched") == 1
    assert value(samples, "newswire_stories", status="received") == 1
    assert value(samples, "newswire_stories", status="killed") == 0
    versions = {state: value(samples, "newswire_story_versions", state=state) for state in ("stored", "enriched")}
    assert versions == {"stored": 1, "enriched": 1}
    assert value(samples, "newswire_story_versions", state="published") == 1
    assert value(samples, "newswire_story_versions", state="failed") == 0
    assert value(samples, "newswire_deliveries", state="pending") == 1
    assert value(samples, "newswire_deliveries", state="delivered") == 1
    assert value(samples, "newswire_deliveries", state="failed") == 0
    pending = {
        dict(labels)["subscriber"]: v for (name, labels), v in samples.items() if name.endswith("_pending_deliveries")
    }
    assert pending == {second.subscriber_id: 1} and second.subscriber_id in subscribers
    age = value(samples, "newswire_subscriber_oldest_pending_delivery_age_seconds", subscriber=second.subscriber_id)
    assert 3590 < age < 3700
    assert 3590 < value(samples, "newswire_oldest_pending_delivery_age_seconds") < 3700
    assert value(samples, "newswire_outbox_unsent_events") == 1
    assert 110 < value(samples, "newswire_outbox_oldest_unsent_event_age_seconds") < 200
    assert {q: value(samples, "newswire_queue_messages", queue=q) for q in queue.QUEUES} == {
        "enrichment": 2,
        "publish": 2,
        "delivery": 7,
    }


def test_requests_are_counted_by_route_template_and_status(api, monkeypatch):
    monkeypatch.setattr(queue, "backlog", lambda names: dict.fromkeys(names, 0))
    story = api.editor.post("/v1/stories", json=STORY).json()
    api.editor.get(f"/v1/stories/{story['id']}")
    api.editor.get("/v1/stories/nosuchstory")
    api.editor.get("/v1/stories", headers={"Authorization": "Bearer nw_wrong"})

    samples = scrape(api.editor)  # each client has an app of its own, and each app its own registry

    assert value(samples, "newswire_http_requests_total", handler="/v1/stories", method="POST", status="202") == 1
    by_id = {"handler": "/v1/stories/{story_id}", "method": "GET"}
    assert value(samples, "newswire_http_requests_total", **by_id, status="200") == 1
    assert value(samples, "newswire_http_requests_total", **by_id, status="404") == 1
    assert value(samples, "newswire_http_requests_total", handler="/v1/stories", method="GET", status="401") == 1
    assert value(samples, "newswire_http_request_duration_seconds_count", **by_id, status="200") == 1
    assert not [name for name, labels in samples if dict(labels).get("handler") == "/metrics"]
    assert value(samples, "newswire_stories", status="received") == 1
    assert any(name.startswith("process_") for name, _ in samples)


def test_a_broker_that_fails_or_hangs_reports_minus_one_without_holding_the_scrape(sent):
    def refused(_names):
        raise ConnectionError("refused")

    def hangs(_names):
        time.sleep(5)
        return {}

    for backlog in (refused, hangs):
        collector = metrics.PipelineCollector(backlog=backlog, queue_timeout=0.3)
        started = time.monotonic()
        depths = {m.name: m for m in collector.collect()}["newswire_queue_messages"]
        assert time.monotonic() - started < 2
        assert sorted((s.labels["queue"], s.value) for s in depths.samples) == [(q, -1) for q in sorted(queue.QUEUES)]


def test_each_stage_is_timed_where_it_ends(api):
    """Enrichment (the real taggers), publication and a delivery recorded as delivered each
    observe ``newswire_story_stage_seconds``; the taggers' times and the attempt's outcome count too."""

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    def stage(name: str) -> float:
        return sample("newswire_story_stage_seconds_count", stage=name)

    before = {name: stage(name) for name in metrics.STAGES}
    taggers_before = sample("newswire_tagger_duration_seconds_count", tagger="subjects")
    delivered_before = sample("newswire_delivery_attempts_total", outcome="delivered")
    api.admin.post("/v1/subscribers", json={"name": "site", "url": "http://127.0.0.1:9/hook"})
    story = api.editor.post("/v1/stories", json=STORY).json()

    assert enrichment.enrich_version(version_row(story["id"], 1).id)
    assert stage("enriched") == before["enriched"] + 1
    assert sample("newswire_tagger_duration_seconds_count", tagger="subjects") == taggers_before + 1

    assert render(story["id"], 1).published_received_at is not None
    assert stage("published") == before["published"] + 1

    (row,) = deliveries(story["id"])
    claimed = delivery.claim([row.id], settings=get_settings())[row.id]
    delivery.record([delivery.Attempt(claimed, utcnow(), OK)], settings=get_settings())
    assert stage("delivered") == before["delivered"] + 1
    assert sample("newswire_delivery_attempts_total", outcome="delivered") == delivered_before + 1
    assert 0 < sample("newswire_story_stage_seconds_sum", stage="delivered") < 86400


def test_tagger_failures_are_counted_by_tagger():
    before = REGISTRY.get_sample_value("newswire_tagger_failures_total", {"tagger": "places"}) or 0.0
    metrics.tagging({"entities": 12.5, "places": 3.0}, ["places"])
    assert REGISTRY.get_sample_value("newswire_tagger_failures_total", {"tagger": "places"}) == before + 1
