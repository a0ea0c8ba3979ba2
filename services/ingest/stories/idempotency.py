"""``Idempotency-Key`` on every request that files a version (create, update, correction, kill).

The first request with a key stores what it did (story, version) next to a hash of the request
(operation, story and body). The same key with the same request answers with that version again
and files nothing; the same key with anything else is a 409. Records are kept with the stories.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.ingest.exceptions import Conflict
from shared.models import IdempotencyRecord

T = TypeVar("T")


def request_hash(operation: str, story_id: str | None, payload: BaseModel) -> str:
    """A digest of what the request asks for. A create hashes its body alone (as keys stored
    before other operations existed did); the others add the operation, the story and which
    fields were given (an update that leaves out ``embargoed_until`` keeps the embargo)."""
    body = payload.model_dump_json()
    if operation != "create":
        body = f"{operation}\n{story_id}\n{sorted(payload.model_fields_set)}\n{body}"
    return hashlib.sha256(body.encode()).hexdigest()


def replay(session: Session, key: str | None, digest: str) -> IdempotencyRecord | None:
    """What an earlier request with this key filed, or None; 409 if the requests differ."""
    if not key:
        return None
    record = session.get(IdempotencyRecord, key)
    if record is not None and record.request_hash != digest:
        raise Conflict("idempotency_conflict", "this Idempotency-Key was used with a different request")
    return record


def remember(session: Session, key: str | None, digest: str, story_id: str, version: int) -> None:
    """Store the key with what it filed. Raises IntegrityError if a concurrent request with the
    same key got there first (see ``once_per_key``)."""
    if key:
        session.add(IdempotencyRecord(key=key, request_hash=digest, story_id=story_id, version=version))
        session.flush()


def once_per_key(action: Callable[..., T]) -> Callable[..., T]:
    """Run a filing action; if a concurrent request with the same Idempotency-Key stored it
    first, roll back and run the action again, which then replays that request's answer or
    refuses with 409."""

    @functools.wraps(action)
    def run(*, session: Session, idempotency_key: str | None = None, **kwargs: Any) -> T:
        try:
            return action(session=session, idempotency_key=idempotency_key, **kwargs)
        except IntegrityError:
            session.rollback()
            if not idempotency_key:
                raise
            return action(session=session, idempotency_key=idempotency_key, **kwargs)

    return run
