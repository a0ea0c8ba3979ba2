"""``bench.stages``: a story's stage times, read from the times the pipeline wrote on its version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, SQLModel, create_engine

from bench.stages import STAGES, stage_times, wall_offset
from shared.models import Story, StoryVersion


def _story(session: Session, story_id: str, filed: datetime, *, version: int = 1, step: float = 0.010) -> None:
    """A version filed at ``filed``, tagged ``step`` s later and published ``2 * step`` after that."""
    if version == 1:
        session.add(Story(id=story_id))
    session.add(
        StoryVersion(
            story_id=story_id,
            version=version,
            headline="h",
            received_at=filed,
            stored_at=filed,
            enriched_at=filed + timedelta(seconds=step),
            published_at=filed + timedelta(seconds=3 * step),
        )
    )


def test_each_stage_runs_from_one_mark_to_the_next(tmp_path):
    url = f"sqlite:///{tmp_path / 'stages.db'}"
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine)
    offset = wall_offset()
    filed = datetime.now(UTC)
    due = filed.timestamp() - offset - 0.005  # on the perf_counter clock, 5 ms before filing
    with Session(engine) as session:
        _story(session, "a", filed)
        _story(session, "a", filed + timedelta(seconds=1), version=2, step=1.0)  # a later version: not read
        _story(session, "b", filed, step=0.020)
        session.commit()
    arrivals = {"a": due + 0.005 + 0.030 + 0.007, "b": due + 0.005 + 0.060 + 0.004}

    times = stage_times(url, [(due, "a"), (due, "b")], arrivals)

    assert list(times) == list(STAGES)
    expected = {"due → filed": [5, 5], "filed → tagged": [10, 20], "tagged → published": [20, 40]}
    expected["published → arrival"] = [7, 4]
    for stage, milliseconds in expected.items():
        assert sorted(round(s * 1000) for s in times[stage]) == sorted(milliseconds), stage


def test_a_story_missing_from_the_database_is_an_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'stages.db'}"
    SQLModel.metadata.create_all(create_engine(url))
    with pytest.raises(LookupError, match="nobody"):
        stage_times(url, [(0.0, "nobody")], {"nobody": 1.0})
