"""Leases: a role one process at a time may hold (the scheduler), kept in the database so that
it holds across hosts and containers. A holder renews its lease; a lease that ran out (its
holder died) may be taken by another."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from shared.db import session_scope
from shared.models import Lease
from shared.timeutil import utcnow


def holder_name() -> str:
    """Who this process is, for the operator reading the lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def take(name: str, holder: str, ttl: timedelta) -> bool:
    """Take or renew ``name`` for ``holder`` until now + ``ttl``. False while someone else holds it."""
    now = utcnow()
    try:
        with session_scope() as session:
            renewed = session.exec(
                update(Lease)
                .where(Lease.name == name, (Lease.holder == holder) | (Lease.expires_at < now))
                .values(holder=holder, expires_at=now + ttl)
            )
            if renewed.rowcount == 1:
                return True
            if session.exec(select(Lease.name).where(Lease.name == name)).first() is not None:
                return False
            session.add(Lease(name=name, holder=holder, expires_at=now + ttl))
        return True
    except IntegrityError:  # another process inserted it first
        return False


def held_by(name: str) -> Lease | None:
    with session_scope() as session:
        lease = session.get(Lease, name)
        if lease is not None:
            session.expunge(lease)
        return lease


def release(name: str, holder: str) -> None:
    with session_scope() as session:
        session.exec(delete(Lease).where(Lease.name == name, Lease.holder == holder))
