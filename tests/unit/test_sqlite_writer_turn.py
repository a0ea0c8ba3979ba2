"""SQLite writers take turns across processes (``db.SqliteWriterTurn``): once a write scope's
transaction has begun, no other process — a forked child included, which must not share its
parent's lock — can take the turn until the scope ends; before its first statement the scope holds
nothing; a nested scope keeps the turn of the scope around it; leaving gives it back."""

import fcntl
import multiprocessing

import pytest
from sqlalchemy import text

from shared import db
from shared.config import get_settings


@pytest.fixture
def database(tmp_path, monkeypatch) -> str:
    path = tmp_path / "turns.db"
    monkeypatch.setenv("NEWSWIRE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSWIRE_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    yield str(path)
    db._engines.clear()
    get_settings.cache_clear()


def _probe(database: str, answers) -> None:
    """In a forked child: can this process take the turn right now?"""
    descriptor = db._sqlite_writers._file(database)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        answers.put("taken")
        return
    fcntl.flock(descriptor, fcntl.LOCK_UN)
    answers.put("free")


def another_process_finds(database: str) -> str:
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=_probe, args=(database, answers))
    child.start()
    child.join(timeout=30)
    return answers.get(timeout=30)


def test_a_write_scope_holds_the_turn_from_its_first_statement_until_it_ends(database):
    db.migrate()
    with db.session_scope() as session:
        assert another_process_finds(database) == "free"  # nothing begun yet
        session.execute(text("SELECT 1"))
        assert another_process_finds(database) == "taken"
        with db.session_scope():  # nested: the same turn
            assert another_process_finds(database) == "taken"
        assert another_process_finds(database) == "taken"
        session.commit()  # a commit inside the scope keeps the turn: the scope may write again
        assert another_process_finds(database) == "taken"
    assert another_process_finds(database) == "free"


def test_a_nested_scope_that_begins_first_gives_the_turn_back_when_it_ends(database):
    db.migrate()
    with db.session_scope():
        with db.session_scope() as inner:
            inner.execute(text("SELECT 1"))
            assert another_process_finds(database) == "taken"
        assert another_process_finds(database) == "free"
    assert another_process_finds(database) == "free"


def test_a_scope_that_fails_gives_the_turn_back(database):
    db.migrate()
    with pytest.raises(RuntimeError), db.session_scope() as session:
        session.execute(text("SELECT 1"))
        raise RuntimeError("the step failed")
    assert another_process_finds(database) == "free"


def test_reading_takes_no_turn(database):
    with db.read_scope():
        assert another_process_finds(database) == "free"
