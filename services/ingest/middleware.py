"""Request body limit, enforced while the body streams in (Content-Length or not)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from services.ingest.errors import error_response


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
        too_large = error_response(413, "body_too_large", f"request body is larger than {self.max_bytes} bytes")
        if self._declared_too_large(scope):
            await too_large(scope, receive, send)
            return
        try:
            body = await self._read(receive)
        except _Disconnected:
            return
        if body is None:
            await too_large(scope, receive, send)
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

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
