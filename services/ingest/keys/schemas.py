"""API models for keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.ingest.common import Input
from shared.models import Role


class KeyCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    role: Literal[Role.editor, Role.admin] = Field(description="subscriber keys: POST /v1/subscribers/{id}/keys")


class SubscriberKeyCreate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class KeyPublic(BaseModel):
    id: str
    name: str
    role: Role
    prefix: str = Field(description="the key's first characters, to recognise it")
    subscriber_id: str | None = Field(default=None, description="for a subscriber key: whose feed it reads")
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute")
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="The API key; shown once, stored only as a hash")
