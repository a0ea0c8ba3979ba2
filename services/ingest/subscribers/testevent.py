"""A test event: one signed ``webhook.test`` POST to a webhook subscriber, sent from the API
process at once with the delivery engine's own sender (the same signature, host guard, deadline
and attempt fields), so a site's developer sees at a click whether the endpoint verifies and
answers. It is not a story: nothing is stored and nothing is retried."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from services.ingest.exceptions import Conflict
from services.ingest.subscribers import service
from shared import db
from shared import webhook_client as webhook
from shared.config import Settings
from shared.models import Subscriber, new_id

EVENT_TYPE = "webhook.test"
#: Test events one API process sends at once (each may wait for the delivery deadline); past it, 409.
MAX_IN_FLIGHT = 4
_in_flight = 0


class TestEventResult(BaseModel):
    message_id: str = Field(description="the webhook-id it carried")
    delivered: bool = Field(description="the site answered 2xx")
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str | None


def _read(subscriber_id: str) -> Subscriber:
    with db.read_scope() as session:
        return service.get_subscriber(session=session, subscriber_id=subscriber_id)


async def send_test_event(subscriber_id: str, settings: Settings) -> TestEventResult:
    """Send it now (on the event loop: the counter needs no lock); at most ``MAX_IN_FLIGHT`` at once."""
    global _in_flight
    subscriber = await run_in_threadpool(_read, subscriber_id)  # 404 for an unknown one
    if subscriber.channel and subscriber.channel.get("type", "webhook") != "webhook":
        raise Conflict("not_a_webhook", "test events go to webhook subscribers; other channels get the next story")
    if _in_flight >= MAX_IN_FLIGHT:
        raise Conflict("test_events_busy", "other test events are on their way; try again in a few seconds")
    _in_flight += 1
    try:
        return await _send(subscriber, settings)
    finally:
        _in_flight -= 1


async def _send(subscriber: Subscriber, settings: Settings) -> TestEventResult:
    now = datetime.now(UTC)
    message_id = "msg_test_" + new_id()
    data = {"subscriber_id": subscriber.id, "message": "A test event from Newswire: nothing to publish."}
    body = webhook.event_body(EVENT_TYPE, now.isoformat(), data)
    headers = webhook.signed_headers(
        webhook.signing_secrets(subscriber, now), message_id, body, now, event_type=EVENT_TYPE
    )
    deadline = settings.delivery_deadline_seconds
    async with webhook.make_session(settings.webhook_allowed_networks, deadline, max_connections=1) as session:
        result = await webhook.send(session, subscriber.url, body, headers, deadline)
    return TestEventResult(
        message_id=message_id,
        delivered=result.error is None,
        status_code=result.status_code,
        latency_ms=round(result.latency_ms, 1),
        error=result.error,
        response_excerpt=result.response_excerpt,
    )
