"""The broker transport (``shared.redis_transport``) against a real Redis: every message still
arrives, each channel sends through one client, and a channel whose pool kombu dropped (a fork,
a lost connection) builds a client on the new pool. Brokers it does not serve (TLS, Sentinel,
failover lists) keep kombu's own transport."""

import base64
import json

import pytest
import redis

from shared import redis_transport
from shared.queue import make_celery


@pytest.fixture
def app_for():
    """Celery apps for a broker URL, closed (their connection pools released) after the test."""
    made = []

    def make(url: str):
        made.append(make_celery(url))
        return made[-1]

    yield make
    for app in made:
        app.close()


def _queued(url: str, queue: str) -> list[list]:
    """The arguments of the messages waiting in ``queue`` at priority 0, oldest first."""
    raw = redis.Redis.from_url(url).lrange(queue, 0, -1)
    return [_args(message) for message in reversed(raw)]


def _args(message: bytes) -> list:
    envelope = json.loads(message)
    body = envelope["body"]
    if envelope["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body)
    return json.loads(body)[0]


def test_messages_sent_through_one_client_per_channel_all_arrive(redis_url, app_for):
    app = app_for(redis_url)
    with app.producer_pool.acquire(block=True) as producer:
        channel = producer.channel
        assert isinstance(channel, redis_transport.Channel)
        for number in range(3):
            app.send_task("publish.render", args=[number], priority=0, producer=producer)
        client = channel._create_client()
        assert channel._create_client() is client, "a second command built a second client"
        assert producer.connection.transport_cls == redis_transport.TRANSPORT
    assert _queued(redis_url, "publish") == [[0], [1], [2]]


def test_a_dropped_pool_gets_a_new_client_and_sends_go_on(redis_url, app_for):
    app = app_for(redis_url)
    with app.producer_pool.acquire(block=True) as producer:
        channel = producer.channel
        app.send_task("publish.render", args=[1], priority=0, producer=producer)
        before = channel._create_client()
        channel._disconnect_pools()  # what kombu does after a fork or a lost connection
        app.send_task("publish.render", args=[2], priority=0, producer=producer)
        after = channel._create_client()
        assert after is not before and after.connection_pool is channel.pool
    assert _queued(redis_url, "publish") == [[1], [2]]


@pytest.mark.parametrize(
    "url",
    [
        "sentinel://127.0.0.1:26379",
        "rediss://:secret@127.0.0.1:6380/3",  # kombu turns TLS on for its own transport name only
        "redis://127.0.0.1:6379/0;redis://127.0.0.1:6380/0",  # failover: kombu re-parses on a switch
    ],
)
def test_other_broker_urls_keep_kombus_own_transport(url, app_for):
    app = app_for(url)
    assert app.conf.broker_transport is None
    with app.connection_for_write() as connection:  # nothing connects until a command is sent
        assert not isinstance(connection.transport, redis_transport.Transport)
        if url.startswith("rediss"):
            assert connection.ssl, "a rediss:// broker must be reached over TLS"


def test_celerys_own_broker_variable_decides_too(monkeypatch, app_for):
    """Celery's CELERY_BROKER_URL wins over the URL the app is given: the transport follows it."""
    monkeypatch.setenv("CELERY_BROKER_URL", "sentinel://127.0.0.1:26379")
    assert app_for("redis://127.0.0.1:6379/0").conf.broker_transport is None
