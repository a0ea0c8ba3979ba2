"""Request body limit, enforced while the body streams in (Content-Length or not); a request id
and one log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.ingest.errors import error_response
from shared import logs

log = logging.getLogger(__name__)


class _Disconnected(Exception):
    pass


class BodyLimitMiddleware:
    """Answer 413 for request bodies over the limit, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        if self._declared_too_large(scope):
            await self._too_large()(scope, receive, send)
            return
        try:
            body = await self._read(receive)
        except _Disconnected:
            return
        if body is None:
            await self._too_large()(scope, receive, send)
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> ASGIApp:
        return error_response(413, "body_too_large", f"request body is larger than {self.max_bytes} bytes")

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                return True
        return False

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it grows past the limit."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


#: An incoming X-Request-ID is kept when it looks like an id; anything else gets a new one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIdMiddleware:
    """Every HTTP request gets an id: the caller's ``X-Request-ID`` when it sends a usable one, a
    new one otherwise. It is bound to every log line the request causes, sent back in the
    response's ``X-Request-ID``, and the request ends with one ``request`` line (method, path,
    status, duration)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        # Not unbound on the way out: uvicorn runs each request in an asyncio task of its own (its
        # own copy of the context), and its error line for a failed request should carry the id too.
        logs.bind(request_id=request_id)
        started, status = time.perf_counter(), 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status_code": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            return text if _REQUEST_ID.fullmatch(text) else None
    return None
