"""Signing in and out of the desk and the portal: an API key is exchanged once for a session
cookie (HttpOnly, SameSite=Strict), so the key never lives in a page or in script reach. The
sign-in form carries its own CSRF token (a cookie and a field that must match)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool

from services.ingest.keys import service as keys
from services.ingest.web import pages, sessions
from shared import db
from shared.config import get_settings
from shared.models import ApiKey, Role

router = APIRouter(include_in_schema=False)
SIGNIN_CSRF_COOKIE = "newswire_signin"


def _landing(key: ApiKey, wanted: str | None) -> str:
    """Where a signed-in key goes: the page it asked for (a local path only), else its home."""
    if wanted and wanted.startswith(("/desk", "/portal")) and "//" not in wanted and "\\" not in wanted:
        return wanted
    return "/portal" if key.role == Role.subscriber else "/desk"


@router.get("/signin")
def signin_form(request: Request, next: str | None = None, error: str | None = None):
    token = secrets.token_urlsafe(24)
    response = pages.render(request, "signin.html", None, next=next or "", error=error, signin_csrf=token)
    response.set_cookie(SIGNIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/signin", max_age=3600)
    return response


def _open(key: ApiKey, previous: str | None) -> str:
    """A new session; the browser's previous one (if any) ends, so a cookie is never left open."""
    hours = get_settings().web_session_hours
    with db.session_scope() as session:
        sessions.end_session(session=session, token=previous)
        return sessions.open_session(session=session, key=key, lifetime=timedelta(hours=hours))


@router.post("/signin")
async def sign_in(
    request: Request,
    key: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=500)] = "",
):
    expected = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    if not expected or not sessions.same_token(expected, csrf_token):
        return pages.redirect("/signin", "The sign-in form expired; try again.", "error")
    found = await run_in_threadpool(keys.authenticate, key.strip())
    if found is None:
        return pages.render(
            request, "signin.html", None, 401, next=next, error="Unknown or revoked key.", signin_csrf=expected
        )
    token = await run_in_threadpool(_open, found, request.cookies.get(sessions.COOKIE))
    response = pages.redirect(_landing(found, next), f"Signed in as {found.name}.")
    settings = get_settings()
    secure = settings.web_cookie_secure if settings.web_cookie_secure is not None else settings.env == "production"
    response.set_cookie(
        sessions.COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
        max_age=int(settings.web_session_hours * 3600),
    )
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/signin")
    return response


def _end(token: str | None) -> None:
    with db.session_scope() as session:
        sessions.end_session(session=session, token=token)


@router.post("/signout")
async def sign_out(request: Request, _me: Annotated[sessions.SignedIn, pages.Depends(pages.SignedInAs(*Role))]):
    await run_in_threadpool(_end, request.cookies.get(sessions.COOKIE))
    response = pages.redirect("/signin", "Signed out.")
    response.delete_cookie(sessions.COOKIE, path="/")
    return response
