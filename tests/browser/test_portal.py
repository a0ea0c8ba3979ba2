"""A site's developer and an admin in the subscriber portal, in a real browser: deliveries with
their attempts, a test event answered by the receiver, a redelivery, a secret rotated and shown
once; an editor is refused the portal, a subscriber key sees its own page only."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in
from tests.support import wait_for


def _delivered(stack, subscriber_id: str) -> list[dict]:
    with stack.client(stack.admin_key) as api:
        items = api.get(f"/v1/subscribers/{subscriber_id}/deliveries").json()["items"]
    return [d for d in items if d["state"] == "delivered"]


def test_admin_sees_deliveries_sends_a_test_event_and_redelivers(stack, watched):
    subscriber, receiver = stack.subscribe("portal-site")
    try:
        with stack.client(stack.editor_key) as api:
            api.post("/v1/stories", json={"headline": "Markets open higher", "body_text": "Shares rose."})
        wait_for(lambda: _delivered(stack, subscriber["id"]), timeout=90, what="a delivery to the portal site")

        sign_in(watched, stack, stack.admin_key)
        page = watched.page
        page.goto(f"{stack.api_url}/portal")
        page.get_by_role("link", name="portal-site").click()
        expect(page.locator("tr.delivery").first.locator(".stage")).to_have_text("delivered")
        expect(page.locator("ol.attempts").first).to_contain_text("HTTP 200")

        page.get_by_role("button", name="Send a test event").click()
        expect(page.locator(".flash")).to_contain_text("HTTP 200")
        wait_for(lambda: any(e["event"]["type"] == "webhook.test" for e in receiver.events()), what="the test event")

        page.get_by_role("button", name="Redeliver").first.click()
        expect(page.locator(".flash")).to_contain_text("queued again (same webhook-id)")
        screenshot(page, "portal")

        page.get_by_role("button", name="Rotate the signing secret").click()
        secret = page.locator("#new-secret").inner_text()
        assert secret.startswith("whsec_") and secret != subscriber["secret"]
        page.reload()  # shown once: not on the page again
        assert secret not in page.content()
        assert watched.errors == [], watched.errors
    finally:
        receiver.stop()
        _delete(stack, subscriber["id"])


def _delete(stack, *subscriber_ids: str) -> None:
    with stack.client(stack.admin_key) as api:
        for subscriber_id in subscriber_ids:
            api.delete(f"/v1/subscribers/{subscriber_id}")


def test_an_editor_is_refused_the_portal(stack, watched):
    sign_in(watched, stack, stack.editor_key)
    answer = watched.page.goto(f"{stack.api_url}/portal")
    assert answer.status == 403
    expect(watched.page.locator(".flash-error")).to_contain_text("may not open this page")
    expect(watched.page.get_by_role("link", name="Subscriber portal")).to_have_count(1)  # the error page's link only


def test_a_subscriber_key_sees_its_own_page_only(stack, watched):
    with stack.client(stack.admin_key) as api:
        mine = api.post("/v1/subscribers", json={"name": "own-site", "url": "http://127.0.0.1:9/own"}).json()
        other = api.post("/v1/subscribers", json={"name": "other-site", "url": "http://127.0.0.1:9/other"}).json()
        key = api.post(f"/v1/subscribers/{mine['id']}/keys").json()["key"]
    try:
        sign_in(watched, stack, key)
        page = watched.page
        expect(page.get_by_role("heading", name="own-site")).to_be_visible()
        assert page.url.endswith(f"/portal/subscribers/{mine['id']}")
        expect(page.locator("pre.code")).to_contain_text("Webhook(")
        assert watched.page.goto(f"{stack.api_url}/portal/subscribers/{other['id']}").status == 403
        assert watched.page.goto(f"{stack.api_url}/desk").status == 403
    finally:
        _delete(stack, mine["id"], other["id"])
