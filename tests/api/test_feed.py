"""The pull feed: a subscriber's own key, its filters, publication order, cursors that resume,
kills in place of killed stories, long-poll, and an Atom view that feedparser reads."""

import feedparser

from tests.api.conftest import client
from tests.api.pipeline import KAZAKHSTAN_DIPLOMACY, enrich, render

STORY = {"headline": "Kerry lands in Astana", "body_text": "Kerry arrived in Kazakhstan."}
PARIS = {"places": [{"name": "Paris", "code": "FR"}]}


def reader(api, filters=None):
    body = {"name": "site", "url": "http://127.0.0.1:9/site", **({"filters": filters} if filters else {})}
    site = api.admin.post("/v1/subscribers", json=body).json()["id"]
    return client(api.admin.post(f"/v1/subscribers/{site}/keys").json()["key"])


def publish(api, tags=None, **fields):
    story = api.editor.post("/v1/stories", json={**STORY, **fields}).json()
    enrich(story["id"], 1, KAZAKHSTAN_DIPLOMACY if tags is None else tags)
    render(story["id"], 1)
    return story


def headlines(page):
    return [item["data"]["headlines"][0]["value"] for item in page["items"]]


def test_the_feed_lists_what_matches_in_publication_order_and_resumes(api):
    feed = reader(api, {"places": ["KZ"]})
    publish(api, headline="One")
    publish(api, tags=PARIS, headline="Paris")
    publish(api, headline="Two")
    first = feed.get("/v1/feed", params={"limit": 1}).json()
    assert headlines(first) == ["One"] and first["items"][0]["type"] == "story.published"
    rest = feed.get(first["next"]).json()
    assert headlines(rest) == ["Two"]  # Paris is not for this site
    empty = feed.get(rest["next"]).json()
    assert empty["items"] == [] and empty["next_cursor"] == rest["next_cursor"]
    publish(api, headline="Three")
    assert headlines(feed.get("/v1/feed", params={"cursor": empty["next_cursor"]}).json()) == ["Three"]
    assert headlines(feed.get("/v1/feed").json()) == ["One", "Two", "Three"]  # from the start


def test_a_killed_story_shows_only_its_kill_and_corrections_reach_those_who_had_it(api):
    feed = reader(api, {"places": ["KZ"], "events": ["story.published"]})
    kept = publish(api, headline="Kept")
    gone = publish(api, headline="Gone")
    api.editor.post(f"/v1/stories/{kept['id']}/corrections", json={**STORY, "headline": "Kept", "note": "Typo"})
    enrich(kept["id"], 2, KAZAKHSTAN_DIPLOMACY)
    render(kept["id"], 2)
    api.editor.post(f"/v1/stories/{gone['id']}/kill", json={"reason": "Legal"})
    render(gone["id"], 2)
    items = feed.get("/v1/feed").json()["items"]
    assert [(i["data"]["uri"], i["type"]) for i in items] == [
        (kept["uri"], "story.published"),
        (kept["uri"], "story.corrected"),
        (gone["uri"], "story.killed"),
    ]
    assert items[1]["data"]["edNote"] == "Typo" and items[2]["data"]["pubStatus"] == "canceled"


def test_long_poll_waits_for_something_new_then_answers_empty(api):
    feed = reader(api)
    answer = feed.get("/v1/feed", params={"wait": 0.3})
    assert answer.status_code == 200 and answer.json()["items"] == []
    assert feed.get("/v1/feed", params={"wait": 31}).status_code == 422
    assert feed.get("/v1/feed", params={"cursor": "nope"}).status_code == 400


def test_the_atom_view_is_a_feed_feedparser_reads(api):
    feed = reader(api)
    story = publish(api, headline="Kerry in Astana", byline="Staff")
    answer = feed.get("/v1/feed.atom")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(answer.content)
    assert not parsed.bozo, parsed.bozo_exception
    (entry,) = parsed.entries
    assert entry.title == "Kerry in Astana" and entry.id == f"{story['uri']}:v1"
    assert entry.author == "Staff" and "Kazakhstan" in entry.content[0].value
    assert any(link.rel == "next" for link in parsed.feed.links)
