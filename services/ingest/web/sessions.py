"""Browser sessions: a random token in an HttpOnly, SameSite=Strict cookie, its SHA-256 in the
``web_session`` row with the key it was opened with and a CSRF token. A session is good while it
has not expired, has not been ended and its key is not revoked; the key is read with the session
on every request, so revoking a key ends its sessions at once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import Session, select

from shared.models import ApiKey, WebSession
from shared.timeutil import utcnow

COOKIE = "newswire_session"


@dataclass(frozen=True)
class SignedIn:
    """Who is behind a browser: the key it signed in with and the session's CSRF token."""

    key: ApiKey
    csrf_token: str
    token_hash: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(*, session: Session, key: ApiKey, lifetime: timedelta) -> str:
    """A new session for ``key``; answers the cookie's token (kept nowhere but in the cookie)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            token_hash=_digest(token),
            api_key_id=key.id,
            csrf_token=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    # Expired sessions go when anyone signs in: the table holds live sessions and a few stale ones.
    session.exec(delete(WebSession).where(WebSession.expires_at <= now))
    return token


def signed_in(*, session: Session, token: str | None) -> SignedIn | None:
    """The live session with this cookie token, or None (unknown, expired, ended, key revoked)."""
    if not token or len(token) > 100:
        return None
    found = session.exec(
        select(WebSession, ApiKey)
        .join(ApiKey, ApiKey.id == WebSession.api_key_id)
        .where(WebSession.token_hash == _digest(token), WebSession.expires_at > utcnow(), ApiKey.revoked_at.is_(None))
    ).first()
    if found is None:
        return None
    web, key = found
    session.expunge(key)
    return SignedIn(key=key, csrf_token=web.csrf_token, token_hash=web.token_hash)


def end_session(*, session: Session, token: str | None) -> None:
    if token:
        session.exec(delete(WebSession).where(WebSession.token_hash == _digest(token)))


def same_token(expected: str, sent: str | None) -> bool:
    """Constant-time comparison of a token with what a request sent (any text, never an error)."""
    return bool(sent) and secrets.compare_digest(expected.encode(), sent.encode())


def csrf_matches(signed: SignedIn, sent: str | None) -> bool:
    return same_token(signed.csrf_token, sent)
