"""Where a story's time goes on its way through the pipeline, stage by stage, from the times the
pipeline itself writes on each version (filed, tagged, published) and the receiver's arrival clock:

* due → filed: from when the client was due to POST to the filing transaction (the client's wait
  for a connection, the API's handling, the filing transaction);
* filed → tagged: the relay to the enrichment queue, the hop, taking the version up, tagging,
  storing the tags;
* tagged → published: the relay to the publish queue, the hop, counting the try, rendering,
  publishing and creating the deliveries;
* published → arrival: queueing the deliveries, the hop, the delivery engine's claim, signing, the
  POST and the receiver's verification.

Times written by the workers are wall-clock; the bench's are ``time.perf_counter``: both are read
on this machine, so one offset taken at the start maps one onto the other."""

from __future__ import annotations

import time
from datetime import datetime
from itertools import pairwise

from sqlalchemy import create_engine, select

from shared.config import Settings
from shared.models import StoryVersion
from shared.timeutil import as_utc

STAGES = ("due → filed", "filed → tagged", "tagged → published", "published → arrival")


def wall_offset() -> float:
    """What to add to a ``time.perf_counter`` reading to get seconds since the epoch."""
    return time.time() - time.perf_counter()


def stage_times(
    database_url: str, posted: list[tuple[float, str]], arrivals: dict[str, float]
) -> dict[str, list[float]]:
    """Seconds each story's first version spent in each stage; ``posted``: (when the POST was due,
    story id), on the ``perf_counter`` clock like ``arrivals``."""
    offset = wall_offset()
    due = {story_id: moment + offset for moment, story_id in posted}
    times = {stage: [] for stage in STAGES}
    versions = _version_times(database_url, list(due))
    missing = due.keys() - {story_id for story_id, *_ in versions}
    if missing:
        raise LookupError(f"{len(missing)} stories not in the database, e.g. {sorted(missing)[0]}")
    for story_id, filed, tagged, published in versions:
        marks = (due[story_id], _epoch(filed), _epoch(tagged), _epoch(published), arrivals[story_id] + offset)
        for stage, (start, end) in zip(STAGES, pairwise(marks), strict=True):
            times[stage].append(end - start)
    return times


def _version_times(database_url: str, story_ids: list[str]) -> list[tuple[str, datetime, datetime, datetime]]:
    engine = create_engine(Settings(database_url=database_url).sqlalchemy_url)
    query = select(StoryVersion.story_id, StoryVersion.stored_at, StoryVersion.enriched_at, StoryVersion.published_at)
    try:
        with engine.connect() as connection:
            rows = connection.execute(query.where(StoryVersion.story_id.in_(story_ids), StoryVersion.version == 1))
            return [tuple(row) for row in rows]
    finally:
        engine.dispose()


def _epoch(moment: datetime) -> float:
    return as_utc(moment).timestamp()
