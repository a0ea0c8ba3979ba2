"""The least a story-filing endpoint needs: an ``async def`` FastAPI handler that validates the
body with a pydantic model and inserts one row, on the libraries the project pins, served by
uvicorn as ``newswire api`` serves the API (one process, uvicorn's automatic loop and HTTP
implementation, log level info, no access log).

    python -m bench.bare.ingest_app --port P --database sqlite:///PATH | postgresql+psycopg://...

No authentication, no rate limit, no idempotency, no outbox, no logging per request: the floor
``python -m bench.ingest`` compares ``POST /v1/stories`` with. On SQLite the file is in WAL mode
with ``synchronous=NORMAL``, as the project's. The insert runs on the event loop (the pinned
libraries have no asynchronous SQLite or PostgreSQL driver for SQLAlchemy).
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import DateTime, event
from sqlalchemy.engine import Engine
from sqlmodel import Field as Column
from sqlmodel import Session, SQLModel, create_engine

from shared.gc_freeze import freeze_startup_objects


class StoryIn(BaseModel):
    """The filed story, with the project's limits for these fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    headline: str = Field(min_length=1, max_length=500)
    body_text: str = Field(min_length=1, max_length=500_000)
    urgency: StrictInt = Field(default=5, ge=1, le=9)


class Story(SQLModel, table=True):
    __tablename__ = "story"

    id: str = Column(primary_key=True, max_length=32)
    headline: str
    body_text: str
    urgency: int
    received_at: datetime = Column(sa_type=DateTime(timezone=True))


def make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_size=5, max_overflow=10)
    engine = create_engine(url, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _wal(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def create_app(database_url: str) -> FastAPI:
    engine = make_engine(database_url)
    SQLModel.metadata.create_all(engine)
    app = FastAPI()

    @app.post("/v1/stories", status_code=202)
    async def create_story(story: StoryIn) -> dict:
        story_id = uuid.uuid4().hex
        with Session(engine) as session:
            session.add(Story(id=story_id, **story.model_dump(), received_at=datetime.now(UTC)))
            session.commit()
        return {"id": story_id}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True, help="SQLAlchemy URL of the database")
    args = parser.parse_args()
    app = create_app(args.database)
    freeze_startup_objects()  # as the project's API does
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="info",
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
