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
        # The API relays before it answers 202, so the message is in Redis now; lose it.
        broker = redis.Redis.from_url(stack.env["NEWSWIRE_REDIS_URL"])
        assert any(key.startswith(b"enrichment") for key in broker.keys())
        broker.flushall()
    finally:
        stack.restart("enrichment")
    wait_for(lambda: arrived(receiver, story["id"]), timeout=60, what="the re-queued story")


def test_unsent_outbox_event_is_relayed_by_the_scheduler(stack, site):
    """A writer that committed and then died before relaying: the sweep sends the event."""
    _subscriber, receiver = site
    script = (
        "from shared.db import session_scope\n"
        "from services.ingest import schemas, service\n"
        "payload = schemas.StoryCreate(headline='Crashed writer', body_text='From Bishkek.')\n"
        "with session_scope() as s:\n"
        "    story, *_ = service.create_story(session=s, payload=payload)\n"
        "print(story.id)\n"  # exits without relaying
    )
    done = subprocess.run([sys.executable, "-c", script], env=stack.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    story_id = done.stdout.strip().splitlines()[-1]
    wait_for(lambda: arrived(receiver, story_id), timeout=60, what="the story whose event was never relayed")
