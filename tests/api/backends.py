"""The in-process API on either database: SQLite (the ``api`` fixture) or, when
NEWSWIRE_TEST_POSTGRES_URL names a server, a throw-away PostgreSQL database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared import db, queue
from shared.config import get_settings
from tests.api.conftest import Api, Sent, _point_settings_at, client, make_key
from tests.support import PostgresDatabase


@contextmanager
def postgres_api(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Iterator[Api]:
    database = PostgresDatabase(os.environ["NEWSWIRE_TEST_POSTGRES_URL"])
    url = database.create()
    try:
        _point_settings_at(monkeypatch, folder)
        monkeypatch.setenv("NEWSWIRE_DATABASE_URL", url)
        get_settings.cache_clear()
        db.migrate()
        recorder = Sent()
        monkeypatch.setattr(queue, "send", recorder)
        editor_key, admin_key = make_key("editor", "desk"), make_key("admin", "ops")
        yield Api(client(editor_key), client(admin_key), client(), recorder, editor_key, admin_key)
    finally:
        for key in [k for k in db._engines if k[1] == get_settings().sqlalchemy_url]:
            db._engines.pop(key).dispose()
        get_settings.cache_clear()
        database.drop()


def api_on(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, folder: Path) -> Iterator[Api]:
    """For a fixture parametrised with ``BACKENDS``."""
    if request.param == "sqlite":
        yield request.getfixturevalue("api")
        return
    with postgres_api(monkeypatch, folder) as api:
        yield api
