"""What the portal's pages show, read with the API's service functions: subscribers with how
their deliveries stand, and one subscriber's deliveries (failed first) with every attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func
from sqlmodel import Session, select

from services.ingest.deliveries import schemas as delivery_schemas
from services.ingest.deliveries import service as deliveries
from services.ingest.subscribers import service as subscribers
from services.ingest.subscribers.router import public
from services.ingest.subscribers.schemas import SubscriberPublic
from services.ingest.web import forms
from shared.models import Delivery, DeliveryState

PAGE = 50


class DeliveryListFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")
    _drop_empty = model_validator(mode="before")(forms.without_empty)

    state: DeliveryState | None = None
    story_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]*$")
    #: An older page of the list (the failed ones come first on the newest page only).
    cursor: str | None = Field(default=None, max_length=500)


@dataclass(frozen=True)
class SubscriberRow:
    subscriber: SubscriberPublic
    counts: dict[str, int]


@dataclass(frozen=True)
class SubscriberPage:
    subscriber: SubscriberPublic
    failed: list[delivery_schemas.DeliveryPublic]
    others: list[delivery_schemas.DeliveryPublic]
    filters: DeliveryListFilters
    older_url: str | None
    feed_url: str
    atom_url: str


def subscriber_rows(*, session: Session) -> list[SubscriberRow]:
    counts: dict[str, dict[str, int]] = {}
    for subscriber_id, state, count in session.exec(
        select(Delivery.subscriber_id, Delivery.state, func.count()).group_by(Delivery.subscriber_id, Delivery.state)
    ):
        counts.setdefault(subscriber_id, {})[state] = count
    return [SubscriberRow(public(s), counts.get(s.id, {})) for s in subscribers.list_subscribers(session=session)]


def _listed(session: Session, subscriber_id: str, state: str | None, filters: DeliveryListFilters, cursor=None):
    chosen = deliveries.DeliveryFilters(subscriber_id, state, filters.story_id or None)
    rows, older = deliveries.list_deliveries(session=session, filters=chosen, limit=PAGE, cursor=cursor)
    return [delivery_schemas.DeliveryPublic.of(d, attempts) for d, attempts in rows], older


def build(*, session: Session, subscriber_id: str, filters: DeliveryListFilters, request: Request) -> SubscriberPage:
    """The subscriber's page: on the newest page its failed deliveries first (unless a state is
    asked for), then the others newest first, each with every attempt, a page at a time."""
    subscriber = public(subscribers.get_subscriber(session=session, subscriber_id=subscriber_id))
    failed_first = filters.state is None and filters.cursor is None
    failed = _listed(session, subscriber_id, DeliveryState.failed, filters)[0] if failed_first else []
    others, older = _listed(session, subscriber_id, filters.state, filters, filters.cursor)
    if filters.state is None:  # the failed ones are listed above (and under state=failed)
        others = [d for d in others if d.state != DeliveryState.failed]
    base = str(request.base_url).rstrip("/")
    query = {"state": filters.state, "story_id": filters.story_id, "cursor": older}
    return SubscriberPage(
        subscriber=subscriber,
        failed=failed,
        others=others,
        filters=filters,
        older_url=f"?{urlencode({k: v for k, v in query.items() if v})}" if older else None,
        feed_url=f"{base}/v1/feed",
        atom_url=f"{base}/v1/feed.atom",
    )


def replay_body(values: dict[str, str]) -> dict[str, Any]:
    """The ``ReplayRequest`` the replay form stands for (times in UTC, as the form says)."""
    body: dict[str, Any] = {name: forms.utc_time(values.get(name)) for name in ("since", "until") if values.get(name)}
    if values.get("story_id"):
        body["story_id"] = values["story_id"]
    return body
