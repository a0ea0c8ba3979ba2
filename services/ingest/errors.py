"""API errors: one JSON shape for every refusal, ``{"error": {"code", "message", "details"}}``,
and the same shape documented in the OpenAPI description of every operation."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.ingest.exceptions import Refused

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    code: str = Field(description="stable, machine-readable reason", examples=["not_found"])
    message: str = Field(description="what went wrong, for a person")
    details: list[dict[str, Any]] | None = Field(default=None, description="per-field problems, when known")


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_response(status: int, code: str, message: str, details: list | None = None) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=details))
    return JSONResponse(status_code=status, content=body.model_dump(exclude_none=True))


#: What each error status means here, with an example body, for the OpenAPI description.
ERRORS: dict[int, tuple[str, str, str]] = {
    400: (
        "The body is not valid JSON, or a cursor is not one this API gave out.",
        "malformed_json",
        "the request body is not valid JSON",
    ),
    401: ("No API key, or an unknown or revoked one.", "unauthenticated", "unknown or revoked API key"),
    403: ("The key's role may not do this.", "forbidden", "this needs the admin role"),
    404: ("No such resource.", "not_found", "no story 3f0c2b6e9d0a4c1f8e7b6a5d4c3b2a19"),
    409: (
        "The request conflicts with the resource's state (a killed story, an Idempotency-Key reused "
        "with another body, a duplicate name).",
        "story_killed",
        "story 3f0c… was killed; it takes no new versions",
    ),
    413: (
        "The body is larger than NEWSWIRE_MAX_REQUEST_BYTES.",
        "body_too_large",
        "request body is larger than 1048576 bytes",
    ),
    422: (
        "The request does not match the schema; `details` lists each field.",
        "invalid_request",
        "the request does not match the schema",
    ),
    503: (
        "The database could not be reached or written just now (a restart, a failover, a disk that "
        "refused writes). Send the request again after `Retry-After` seconds, with the same "
        "Idempotency-Key: it is then taken once, whether or not the first try was stored.",
        "storage_unavailable",
        "the database is unavailable for the moment; send the request again with the same Idempotency-Key",
    ),
    500: (
        "Something failed on the server. Nothing was stored unless a 2xx came back: send the request "
        "again, with an Idempotency-Key.",
        "internal_error",
        "something went wrong on our side",
    ),
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given error statuses, each with the real error body."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description, code, message = ERRORS[status]
        documented[status] = {
            "model": ErrorResponse,
            "description": description,
            "content": {"application/json": {"example": {"error": {"code": code, "message": message}}}},
        }
    return documented


def use_error_body_for_validation(spec: dict[str, Any]) -> None:
    """FastAPI documents its own 422 body (``HTTPValidationError``) wherever a route takes
    parameters; this API answers 422 with the one error body, so the schema says that instead."""
    ours = responses(422)[422]
    content = {"schema": {"$ref": "#/components/schemas/ErrorResponse"}, **ours["content"]["application/json"]}
    for path in spec.get("paths", {}).values():
        for operation in path.values():
            answer = operation.get("responses", {}).get("422")
            if answer and "HTTPValidationError" in str(answer):
                answer.update(description=ours["description"], content={"application/json": content})
    for name in ("HTTPValidationError", "ValidationError"):
        spec.get("components", {}).get("schemas", {}).pop(name, None)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or None, "message": e.get("msg")} for e in exc.errors()
    ]


def install(app: FastAPI) -> None:
    """Answer every error, ours or the framework's, in the one JSON shape."""

    @app.exception_handler(Refused)
    async def _refused(_: Request, exc: Refused) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return error_response(400, "malformed_json", "the request body is not valid JSON", details)
        return error_response(422, "invalid_request", "the request does not match the schema", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(OperationalError)
    async def _storage_unavailable(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable: %s", exc.orig)
        answer = error_response(503, "storage_unavailable", ERRORS[503][2])
        answer.headers["Retry-After"] = "1"
        return answer

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(
            500,
            "internal_error",
            "something went wrong on our side; nothing was lost if you got no 2xx, "
            "so the request can be sent again (with an Idempotency-Key)",
        )
