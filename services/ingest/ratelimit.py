"""Rate limits: per API key, and per client address for requests without a key or whose key
is refused (401). A request over a limit gets 429 with ``Retry-After`` (whole seconds) before
the app reads its body, so it stores nothing.

A signed-in browser of the desk or the portal counts as its session (the session cookie stands
for the key), so a newsroom behind one address is not one client; a cookie that opens no session
(the answer sends the browser to sign in, or is 401) counts against the address, as a refused key
does. The vendored page assets under ``/static/`` are not counted.

The counts live in this process's memory (a moving window, the ``limits`` library): each API
process counts on its own, so N processes behind one address allow up to N times the limit.
Health, readiness and metrics are never limited.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.ingest.errors import ErrorResponse, error_response
from services.ingest.web.sessions import COOKIE as SESSION_COOKIE_NAME

#: Probes and scrapes: never limited (an orchestrator must always reach them).
EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
#: Files served as they are, with no database behind them.
EXEMPT_PREFIX = "/static/"
SESSION_COOKIE = SESSION_COOKIE_NAME.encode() + b"="
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


class RateLimitMiddleware:
    """429 past ``per_key`` requests of one bearer key, or past ``per_ip`` requests from one
    client address that carry no key or end in 401. While an address is over its limit, every
    request from it is refused, with a key or not: a client guessing keys learns nothing more.
    An empty limit switches that limit off."""

    def __init__(self, app: ASGIApp, per_key: str, per_ip: str):
        self.app = app
        self.per_key: RateLimitItem | None = parse(per_key) if per_key else None
        self.per_ip: RateLimitItem | None = parse(per_ip) if per_ip else None
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT or scope["path"].startswith(EXEMPT_PREFIX):
            await self.app(scope, receive, send)
            return
        token, address = _bearer_token(scope) or _session_token(scope), _client_address(scope)
        if token is None:
            refused = self._over(self.per_ip, "address", address, hit=True)
        else:
            refused = self._over(self.per_ip, "address", address, hit=False) or self._over(
                self.per_key, "key", hashlib.sha256(token.encode()).hexdigest(), hit=True
            )
        if refused is not None:
            await _too_many(refused)(scope, receive, send)
            return
        status, to_sign_in = await self._call(scope, receive, send)
        if token is not None and (status == 401 or to_sign_in) and self.per_ip is not None:
            self.limiter.hit(self.per_ip, "address", address)

    def _over(self, item: RateLimitItem | None, kind: str, identity: str, *, hit: bool) -> int | None:
        """None when the request may go on (counted if ``hit``), else the seconds until it may."""
        if item is None:
            return None
        allowed = self.limiter.hit(item, kind, identity) if hit else self.limiter.test(item, kind, identity)
        if allowed:
            return None
        reset_at = self.limiter.get_window_stats(item, kind, identity).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> tuple[int, bool]:
        """The answer's status, and whether it sends the browser to sign in (no session)."""
        status, to_sign_in = 500, False

        async def send_noting_status(message: Message) -> None:
            nonlocal status, to_sign_in
            if message["type"] == "http.response.start":
                status = message["status"]
                to_sign_in = any(n == b"location" and v.startswith(b"/signin") for n, v in message.get("headers", []))
            await send(message)

        await self.app(scope, receive, send_noting_status)
        return status, to_sign_in


def _too_many(retry_after: int) -> JSONResponse:
    answer = error_response(429, "rate_limited", f"too many requests; try again in {retry_after} s")
    answer.headers["Retry-After"] = str(retry_after)
    return answer


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def _session_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.split(b";"):
                part = part.strip()
                if part.startswith(SESSION_COOKIE) and len(part) > len(SESSION_COOKIE):
                    return "session:" + part[len(SESSION_COOKIE) :].decode("latin-1")
    return None


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def document(spec: dict[str, Any]) -> None:
    """Every limited operation may answer 429, with Retry-After and the one error body."""
    for path, operations in spec.get("paths", {}).items():
        if path in EXEMPT:
            continue
        for method, operation in operations.items():
            if method in HTTP_METHODS:
                operation.setdefault("responses", {}).setdefault("429", _documented_429())


def _documented_429() -> dict[str, Any]:
    return {
        "description": "Too many requests from this key (or, without a valid key, from this address). "
        "Retry after the number of seconds in Retry-After.",
        "headers": {
            "Retry-After": {
                "description": "seconds to wait before the next request",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{ErrorResponse.__name__}"},
                "example": {"error": {"code": "rate_limited", "message": "too many requests; try again in 12 s"}},
            }
        },
    }
