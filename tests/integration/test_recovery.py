"""The database never loses the work: a lost Redis message or an unsent outbox event is
recovered by the scheduler's sweeps."""

import subprocess
import sys

import redis

from tests.support import wait_for


def arrived(receiver, story_id):
    return any(e["event"]["data"]["uri"].endswith(story_id) for e in receiver.events())


def test_message_lost_in_redis_is_requeued_from_the_database(stack, site):
    _subscriber, receiver = site
    stack.kill("enrichment")  # SIGKILL: the story's message will sit in Redis unconsumed
    try:
        with stack.client(stack.editor_key) as api:
            story = api.post("/v1/stories", json={"headline": "Lost message", "body_text": "Talks in Astana."}).json()
        # The API relays right after it answered 202: once the message is in Redis, lose it.
        broker = redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"])
        wait_for(
            lambda: any(key.startswith(b"enrichment") for key in broker.keys()),
            timeout=10,
            what="the story's message to reach Redis",
        )
        broker.flushall()
    finally:
        stack.restart("enrichment")
    wait_for(lambda: arrived(receiver, story["id"]), timeout=60, what="the re-queued story")


def test_unsent_outbox_event_is_relayed_by_the_scheduler(stack, site):
    """A writer that committed and then died before relaying: the sweep sends the event."""
    _subscriber, receiver = site
    script = (
        "from shared.db import session_scope\n"
        "from services.ingest.stories import schemas, service\n"
        "payload = schemas.StoryCreate(headline='Crashed writer', body_text='From Bishkek.')\n"
        "with session_scope() as s:\n"
        "    filed = service.create_story(session=s, payload=payload)\n"
        "print(filed.story.id)\n"  # exits without relaying
    )
    done = subprocess.run([sys.executable, "-c", script], env=stack.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    story_id = done.stdout.strip().splitlines()[-1]
    wait_for(lambda: arrived(receiver, story_id), timeout=60, what="the story whose event was never relayed")


def test_delivery_worker_killed_mid_send_is_delivered_after_restart(stack):
    """SIGKILL the delivery worker while its POST is in flight: the delivery's lease runs out,
    the sweep hands it to the restarted worker, and the receiver gets it (same webhook-id)."""
    import threading

    from standardwebhooks.webhooks import Webhook

    from tests.support import LocalEndpoint

    first_request = threading.Event()
    seen: list[str] = []
    secret = {}

    def respond(body, headers):
        Webhook(secret["value"]).verify(body, headers)
        seen.append(headers["webhook-id"])
        if len(seen) == 1:
            first_request.set()
            threading.Event().wait(8)  # hang: the worker is killed meanwhile
        return 200, {}

    endpoint = LocalEndpoint(respond)
    try:
        with stack.client(stack.admin_key) as admin:
            answer = admin.post("/v1/subscribers", json={"name": f"killed-{endpoint.port}", "url": endpoint.url})
        secret["value"] = answer.json()["secret"]
        subscriber_id = answer.json()["id"]
        with stack.client(stack.editor_key) as api:
            story = api.post("/v1/stories", json={"headline": "Killed mid-send", "body_text": "In Tashkent."}).json()
        assert first_request.wait(60), "the first attempt never arrived"
        stack.kill("delivery")
        stack.restart("delivery")

        def delivered():
            with stack.client(stack.admin_key) as admin:
                rows = admin.get(f"/v1/subscribers/{subscriber_id}/deliveries").json()["items"]
            return [d for d in rows if d["story_id"] == story["id"] and d["state"] == "delivered"]

        (delivery,) = wait_for(delivered, timeout=60, what="delivery after the worker was killed")
        assert len(seen) >= 2 and set(seen) == {delivery["message_id"]}
    finally:
        endpoint.close()
