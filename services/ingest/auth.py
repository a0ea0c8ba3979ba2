"""Who may call what: bearer API keys with a role each (editor, admin).

Keys are checked against the database on every request, so a revoked key gets 401 on its very
next request. The scheme is declared to OpenAPI as HTTP bearer (the Authorize button in /docs).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.ingest.exceptions import Forbidden, Unauthenticated
from services.ingest.keys import service as keys
from shared import db
from shared.models import ApiKey, Role

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    bearerFormat="nw_…",
    description="An API key: `Authorization: Bearer nw_…` (`newswire keys create` or `POST /v1/keys`).",
)


def require(*roles: Role):
    allowed = " or ".join(r.value for r in roles)

    def dependency(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> ApiKey:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthenticated("send an API key as 'Authorization: Bearer <key>'")
        with db.read_scope() as session:
            key = keys.find_key(session=session, key=credentials.credentials.strip())
        if key is None:
            raise Unauthenticated("unknown or revoked API key")
        if key.role not in roles:
            raise Forbidden(f"this needs the {allowed} role")
        keys.note_use(key)
        return key

    return dependency


#: Dependencies for handlers: the calling key, checked for its role.
Editor = Annotated[ApiKey, Depends(require(Role.editor, Role.admin))]
Admin = Annotated[ApiKey, Depends(require(Role.admin))]
#: A subscriber's own key (``POST /v1/subscribers/{id}/keys``): it reads that subscriber's feed.
FeedReader = Annotated[ApiKey, Depends(require(Role.subscriber))]
