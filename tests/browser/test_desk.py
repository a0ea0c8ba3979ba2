"""An editor works the wire in a real browser: signs in, files a story through the form and
watches the live list reach "delivered" without reloading, corrects it, kills it (the kill
reaches the receiver), and a headline made of markup shows as text. Screenshots of the desk land
in docs/screenshots/."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.support import wait_for

DELIVERY_WAIT_MS = 90_000


@pytest.fixture(scope="module")
def site(stack):
    """One subscriber with the reference receiver, alive for the whole module (a stopped one would
    leave later stories 'delivering')."""
    subscriber, receiver = stack.subscribe("desk-site")
    yield receiver
    receiver.stop()
    with stack.client(stack.admin_key) as api:  # the next module's stories go to its own sites only
        api.delete(f"/v1/subscribers/{subscriber['id']}")


def _events_of(receiver, story_id: str) -> list[str]:
    found = []
    for line in receiver.events():
        data = line["event"].get("data") or {}
        if data.get("uri", "").endswith(story_id):
            found.append(line["event"]["type"])
    return found


def _file(page, base: str, headline: str, body: str, urgency: str = "3") -> str:
    page.goto(f"{base}/desk/new")
    page.get_by_label("Headline").fill(headline)
    page.get_by_label("Body").fill(body)
    page.get_by_label("Urgency").select_option(urgency)
    page.get_by_role("button", name="File", exact=True).click()
    page.wait_for_url("**/desk/stories/*")
    return page.url.rsplit("/", 1)[1]


def test_file_watch_delivered_live_correct_and_kill(stack, site, watched):
    sign_in(watched, stack, stack.editor_key)
    desk = watched.page
    desk.goto(f"{stack.api_url}/desk")
    expect(desk.get_by_role("heading", name="Wire desk")).to_be_visible()
    loads = watched.navigations

    editor = desk.context.new_page()  # a second tab of the same session files the story
    story_id = _file(editor, stack.api_url, "Parliament passes the budget", "The budget passed by 301 votes to 250.")
    expect(editor.locator(".flash")).to_contain_text("Filed version 1")

    row = desk.locator(f"tr[data-story='{story_id}']")
    expect(row.locator(".stage")).to_have_text("delivered", timeout=DELIVERY_WAIT_MS)
    # the story's own page follows it too, without a reload: published, then delivered to the site
    expect(editor.locator("#story-status")).to_have_text("published", timeout=DELIVERY_WAIT_MS)
    expect(editor.locator(".timeline")).to_contain_text("desk-site", timeout=DELIVERY_WAIT_MS)
    expect(editor.locator(".timeline [data-event='delivered']")).to_have_count(1)
    expect(row.locator(".reach")).to_contain_text("1/1")
    assert watched.navigations == loads, "the list reloaded: it should have updated in place"
    screenshot(desk, "desk")
    assert _events_of(site, story_id) == ["story.published"]

    editor.locator("summary", has_text="Correct").click()
    correct = editor.locator("form[action$='/correct']")
    correct.get_by_label("Headline").fill("Parliament passes the budget by 51 votes")
    correct.get_by_label("What was corrected").fill("The margin was 51 votes, not 50.")
    correct.get_by_role("button", name="File correction").click()
    expect(editor.locator(".flash")).to_contain_text("Filed version 2 (correction)")
    wait_for(lambda: "story.corrected" in _events_of(site, story_id), timeout=90, what="the correction to arrive")

    editor.reload()
    expect(editor.locator(".diff-headline .added").first).to_contain_text("51")
    screenshot(editor, "story")

    editor.locator("summary", has_text="Kill").click()
    kill = editor.locator("form[action$='/kill']")
    kill.get_by_label("Reason").fill("Legal: the vote is being recounted.")
    kill.get_by_role("button", name="Kill story").click()  # refused by the browser: not confirmed yet
    assert "Killed" not in (editor.locator(".flash").all_inner_texts() or [""])[0]
    kill.get_by_label("Yes, kill this story").check()
    kill.get_by_role("button", name="Kill story").click()
    expect(editor.locator(".flash")).to_contain_text("Killed")
    wait_for(lambda: "story.killed" in _events_of(site, story_id), timeout=90, what="the kill to arrive")
    assert _events_of(site, story_id) == ["story.published", "story.corrected", "story.killed"]
    expect(row.locator(".stage")).to_have_text("killed", timeout=DELIVERY_WAIT_MS)
    assert watched.errors == [], watched.errors


def test_a_headline_of_markup_shows_as_text(stack, site, watched):
    sign_in(watched, stack, stack.editor_key)
    page = watched.page
    headline = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    story_id = _file(page, stack.api_url, headline, "Body <b>bold</b> and <script>alert(3)</script>")
    expect(page.locator("h1.headline")).to_have_text(headline)
    page.goto(f"{stack.api_url}/desk")
    expect(page.locator(f"tr[data-story='{story_id}'] a").first).to_have_text(headline)
    page.wait_for_timeout(1500)  # let the live list swap its rows in at least once
    assert watched.dialogs == [], f"a script from the story ran: {watched.dialogs}"
    assert page.locator("img[src='x']").count() == 0


def test_a_story_filed_with_an_embargo_is_held(stack, watched):
    sign_in(watched, stack, stack.editor_key)
    page = watched.page
    page.goto(f"{stack.api_url}/desk/new")
    page.get_by_label("Headline").fill("Storm warning")
    page.get_by_label("Body").fill("Winds of 120 km/h.")
    page.get_by_label("Embargo until (UTC)").fill("2031-02-03T04:05")
    page.get_by_label("Urgency").select_option("1")
    page.get_by_role("button", name="File", exact=True).click()
    page.wait_for_url("**/desk/stories/*")
    expect(page.locator(".meta")).to_contain_text("embargoed until 2031-02-03 04:05")
    expect(page.locator("#story-status")).to_have_text("embargoed", timeout=DELIVERY_WAIT_MS)  # live, no reload


def test_signing_out_stops_the_live_pages(stack, watched):
    sign_in(watched, stack, stack.editor_key)
    desk = watched.page
    desk.goto(f"{stack.api_url}/desk")
    other = desk.context.new_page()
    other.goto(f"{stack.api_url}/desk/new")
    other.get_by_role("button", name="Sign out").click()
    other.wait_for_url("**/signin")
    expect(desk.locator("[sse-swap='signedout']")).to_contain_text("Signed out", timeout=30_000)
    expect(desk.get_by_role("link", name="Sign in")).to_be_visible()
