"""API keys: random tokens shown once, stored as SHA-256 hashes, one role each."""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import Session, select

from shared.models import ApiKey, Role

KEY_PREFIX = "nw_"


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(*, session: Session, name: str, role: Role | str) -> tuple[ApiKey, str]:
    role = Role(role)  # ValueError for an unknown role
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, role=role.value, key_hash=hash_key(key), prefix=key[:8])
    session.add(row)
    session.flush()
    return row, key


def find_key(*, session: Session, key: str) -> ApiKey | None:
    row = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()
    if row is None or row.revoked_at is not None:
        return None
    return row
