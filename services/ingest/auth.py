"""Who may call what: bearer API keys with a role each (editor, admin, subscriber).

A key read from the database is trusted for two seconds by the API process that read it (the
check then runs on the event loop, no thread, no query); a key revoked through the API is
forgotten at once, so it gets 401 on its very next request. The scheme is declared to OpenAPI
as HTTP bearer (the Authorize button in /docs).

A route's roles are declared in one place, the ``RequireRole`` dependency of its key parameter
(``Editor``, ``Admin``, ``FeedReader``); ``roles_of`` reads them off the route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from services.ingest.exceptions import Forbidden, Unauthenticated
from services.ingest.keys import service as keys
from shared.models import ApiKey, Role

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    bearerFormat="nw_…",
    description="An API key: `Authorization: Bearer nw_…` (`newswire keys create` or `POST /v1/keys`).",
)


class RoleCheck:
    """A dependency that admits some roles only; ``roles_of`` finds every kind by this base."""

    roles: frozenset[Role]


class RequireRole(RoleCheck):
    """The dependency that checks the calling key: 401 without a known, unrevoked key, 403 when
    its role is not one of ``roles``. It answers the key's row."""

    def __init__(self, *roles: Role):
        self.roles = frozenset(roles)
        self.allowed = " or ".join(r.value for r in roles)

    async def __call__(self, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> ApiKey:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthenticated("send an API key as 'Authorization: Bearer <key>'")
        token = credentials.credentials.strip()
        key = keys.trusted_key(token) or await run_in_threadpool(keys.authenticate, token)
        if key is None:
            raise Unauthenticated("unknown or revoked API key")
        if key.role not in self.roles:
            raise Forbidden(f"this needs the {self.allowed} role")
        if not keys.use_noted_lately(key):
            await run_in_threadpool(keys.note_use, key)
        return key

    def __repr__(self) -> str:
        return f"RequireRole({self.allowed})"


def require(*roles: Role) -> RequireRole:
    return RequireRole(*roles)


def roles_of(route: object) -> frozenset[Role] | None:
    """The roles that may call ``route`` (a route, or a ``fastapi.routing.RouteContext`` of an
    included router's route), read from its dependencies, the router's included; None when it
    needs no key. Several role checks on one route: each must pass."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    found: frozenset[Role] | None = None
    pending = [dependant]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, RoleCheck):
            found = dependant.call.roles if found is None else found & dependant.call.roles
        pending.extend(dependant.dependencies)
    return found


#: Who may do what; the web desk and portal check the same sets (``services.ingest.web.pages``).
EDITOR_ROLES = (Role.editor, Role.admin)
ADMIN_ROLES = (Role.admin,)
#: A subscriber's own pages and endpoints: an admin, or that subscriber's own key (``own_subscriber``).
PORTAL_ROLES = (Role.admin, Role.subscriber)


def own_subscriber(key: ApiKey, subscriber_id: str) -> None:
    """A subscriber key reaches its own subscriber only (403 for another's); an admin reaches all."""
    if key.role == Role.subscriber and key.subscriber_id != subscriber_id:
        raise Forbidden("this key belongs to another subscriber")


#: Dependencies for handlers: the calling key, checked for its role.
Editor = Annotated[ApiKey, Depends(require(*EDITOR_ROLES))]
Admin = Annotated[ApiKey, Depends(require(*ADMIN_ROLES))]
#: An admin or a subscriber key; the handler checks the subscriber is the key's own (``own_subscriber``).
SubscriberOrAdmin = Annotated[ApiKey, Depends(require(*PORTAL_ROLES))]
#: A subscriber's own key (``POST /v1/subscribers/{id}/keys``): it reads that subscriber's feed.
FeedReader = Annotated[ApiKey, Depends(require(Role.subscriber))]
