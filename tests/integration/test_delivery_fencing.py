"""A worker that lost its delivery lease (it took longer than the lease) must not overwrite
the result of the worker that took the delivery over."""

import subprocess
import sys

SCRIPT = """
from datetime import timedelta
from shared.db import session_scope
from shared.models import Delivery, DeliveryState, StoryVersion, Subscriber
from shared.timeutil import utcnow
from services.ingest.stories import schemas, service as ingest
from services.ingest.subscribers.service import new_webhook_secret
from services.publish import service as publish
from services.publish.channels.webhook import SendResult

with session_scope() as s:
    filed = ingest.create_story(session=s, payload=schemas.StoryCreate(headline="Fencing", body_text="In Astana."))
    story, version = filed.story, filed.version
    sub = Subscriber(name="fencing-" + story.id, url="http://127.0.0.1:9/x", secret=new_webhook_secret())
    s.add(sub)
    s.flush()
    d = Delivery(subscriber_id=sub.id, version_id=version.id, story_id=story.id, version=1)
    s.add(d)
    s.flush()
    delivery_id = d.id

with session_scope() as s:
    first = publish._claim(s, delivery_id)            # worker A takes the delivery
with session_scope() as s:                             # A is slow: its lease runs out
    s.get(Delivery, delivery_id).lease_until = utcnow() - timedelta(seconds=1)
with session_scope() as s:
    second = publish._claim(s, delivery_id)           # worker B takes it over
assert first and second and first != second

ok = SendResult(200, 5.0, None, "ok", None)
gone = SendResult(410, 5.0, "HTTP 410", "", None)
from shared.config import get_settings
print(publish._record(delivery_id, second, 1, utcnow(), ok, get_settings()))   # B delivered
print(publish._record(delivery_id, first, 1, utcnow(), gone, get_settings()))  # A comes back late
with session_scope() as s:
    d = s.get(Delivery, delivery_id)
    print(d.state, s.get(Subscriber, d.subscriber_id).active)
"""


def test_late_result_of_a_lost_lease_changes_nothing(stack):
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=stack.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["delivered", "lease-lost", "delivered", "True"]
