"""The delivery rules on a real database, without a network: which claimed deliveries go,
wait, are held or withdrawn; results fenced by their lease; outcomes and back-off."""

import logging
from datetime import timedelta

from sqlalchemy import func, update
from sqlmodel import select

from services.publish import delivery
from shared import db
from shared.config import get_settings
from shared.models import Delivery, DeliveryAttempt, Subscriber
from shared.timeutil import utcnow
from shared.webhook_client import SendResult
from tests.api.pipeline import deliveries, enrich, render

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}
NOW = utcnow()
OK = SendResult(200, 5.0, None, "ok", None)
GONE = SendResult(410, 5.0, "HTTP 410", "", None)
UNAVAILABLE = SendResult(503, 5.0, "HTTP 503", "busy", 120.0)


def published(api, subscribers=1):
    ids = [
        api.admin.post("/v1/subscribers", json={"name": f"s{n}", "url": f"http://127.0.0.1:9/{n}"}).json()["id"]
        for n in range(subscribers)
    ]
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1)
    render(story["id"], 1)
    return story["id"], ids


def test_decide():
    earlier = [delivery.Earlier("e1", NOW + timedelta(seconds=30), False), delivery.Earlier("e2", NOW, True)]
    assert delivery.decide(is_kill=False, story_killed=True, active=True, earlier=[], now=NOW).action == "withdraw"
    assert delivery.decide(is_kill=False, story_killed=False, active=False, earlier=[], now=NOW).action == "hold"
    assert delivery.decide(is_kill=False, story_killed=False, active=True, earlier=[], now=NOW).action == "send"
    wait = delivery.decide(is_kill=False, story_killed=False, active=True, earlier=earlier, now=NOW)
    assert wait.action == "wait" and wait.until == NOW + timedelta(seconds=31)
    kill = delivery.decide(is_kill=True, story_killed=True, active=True, earlier=earlier, now=NOW)
    assert kill.action == "wait" and kill.withdraw_earlier == ("e1",)  # waits only for the send in flight
    kill = delivery.decide(is_kill=True, story_killed=True, active=True, earlier=earlier[:1], now=NOW)
    assert kill.action == "send" and kill.withdraw_earlier == ("e1",)


def test_a_claim_takes_many_leases_and_builds_each_signed_post(api):
    story_id, subscribers = published(api, subscribers=3)
    ids = [d.id for d in deliveries(story_id)]
    claimed = delivery.claim(ids, settings=get_settings())
    assert all(claimed[i] is not None for i in ids)
    bodies = {claimed[i].body for i in ids}
    assert len(bodies) == 1 and b'"type":"story.published"' in next(iter(bodies))
    assert {claimed[i].subscriber_id for i in ids} == set(subscribers)
    assert delivery.claim(ids, settings=get_settings()) == dict.fromkeys(ids)  # leased: nobody else


def test_results_are_fenced_by_the_lease_that_produced_them(api):
    story_id, _ = published(api)
    (row,) = deliveries(story_id)
    first = delivery.claim([row.id], settings=get_settings())[row.id]  # worker A takes it
    with db.session_scope() as session:  # A is slow: its lease runs out
        session.exec(update(Delivery).values(lease_until=utcnow() - timedelta(seconds=1)))
    second = delivery.claim([row.id], settings=get_settings())[row.id]  # worker B takes it over
    assert first.lease != second.lease
    b = delivery.record([delivery.Attempt(second, utcnow(), OK)], settings=get_settings())
    a = delivery.record([delivery.Attempt(first, utcnow(), GONE)], settings=get_settings())  # A is late
    assert b.outcomes == {row.id: "delivered"} and a.outcomes == {}  # A's result counts for nothing
    (row,) = deliveries(story_id)
    assert row.state == "delivered"
    with db.read_scope() as session:
        assert session.get(Subscriber, row.subscriber_id).active is True  # nor does A's late 410
        assert session.exec(select(func.count()).select_from(DeliveryAttempt)).one() == 2  # both recorded


def test_outcomes_retry_after_and_the_last_attempt(api):
    story_id, _ = published(api, subscribers=2)
    rows = deliveries(story_id)
    claimed = delivery.claim([r.id for r in rows], settings=get_settings())
    last = delivery.Outgoing(**{**claimed[rows[1].id].__dict__, "attempt_no": get_settings().delivery_max_attempts})
    recorded = delivery.record(
        [delivery.Attempt(claimed[rows[0].id], utcnow(), UNAVAILABLE), delivery.Attempt(last, utcnow(), UNAVAILABLE)],
        settings=get_settings(),
    )
    assert recorded.outcomes == {rows[0].id: "retry", rows[1].id: "failed"}
    retry, failed = deliveries(story_id)
    assert retry.state == "pending" and retry.next_attempt_at >= utcnow() + timedelta(seconds=110)  # Retry-After
    assert failed.state == "failed" and failed.last_error == "HTTP 503"


def test_a_delivered_version_wakes_the_next_one_for_that_subscriber(api):
    story_id, (site,) = published(api)
    api.editor.put(f"/v1/stories/{story_id}", json={**STORY, "headline": "Kerry in Dushanbe"})
    enrich(story_id, 2)
    render(story_id, 2)
    first, second = deliveries(story_id)
    out = delivery.claim([first.id, second.id], settings=get_settings())
    assert out[second.id] is None  # waits for version 1
    recorded = delivery.record([delivery.Attempt(out[first.id], utcnow(), OK)], settings=get_settings())
    assert recorded.follow_ups == [delivery.Due(second.id, site)]
    assert delivery.claim([second.id], settings=get_settings())[second.id] is not None


def test_results_and_claims_written_together_record_first_then_claim(api):
    """The engine writes the results and claims that wait together in one transaction: the
    result of version 1 lands first, so version 2, which waited for it, is claimed in the same go."""
    story_id, (site,) = published(api)
    api.editor.put(f"/v1/stories/{story_id}", json={**STORY, "headline": "Kerry in Dushanbe"})
    enrich(story_id, 2)
    render(story_id, 2)
    first, second = deliveries(story_id)
    out = delivery.claim([first.id], settings=get_settings())

    attempt = delivery.Attempt(out[first.id], utcnow(), OK)
    claimed, recorded = delivery.claim_and_record([second.id], [attempt], settings=get_settings())
    assert recorded.outcomes == {first.id: "delivered"}
    assert claimed[second.id] is not None and claimed[second.id].version == 2  # no wait for version 1
    assert claimed[second.id].subscriber_id == site
    assert [row.state for row in deliveries(story_id)] == ["delivered", "pending"]
    assert delivery.claim([second.id], settings=get_settings()) == {second.id: None}  # leased already
    assert delivery.claim_and_record([], [], settings=get_settings()) == ({}, delivery.Recorded())


def test_deliveries_the_engine_holds_are_not_queued_again_by_the_sweep(api):
    from services.publish import sweeps

    story_id, _ = published(api)
    (row,) = deliveries(story_id)
    with db.session_scope() as session:  # the publish-time mark ran out while it waited for a slot
        session.exec(update(Delivery).values(queued_until=utcnow() - timedelta(seconds=1)))
    delivery.keep_queued([row.id])  # what the engine does every 20 s
    assert row.id not in {due.delivery_id for due, _ in sweeps.due_deliveries()}


def test_only_versions_parked_for_an_earlier_one_are_woken(api):
    story_id, (site,) = published(api)
    api.editor.put(f"/v1/stories/{story_id}", json={**STORY, "headline": "Kerry in Dushanbe"})
    enrich(story_id, 2)
    render(story_id, 2)
    first, second = deliveries(story_id)
    with db.session_scope() as session:  # version 2 failed once and backs off (Retry-After)
        session.exec(
            update(Delivery)
            .where(Delivery.id == second.id)
            .values(attempts=1, next_attempt_at=utcnow() + timedelta(minutes=10))
        )
    out = delivery.claim([first.id], settings=get_settings())[first.id]
    recorded = delivery.record([delivery.Attempt(out, utcnow(), OK)], settings=get_settings())
    assert recorded.follow_ups == []  # its own back-off stands


def test_each_attempt_logs_its_outcome_with_its_ids(api, caplog):
    story_id, (site,) = published(api)
    (row,) = deliveries(story_id)
    first = delivery.claim([row.id], settings=get_settings())[row.id]
    caplog.set_level(logging.INFO, logger="services.publish.delivery")
    delivery.record([delivery.Attempt(first, utcnow(), UNAVAILABLE)], settings=get_settings())
    with db.session_scope() as session:  # due again at once, and a worker's lease that ran out
        session.exec(update(Delivery).values(next_attempt_at=utcnow(), lease_until=None))
    second = delivery.claim([row.id], settings=get_settings())[row.id]
    delivery.record([delivery.Attempt(first, utcnow(), OK)], settings=get_settings())  # the stale lease
    last = delivery.Outgoing(**{**second.__dict__, "attempt_no": get_settings().delivery_max_attempts})
    delivery.record([delivery.Attempt(last, utcnow(), UNAVAILABLE)], settings=get_settings())
    lines = [r for r in caplog.records if r.getMessage() == "delivery attempted"]
    assert [(r.outcome, r.levelname, r.status_code) for r in lines] == [
        ("retry", "WARNING", 503),
        ("lease_lost", "WARNING", 200),
        ("failed", "ERROR", 503),
    ]
    for line in lines:
        assert (line.delivery_id, line.subscriber_id, line.story_id, line.version) == (row.id, site, story_id, 1)
    assert lines[0].attempt == 1 and lines[0].error == "HTTP 503" and lines[0].next_attempt_at
    assert not hasattr(lines[2], "next_attempt_at")
