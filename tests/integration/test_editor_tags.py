"""Editors stay in charge: their tag changes win, survive re-runs and reach subscribers."""

from tests.support import wait_for


def delivered_versions(receiver, story_id):
    return {
        e["event"]["data"]["version"]: e["event"]
        for e in receiver.events()
        if e["event"]["data"]["uri"].endswith(story_id)
    }


def test_editor_changes_win_and_go_out_as_a_new_version(stack, site):
    _subscriber, receiver = site
    with stack.client(stack.editor_key) as api:
        story = api.post(
            "/v1/stories",
            json={
                "headline": "Kerry visits Astana",
                "body_text": "US Secretary of State John Kerry met foreign ministers in Astana and Istanbul.",
            },
        ).json()
        wait_for(lambda: "1" in delivered_versions(receiver, story["id"]), timeout=60, what="version 1")

        changes = {
            "add": [{"type": "place", "name": "Dushanbe", "code": "TJ"}, {"type": "subject", "uri": "medtop:20000640"}],
            "remove": [{"type": "place", "name": "Istanbul"}],
        }
        answer = api.put(f"/v1/stories/{story['id']}/tags", json=changes)
        assert answer.status_code == 200, answer.text
        view = answer.json()
        places = {p["name"]: p for p in view["tags"]["places"]}
        assert "Istanbul" not in places
        assert places["Dushanbe"]["source"] == "editor" and places["Dushanbe"]["code"] == "TJ"
        assert places["Astana"]["source"] == "auto"
        assert view["editor_tags"]["add"][1]["name"] == "summit meeting"
        assert view["version"] == 2

        event = wait_for(lambda: delivered_versions(receiver, story["id"]).get("2"), timeout=60, what="version 2")
        assert event["type"] == "story.updated"
        item = event["data"]
        names = {p["name"] for p in item["places"]}
        assert "Dushanbe" in names and "Istanbul" not in names
        summit = [s for s in item["subjects"] if s.get("uri") == "http://cv.iptc.org/newscodes/mediatopic/20000640"]
        assert summit and summit[0]["creator"] == "newswire-editor"

        # The same changes again change nothing: no third version.
        assert api.put(f"/v1/stories/{story['id']}/tags", json=changes).json()["version"] == 2

        # The editor's set is replaced by the next PUT; the removal no longer applies.
        again = api.put(f"/v1/stories/{story['id']}/tags", json={"add": [], "remove": []}).json()
        assert "Istanbul" in {p["name"] for p in again["tags"]["places"]}


def test_invalid_tag_edits_are_refused(stack):
    with stack.client(stack.editor_key) as api:
        story = api.post("/v1/stories", json={"headline": "Tags", "body_text": "In Bishkek."}).json()
        bad = [
            {"add": [{"type": "subject", "uri": "medtop:99999999"}]},
            {"add": [{"type": "place", "name": "Atlantis", "code": "XX"}]},
            {"add": [{"type": "planet", "name": "Mars"}]},
            {"add": [{"type": "person"}]},
        ]
        for body in bad:
            answer = api.put(f"/v1/stories/{story['id']}/tags", json=body)
            assert answer.status_code == 422, body
        assert api.get(f"/v1/stories/{story['id']}").json()["editor_tags"] is None
        assert api.put("/v1/stories/nope/tags", json={"add": []}).status_code == 404
