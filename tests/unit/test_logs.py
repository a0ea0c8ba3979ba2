"""Log lines: JSON carries the ids bound where the line was logged; the console stays readable."""

import json
import logging
import subprocess
import sys

import pytest

from shared import logs
from tests.support import REPO


def formatted(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    assert logs.ContextFilter().filter(record)
    return formatter.format(record)


def record(message: str = "delivery attempted", level: int = logging.INFO, **extra) -> logging.LogRecord:
    made = logging.getLogger("services.publish.delivery").makeRecord(
        "services.publish.delivery", level, __file__, 1, message, (), None
    )
    made.__dict__.update(extra)
    return made


def test_json_line_has_the_bound_ids_and_the_extra_fields():
    with logs.bound(story_id="s1", version=2, request_id="r1"):
        logs.bind(delivery_id="d1", subscriber_id="sub1")
        line = formatted(logs.JsonLineFormatter("worker-delivery"), record(outcome="retry", status_code=503))
    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "delivery attempted"
    assert data["level"] == "INFO" and data["logger"] == "services.publish.delivery"
    assert data["service"] == "worker-delivery"
    assert data["time"].endswith("+00:00")
    assert {k: data[k] for k in ("story_id", "version", "request_id", "delivery_id", "subscriber_id")} == {
        "story_id": "s1",
        "version": 2,
        "request_id": "r1",
        "delivery_id": "d1",
        "subscriber_id": "sub1",
    }
    assert data["outcome"] == "retry" and data["status_code"] == 503
    assert list(data)[:5] == ["time", "level", "logger", "message", "service"]


def test_ids_end_with_their_scope_and_explicit_fields_win():
    with logs.bound(story_id="outer"):
        with logs.bound(delivery_id="d1"):
            logs.bind(version=3)
            assert logs.current() == {"story_id": "outer", "delivery_id": "d1", "version": 3}
        assert logs.current() == {"story_id": "outer"}
        data = json.loads(formatted(logs.JsonLineFormatter(), record(story_id="given")))
    assert data["story_id"] == "given"
    assert logs.current() == {}
    assert "story_id" not in json.loads(formatted(logs.JsonLineFormatter(), record()))


def test_fresh_context_binds_exactly_the_given_ids():
    with logs.bound(story_id="old", version=1):
        context = logs.fresh_context(delivery_id="d2", subscriber_id="s2")
    assert context.run(logs.current) == {"delivery_id": "d2", "subscriber_id": "s2"}


def test_a_traceback_stays_inside_its_json_line():
    try:
        raise ValueError("boom")
    except ValueError:
        made = record("sweep failed", logging.ERROR)
        made.exc_info = sys.exc_info()
    line = formatted(logs.JsonLineFormatter(), made)
    assert len(line.splitlines()) == 1
    assert "ValueError: boom" in json.loads(line)["exc_info"]


def test_console_line_is_readable_not_json():
    with logs.bound(story_id="s1", version=2):
        line = formatted(logs.ConsoleFormatter(), record(outcome="delivered", error="read timed out"))
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    assert " INFO services.publish.delivery: delivery attempted  story_id=s1 version=2 outcome=delivered" in line
    assert 'error="read timed out"' in line


def test_every_line_of_a_process_is_json_whoever_logs_it():
    """Our loggers, third-party ones, warnings and tracebacks, after ``configure``."""
    script = """
import logging, warnings
from shared import logs
logs.configure("INFO", "json", "api")
with logs.bound(request_id="r9"):
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 1, extra={"color_message": "x"})
    warnings.warn("old thing")
    try:
        1 / 0
    except ZeroDivisionError:
        logging.getLogger("celery.app.trace").exception("task failed")
logs.configure("INFO", "json", "api")  # again: still one handler
logging.getLogger("services").info("once")
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["logger"] for line in lines] == ["uvicorn.error", "py.warnings", "celery.app.trace", "services"]
    assert all(line["service"] == "api" for line in lines)
    assert [line.get("request_id") for line in lines[:3]] == ["r9"] * 3
    assert "color_message" not in lines[0] and "ZeroDivisionError" in lines[2]["exc_info"]
