"""How long Idempotency-Keys are remembered: each ``idempotency_record`` has an ``expires_at``
(``NEWSWIRE_IDEMPOTENCY_TTL_SECONDS`` after it was stored; none for the seed loader's keys).
The API deletes expired records as it files keyed requests; ``sweep`` does the same on its own,
for a periodic job (the scheduler)."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session, select

from shared import db
from shared.models import IdempotencyRecord
from shared.timeutil import utcnow


def purge_expired(session: Session) -> int:
    """Delete every record whose key has expired, in the caller's transaction; how many there
    were. Cheap to call often: the expiry is indexed."""
    done = session.exec(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow()))
    return done.rowcount


def sweep() -> int:
    """``purge_expired`` in a transaction of its own, if a read finds anything expired (an idle
    sweep takes no write lock)."""
    if not db.finds_any(select(IdempotencyRecord.expires_at).where(IdempotencyRecord.expires_at <= utcnow())):
        return 0
    with db.session_scope() as session:
        return purge_expired(session)
