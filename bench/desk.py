"""What an open wire desk costs the API: one tick of the live list (the story query, the
deliveries per newest version, the rows rendered), and one story page, with the list full.

    python -m bench.desk [--stories 100] [--subscribers 5] [--rounds 200]

A throw-away SQLite database is filled through the service functions (``--stories`` stories, each
with a delivered delivery to each of ``--subscribers`` subscribers), then each measure runs
``--rounds`` times in this process; medians and p95 in milliseconds. Every open desk pays one tick
a second (and sends the rows only when they changed), so the tick's cost times the number of open
desks is the API's load from the desk.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable


def _prepare(folder: str, stories: int, subscribers: int) -> str:
    os.environ.update(
        NEWSWIRE_DATA_DIR=folder,
        NEWSWIRE_DATABASE_URL=f"sqlite:///{folder}/newswire.db",
        NEWSWIRE_REDIS_URL="redis://127.0.0.1:9/0",
        NEWSWIRE_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
    )
    from services.ingest.stories import schemas, service
    from services.ingest.subscribers import service as subscriber_service
    from shared import db
    from shared.config import get_settings
    from shared.models import Delivery, DeliveryState, StoryVersion

    db.migrate()
    with db.session_scope() as session:
        sites = [
            subscriber_service.create_subscriber(
                session=session, settings=get_settings(), name=f"site-{n}", url=f"http://127.0.0.1:9/{n}"
            )
            for n in range(subscribers)
        ]
        first = None
        for n in range(stories):
            body = schemas.StoryCreate(
                headline=f"Story {n} <b>", body_text=f"Text of story {n}. " * 20, urgency=n % 9 + 1
            )
            filed = service.create_story(session=session, payload=body, filed_by="bench")
            first = first or filed.story.id
            version: StoryVersion = filed.version
            version.state = "published"
            session.add(version)
            for site in sites:
                session.add(
                    Delivery(
                        subscriber_id=site.id,
                        version_id=version.id,
                        story_id=filed.story.id,
                        version=1,
                        state=DeliveryState.delivered,
                    )
                )
    return first


def _time(action: Callable[[], object], rounds: int) -> tuple[float, float]:
    taken = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        taken.append((time.perf_counter() - started) * 1000)
    taken.sort()
    return statistics.median(taken), taken[int(len(taken) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=100)
    parser.add_argument("--subscribers", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        story_id = _prepare(folder, args.stories, args.subscribers)
        from services.ingest.web import live, pages, storypage
        from shared import db

        filters = live.ListFilters()
        template = pages.templates.get_template("desk/_rows.html")

        def tick() -> str:
            return template.render(rows=live.listing(filters)[0])

        def story_page() -> object:
            with db.read_scope() as session:
                return storypage.build(session=session, story_id=story_id)

        from bench.machine import describe

        print(describe())
        print(f"{args.stories} stories, {args.subscribers} subscribers, {args.rounds} rounds, SQLite")
        for name, action in (("live list tick (query + render)", tick), ("story page data", story_page)):
            median, p95 = _time(action, args.rounds)
            print(f"  {name:34s} median {median:6.2f} ms   p95 {p95:6.2f} ms")


if __name__ == "__main__":
    main()
