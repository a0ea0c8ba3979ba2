"""API models for keys."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from services.ingest.common import Input
from shared.models import Role


class KeyCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    role: Role


class KeyPublic(BaseModel):
    id: str
    name: str
    role: Role
    prefix: str = Field(description="the key's first characters, to recognise it")
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute")
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The API key; shown once, stored only as a hash")
