"""Liveness and readiness."""

from __future__ import annotations

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from shared import db
from shared.config import get_settings

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    status: str = Field(description="ok, degraded (the broker does not answer: stories are still accepted) or unready")
    checks: dict[str, str]


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


def _check(probe) -> str:
    try:
        probe()
        return "ok"
    except Exception as exc:  # report, don't crash
        return f"error: {exc.__class__.__name__}"


def _redis_ping() -> None:
    settings = get_settings()
    client = redis.Redis.from_url(
        settings.broker_url,
        socket_timeout=settings.redis_socket_timeout_seconds,
        socket_connect_timeout=settings.redis_connect_timeout_seconds,
    )
    try:
        client.ping()
    finally:
        client.close()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz() -> JSONResponse:
    """Ready when the database answers (503 otherwise). A broker that does not answer makes the
    API *degraded*, not unready: stories are still stored with their outbox events, and the
    scheduler sends them when the broker is back."""
    checks = {"database": _check(db.ping), "redis": _check(_redis_ping)}
    ready = checks["database"] == "ok"
    status = "unready" if not ready else "ok" if checks["redis"] == "ok" else "degraded"
    return JSONResponse(status_code=200 if ready else 503, content={"ready": ready, "status": status, "checks": checks})
