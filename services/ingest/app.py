"""The ingest HTTP API (FastAPI): ``create_app`` only assembles the parts. One router per
resource (stories, subscribers, deliveries, keys), each with its own service."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from services.ingest import errors, health, metrics, webhooks
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
Errors always come as `{"error": {"code", "message", "details"}}`.
"""


def operation_id(route: APIRoute) -> str:
    """Client generators name methods after operationIds: use the handler's name."""
    return route.name


def create_app() -> FastAPI:
    app = FastAPI(title="Newswire", version="1", description=DESCRIPTION, generate_unique_id_function=operation_id)
    app.add_middleware(BodyLimitMiddleware, max_bytes=get_settings().max_request_bytes)
    app.add_middleware(RequestIdMiddleware)  # outermost: a refused body is logged with its id too
    errors.install(app)
    for router in (health.router, stories, subscribers, deliveries, feed, keys):
        app.include_router(router)
    metrics.install(app)
    webhooks.document(app)
    app.openapi = _openapi(app)
    return app


def _openapi(app: FastAPI):
    """The generated schema, with this API's own error body for 422 and the subscribers'
    answers for webhooks."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = generate()
            errors.use_error_body_for_validation(spec)
            webhooks.acknowledge_responses(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    return openapi
