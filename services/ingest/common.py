"""Pieces every resource's API models share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator


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
