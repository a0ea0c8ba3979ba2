"""The desk's rules for new versions, kills, embargoes and history (no workers needed)."""

from datetime import UTC, datetime, timedelta

from tests.api.conftest import count
from tests.api.pipeline import version_row

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan.", "slugline": "Kerry"}


def file(api, body=STORY):
    answer = api.editor.post("/v1/stories", json=body)
    assert answer.status_code == 202, answer.text
    return answer.json()


def test_update_and_correction_are_new_versions_with_kind_author_and_note(api):
    story = file(api)
    path = f"/v1/stories/{story['id']}"
    updated = api.editor.put(path, json={**STORY, "body_text": "Kerry arrived on Monday."})
    assert updated.status_code == 202 and updated.json()["version"] == 2
    corrected = api.admin.post(
        f"{path}/corrections",
        json={**STORY, "body_text": "Kerry arrived on Tuesday.", "note": "Corrects the day of arrival"},
    )
    assert corrected.status_code == 202 and corrected.json()["version"] == 3
    versions = api.editor.get(f"{path}/versions").json()
    assert [(v["version"], v["kind"], v["event_type"], v["filed_by"]) for v in versions] == [
        (1, "original", "story.published", "desk"),
        (2, "update", "story.updated", "desk"),
        (3, "correction", "story.corrected", "ops"),
    ]
    assert versions[2]["note"] == "Corrects the day of arrival"
    assert all(v["state"] == "stored" for v in versions)
    assert api.sent.tasks() == ["enrichment.tag_version"] * 3
    view = api.editor.get(path).json()
    assert view["version"] == 3 and view["kind"] == "correction" and view["body_text"] == "Kerry arrived on Tuesday."
    assert api.editor.get(f"{path}/versions/3").status_code == 404  # not rendered yet


def test_an_unchanged_update_files_nothing(api):
    story = file(api)
    answer = api.editor.put(f"/v1/stories/{story['id']}", json=STORY)
    assert answer.status_code == 200
    assert answer.json()["version"] == 1
    assert count("story_version") == 1


def test_kill_withdraws_what_is_not_out_and_refuses_later_changes(api):
    story = file(api)
    path = f"/v1/stories/{story['id']}"
    api.editor.put(path, json={**STORY, "headline": "Kerry in Dushanbe"})
    api.sent.messages.clear()
    killed = api.editor.post(f"{path}/kill", json={"reason": "Legal: names a minor"})
    assert killed.status_code == 202
    assert killed.json()["version"] == 3 and killed.json()["status"] == "killed"
    # the kill skips enrichment and jumps the queue
    assert api.sent.messages == [("publish.render_version", version_row(story["id"], 3).id, 0)]
    states = [(v["version"], v["kind"], v["state"]) for v in api.editor.get(f"{path}/versions").json()]
    assert states == [(1, "original", "withdrawn"), (2, "update", "withdrawn"), (3, "kill", "enriched")]
    kill = version_row(story["id"], 3)
    assert kill.pubstatus == "canceled" and kill.note == "Legal: names a minor"
    assert "Dushanbe" not in kill.headline and "Tajikistan" not in kill.body_text  # the kill repeats no text
    for method, where, body in [
        ("put", path, STORY),
        ("post", f"{path}/corrections", {**STORY, "note": "n"}),
        ("post", f"{path}/kill", {"reason": "again"}),
        ("put", f"{path}/tags", {"add": [{"type": "place", "name": "Paris"}]}),
    ]:
        answer = api.editor.request(method, where, json=body)
        assert answer.status_code == 409, where
        assert answer.json()["error"]["code"] == "story_killed"
    assert count("story_version") == 3


def test_an_update_keeps_the_embargo_unless_it_is_lifted(api):
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    story = file(api, {**STORY, "embargoed_until": until.isoformat()})
    path = f"/v1/stories/{story['id']}"
    assert story["status"] == "embargoed"
    kept = api.editor.put(path, json={**STORY, "headline": "Kerry in Dushanbe"}).json()
    assert kept["status"] == "embargoed"
    assert version_row(story["id"], 2).embargoed_until == until
    assert version_row(story["id"], 1).state == "superseded"  # held back, replaced: never goes out
    lifted = api.editor.put(path, json={**STORY, "headline": "Kerry in Dushanbe", "embargoed_until": None}).json()
    assert lifted["status"] == "received"
    assert version_row(story["id"], 3).embargoed_until is None
    assert version_row(story["id"], 2).state == "superseded"


def test_only_a_failed_version_can_be_retried(api):
    story = file(api)
    answer = api.editor.post(f"/v1/stories/{story['id']}/versions/1/retry")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "not_failed"
    assert api.editor.post(f"/v1/stories/{story['id']}/versions/9/retry").status_code == 404
