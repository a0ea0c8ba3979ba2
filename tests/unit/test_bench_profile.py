"""``bench.profile``'s share by library: each sample goes to its innermost frame's library, or to
logging when a log call is anywhere on its stack."""

from __future__ import annotations

from bench.profile import by_library, library_of

SAMPLES = "\n".join(
    [
        # a story filed: its innermost frame is SQLAlchemy's
        "thread (1): AnyIO worker thread;run (anyio/_backends/_asyncio.py:1124);_file (services/ingest/stories"
        "/service.py:150);execute (sqlalchemy/orm/session.py:2300);do_execute (sqlalchemy/engine/default.py:950) 5",
        # a log line: charged to logging although it ends in the stream's write
        "thread (1): MainThread;__call__ (services/ingest/middleware.py:110);info (logging/__init__.py:1489);"
        "format (shared/logs.py:101);write (encodings/utf_8.py:12) 3",
        # the project's own code at the top
        'process 7:"python -m services.cli";thread (2): MainThread;tags_for (services/enrichment/service.py:110) 2',
        # only frames without a file
        "thread (3): idle 1",
    ]
)


def test_frames_are_named_by_their_package_grouped_as_reported():
    assert library_of("execute (sqlalchemy/orm/session.py:2300)") == "SQLAlchemy (sqlmodel too)"
    assert library_of("send_task (kombu/messaging.py:10)") == "Celery, kombu, billiard"
    assert library_of("start (threading.py:964)") == "threading"
    assert library_of("run (<frozen runpy>:88)") is None
    assert library_of("thread (8578): MainThread") is None


def test_each_sample_is_charged_once_log_calls_to_logging(tmp_path):
    collapsed = tmp_path / "api.txt"
    collapsed.write_text(SAMPLES + "\n")
    total, charged = by_library(collapsed)
    assert total == 11
    assert charged == {
        "SQLAlchemy (sqlmodel too)": 5,
        "logging": 3,
        "the project's own code": 2,
        "(no file)": 1,
    }
