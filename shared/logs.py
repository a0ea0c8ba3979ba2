"""Logging for every process: stdlib ``logging`` throughout, one handler on the root logger.

* ``console`` (the default): a readable line, ``time LEVEL logger: message``, then the bound ids
  and any other fields as ``key=value``.
* ``json`` (``NEWSWIRE_LOG_FORMAT=json``): one JSON object a line, with ``time``, ``level``,
  ``logger``, ``message``, ``service``, the bound ids and any other fields.

Ids are bound with ``bind``/``bound`` into a context variable at a task's or a request's boundary
(``story_id``, ``version``, ``delivery_id``, ``subscriber_id``, ``request_id``); every line logged
below it in the same thread or asyncio task carries them, whoever logs it (our modules, Celery,
uvicorn). Fields given with ``extra=`` win over bound ones.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

#: The ids a line may carry, in the order the console shows them.
KEYS = ("request_id", "story_id", "version", "version_id", "delivery_id", "subscriber_id")

_bound: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("newswire_log_ids", default=None)

#: Record attributes that are not fields: the stdlib's own, and uvicorn's coloured copy of the message.
_NOT_FIELDS = frozenset(RESERVED_ATTRS) | {"taskName", "color_message"}
#: Celery's ``data`` (a dict repeating the message's values) is kept in JSON, left off the console.
_NOT_ON_CONSOLE = _NOT_FIELDS | {"data"}


def current() -> dict[str, Any]:
    """The ids bound here."""
    return dict(_bound.get() or {})


def bind(**ids: Any) -> None:
    """Bind ids for the rest of the current scope (``bound``, a task, a request); None is skipped."""
    _bound.set({**(_bound.get() or {}), **{k: v for k, v in ids.items() if v is not None}})


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Bind ids within the block; on leaving it, whatever was bound inside (``bind`` too) is gone."""
    token = _bound.set({**(_bound.get() or {}), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _bound.reset(token)


@contextmanager
def cleared() -> Iterator[None]:
    """No ids bound within the block (what was bound outside comes back after it)."""
    token = _bound.set(None)
    try:
        yield
    finally:
        _bound.reset(token)


def fresh_context(**ids: Any) -> contextvars.Context:
    """A copy of the current context with exactly these ids bound (for ``asyncio`` tasks)."""
    context = contextvars.copy_context()
    context.run(_bound.set, {k: v for k, v in ids.items() if v is not None})
    return context


class ContextFilter(logging.Filter):
    """Puts the bound ids on each record that passes the handler (``extra=`` values win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_bound.get() or {}).items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


def _fields(record: logging.LogRecord, skip: frozenset[str]) -> dict[str, Any]:
    found = {k: v for k, v in record.__dict__.items() if k not in skip and not k.startswith("_")}
    ordered = {k: found.pop(k) for k in KEYS if k in found}
    return {**ordered, **found}


class ConsoleFormatter(logging.Formatter):
    """``time LEVEL logger: message  key=value ...`` (then the traceback, if any)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's naming)
        line = super().formatMessage(record)
        fields = _fields(record, _NOT_ON_CONSOLE)
        if not fields:
            return line
        return line + "  " + " ".join(f"{k}={_console_value(v)}" for k, v in fields.items())


def _console_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() for c in text) else text


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, service, the bound
    ids, then any other fields (a traceback as ``exc_info``)."""

    HEAD = ("time", "level", "logger", "message", "service", *KEYS)

    def __init__(self, service: str | None = None) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            static_fields={"service": service} if service else {},
            reserved_attrs=sorted(_NOT_FIELDS),
            timestamp="time",
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        head = {k: log_data.pop(k) for k in self.HEAD if k in log_data}
        rest = dict(log_data)
        log_data.clear()
        log_data.update(head)
        log_data.update(rest)


def configure(level: str = "INFO", log_format: str = "console", service: str | None = None) -> None:
    """Send every logger's lines through one handler on stderr, in the chosen format. Called
    again, it replaces its handler (never adds a second one)."""
    handler = logging.StreamHandler()
    handler.set_name("newswire")
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonLineFormatter(service) if log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "newswire"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings too come out in the format, not as bare stderr text
    for chatty in ("alembic", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
