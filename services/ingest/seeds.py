"""Load ``seeds/`` idempotently: subscribers by name, stories by a stable Idempotency-Key."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import select

from services.ingest.exceptions import Conflict
from services.ingest.stories import idempotency, schemas
from services.ingest.stories import service as stories
from services.ingest.subscribers import service as subscribers
from shared import events
from shared.config import Settings
from shared.db import session_scope
from shared.models import Subscriber

DEFAULT_SEEDS_DIR = Path(__file__).resolve().parents[2] / "seeds"
#: The seed loader's own name for its Idempotency-Keys (no API key has it): they never expire, so
#: loading the seeds again files nothing.
SEEDS_KEY = "seeds"


@dataclass
class SeedReport:
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    stories: dict[str, str] = field(default_factory=dict)  # file name -> story id
    created: list[str] = field(default_factory=list)


def load_subscribers(settings: Settings, seeds_dir: Path, report: SeedReport) -> None:
    path = seeds_dir / "subscribers.json"
    if not path.exists():
        return
    for spec in json.loads(path.read_text()):
        url = spec["url"].format(receiver_port=settings.receiver_port)
        with session_scope() as session:
            existing = session.exec(select(Subscriber).where(Subscriber.name == spec["name"])).first()
            if existing is None:
                existing = subscribers.create_subscriber(session=session, settings=settings, name=spec["name"], url=url)
                report.created.append(f"subscriber {spec['name']}")
            report.subscribers[spec["name"]] = existing


def load_stories(seeds_dir: Path, report: SeedReport) -> None:
    for path in sorted((seeds_dir / "stories").glob("*.json")):
        payload = schemas.StoryCreate.model_validate_json(path.read_text())
        try:
            with session_scope() as session:
                filed = stories.create_story(
                    session=session,
                    payload=payload,
                    filed_by=SEEDS_KEY,
                    idempotency_key=idempotency.Key(f"seed:{path.name}", owner=SEEDS_KEY, ttl_seconds=None),
                )
        except Conflict:
            report.created.append(f"story {path.name} changed since it was loaded; the stored one stands")
            continue
        events.relay(filed.event_ids)
        report.stories[path.name] = filed.story.id
        if filed.created:
            report.created.append(f"story {path.name}")


def load_seeds(settings: Settings, seeds_dir: Path = DEFAULT_SEEDS_DIR) -> SeedReport:
    report = SeedReport()
    load_subscribers(settings, seeds_dir, report)
    load_stories(seeds_dir, report)
    return report
