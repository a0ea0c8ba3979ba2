"""Ids in request paths (and in query filters), checked before they reach the database.

Ids the API hands out are 32 hex characters (``shared.models.new_id``). A value that could not
be one — longer than 64 characters, or with anything but ASCII letters, digits, ``-`` and ``_``
(a NUL byte, which PostgreSQL cannot even compare with a column) — is refused with 422 on every
database alike, instead of reaching a query.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

#: What an id may look like.
ID_PATTERN = r"^[A-Za-z0-9_-]+$"
ID_MAX_LENGTH = 64
#: The largest version number a database integer holds.
MAX_VERSION = 2**31 - 1


def _id(where: Any, description: str) -> Any:
    return where(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN, description=description)


StoryId = Annotated[str, _id(Path, "the story's id")]
SubscriberId = Annotated[str, _id(Path, "the subscriber's id")]
DeliveryId = Annotated[str, _id(Path, "the delivery's id")]
KeyId = Annotated[str, _id(Path, "the API key's id")]
VersionNumber = Annotated[int, Path(ge=1, le=MAX_VERSION, description="the version number")]
#: Text in a query string: no control characters (a NUL byte fails a PostgreSQL query).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
#: The same ids as query filters.
StoryIdFilter = Annotated[str | None, _id(Query, "only this story's")]
SubscriberIdFilter = Annotated[str | None, _id(Query, "only this subscriber's")]
