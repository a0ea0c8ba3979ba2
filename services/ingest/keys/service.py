"""API keys: random tokens shown once, stored as SHA-256 hashes, one role each; listed with
when they were last used, and revoked at once."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from datetime import timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, select

from services.ingest.exceptions import Conflict, NotFound
from shared import db
from shared.models import ApiKey, Role
from shared.timeutil import utcnow

log = logging.getLogger(__name__)

KEY_PREFIX = "nw_"
#: ``last_used_at`` is written at most this often per key (one write a minute, not one per request).
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    *, session: Session, name: str, role: Role | str, subscriber_id: str | None = None
) -> tuple[ApiKey, str]:
    """A new key (returned once, stored as a hash). A subscriber key reads that subscriber's feed."""
    role = Role(role)  # ValueError for an unknown role
    if (role == Role.subscriber) != (subscriber_id is not None):
        raise ValueError("a subscriber key, and only one, belongs to a subscriber")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, role=role.value, key_hash=hash_key(key), prefix=key[:8], subscriber_id=subscriber_id)
    session.add(row)
    session.flush()
    return row, key


#: How long an API process trusts a key it looked up before reading it again. A key revoked
#: through this process's API is forgotten at once (``forget_keys``); one revoked by the CLI or by
#: another API process is refused within this time.
KEY_TRUST_SECONDS = 2.0


class _TrustedKeys:
    """Keys this process looked up lately, by hash. A lookup that started before ``forget`` is
    not kept (the generation moved on), so a revocation is never undone by a request in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.keys: dict[str, tuple[float, ApiKey]] = {}
        self.generation = 0

    def get(self, digest: str) -> tuple[ApiKey | None, int]:
        with self.lock:
            seen = self.keys.get(digest)
            fresh = seen is not None and time.monotonic() - seen[0] < KEY_TRUST_SECONDS
            return (seen[1] if fresh else None), self.generation

    def keep(self, digest: str, key: ApiKey | None, generation: int) -> None:
        with self.lock:
            if generation != self.generation:
                return
            if key is None:
                self.keys.pop(digest, None)
                return
            if len(self.keys) >= 10_000:
                self.keys.clear()
            self.keys[digest] = (time.monotonic(), key)

    def forget(self) -> None:
        with self.lock:
            self.keys.clear()
            self.generation += 1


_trusted = _TrustedKeys()


def trusted_key(key: str) -> ApiKey | None:
    """The active key with this token if this process read it within ``KEY_TRUST_SECONDS``
    (no database read: the event loop may call this); None: ask ``authenticate``."""
    return _trusted.get(hash_key(key))[0]


def authenticate(key: str) -> ApiKey | None:
    """The active key with this token (None: unknown or revoked), read at most every
    ``KEY_TRUST_SECONDS`` per process: a request costs no database read for its key."""
    digest = hash_key(key)
    known, generation = _trusted.get(digest)
    if known is not None:
        return known
    with db.read_scope() as session:
        row = session.exec(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    active = row if row is not None and row.revoked_at is None else None
    _trusted.keep(digest, active, generation)
    return active


def forget_keys() -> None:
    """After a revocation commits: every key is read again on its next request."""
    _trusted.forget()


def find_key(*, session: Session, key: str) -> ApiKey | None:
    row = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
    if row is None or row.revoked_at is not None:
        return None
    return row


def use_noted_lately(key: ApiKey) -> bool:
    """Whether the key's last use was recorded within the last minute (``note_use`` would do nothing)."""
    return key.last_used_at is not None and utcnow() - key.last_used_at < LAST_USED_RESOLUTION


def note_use(key: ApiKey) -> None:
    """Record that the key was used now, unless that was recorded within the last minute."""
    if use_noted_lately(key):
        return
    now = utcnow()
    with db.session_scope() as session:
        session.exec(
            update(ApiKey)
            .where(ApiKey.id == key.id)
            .where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
            .values(last_used_at=now)
        )
    key.last_used_at = now  # the copy this process trusts knows it too


def list_keys(*, session: Session) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all())


def revoke_key(*, session: Session, key_id: str) -> ApiKey:
    """Revoke a key: it is refused from its next request on. Revoking twice is harmless; the
    last active admin key is kept, or nobody could manage keys over the API any more."""
    key = session.get(ApiKey, key_id, with_for_update=True)
    if key is None:
        raise NotFound(f"API key {key_id}")
    if key.revoked_at is not None:
        return key
    if key.role == Role.admin and _active_admins(session) <= 1:
        raise Conflict("last_admin_key", "this is the last active admin key; create another admin key first")
    key.revoked_at = utcnow()
    session.add(key)
    session.flush()
    return key


def _active_admins(session: Session) -> int:
    """Active admin keys, locked (PostgreSQL) so that two revocations at once cannot both see
    another admin left."""
    rows = session.exec(
        select(ApiKey.id).where(ApiKey.role == Role.admin, ApiKey.revoked_at.is_(None)).with_for_update()
    ).all()
    return len(rows)
