"""The web desk (``/desk``, editors) and the subscriber portal (``/portal``): server-rendered
pages (Jinja2, htmx vendored under ``static/``) on the same service functions as the API. A
browser signs in with an API key once and then carries a session cookie; the key never lives in
the page."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from services.ingest.exceptions import Refused
from services.ingest.web import desk, live, pages, portal, security, signin


def install(app: FastAPI) -> None:
    """The pages' routes, their assets under ``/static``, their headers and their error pages."""
    for router in (signin.router, desk.router, portal.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=pages.HERE / "static"), name="static")
    app.add_middleware(security.PageHeadersMiddleware)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/desk", status_code=303)

    app.add_exception_handler(pages.SignInNeeded, _sign_in_first)
    app.add_exception_handler(pages.PageRefused, _refused_page)
    for exc_class in (Refused, RequestValidationError, HTTPException):
        _pages_answer_in_html(app, exc_class)


async def _sign_in_first(request: Request, _exc: Exception):
    if request.url.path.endswith("/live"):
        return live.signed_out_stream()
    if request.headers.get("hx-request"):
        return pages.templates.TemplateResponse(request, "error.html", _error(401, "Signed out."), status_code=401)
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(wanted, safe='')}", status_code=303)


def _error(status: int, message: str) -> dict:
    return {"status": status, "message": message, "me": None, "csrf": "", "flash": ""}


async def _refused_page(request: Request, exc: pages.PageRefused):
    return pages.templates.TemplateResponse(
        request, "error.html", _error(exc.status, exc.message), status_code=exc.status
    )


def _pages_answer_in_html(app: FastAPI, exc_class: type[Exception]) -> None:
    """The API's JSON error answer stays for the API; a page gets the same status as a page."""
    json_answer = app.exception_handlers[exc_class]

    async def answer(request: Request, exc: Exception):
        if not security.is_page(request.url.path) or request.url.path.startswith("/static/"):
            return await json_answer(request, exc)
        status, message = _status_and_message(exc)
        return pages.templates.TemplateResponse(request, "error.html", _error(status, message), status_code=status)

    app.add_exception_handler(exc_class, answer)


def _status_and_message(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, Refused):
        return exc.status, exc.message
    if isinstance(exc, RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors())
        return 422, f"This address has a bad value: {problems}"
    return exc.status_code, str(exc.detail)
