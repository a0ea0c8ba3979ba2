"""GET /v1/stories: newest first, keyset pages that neither repeat nor skip a story while new
ones are filed, and the filters."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.pipeline import KAZAKHSTAN_DIPLOMACY, enrich


def file(api, headline="Routine", **fields):
    answer = api.editor.post("/v1/stories", json={"headline": headline, "body_text": "Text.", **fields})
    assert answer.status_code == 202
    return answer.json()["id"]


def pages(api, params=None, limit=100):
    """Follow ``next`` to the end; returns the ids in order and the number of pages."""
    ids, url, count = [], "/v1/stories", 0
    answer = api.editor.get(url, params={**(params or {}), "limit": limit}).json()
    while True:
        count += 1
        ids += [item["id"] for item in answer["items"]]
        if not answer["next"]:
            return ids, count
        answer = api.editor.get(answer["next"]).json()


def test_pages_neither_repeat_nor_skip_while_stories_are_filed(api):
    existing = [file(api, f"Story {n}") for n in range(250)]
    seen, created, filed_meanwhile = [], [], []
    answer = api.editor.get("/v1/stories", params={"limit": 60}).json()
    while True:
        seen += [item["id"] for item in answer["items"]]
        created += [item["created_at"] for item in answer["items"]]
        filed_meanwhile += [file(api, "Filed meanwhile") for _ in range(7)]
        if not answer["next"]:
            break
        answer = api.editor.get(answer["next"]).json()
    assert len(seen) == len(set(seen))  # no story twice
    assert set(seen) == set(existing)  # none skipped
    assert created == sorted(created, reverse=True)  # newest first
    assert not set(filed_meanwhile) & set(seen)  # new ones land before the first page
    assert pages(api, limit=200)[0][: len(filed_meanwhile)] == list(reversed(filed_meanwhile))


def test_filters(api):
    flash = file(api, "Quake hits Almaty", urgency=1)
    routine = file(api, "Markets steady", urgency=6)
    tagged = file(api, "Kerry meets Nazarbayev in Astana")
    enrich(tagged, 1, KAZAKHSTAN_DIPLOMACY)
    killed = file(api, "Withdrawn story")
    api.editor.post(f"/v1/stories/{killed}/kill", json={"reason": "Legal"})

    def ids(**params):
        return pages(api, params)[0]

    assert ids(urgency_max=2) == [flash]
    assert ids(place="KZ") == ids(place="kz") == [tagged]
    assert ids(subject="medtop:20000640") == [tagged]
    assert ids(subject="medtop:11000000") == [tagged]  # a broader topic finds its narrower ones
    assert ids(subject="http://cv.iptc.org/newscodes/mediatopic/20000638") == [tagged]
    assert ids(subject="medtop:15000000") == []
    assert ids(status="killed") == [killed]
    assert ids(status="enriched") == [tagged]
    assert set(ids(status="received")) == {flash, routine}
    assert ids(q="markets STEADY") == [routine]
    assert ids(q="100%_") == []
    assert set(ids(q="quake", urgency_max=1)) == {flash}
    later = datetime.now(UTC) + timedelta(hours=1)
    assert ids(since=later.isoformat()) == []
    assert len(ids(until=later.isoformat())) == 4


def test_editor_tag_changes_are_filterable(api):
    story = file(api, "Talks")
    api.editor.put(
        f"/v1/stories/{story}/tags",
        json={
            "add": [{"type": "place", "name": "Bishkek", "code": "KG"}, {"type": "subject", "uri": "medtop:20000639"}]
        },
    )
    assert pages(api, {"place": "KG"})[0] == [story]
    assert pages(api, {"subject": "medtop:11000000"})[0] == [story]


def test_list_items_say_what_an_editor_needs(api):
    story = file(api, "Kerry in Astana", slugline="Kerry-Astana", urgency=3)
    (item,) = api.editor.get("/v1/stories").json()["items"]
    assert item["id"] == story and item["uri"] == f"urn:newswire:story:{story}"
    assert (item["headline"], item["slugline"], item["urgency"], item["status"], item["version"]) == (
        "Kerry in Astana",
        "Kerry-Astana",
        3,
        "received",
        1,
    )
    assert item["links"]["self"] == f"/v1/stories/{story}"


@pytest.mark.parametrize(
    "params, status, code",
    [
        ({"limit": 201}, 422, "invalid_request"),
        ({"limit": 0}, 422, "invalid_request"),
        ({"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
        ({"cursor": "WyJ4IiwgMV0"}, 400, "invalid_cursor"),
        ({"subject": "medtop:99999999"}, 422, "invalid_subject"),
        ({"place": "KAZ"}, 422, "invalid_request"),
        ({"status": "lost"}, 422, "invalid_request"),
        ({"since": "2026-01-01T00:00:00"}, 422, "invalid_request"),
        ({"urgency_max": 10}, 422, "invalid_request"),
    ],
)
def test_bad_list_parameters_are_refused(api, params, status, code):
    answer = api.editor.get("/v1/stories", params=params)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code
