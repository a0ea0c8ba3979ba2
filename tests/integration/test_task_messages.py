"""Task messages written straight to Redis (``shared.task_messages``) against Celery's own
``send_task``, side by side in a real Redis: the same message in the same list, so the workers,
``celery inspect`` and Flower cannot tell them apart. A Celery or kombu upgrade that changes the
message fails here."""

import json

import pytest
import redis

from shared import queue
from shared.embedded_redis import EmbeddedRedis
from shared.task_messages import list_for

#: Fields that are new for every message (a fresh task id, delivery tag).
FRESH = {("headers", "id"), ("headers", "root_id"), ("properties", "correlation_id"), ("properties", "delivery_tag")}


@pytest.fixture
def app(redis_url):
    made = queue.make_celery(redis_url)
    yield made
    made.close()


def _only_message(client: redis.Redis) -> tuple[str, dict]:
    """The one message in the Redis (taken out of it), and the list it was in."""
    (key,) = [key.decode() for key in client.scan_iter(_type="list")]
    return key, json.loads(client.rpop(key))


def _without_fresh_ids(message: dict) -> dict:
    message = json.loads(json.dumps(message))
    for part, name in FRESH:
        message[part].pop(name)
    return message


CASES = [
    ("enrichment.tag_version", 12345, 0),  # a flash: priority 0 is the queue's own list
    ("publish.render_version", [7, 8, 9], 5),  # a publish group
    ("delivery.send", [[f"delivery-{n}", "subscriber", 3] for n in range(200)], 3),  # a long argsrepr
]


@pytest.mark.parametrize(("task", "argument", "priority"), CASES)
def test_a_written_message_is_the_one_celery_sends(app, redis_url, task, argument, priority):
    writer = queue.task_writer_for(app)
    client = redis.Redis.from_url(redis_url)
    app.send_task(task, args=[argument], priority=priority)
    celerys_list, celerys = _only_message(client)
    writer.send(task, [argument], queue.queue_for(task), priority)
    written_list, written = _only_message(client)
    writer.close()

    assert written_list == celerys_list == list_for(queue.queue_for(task), priority)
    assert _without_fresh_ids(written) == _without_fresh_ids(celerys)
    assert written["headers"]["root_id"] == written["headers"]["id"] == written["properties"]["correlation_id"]
    assert written["properties"]["delivery_tag"] != celerys["properties"]["delivery_tag"]


def test_a_message_sent_from_a_running_task_names_it_as_parent(app, redis_url):
    """Inside a task, Celery's messages carry the running task's id as parent, and its root."""
    writer = queue.task_writer_for(app)

    def parent_task():
        writer.send("delivery.send", [["d", "s", 5]], "delivery", 5)
        app.send_task("delivery.send", args=[["d", "s", 5]], priority=5)

    app.task(name="publish.parent")(parent_task).apply(task_id="parent-task")
    writer.close()
    raw = redis.Redis.from_url(redis_url).lrange(list_for("delivery", 5), 0, -1)
    written, celerys = (json.loads(message)["headers"] for message in reversed(raw))
    assert written["parent_id"] == celerys["parent_id"] == "parent-task"
    assert written["root_id"] == celerys["root_id"]


def test_a_broker_that_is_not_listening_fails_the_send_at_once(tmp_path):
    """Nothing on the port: the send raises (the caller leaves the work to the sweep)."""
    server = EmbeddedRedis(tmp_path / "redis", appendonly=False)
    url = server.start()
    server.stop()  # the port is free again: nothing answers there
    app = queue.make_celery(url)
    writer = queue.task_writer_for(app)
    with pytest.raises(redis.ConnectionError):
        writer.send("publish.render_version", [1], "publish", 0)
    writer.close()
    app.close()


@pytest.mark.parametrize("url", ["sentinel://127.0.0.1:26379", "rediss://:secret@127.0.0.1:6380/3"])
def test_brokers_the_writer_does_not_serve_go_through_send_task(url):
    app = queue.make_celery(url)
    assert queue.task_writer_for(app) is None
    app.close()


@pytest.mark.parametrize(
    ("task", "expected"),
    [("enrichment.tag_version", "enrichment"), ("delivery.send", "delivery"), ("other.task", "publish")],
)
def test_each_task_goes_to_the_queue_its_route_names(app, task, expected):
    assert queue.queue_for(task) == expected
    assert app.amqp.router.route({}, task)["queue"].name == expected
