"""Alembic environment: the URL comes from Newswire settings, the metadata from shared.models."""

from alembic import context
from sqlmodel import SQLModel

import shared.models  # noqa: F401  (registers the tables)
from shared.config import get_settings
from shared.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    url = config.attributes.get("sqlalchemy_url") or get_settings().sqlalchemy_url
    engine = make_engine(url, foreign_keys=False)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=url.startswith("sqlite"),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
