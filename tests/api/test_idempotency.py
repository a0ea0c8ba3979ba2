"""Idempotency-Key on create, update, correction and kill: a retry files nothing new."""

from concurrent.futures import ThreadPoolExecutor

from sqlmodel import select

from shared import db
from shared.models import Story
from tests.api.conftest import client, count

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}


def post(api, path, body, key, method="post"):
    return api.editor.request(method, path, json=body, headers={"Idempotency-Key": key})


def test_create_with_the_same_key_stores_one_story(api):
    first = post(api, "/v1/stories", STORY, "desk-42")
    again = post(api, "/v1/stories", STORY, "desk-42")
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert count("story") == 1 and len(api.sent.messages) == 1
    conflict = post(api, "/v1/stories", {**STORY, "headline": "Another"}, "desk-42")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    assert count("story") == 1


def test_update_correction_and_kill_with_a_key_file_once(api):
    story = post(api, "/v1/stories", STORY, "create-1").json()
    path = f"/v1/stories/{story['id']}"
    update = {**STORY, "body_text": "Kerry arrived in Tajikistan on Monday."}
    correction = {**update, "body_text": "Kerry arrived in Tajikistan on Tuesday.", "note": "Day corrected"}
    for method, where, body, key, version in [
        ("put", path, update, "update-1", 2),
        ("post", f"{path}/corrections", correction, "correct-1", 3),
        ("post", f"{path}/kill", {"reason": "Legal"}, "kill-1", 4),
    ]:
        first = post(api, where, body, key, method)
        again = post(api, where, body, key, method)
        assert first.status_code == again.status_code == 202, (where, first.text, again.text)
        assert first.json()["version"] == again.json()["version"] == version
    assert count("story_version") == 4
    assert len(api.sent.messages) == 4  # one event per version, none for the replays


def test_a_key_reused_for_another_operation_or_story_is_409(api):
    story = post(api, "/v1/stories", STORY, "shared-key").json()
    reused = post(api, f"/v1/stories/{story['id']}", STORY | {"headline": "New"}, "shared-key", "put")
    assert reused.status_code == 409
    other = api.editor.post("/v1/stories", json=STORY).json()
    post(api, f"/v1/stories/{story['id']}/kill", {"reason": "r"}, "kill-key")
    assert post(api, f"/v1/stories/{other['id']}/kill", {"reason": "r"}, "kill-key").status_code == 409
    assert api.editor.get(f"/v1/stories/{other['id']}").json()["status"] != "killed"


def test_a_replay_answers_even_when_its_version_was_withdrawn_or_superseded(api):
    story = post(api, "/v1/stories", STORY, "before-kill").json()
    api.editor.post(f"/v1/stories/{story['id']}/kill", json={"reason": "Legal"})
    replay = post(api, "/v1/stories", STORY, "before-kill")
    assert replay.status_code == 202
    assert replay.json()["version"] == 1 and replay.json()["status"] == "withdrawn"

    held = {**STORY, "embargoed_until": "2099-01-01T00:00:00Z"}
    other = api.editor.post("/v1/stories", json=held).json()
    path = f"/v1/stories/{other['id']}"
    first = post(api, path, {**held, "headline": "Second"}, "held-update", "put")
    api.editor.put(path, json={**held, "headline": "Third"})
    again = post(api, path, {**held, "headline": "Second"}, "held-update", "put")
    assert again.status_code == 202
    assert again.json()["version"] == first.json()["version"] == 2
    assert again.json()["status"] == "superseded"


def ready_clients(api, n: int) -> list:
    """Editor clients, each with its app set up by a first request before any race (the app
    finishes building itself on its first request, which is no race to test here)."""
    clients = [client(api.editor_key) for _ in range(n)]
    for each in clients:
        assert each.get("/healthz").status_code == 200
    return clients


def test_requests_racing_with_one_key_store_one_story(either):
    """On PostgreSQL the later ones meet the first's key row, wait for it to commit, and run
    again to replay its answer (``once_per_key``)."""
    clients = ready_clients(either, 6)
    with ThreadPoolExecutor(len(clients)) as pool:
        racing = [
            pool.submit(each.post, "/v1/stories", json=STORY, headers={"Idempotency-Key": "r1"}) for each in clients
        ]
        answers = [answer.result() for answer in racing]
    assert [answer.status_code for answer in answers] == [202] * len(clients)
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert count("story") == 1


def test_stories_filed_at_once_are_numbered_one_by_one(either):
    clients = ready_clients(either, 6)
    with ThreadPoolExecutor(len(clients)) as pool:
        answers = list(pool.map(lambda n: clients[n % 6].post("/v1/stories", json=STORY), range(30)))
    assert [answer.status_code for answer in answers] == [202] * 30
    with db.read_scope() as session:
        assert sorted(session.exec(select(Story.seq)).all()) == list(range(1, 31))
