"""Liveness and readiness."""

from __future__ import annotations

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shared import db
from shared.config import get_settings

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
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


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz() -> JSONResponse:
    """The database and Redis answer (503 and which one failed, otherwise)."""
    checks = {
        "database": _check(db.ping),
        "redis": _check(lambda: redis.Redis.from_url(get_settings().broker_url, socket_timeout=2).ping()),
    }
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(status_code=200 if ready else 503, content={"ready": ready, "checks": checks})
