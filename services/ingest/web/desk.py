"""The wire desk (``/desk``, editors and admins): the live story list, a story's page, the
forms that file, update, correct, kill and retag. Every action is the API's own service call
(``stories.service``) in one transaction, its events relayed after the response."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request
from starlette.concurrency import run_in_threadpool

from services.ingest.exceptions import Refused
from services.ingest.paths import StoryId, VersionNumber
from services.ingest.stories import schemas, service
from services.ingest.stories.router import file_and_relay, relay_after_response
from services.ingest.web import forms, live, pages, storypage
from services.ingest.web.pages import DeskUser
from shared import db

router = APIRouter(prefix="/desk", include_in_schema=False)


@router.get("")
def story_list(request: Request, me: DeskUser, filters: Annotated[live.ListFilters, Query()]):
    rows, older = live.listing(filters)
    return pages.render(
        request,
        "desk/list.html",
        me,
        rows=rows,
        filters=filters,
        live_url=None if filters.cursor else live.stream_url(filters),
        older_url=live.page_url(filters, older) if older else None,
        newest_url=live.page_url(filters, None) if filters.cursor else None,
        statuses=live.STATUSES,
    )


@router.get("/live")
async def story_list_live(request: Request, _me: DeskUser, filters: Annotated[live.ListFilters, Query()]):
    """Server-Sent Events: the list's rows again whenever they change (no polling in the browser)."""
    filters.query()  # a bad filter is refused now, not in the stream
    return live.stream(request, partial(live.rows_html, filters), "stories")


@router.get("/new")
def new_story_form(request: Request, me: DeskUser):
    return pages.render(request, "desk/new.html", me, values={"urgency": "5"}, errors=[])


@router.post("/stories")
async def file_story(request: Request, me: DeskUser, background: BackgroundTasks):
    values = forms.text_values(await request.form())
    try:
        payload = forms.parsed(schemas.StoryCreate, values)
        accepted, _ = await file_and_relay(service.create_story, background, payload=payload, filed_by=me.key.name)
    except (forms.FormRefused, Refused) as exc:
        errors = forms.messages(exc)
        return pages.render(request, "desk/new.html", me, 422, values=values, errors=errors)
    return pages.redirect(f"/desk/stories/{accepted.id}", f"Filed version {accepted.version}: {payload.headline}")


@router.get("/stories/{story_id}")
def story_page(
    request: Request,
    story_id: StoryId,
    me: DeskUser,
    old: Annotated[int | None, Query(ge=1)] = None,
    new: Annotated[int | None, Query(ge=1)] = None,
):
    return pages.render(request, "desk/story.html", me, page=_page(story_id, old, new), errors=[], values=None)


def _page(story_id: str, old: int | None = None, new: int | None = None) -> storypage.StoryPage:
    with db.read_scope() as session:
        return storypage.build(session=session, story_id=story_id, old=old, new=new)


async def _act(request: Request, me, story_id: str, background: BackgroundTasks, action, model, what: str):
    """One filing action from a story page's form; a refusal shows the page again with the
    editor's text and the reasons."""
    values = forms.text_values(await request.form())
    try:
        payload = forms.parsed(model, values)
        accepted, created = await file_and_relay(
            action, background, story_id=story_id, payload=payload, filed_by=me.key.name
        )
    except (forms.FormRefused, Refused) as exc:
        errors = forms.messages(exc)
        page = await run_in_threadpool(_page, story_id)
        return pages.render(request, "desk/story.html", me, 422, page=page, errors=errors, values=values)
    said = (
        f"Filed version {accepted.version} ({what})."
        if created
        else "Same content as the newest version: nothing filed."
    )
    return pages.redirect(f"/desk/stories/{story_id}", said)


@router.get("/stories/{story_id}/live")
async def story_live(request: Request, story_id: StoryId, me: DeskUser):
    """Server-Sent Events: the story's status, timeline and versions whenever they change."""
    await run_in_threadpool(storypage.live_html, story_id, me.csrf_token)  # 404 now, not in the stream
    return live.stream(request, partial(storypage.live_html, story_id, me.csrf_token), "story")


@router.post("/stories/{story_id}/update")
async def update_story(request: Request, story_id: StoryId, me: DeskUser, background: BackgroundTasks):
    return await _act(request, me, story_id, background, service.update_story, schemas.StoryCreate, "update")


@router.post("/stories/{story_id}/correct")
async def correct_story(request: Request, story_id: StoryId, me: DeskUser, background: BackgroundTasks):
    return await _act(request, me, story_id, background, service.correct_story, schemas.StoryCorrection, "correction")


@router.post("/stories/{story_id}/kill")
async def kill_story(request: Request, story_id: StoryId, me: DeskUser, background: BackgroundTasks):
    form = await request.form()
    if form.get("confirm") != story_id:
        return pages.redirect(f"/desk/stories/{story_id}", "Not killed: tick the box that confirms the kill.", "error")
    reason = form.get("reason") if isinstance(form.get("reason"), str) else ""
    try:
        payload = schemas.StoryKill(reason=reason)
    except ValueError:
        return pages.redirect(f"/desk/stories/{story_id}", "Not killed: a kill needs its reason.", "error")
    try:
        await file_and_relay(service.kill_story, background, story_id=story_id, payload=payload, filed_by=me.key.name)
    except Refused as exc:
        return pages.redirect(f"/desk/stories/{story_id}", f"Not killed: {exc.message}", "error")
    return pages.redirect(f"/desk/stories/{story_id}", "Killed: the kill goes to every site that had the story.")


@router.post("/stories/{story_id}/tags")
async def change_tags(request: Request, story_id: StoryId, me: DeskUser, background: BackgroundTasks):
    """Add one tag or remove one (the form says which); the editor's other changes are kept."""
    values = forms.text_values(await request.form())
    try:
        edit = forms.parsed(schemas.TagEdit, values, storypage.tag_edit(values))
        event_ids = await run_in_threadpool(
            storypage.change_tag, story_id, edit, values.get("change") == "remove", me.key.name
        )
    except (forms.FormRefused, Refused) as exc:
        errors = forms.messages(exc)
        return pages.redirect(f"/desk/stories/{story_id}", "Tags not changed: " + "; ".join(errors), "error")
    background.add_task(relay_after_response, event_ids)
    return pages.redirect(f"/desk/stories/{story_id}", "Tags changed.")


@router.post("/stories/{story_id}/versions/{number}/retry")
async def retry_version(story_id: StoryId, number: VersionNumber, _me: DeskUser, background: BackgroundTasks):
    try:
        accepted, _ = await file_and_relay(service.retry_version, background, story_id=story_id, number=number)
    except Refused as exc:
        return pages.redirect(f"/desk/stories/{story_id}", f"Not retried: {exc.message}", "error")
    return pages.redirect(f"/desk/stories/{story_id}", f"Version {accepted.version} sent through again.")
