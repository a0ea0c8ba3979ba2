"""Who gets a version: filters decide for new stories and updates; corrections and kills go to
everyone who had the story, whatever their filters say now; an update that newly matches goes."""

from tests.api.pipeline import KAZAKHSTAN_DIPLOMACY, deliveries, enrich, mark_delivered, render

STORY = {"headline": "Kerry lands in Astana", "body_text": "Kerry arrived in Kazakhstan."}
SPORT = {
    "subjects": [
        {
            "name": "sport",
            "uri": "http://cv.iptc.org/newscodes/mediatopic/15000000",
            "qcode": "medtop:15000000",
            "broader": [],
        }
    ],
    "places": [{"name": "London", "code": "GB"}],
}


def subscribe(api, name, filters=None):
    body = {"name": name, "url": f"http://127.0.0.1:9/{name}", **({"filters": filters} if filters else {})}
    return api.admin.post("/v1/subscribers", json=body).json()["id"]


def recipients(story_id, version):
    return {d.subscriber_id for d in deliveries(story_id) if d.version == version}


def test_filters_decide_who_gets_a_story(api):
    everything = subscribe(api, "everything")
    politics = subscribe(api, "politics", {"subjects": ["medtop:11000000"]})  # broader than diplomacy
    kazakhstan = subscribe(api, "kazakhstan", {"places": ["KZ"]})
    sport = subscribe(api, "sport", {"subjects": ["medtop:15000000"]})
    flash_only = subscribe(api, "flash", {"urgency_max": 2})
    updates_only = subscribe(api, "updates", {"events": ["story.updated"]})
    french = subscribe(api, "french", {"languages": ["fr"]})
    story = api.editor.post("/v1/stories", json={**STORY, "urgency": 4, "language": "en"}).json()
    enrich(story["id"], 1, KAZAKHSTAN_DIPLOMACY)
    render(story["id"], 1)
    assert recipients(story["id"], 1) == {everything, politics, kazakhstan}
    assert not {sport, flash_only, updates_only, french} & recipients(story["id"], 1)


def test_corrections_and_kills_reach_earlier_recipients_whatever_their_filters_now(api):
    kazakhstan = subscribe(api, "kazakhstan", {"places": ["KZ"]})
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1, KAZAKHSTAN_DIPLOMACY)
    render(story["id"], 1)
    mark_delivered(deliveries(story["id"])[0].id)
    api.admin.patch(
        f"/v1/subscribers/{kazakhstan}", json={"filters": {"places": ["FR"], "events": ["story.published"]}}
    )
    api.editor.post(f"/v1/stories/{story['id']}/corrections", json={**STORY, "note": "Spelling"})
    enrich(story["id"], 2, KAZAKHSTAN_DIPLOMACY)
    render(story["id"], 2)
    assert recipients(story["id"], 2) == {kazakhstan}
    mark_delivered([d for d in deliveries(story["id"]) if d.version == 2][0].id)
    api.editor.put(f"/v1/stories/{story['id']}", json={**STORY, "headline": "Kerry in Astana"})
    enrich(story["id"], 3, KAZAKHSTAN_DIPLOMACY)
    render(story["id"], 3)
    assert recipients(story["id"], 3) == set()  # an update follows the filters
    api.editor.post(f"/v1/stories/{story['id']}/kill", json={"reason": "Legal"})
    render(story["id"], 4)
    assert recipients(story["id"], 4) == {kazakhstan}


def test_an_update_that_newly_matches_goes_to_the_subscriber(api):
    sport = subscribe(api, "sport", {"subjects": ["medtop:15000000"]})
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1, KAZAKHSTAN_DIPLOMACY)
    render(story["id"], 1)
    assert recipients(story["id"], 1) == set()
    api.editor.put(f"/v1/stories/{story['id']}", json={**STORY, "headline": "Astana football"})
    enrich(story["id"], 2, SPORT)
    render(story["id"], 2)
    assert recipients(story["id"], 2) == {sport}


def test_a_correction_reaches_a_subscriber_an_earlier_version_is_still_on_its_way_to(api):
    kazakhstan = subscribe(api, "kazakhstan", {"places": ["KZ"]})
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1, KAZAKHSTAN_DIPLOMACY)
    render(story["id"], 1)  # version 1 pending for the subscriber, not yet tried
    api.admin.patch(f"/v1/subscribers/{kazakhstan}", json={"filters": {"places": ["FR"]}})
    api.editor.post(f"/v1/stories/{story['id']}/corrections", json={**STORY, "note": "Spelling"})
    enrich(story["id"], 2, KAZAKHSTAN_DIPLOMACY)
    render(story["id"], 2)
    assert recipients(story["id"], 2) == {kazakhstan}  # it will get version 1: it must get the correction
