"""Database engine and sessions (SQLite by default, PostgreSQL in production).

Each process builds its own engine lazily (Celery prefork children included), so no
connection is ever shared across a fork. On SQLite every transaction starts with
``BEGIN IMMEDIATE`` so that concurrent writers from several processes queue on the
busy timeout instead of failing on a read-to-write lock upgrade; read-only sessions
(``read_scope``) start with a plain ``BEGIN`` and never wait for writers (WAL).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Select, Update, bindparam, event, func, select, text, update
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from shared.config import Settings, get_settings
from shared.files import private_dir, private_file

_engines: dict[tuple[int, str], Engine] = {}
#: Execution option of transactions that only read: on SQLite they start with a plain BEGIN
#: and so never wait for (or hold up) writers.
READ_ONLY = "newswire_read_only"

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, *, foreign_keys: bool = True) -> Engine:
    """``foreign_keys=False`` is for migrations only: SQLite cannot copy a table that others
    reference (Alembic's batch mode) while it enforces foreign keys.

    Statement parameters are never part of an error's text (``hide_parameters``): they carry
    webhook secrets and story text, and database errors end up in logs."""
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            if not read_only:
                _sqlite_writers.begin(conn.engine.url.database)  # in a write scope: its turn first
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        event.listen(engine, "handle_error", _discard_after_storage_error)
        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True)
    event.listen(engine, "handle_error", _hide_server_detail)
    return engine


def _hide_server_detail(context) -> None:
    """PostgreSQL's error DETAIL quotes the values a statement failed on ("Key (name)=(…) already
    exists", "Failing row contains (…)": a webhook secret among them). Keep it out of the error's
    text, which is logged; it stays readable in ``error.orig.diag.message_detail``."""
    detail = getattr(getattr(context.original_exception, "diag", None), "message_detail", None)
    if not detail:
        return
    for error in (context.original_exception, context.sqlalchemy_exception):
        if error is not None and error.args and isinstance(error.args[0], str):
            error.args = (error.args[0].replace(detail, "(values hidden)"), *error.args[1:])


#: SQLite errors after which a connection must not be used again: a file that could not be
#: written for a moment (a disk remounted read-only, a full disk) leaves the connection open
#: read-only, or in a state SQLite gives up on, although the disk is fine again.
STORAGE_ERRORS = ("disk I/O error", "attempt to write a readonly database", "unable to open database file")


def _discard_after_storage_error(context) -> None:
    """Treat a storage error like a lost server connection: the pool drops the connection and
    the next transaction opens a fresh one (the request or task itself fails and is retried)."""
    if any(text in str(context.original_exception) for text in STORAGE_ERRORS):
        context.is_disconnect = True


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite file 0600 before SQLite opens it: SQLite gives its -wal and -shm files
    the database file's mode, so they are private too."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        private_file(Path(database))


def get_engine(settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    url = settings.sqlalchemy_url
    key = (os.getpid(), url)
    engine = _engines.get(key)
    if engine is None:
        if url.startswith("sqlite"):
            private_dir(settings.data_dir)
        engine = _engines[key] = make_engine(url)
    return engine


def import_driver(settings: Settings | None = None) -> None:
    """Import the database's driver now. A worker's parent calls this before it forks its pool:
    each pool process then starts with the driver loaded instead of importing it inside its first
    story (psycopg: ~0.2 s, added to that story's latency). Opens no connection."""
    make_url((settings or get_settings()).sqlalchemy_url).get_dialect().import_dbapi()


class SqliteWriterTurn:
    """Writers of one SQLite database take turns across processes on an exclusive ``flock`` of a
    file beside it, held from before ``BEGIN IMMEDIATE`` until after the commit. SQLite takes one
    writer at a time, and a writer that finds its lock taken sleeps in growing steps (1, 2, 5, 10 …
    100 ms: its busy handler), so it may sleep on long after the lock is free; the kernel hands a
    ``flock`` to the next waiter the moment it is released. Threads of one process queue on a
    re-entrant lock first (a nested scope already has the turn). Writers that do not take the turn
    (migrations) still meet SQLite's busy timeout.

    A write scope (``session_scope``) takes the turn only when its transaction begins — at its
    first statement, just before the ``BEGIN IMMEDIATE`` — and gives it back when it ends: what the
    scope does before its first statement (building the rows of a story, sanitising its HTML) does
    not keep every other writer of the pipeline waiting."""

    def __init__(self) -> None:
        self._threads = threading.RLock()
        self._depth = 0
        self._files: dict[tuple[int, str], int] = {}
        self._local = threading.local()

    @contextmanager
    def scope(self) -> Iterator[None]:
        """A write scope of this thread: ``begin`` takes the turn for it, leaving gives it back."""
        scopes = self._scopes()
        scope = _Scope()
        scopes.append(scope)
        try:
            yield
        finally:
            scopes.pop()
            if scope.taken:
                self._release(scope.descriptor)

    def begin(self, database: str | None) -> None:
        """A write transaction of this thread begins (its ``BEGIN IMMEDIATE`` comes next): take the
        turn for the innermost write scope, unless it holds it already. Outside any scope, nothing."""
        scopes = self._scopes()
        if not scopes or scopes[-1].taken:
            return
        scopes[-1].descriptor = self._acquire(database)
        scopes[-1].taken = True

    def _scopes(self) -> list[_Scope]:
        if not hasattr(self._local, "scopes"):
            self._local.scopes = []
        return self._local.scopes

    def _acquire(self, database: str | None) -> int | None:
        self._threads.acquire()
        try:
            descriptor = self._file(database) if self._depth == 0 else None
            if descriptor is not None:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        self._depth += 1
        return descriptor

    def _release(self, descriptor: int | None) -> None:
        self._depth -= 1
        try:
            if descriptor is not None:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self, database: str | None) -> int | None:
        """This process's descriptor of the turn file (a forked child opens its own: a descriptor
        shared with the parent would share its lock too); None for an in-memory database."""
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        key = (os.getpid(), database)
        if key not in self._files:
            path = Path(f"{database}.writers")
            private_file(path)
            self._files[key] = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        return self._files[key]


class _Scope:
    """A write scope: whether it took the turn, and the descriptor it locked (None when a scope
    around it held the turn already, or for an in-memory database)."""

    __slots__ = ("descriptor", "taken")

    def __init__(self) -> None:
        self.taken, self.descriptor = False, None


_sqlite_writers = SqliteWriterTurn()


@contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    engine = get_engine(settings)
    turn = _sqlite_writers.scope() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
    with turn, Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_scope(settings: Settings | None = None) -> Iterator[Session]:
    """A session for reading only; closing it ends its transaction without expiring what
    was loaded, so the objects stay readable afterwards."""
    engine = get_engine(settings).execution_options(**{READ_ONLY: True})
    with Session(engine, expire_on_commit=False) as session:
        yield session


def finds_any(query: Select) -> bool:
    """Whether ``query`` finds a row, asked in a read: on SQLite it neither waits for the writers
    nor holds them up. A periodic job (the scheduler's sweeps) looks first, and opens a write
    transaction — which queues with every writer of the pipeline — only when it has work to do."""
    with read_scope() as session:
        return session.connection().execute(query.limit(1)).first() is not None


_ADVISORY_LOCK = select(func.pg_advisory_xact_lock(bindparam("key")))


def next_in_sequence(session: Session, column, lock_key: int) -> int:
    """The next number of a commit-ordered sequence (a story's place in the list, a version's in
    the feed). Taken inside the writing transaction and held until it commits — SQLite: the write
    lock ``BEGIN IMMEDIATE`` took; PostgreSQL: a transaction advisory lock on ``lock_key`` — so
    numbers follow commit order, and a reader holding a cursor never misses a later commit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_ADVISORY_LOCK, {"key": lock_key})
    return (session.execute(_highest(column)).scalar() or 0) + 1


def number_at_commit(session: Session, column, lock_key: int, row_id) -> int:
    """Give the row whose primary key is ``row_id`` the next number of a commit-ordered sequence,
    as the last step of its transaction (the caller commits next): the lock that keeps numbers in
    commit order (see ``next_in_sequence``) is then held for two statements and the commit, not
    for the whole transaction — on PostgreSQL, concurrent filers do their work side by side and
    queue only to be numbered."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_ADVISORY_LOCK, {"key": lock_key})
    return session.execute(_numbering(column), {"row_id": row_id}).scalar_one()


@functools.cache
def _numbering(column) -> Update:
    """``UPDATE … SET column = max(column) + 1 WHERE id = :row_id RETURNING column``, built once."""
    table = column.table
    highest = select(func.coalesce(func.max(column), 0) + 1).scalar_subquery()
    return (
        update(table)
        .where(table.primary_key.columns.values()[0] == bindparam("row_id"))
        .values({column.name: highest})
        .returning(column)
    )


@functools.cache
def _highest(column) -> Select:
    """``SELECT max(column)``, built once per column (building costs more than running it)."""
    return select(func.max(column))


def ping(settings: Settings | None = None) -> None:
    with get_engine(settings).execution_options(**{READ_ONLY: True}).connect() as conn:
        conn.execute(text("SELECT 1"))


def alembic_config(url: str):
    """Alembic's configuration for the project's migrations against ``url``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["sqlalchemy_url"] = url
    return cfg


def migrate(settings: Settings | None = None, revision: str = "head") -> None:
    """Bring the schema to the newest revision (``alembic upgrade head``)."""
    from alembic import command

    settings = settings or get_settings()
    if settings.sqlalchemy_url.startswith("sqlite"):
        private_dir(settings.data_dir)
    command.upgrade(alembic_config(settings.sqlalchemy_url), revision)
