"""The integration stack runs once per database backend: SQLite always, PostgreSQL too when
NEWSWIRE_TEST_POSTGRES_URL is set."""

import os

import pytest

from tests.support import PostgresDatabase, Stack

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("NEWSWIRE_TEST_POSTGRES_URL") else [])


@pytest.fixture(scope="session", params=BACKENDS)
def stack(request, tmp_path_factory):
    pg = None
    url = None
    if request.param == "postgres":
        pg = PostgresDatabase(os.environ["NEWSWIRE_TEST_POSTGRES_URL"])
        url = pg.create()
    running = Stack(tmp_path_factory.mktemp(f"stack-{request.param}"), url)
    try:
        yield running.start()
    finally:
        running.stop()
        if pg:
            pg.drop()


@pytest.fixture
def site(stack):
    """A fresh subscriber with its own reference receiver."""
    subscriber, receiver = stack.subscribe()
    yield subscriber, receiver
    receiver.stop()
