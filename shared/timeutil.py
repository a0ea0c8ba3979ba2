"""Time helpers. The database stores naive UTC datetimes; the API speaks ISO 8601 with ``Z``."""

from __future__ import annotations

from datetime import datetime, timezone


def utcnow() -> datetime:
    """Now, as a naive UTC datetime (the form every table stores)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_naive_utc(value: datetime) -> datetime:
    """An aware datetime converted to naive UTC; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def isoformat(value: datetime | None) -> str | None:
    """Naive UTC datetime -> ``2026-01-02T03:04:05.123456Z`` (None stays None)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")
