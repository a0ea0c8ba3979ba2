"""The ingest HTTP API (FastAPI). Handlers stay thin: they call ``service`` and relay events."""

from __future__ import annotations

import logging
from typing import Annotated

import redis
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest import schemas, service
from services.ingest.keys import create_key, find_key
from shared import db, events
from shared.config import get_settings
from shared.models import ApiKey, Role, story_uri
from shared.netguard import TargetRefused

API_DESCRIPTION = """Wire editors submit stories; admins register downstream webhook subscribers.

Authenticate with `Authorization: Bearer <key>`. Request bodies are limited to
`NEWSWIRE_MAX_REQUEST_BYTES` (default 1 MiB); larger bodies get **413**.
Errors always come as `{"error": {"code", "message", "details"}}`.
"""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: list | None = None):
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(status: int, code: str, message: str, details: list | None = None) -> JSONResponse:
    body = schemas.ErrorResponse(error=schemas.ErrorBody(code=code, message=message, details=details))
    return JSONResponse(status_code=status, content=body.model_dump(exclude_none=True))


class BodyLimitMiddleware:
    """Answer 413 for request bodies over the limit, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_large = error_response(
            413, "body_too_large", f"request body is larger than {self.max_bytes} bytes"
        )
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await too_large(scope, receive, send)
                return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def require(*roles: Role):
    def dependency(authorization: Annotated[str | None, Header()] = None) -> ApiKey:
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(401, "unauthenticated", "send an API key as 'Authorization: Bearer <key>'")
        with db.read_scope() as session:
            key = find_key(session=session, key=authorization.removeprefix("Bearer ").strip())
        if key is None:
            raise ApiError(401, "unauthenticated", "unknown or revoked API key")
        if key.role not in roles:
            raise ApiError(403, "forbidden", f"this needs the {' or '.join(r.value for r in roles)} role")
        return key

    return dependency


editor = require(Role.editor, Role.admin)
admin = require(Role.admin)


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(title="Newswire", version="1", description=API_DESCRIPTION)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        details = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or None, "message": e.get("msg")}
            for e in errors
        ]
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the request body is not valid JSON", details)
        return error_response(422, "invalid_request", "the request does not match the schema", details)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logging.getLogger(__name__).exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "something went wrong on our side; nothing was lost "
                              "if you got no 2xx, so the request can be sent again (with an Idempotency-Key)")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        checks = {}
        try:
            db.ping()
            checks["database"] = "ok"
        except Exception as exc:  # report, don't crash
            checks["database"] = f"error: {exc.__class__.__name__}"
        try:
            redis.Redis.from_url(settings.broker_url, socket_timeout=2).ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(status_code=200 if ready else 503, content={"ready": ready, "checks": checks})

    @app.post(
        "/v1/stories",
        status_code=202,
        response_model=schemas.StoryAccepted,
        tags=["stories"],
        responses={400: {"model": schemas.ErrorResponse}, 409: {"model": schemas.ErrorResponse},
                   413: {"model": schemas.ErrorResponse}, 422: {"model": schemas.ErrorResponse}},
    )
    def post_story(
        payload: schemas.StoryCreate,
        _key: Annotated[ApiKey, Depends(editor)],
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> schemas.StoryAccepted:
        try:
            with db.session_scope() as session:
                story, version, event_ids, _created = service.create_story(
                    session=session, payload=payload, idempotency_key=idempotency_key
                )
                accepted = schemas.StoryAccepted(
                    id=story.id,
                    uri=story_uri(story.id),
                    version=version.version,
                    status=service.status_of(version),
                    links=schemas.Links(self=f"/v1/stories/{story.id}"),
                )
        except service.IdempotencyConflict:
            raise ApiError(409, "idempotency_conflict", "this Idempotency-Key was used with a different body") from None
        events.relay(event_ids)
        return accepted

    @app.get("/v1/stories/{story_id}", response_model=schemas.StoryPublic, tags=["stories"])
    def get_story(story_id: str, _key: Annotated[ApiKey, Depends(editor)]) -> schemas.StoryPublic:
        try:
            with db.read_scope() as session:
                return service.story_view(session=session, story_id=story_id)
        except service.NotFound:
            raise ApiError(404, "not_found", f"no story {story_id}") from None

    @app.put("/v1/stories/{story_id}/tags", response_model=schemas.StoryPublic, tags=["stories"])
    def put_tags(
        story_id: str, changes: schemas.TagsUpdate, _key: Annotated[ApiKey, Depends(editor)]
    ) -> schemas.StoryPublic:
        """Set the editors' tag additions and removals. They win over automatic tags, survive
        re-runs of the taggers and carry over to later versions. A published story goes out
        again as a new version with the corrected tags."""
        try:
            with db.session_scope() as session:
                event_ids = service.set_editor_tags(session=session, story_id=story_id, changes=changes)
        except service.NotFound:
            raise ApiError(404, "not_found", f"no story {story_id}") from None
        except service.InvalidTag as exc:
            raise ApiError(422, "invalid_tag", str(exc)) from None
        events.relay(event_ids)
        with db.read_scope() as session:
            return service.story_view(session=session, story_id=story_id)

    @app.post("/v1/subscribers", status_code=201, response_model=schemas.SubscriberCreated, tags=["subscribers"])
    def post_subscriber(
        payload: schemas.SubscriberCreate, _key: Annotated[ApiKey, Depends(admin)]
    ) -> schemas.SubscriberCreated:
        try:
            with db.session_scope() as session:
                sub = service.create_subscriber(
                    session=session, settings=settings, name=payload.name, url=str(payload.url)
                )
                public = service.subscriber_public(sub)
                return schemas.SubscriberCreated(**public.model_dump(), secret=sub.secret)
        except TargetRefused as exc:
            raise ApiError(422, "webhook_target_refused", str(exc)) from None
        except (service.DuplicateName, IntegrityError):
            raise ApiError(409, "duplicate_name", f"a subscriber named {payload.name!r} exists") from None

    @app.get("/v1/subscribers", response_model=list[schemas.SubscriberPublic], tags=["subscribers"])
    def get_subscribers(_key: Annotated[ApiKey, Depends(admin)]) -> list[schemas.SubscriberPublic]:
        with db.read_scope() as session:
            return service.list_subscribers(session=session)

    @app.get(
        "/v1/subscribers/{subscriber_id}/deliveries",
        response_model=list[schemas.DeliveryPublic],
        tags=["subscribers"],
    )
    def get_deliveries(
        subscriber_id: str, _key: Annotated[ApiKey, Depends(admin)]
    ) -> list[schemas.DeliveryPublic]:
        try:
            with db.read_scope() as session:
                return service.list_deliveries(session=session, subscriber_id=subscriber_id)
        except service.NotFound:
            raise ApiError(404, "not_found", f"no subscriber {subscriber_id}") from None

    @app.post("/v1/keys", status_code=201, response_model=schemas.KeyCreated, tags=["keys"])
    def post_key(payload: schemas.KeyCreate, _key: Annotated[ApiKey, Depends(admin)]) -> schemas.KeyCreated:
        with db.session_scope() as session:
            row, key = create_key(session=session, name=payload.name, role=payload.role)
            return schemas.KeyCreated(id=row.id, name=row.name, role=row.role, key=key)

    return app
