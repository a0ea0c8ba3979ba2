"""What every page shares: the templates (autoescaped), who is signed in (with the same role sets
as the API's dependencies), the CSRF check on every form, flashes and redirects."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from services.ingest.auth import ADMIN_ROLES, EDITOR_ROLES, PORTAL_ROLES, RoleCheck
from services.ingest.web import sessions
from shared import db
from shared.models import Role

HERE = Path(__file__).parent
FLASH_COOKIE = "newswire_flash"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every value is escaped unless a template says otherwise (none does)
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


_env.filters["when"] = _when
templates = Jinja2Templates(env=_env)


class SignInNeeded(Exception):
    """No live session: pages send the browser to the sign-in form, htmx and streams get 401."""


class PageRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class SignedInAs(RoleCheck):
    """The dependency that reads the session cookie: the signed-in key, refused with 403 when
    its role is not one of ``roles`` (the API's own role sets, so the checks are the same)."""

    def __init__(self, *roles: Role):
        self.roles = frozenset(roles)

    async def __call__(self, request: Request) -> sessions.SignedIn:
        token = request.cookies.get(sessions.COOKIE)
        signed = await run_in_threadpool(_look_up, token)
        if signed is None:
            raise SignInNeeded()
        if signed.key.role not in self.roles:
            raise PageRefused(403, f"Your key ({signed.key.role}) may not open this page.")
        if request.method == "POST":
            await _check_csrf(request, signed)
        return signed


def _look_up(token: str | None) -> sessions.SignedIn | None:
    with db.read_scope() as session:
        return sessions.signed_in(session=session, token=token)


async def _check_csrf(request: Request, signed: sessions.SignedIn) -> None:
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        sent = form.get("csrf_token") if isinstance(form.get("csrf_token"), str) else None
    if not sessions.csrf_matches(signed, sent):
        raise PageRefused(403, "This form has expired (no valid CSRF token). Reload the page and try again.")


DeskUser = Annotated[sessions.SignedIn, Depends(SignedInAs(*EDITOR_ROLES))]
PortalUser = Annotated[sessions.SignedIn, Depends(SignedInAs(*PORTAL_ROLES))]
AdminUser = Annotated[sessions.SignedIn, Depends(SignedInAs(*ADMIN_ROLES))]


def render(request: Request, template: str, signed: sessions.SignedIn | None, status: int = 200, **context: Any):
    """A page: the template with the signed-in key, its CSRF token and the pending flash (shown once)."""
    flash = unquote(request.cookies.get(FLASH_COOKIE, ""))[:500]
    response = templates.TemplateResponse(
        request,
        template,
        {"me": signed.key if signed else None, "csrf": signed.csrf_token if signed else "", "flash": flash, **context},
        status_code=status,
    )
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    response.headers["cache-control"] = "no-store"
    return response


def redirect(to: str, flash: str | None = None, kind: str = "ok") -> RedirectResponse:
    """303 to ``to`` after a form (post/redirect/get); the flash shows on the next page."""
    response = RedirectResponse(to, status_code=303)
    if flash:
        response.set_cookie(
            FLASH_COOKIE, quote(f"{kind}:{flash}"[:500]), httponly=True, samesite="strict", path="/", max_age=60
        )
    return response


def fragment(request: Request, template: str, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, headers={"cache-control": "no-store"})
