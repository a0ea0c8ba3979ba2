"""What building a SQLAlchemy statement costs next to running it.

    python -m bench.statements [--runs 3000]

The hot paths run the same few statements for every story. Built at each call, a statement is
constructed and its cache key computed again before SQLAlchemy finds its compiled form; built once
(module level, values bound at run time with ``bindparam``), only the run is left. Both are run
here against the same SQLite database (in memory, the project's tables, a few rows), alternating,
and the time per execution is printed with the ratio.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from sqlalchemy import bindparam, create_engine, select, update
from sqlmodel import Session, SQLModel

from bench.machine import describe
from shared.lifecycle import READY_STATES, waiting_on_earlier
from shared.models import Story, StoryVersion

VERSIONS = StoryVersion.__table__


def ready_version_built(session: Session, version_id: int) -> object:
    return session.exec(
        select(StoryVersion).where(
            StoryVersion.id == version_id, StoryVersion.state.in_(list(READY_STATES)), ~waiting_on_earlier()
        )
    ).first()


READY_VERSION = select(StoryVersion).where(
    StoryVersion.id == bindparam("version_id"), StoryVersion.state.in_(list(READY_STATES)), ~waiting_on_earlier()
)


def ready_version_prebuilt(session: Session, version_id: int) -> object:
    return session.exec(READY_VERSION, params={"version_id": version_id}).first()


def count_try_built(session: Session, version_id: int) -> object:
    statement = (
        update(VERSIONS)
        .where(VERSIONS.c.id == version_id, VERSIONS.c.state == "enriched")
        .values(tries=VERSIONS.c.tries + 1)
        .returning(VERSIONS.c.tries, VERSIONS.c.error)
    )
    return session.execute(statement).first()


COUNT_TRY = (
    update(VERSIONS)
    .where(VERSIONS.c.id == bindparam("version_id"), VERSIONS.c.state == bindparam("current_state"))
    .values(tries=VERSIONS.c.tries + 1)
    .returning(VERSIONS.c.tries, VERSIONS.c.error)
)


def count_try_prebuilt(session: Session, version_id: int) -> object:
    return session.execute(COUNT_TRY, {"version_id": version_id, "current_state": "enriched"}).first()


CASES: dict[str, tuple[Callable, Callable]] = {
    "ready version (select, correlated EXISTS)": (ready_version_built, ready_version_prebuilt),
    "count a try (update … returning)": (count_try_built, count_try_prebuilt),
}


def seeded_session() -> Session:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    session = Session(engine)
    for number in range(1, 21):
        story = Story(seq=number)
        session.add(story)
        session.flush()
        session.add(
            StoryVersion(
                story_id=story.id,
                version=1,
                headline=f"Story {number}",
                body_text="Text.",
                state="enriched",
                received_at=story.created_at,
                stored_at=story.created_at,
            )
        )
    session.commit()
    return session


def per_run_us(session: Session, run: Callable, runs: int) -> float:
    started = time.perf_counter()
    for i in range(runs):
        run(session, 1 + i % 20)
    return (time.perf_counter() - started) / runs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3000)
    args = parser.parse_args()
    session = seeded_session()
    print(describe(), "\n")
    print("| statement | built at each run, µs | built once, µs | ratio |\n|---|---|---|---|")
    for name, (built, prebuilt) in CASES.items():
        for run in (built, prebuilt):  # warm both up: compiled forms cached
            per_run_us(session, run, 200)
        slow, fast = per_run_us(session, built, args.runs), per_run_us(session, prebuilt, args.runs)
        print(f"| {name} | {slow:.0f} | {fast:.0f} | ×{slow / fast:.1f} |")


if __name__ == "__main__":
    main()
