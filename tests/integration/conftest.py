"""The integration stack runs once per database backend: SQLite always, PostgreSQL too when
NEWSWIRE_TEST_POSTGRES_URL is set."""

import os

import pytest

from shared.embedded_redis import EmbeddedRedis
from tests.support import PostgresDatabase, ScriptedEndpoint, Stack

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("NEWSWIRE_TEST_POSTGRES_URL") else [])


def running_stack(backend: str, folder, services=Stack.ALL, extra_env=None, stack_class=Stack):
    pg = None
    url = None
    if backend == "postgres":
        pg = PostgresDatabase(os.environ["NEWSWIRE_TEST_POSTGRES_URL"])
        url = pg.create()
    running = stack_class(folder, url, extra_env)
    try:
        yield running.start(services)
    finally:
        running.stop()
        if pg:
            pg.drop()


@pytest.fixture
def redis_url(tmp_path):
    """A Redis of the test's own (nothing kept on disk), for tests of the broker's messages."""
    server = EmbeddedRedis(tmp_path / "redis", appendonly=False)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def stack(request, tmp_path_factory):
    yield from running_stack(request.param, tmp_path_factory.mktemp(f"stack-{request.param}"))


@pytest.fixture(scope="module", params=BACKENDS)
def api_stack(request, tmp_path_factory):
    """Redis, the database and the API only: no worker takes the stories (for listing tests)."""
    yield from running_stack(request.param, tmp_path_factory.mktemp(f"api-{request.param}"), services=("api",))


@pytest.fixture
def endpoint_factory(stack):
    """Scripted webhook endpoints on 127.0.0.1, each registered as a subscriber."""
    made = []

    def make(script=()):
        endpoint = ScriptedEndpoint(list(script)).register(stack)
        made.append(endpoint)
        return endpoint

    yield make
    for endpoint in made:
        endpoint.close()


@pytest.fixture
def site(stack):
    """A fresh subscriber with its own reference receiver."""
    subscriber, receiver = stack.subscribe()
    yield subscriber, receiver
    receiver.stop()
