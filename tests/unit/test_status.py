"""The story list's status filter (SQL) says exactly what ``status_of`` (Python) says."""

from itertools import product

import pytest
from sqlalchemy import create_engine, insert, select
from sqlmodel import SQLModel

from services.ingest.stories.status import status_condition, status_of
from shared.models import PubStatus, StoryVersion, VersionState
from shared.timeutil import utcnow

STATUSES = ["received", "enriched", "embargoed", "publishing", "published", "failed", "killed"]


@pytest.fixture(scope="module")
def rows():
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine, tables=[StoryVersion.__table__])
    now = utcnow()
    with engine.begin() as conn:
        for n, (state, pubstatus) in enumerate(product(VersionState, PubStatus)):
            conn.execute(
                insert(StoryVersion.__table__).values(
                    story_id=f"s{n}",
                    version=1,
                    headline="h",
                    urgency=5,
                    kind="original",
                    tries=0,
                    state=state.value,
                    pubstatus=pubstatus.value,
                    received_at=now,
                    stored_at=now,
                )
            )
    return engine


@pytest.mark.parametrize("status", STATUSES)
def test_sql_condition_matches_python_rule(rows, status):
    with rows.connect() as conn:
        found = conn.execute(select(StoryVersion.state, StoryVersion.pubstatus).where(status_condition(status))).all()
    expected = [(s.value, p.value) for s, p in product(VersionState, PubStatus) if status_of(s, p) == status]
    assert sorted(found) == sorted(expected)
    assert found, f"no state ever has status {status}"


def test_status_words():
    assert status_of("published", "canceled") == "killed"
    assert status_of("enriched", "withheld") == "embargoed"
    assert status_of("stored", "usable") == "received"
    assert status_of("failed", "usable") == "failed"
