"""``Idempotency-Key`` on every request that files a version (create, update, correction, kill).

The first request with a key stores what it did (story, version) next to a hash of the request
(operation, story and body). The same key with the same request answers with that version again
and files nothing; the same key with anything else is a 409. A key belongs to the API key that
sent it, so two clients never collide, and it is remembered for ``NEWSWIRE_IDEMPOTENCY_TTL_SECONDS``
(24 hours): after that it may be used again. Filing deletes expired records as it goes
(``shared.idempotency`` has the same for a periodic job).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.ingest.exceptions import Conflict
from shared.idempotency import purge_expired
from shared.models import IdempotencyRecord
from shared.timeutil import utcnow

T = TypeVar("T")


@dataclass(frozen=True)
class Key:
    """An Idempotency-Key as one client sent it."""

    value: str
    #: Whose key it is: the id of the API key that sent it.
    owner: str
    #: How long it is remembered; None: for good (the seed loader, which loads each seed once).
    ttl_seconds: float | None


def request_hash(key: Key | None, operation: str, story_id: str | None, payload: BaseModel) -> str | None:
    """A digest of what the request asks for; None for a request without a key (nothing to
    compare it with). A create hashes its body alone (as keys stored before other operations
    existed did); the others add the operation, the story and which fields were given (an
    update that leaves out ``embargoed_until`` keeps the embargo)."""
    if key is None:
        return None
    body = payload.model_dump_json()
    if operation != "create":
        body = f"{operation}\n{story_id}\n{sorted(payload.model_fields_set)}\n{body}"
    return hashlib.sha256(body.encode()).hexdigest()


def replay(session: Session, key: Key | None, digest: str | None) -> IdempotencyRecord | None:
    """What an earlier request with this key filed, or None; 409 if the requests differ. An
    expired record is deleted here, so that the key can be stored again."""
    if key is None:
        return None
    record = session.get(IdempotencyRecord, (key.owner, key.value))
    if record is not None and record.expires_at is not None and record.expires_at <= utcnow():
        session.delete(record)
        session.flush()
        return None
    if record is not None and record.request_hash != digest:
        raise Conflict("idempotency_conflict", "this Idempotency-Key was used with a different request")
    return record


def remember(session: Session, key: Key | None, digest: str | None, story_id: str, version: int) -> None:
    """Store the key with what it filed, and delete records that have expired. Raises
    IntegrityError if a concurrent request with the same key got there first (see
    ``once_per_key``)."""
    if key is None:
        return
    now = utcnow()
    expires = None if key.ttl_seconds is None else now + timedelta(seconds=key.ttl_seconds)
    session.add(
        IdempotencyRecord(
            api_key_id=key.owner,
            key=key.value,
            request_hash=digest,
            story_id=story_id,
            version=version,
            created_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    purge_expired(session)


def once_per_key(action: Callable[..., T]) -> Callable[..., T]:
    """Run a filing action; if a concurrent request with the same Idempotency-Key stored it
    first, roll back and run the action again, which then replays that request's answer or
    refuses with 409."""

    @functools.wraps(action)
    def run(*, session: Session, idempotency_key: Key | None = None, **kwargs: Any) -> T:
        try:
            return action(session=session, idempotency_key=idempotency_key, **kwargs)
        except IntegrityError:
            session.rollback()
            if idempotency_key is None:
                raise
            return action(session=session, idempotency_key=idempotency_key, **kwargs)

    return run
