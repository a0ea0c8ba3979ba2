"""In-process API tests: FastAPI's TestClient on a temporary SQLite database, with the queue
replaced at its one boundary (``shared.queue.send``) by a recorder. No Redis, no workers: these
test the API's own rules (validation, auth, idempotency, listing) in milliseconds. What needs
real workers lives in tests/integration."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shared import db, queue
from shared.config import get_settings


@dataclass
class Sent:
    """Messages the code handed to the broker: (task name, id, priority)."""

    messages: list[tuple[str, object, int]] = field(default_factory=list)

    def __call__(self, task_name: str, argument: object, priority: int) -> None:
        self.messages.append((task_name, argument, priority))

    def tasks(self) -> list[str]:
        return [name for name, _, _ in self.messages]


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    """One migrated database file; each test gets a copy (a migration per test costs ~0.3 s)."""
    folder = tmp_path_factory.mktemp("template")
    mp = pytest.MonkeyPatch()
    try:
        _point_settings_at(mp, folder)
        db.migrate()
    finally:
        _dispose(folder)
        mp.undo()
        get_settings.cache_clear()
    return folder / "newswire.db"


def _point_settings_at(mp: pytest.MonkeyPatch, folder: Path) -> None:
    mp.setenv("NEWSWIRE_DATA_DIR", str(folder))
    mp.setenv("NEWSWIRE_DATABASE_URL", f"sqlite:///{folder / 'newswire.db'}")
    mp.setenv("NEWSWIRE_REDIS_URL", "redis://127.0.0.1:9/0")  # never dialled: the queue is recorded
    mp.setenv("NEWSWIRE_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
    get_settings.cache_clear()


def _dispose(folder: Path) -> None:
    for key in [k for k in db._engines if str(folder) in k[1]]:
        db._engines.pop(key).dispose()


@pytest.fixture
def sent(tmp_path, migrated_template, monkeypatch) -> Iterator[Sent]:
    """A fresh database for the test, and the recorder of what would be queued."""
    shutil.copy(migrated_template, tmp_path / "newswire.db")
    _point_settings_at(monkeypatch, tmp_path)
    recorder = Sent()
    monkeypatch.setattr(queue, "send", recorder)
    yield recorder
    _dispose(tmp_path)
    get_settings.cache_clear()


@dataclass
class Api:
    """Clients of the app, one per role, and the queue recorder."""

    editor: TestClient
    admin: TestClient
    anonymous: TestClient
    sent: Sent
    editor_key: str
    admin_key: str


def client(key: str | None = None) -> TestClient:
    from services.ingest.app import create_app

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return TestClient(create_app(), headers=headers, raise_server_exceptions=False)


def make_key(role: str, name: str | None = None) -> str:
    from services.ingest.keys.service import create_key

    with db.session_scope() as session:
        _row, key = create_key(session=session, name=name or f"test {role}", role=role)
    return key


#: The databases the in-process tests run on: SQLite always, PostgreSQL when a server is given.
BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("NEWSWIRE_TEST_POSTGRES_URL") else [])


@pytest.fixture(params=BACKENDS)
def either(request, monkeypatch, tmp_path) -> Iterator[Api]:
    """The in-process API on SQLite, and on PostgreSQL when a server is given."""
    from tests.api.backends import api_on

    yield from api_on(request, monkeypatch, tmp_path)


@pytest.fixture
def api(sent) -> Api:
    editor_key, admin_key = make_key("editor", "desk"), make_key("admin", "ops")
    return Api(client(editor_key), client(admin_key), client(), sent, editor_key, admin_key)


def count(table: str) -> int:
    from sqlalchemy import text

    with db.read_scope() as session:
        return session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
