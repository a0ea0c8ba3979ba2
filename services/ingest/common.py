"""Pieces every resource's API models share."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, field_validator


class Input(BaseModel):
    """Base of every request body: unknown fields refused, text trimmed, no NUL characters
    (PostgreSQL cannot store them)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        return value


class Links(BaseModel):
    self: str


#: RFC 3339 date-time (what OpenAPI's ``date-time`` means): a date, a time and an offset.
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})")


def _date_time_text(value: object) -> object:
    """A timestamp is sent as text with its offset. A number (which would be read as Unix
    time), a date alone or a time without an offset is refused."""
    if isinstance(value, int | float) or (isinstance(value, str) and not _DATE_TIME.fullmatch(value.strip())):
        raise ValueError("give a date and time with an offset, e.g. 2026-11-28T09:30:00Z")
    return value


#: A timestamp in a request (query or body), as its schema documents it.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_date_time_text)]
