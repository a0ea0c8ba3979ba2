"""``newswire status``: what an operator on call looks at first, read from the database and the
broker in a few hundred milliseconds, each part on its own (a broker that does not answer
shows as unknown; the rest still shows)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from shared import db, events, lag, queue
from shared.config import Settings
from shared.models import FINISHED_STATES, Lease, StoryVersion, Subscriber
from shared.timeutil import utcnow

log = logging.getLogger(__name__)


def _age(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else round((now - moment).total_seconds(), 1)


def queues() -> dict[str, int] | None:
    try:
        return queue.backlog(set(queue.QUEUES))
    except Exception:
        log.debug("queue depths unknown", exc_info=True)
        return None


def workers(timeout: float = 1.0) -> dict[str, int] | None:
    """Workers answering a ping, per queue (a worker's name starts with its queue)."""
    try:
        replies = queue.get_celery().control.ping(timeout=timeout)
    except Exception:
        log.debug("workers unknown", exc_info=True)
        return None
    alive = dict.fromkeys(queue.QUEUES, 0)
    for reply in replies:
        for hostname in reply:
            name = hostname.split("-", 1)[0]
            if name in alive:
                alive[name] += 1
    return alive


def oldest_unfinished(session: Session, now: datetime) -> dict[str, Any] | None:
    """The oldest version still on its way (embargoed ones wait by design and are left out)."""
    version = session.exec(
        select(StoryVersion)
        .where(StoryVersion.state.not_in([*FINISHED_STATES, "embargoed"]))
        .order_by(StoryVersion.received_at)
        .limit(1)
    ).first()
    if version is None:
        return None
    return {
        "story_id": version.story_id,
        "version": version.version,
        "state": version.state,
        "age_seconds": _age(version.received_at, now),
    }


def unfinished(session: Session) -> dict[str, int]:
    """Versions on their way, by the state they wait in."""
    rows = session.exec(
        select(StoryVersion.state, func.count())
        .where(StoryVersion.state.not_in(list(FINISHED_STATES)))
        .group_by(StoryVersion.state)
    ).all()
    return {str(state): count for state, count in rows}


def outbox(session: Session, now: datetime) -> dict[str, Any]:
    unsent, oldest = lag.unsent_events(session)
    return {"unsent": unsent, "oldest_unsent_seconds": _age(oldest, now)}


def deliveries(session: Session, now: datetime) -> dict[str, Any]:
    pending, oldest = lag.pending_deliveries(session)
    return {"pending": pending, "oldest_pending_seconds": _age(oldest, now)}


def subscribers(session: Session, now: datetime) -> dict[str, list[dict[str, Any]]]:
    live = session.exec(select(Subscriber).where(Subscriber.deleted_at.is_(None))).all()
    return {
        "failing": [
            {"id": s.id, "name": s.name, "failing_for_seconds": _age(s.failing_since, now)}
            for s in live
            if s.active and s.failing_since is not None
        ],
        "disabled": [{"id": s.id, "name": s.name, "reason": s.disabled_reason} for s in live if not s.active],
    }


def scheduler(session: Session, now: datetime, settings: Settings) -> dict[str, Any] | None:
    """Who holds the scheduler's lease and when it last renewed it (it renews every sweep)."""
    from services.scheduler.loop import LEASE

    lease = session.get(Lease, LEASE)
    if lease is None:
        return None
    renewed = lease.expires_at - timedelta(seconds=settings.scheduler_lease_seconds)
    return {"holder": lease.holder, "last_beat_seconds_ago": _age(renewed, now), "expired": lease.expires_at < now}


def collect(*, settings: Settings) -> dict[str, Any]:
    now = utcnow()
    with db.read_scope() as session:
        found = {
            "oldest_unfinished": oldest_unfinished(session, now),
            "unfinished": unfinished(session),
            "outbox": outbox(session, now),
            "deliveries": deliveries(session, now),
            "subscribers": subscribers(session, now),
            "scheduler": scheduler(session, now, settings),
        }
    return {"queues": queues(), "workers": workers(), **found, "stages": dict(events.QUEUE_FOR_STATE)}


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} s"


def render(status: dict[str, Any]) -> None:
    """One screen: a table per concern."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    stages = Table("queue", "waiting", "workers alive", title="Stages")
    depth, alive = status["queues"] or {}, status["workers"] or {}
    for name in queue.QUEUES:
        stages.add_row(name, str(depth.get(name, "unknown")), str(alive.get(name, "unknown")))
    console.print(stages)
    flow = Table("what", "now", title="Flow")
    oldest = status["oldest_unfinished"]
    flow.add_row(
        "oldest unfinished version",
        "none"
        if oldest is None
        else f"{oldest['story_id']} v{oldest['version']} {oldest['state']}, {_seconds(oldest['age_seconds'])} old",
    )
    waiting = ", ".join(f"{n} {state}" for state, n in sorted(status["unfinished"].items())) or "none"
    flow.add_row("versions on their way", waiting)
    flow.add_row(
        "outbox unsent", f"{status['outbox']['unsent']} (oldest {_seconds(status['outbox']['oldest_unsent_seconds'])})"
    )
    flow.add_row(
        "deliveries pending",
        f"{status['deliveries']['pending']} (oldest {_seconds(status['deliveries']['oldest_pending_seconds'])})",
    )
    beat = status["scheduler"]
    flow.add_row(
        "scheduler",
        "no scheduler has run"
        if beat is None
        else f"{beat['holder']}, last beat {_seconds(beat['last_beat_seconds_ago'])} ago"
        + (" (lease expired)" if beat["expired"] else ""),
    )
    console.print(flow)
    _render_subscribers(console, status["subscribers"])


def _render_subscribers(console, found: dict[str, list[dict[str, Any]]]) -> None:
    from rich.table import Table

    table = Table("subscriber", "id", "state", title="Subscribers needing attention")
    for s in found["failing"]:
        table.add_row(s["name"], s["id"], f"failing for {_seconds(s['failing_for_seconds'])}")
    for s in found["disabled"]:
        table.add_row(s["name"], s["id"], f"disabled: {s['reason'] or 'no reason given'}")
    console.print(table if table.row_count else "Subscribers: none failing or disabled.")
