"""The ingest HTTP API (FastAPI): ``create_app`` only assembles the parts. One router per
resource (stories, subscribers, deliveries, keys), each with its own service."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from services.ingest import errors, health, metrics, ratelimit, web, webhooks
from services.ingest.deliveries.router import router as deliveries
from services.ingest.feed.router import router as feed
from services.ingest.keys.router import router as keys
from services.ingest.middleware import BodyLimitMiddleware, RequestIdMiddleware
from services.ingest.stories.router import router as stories
from services.ingest.subscribers.router import router as subscribers
from shared.config import get_settings

DESCRIPTION = """Wire editors file, update, correct and kill stories; admins register the
downstream sites that receive them as signed webhooks (see **webhooks** below).

Authenticate with `Authorization: Bearer <key>`. Request bodies are limited to
`NEWSWIRE_MAX_REQUEST_BYTES` (default 1 MiB); larger bodies get **413**.
Requests are limited per key (`NEWSWIRE_RATE_LIMIT_PER_KEY`) and, without a valid key, per client
address (`NEWSWIRE_RATE_LIMIT_PER_IP`); past a limit the answer is **429** with `Retry-After` (seconds).
Errors always come as `{"error": {"code", "message", "details"}}`.
"""


def operation_id(route: APIRoute) -> str:
    """Client generators name methods after operationIds: use the handler's name."""
    return route.name


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(title="Newswire", version="1", description=DESCRIPTION, generate_unique_id_function=operation_id)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    # Before the body is read: a refused request costs no more than its headers.
    app.add_middleware(
        ratelimit.RateLimitMiddleware, per_key=settings.rate_limit_per_key, per_ip=settings.rate_limit_per_ip
    )
    app.add_middleware(RequestIdMiddleware)  # outermost: a refused request is logged with its id too
    errors.install(app)
    for router in (health.router, stories, subscribers, deliveries, feed, keys):
        app.include_router(router)
    web.install(app)  # the desk and the portal: pages on the same service functions
    metrics.install(app)
    webhooks.document(app)
    app.openapi = _openapi(app)
    return app


def _openapi(app: FastAPI):
    """The generated schema, with this API's own error body for 422, the refusals every body and
    every key may meet (400, 413, 429) and the subscribers' answers for webhooks."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = generate()
            errors.use_error_body_for_validation(spec)
            _document_body_refusals(spec)
            ratelimit.document(spec)
            webhooks.acknowledge_responses(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    return openapi


#: Methods whose requests the body limit reads (``BodyLimitMiddleware``).
_WITH_BODY = ("post", "put", "patch")


def _document_body_refusals(spec: dict) -> None:
    """An operation that takes a JSON body answers 400 when it is not JSON; every POST, PUT and
    PATCH answers 413 past the body limit, before the route is even chosen; any operation may
    answer 503 while the database cannot be reached or written."""
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            statuses = [400] if "requestBody" in operation else []
            statuses += [413] if method in _WITH_BODY else []
            statuses += [503] if path.startswith("/v1/") else []  # the database gone for a moment
            for status in statuses:
                operation.setdefault("responses", {}).setdefault(str(status), _error_answer(status))


def _error_answer(status: int) -> dict:
    description, code, message = errors.ERRORS[status]
    body = {
        "schema": {"$ref": "#/components/schemas/ErrorResponse"},
        "example": {"error": {"code": code, "message": message}},
    }
    return {"description": description, "content": {"application/json": body}}
