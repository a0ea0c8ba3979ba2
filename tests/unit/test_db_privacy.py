"""What the database holds stays private: an error's text carries no statement parameters (a
webhook secret would end up in the logs), and SQLite's files are readable by their owner only."""

import os
import stat

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from shared import db
from shared.config import Settings

BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("NEWSWIRE_TEST_POSTGRES_URL") else [])
SECRET = "whsec_c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw=="


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    if request.param == "sqlite":
        engine = db.make_engine(f"sqlite:///{tmp_path / 'errors.db'}")
        yield engine
        engine.dispose()
        return
    from tests.support import PostgresDatabase

    database = PostgresDatabase(os.environ["NEWSWIRE_TEST_POSTGRES_URL"])
    engine = db.make_engine(database.create())
    yield engine
    engine.dispose()
    database.drop()


@pytest.mark.parametrize(
    "row",
    [{"secret": SECRET, "name": "again"}, {"secret": SECRET + "2", "name": None}],
    ids=["unique violation", "not-null violation"],
)
def test_database_errors_do_not_show_the_values(engine, row):
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE hooks (secret VARCHAR(100) UNIQUE, name VARCHAR(10) NOT NULL)"))
        conn.execute(sa.text("INSERT INTO hooks (secret, name) VALUES (:secret, 'first')"), {"secret": SECRET})
    with pytest.raises(IntegrityError) as raised, engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO hooks (secret, name) VALUES (:secret, :name)"), row)
    for text in (str(raised.value), str(raised.value.orig), repr(raised.value)):
        assert "whsec_" not in text
    assert "[SQL parameters hidden due to hide_parameters=True]" in str(raised.value)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_data_directory_and_sqlite_files_are_private(tmp_path):
    data_dir = tmp_path / "new" / "data"
    settings = Settings(data_dir=data_dir, database_url=None)
    previous = os.umask(0o022)  # the usual umask: files world-readable unless made otherwise
    try:
        engine = db.get_engine(settings)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        files = {path.name: mode(path) for path in data_dir.iterdir()}
        assert mode(data_dir) == 0o700 and mode(data_dir.parent) == 0o700
        assert files == {"newswire.db": 0o600, "newswire.db-wal": 0o600, "newswire.db-shm": 0o600}
    finally:
        os.umask(previous)
        for key in [k for k in db._engines if str(data_dir) in k[1]]:
            db._engines.pop(key).dispose()
