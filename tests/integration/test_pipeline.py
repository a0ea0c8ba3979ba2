"""One story through every real part: API -> outbox -> Redis -> enrichment worker ->
publish worker -> delivery worker -> signed webhook -> reference receiver."""

import json

import jsonschema
from referencing import Registry, Resource

from tests.support import ninjs_schema_dir, wait_for

CENTRAL_ASIA = {"KZ", "KG", "UZ", "TM", "TJ"}


def validate_ninjs(item: dict) -> None:
    spec = ninjs_schema_dir()
    schema = json.loads((spec / "ninjs-schema_3.1.json").read_text())
    geojson = json.loads((spec / "GeoJSON-schema.json").read_text())
    registry = Registry().with_resource(geojson["$id"], Resource.from_contents(geojson))
    jsonschema.Draft202012Validator(schema, registry=registry).validate(item)


def test_seed_story_reaches_receiver_signed_as_ninjs(stack, site, seed_story):
    subscriber, receiver = site
    with stack.client(stack.editor_key) as api:
        answer = api.post("/v1/stories", json=seed_story)
        assert answer.status_code == 202, answer.text
        story = answer.json()
        assert story["version"] == 1 and story["uri"] == f"urn:newswire:story:{story['id']}"

        # The receiver writes only what passed standardwebhooks verification.
        event = wait_for(
            lambda: next((e for e in receiver.events() if e["event"]["data"]["uri"] == story["uri"]), None),
            timeout=60,
            what="the seed story at the receiver",
        )["event"]
        item = event["data"]
        assert event["type"] == "story.published"
        validate_ninjs(item)
        assert item["version"] == "1"
        assert item["headlines"][0]["value"] == seed_story["headline"]
        codes = {p.get("literal") for p in item["places"]}
        assert CENTRAL_ASIA <= codes
        literals = [p["literal"] for p in item["places"] if p.get("literal")]
        assert len(literals) == len(set(literals))  # each country once
        assert {p["literal"] for p in item["places"] if p["rel"] == "subject"} >= CENTRAL_ASIA
        assert any(p["name"] == "Astana" and p["uri"] == "https://sws.geonames.org/1526273/" for p in item["places"])
        assert any(p["name"] == "John Kerry" for p in item["people"])
        organisations = {o["name"] for o in item["organisations"]}
        assert {"American University of Central Asia", "Nazarbaev University"} <= organisations
        diplomacy = [s for s in item["subjects"] if s.get("uri") == "http://cv.iptc.org/newscodes/mediatopic/20000639"]
        assert diplomacy and 0 <= diplomacy[0]["confidence"] <= 100
        assert item["subjects"][0]["uri"].rsplit("/", 1)[1] in {"20000639", "20000638"}  # diplomacy leads
        keywords = [s["literal"].lower() for s in item["subjects"] if s["rel"] == "keyword"]
        assert "central asia" in keywords and 0 < len(keywords) <= 10
        assert not {"november", "monday", "2015", "the", "said"} & {w for k in keywords for w in k.split()}

        view = wait_for(
            lambda: (
                lambda v: (
                    v
                    if any(t["event"] == "delivered" and t["subscriber_id"] == subscriber["id"] for t in v["timeline"])
                    else None
                )
            )(api.get(f"/v1/stories/{story['id']}").json()),
            timeout=30,
            what="the delivery to show in the timeline",
        )
    assert view["status"] == "published"
    events = [t["event"] for t in view["timeline"]]
    assert events[:4] == ["received", "stored", "enriched", "published"]
    assert {p["code"] for p in view["tags"]["places"]} >= CENTRAL_ASIA


def test_forged_webhook_is_rejected_by_the_receiver(site):
    _subscriber, receiver = site
    import httpx

    body = b'{"type":"story.published","timestamp":"2026-01-01T00:00:00Z","data":{"uri":"urn:x"}}'
    headers = {
        "webhook-id": "msg_forged",
        "webhook-timestamp": "1767225600",
        "webhook-signature": "v1,bm90IGEgcmVhbCBzaWduYXR1cmU=",
    }
    answer = httpx.post(receiver.url, content=body, headers=headers)
    assert answer.status_code == 401
    assert receiver.events() == []


def test_idempotency_key_stores_one_story(stack, seed_story):
    before = stack.count("story")
    headers = {"Idempotency-Key": "editor-desk-42"}
    with stack.client(stack.editor_key) as api:
        first = api.post("/v1/stories", json=seed_story, headers=headers)
        second = api.post("/v1/stories", json=seed_story, headers=headers)
        conflict = api.post("/v1/stories", json={**seed_story, "headline": "Another"}, headers=headers)
    assert first.status_code == 202 and second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert conflict.status_code == 409
    assert stack.count("story") == before + 1


def test_deliveries_list_shows_attempts(stack, site):
    subscriber, receiver = site
    with stack.client(stack.editor_key) as api:
        story = api.post(
            "/v1/stories", json={"headline": "Flash: quake", "body_text": "A quake hit Tashkent.", "urgency": 1}
        ).json()
    wait_for(
        lambda: any(e["event"]["data"]["uri"] == story["uri"] for e in receiver.events()),
        timeout=60,
        what="the flash story",
    )

    def delivered() -> list[dict]:
        # The site has the story before the worker records its answer: wait for the row itself.
        with stack.client(stack.admin_key) as admin:
            deliveries = admin.get(f"/v1/subscribers/{subscriber['id']}/deliveries").json()["items"]
        mine = [d for d in deliveries if d["story_id"] == story["id"]]
        return mine if mine and mine[0]["state"] == "delivered" else []

    mine = wait_for(delivered, timeout=60, what="the delivery row to say delivered")
    assert len(mine) == 1
    assert mine[0]["attempts"][0]["status_code"] == 200
    assert mine[0]["message_id"].startswith("msg_")


def test_readyz_reports_database_and_redis(stack):
    with stack.client() as api:
        answer = api.get("/readyz")
    assert answer.status_code == 200
    assert answer.json()["checks"] == {"database": "ok", "redis": "ok"}
