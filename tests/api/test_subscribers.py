"""Managing subscribers: filters checked against the vocabularies, PATCH, delete, enable,
secret rotation with an overlap, auto-disable after failing for too long, subscriber keys."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from services.publish import delivery
from shared import db
from shared.config import get_settings
from shared.models import Subscriber
from shared.timeutil import utcnow
from shared.webhook_client import SendResult
from tests.api.conftest import client
from tests.api.pipeline import deliveries, enrich, render

STORY = {"headline": "Kerry lands in Dushanbe", "body_text": "Kerry arrived in Tajikistan."}
URL = "http://127.0.0.1:9/hook"


def create(api, name="site", **extra):
    target = {} if "channel" in extra else {"url": URL}
    answer = api.admin.post("/v1/subscribers", json={"name": name, **target, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_filters_are_normalised_and_checked(api):
    site = create(
        api,
        filters={
            "subjects": ["20000639", "http://cv.iptc.org/newscodes/mediatopic/04000000"],
            "places": ["kz", "US"],
            "urgency_max": 4,
            "events": ["story.published"],
        },
    )
    assert site["filters"] == {
        "subjects": ["medtop:04000000", "medtop:20000639"],
        "places": ["KZ", "US"],
        "urgency_max": 4,
        "events": ["story.published"],
    }
    for bad, code in [
        ({"subjects": ["medtop:99999999"]}, "invalid_filter"),
        ({"places": ["XX"]}, "invalid_filter"),
        ({"urgency_max": 0}, "invalid_request"),
        ({"events": ["story.deleted"]}, "invalid_request"),
        ({"colour": ["red"]}, "invalid_request"),
    ]:
        answer = api.admin.post("/v1/subscribers", json={"name": "bad", "url": URL, "filters": bad})
        assert answer.status_code == 422, bad
        assert answer.json()["error"]["code"] == code


def test_get_patch_disable_enable_and_delete(api):
    site = create(api)
    path = f"/v1/subscribers/{site['id']}"
    assert api.admin.get(path).json()["name"] == "site"
    assert "secret" not in api.admin.get(path).json()
    changed = api.admin.patch(path, json={"name": "site two", "filters": {"places": ["FR"]}, "active": False}).json()
    assert (changed["name"], changed["filters"], changed["active"]) == ("site two", {"places": ["FR"]}, False)
    assert changed["disabled_reason"] == "disabled by ops"
    assert api.admin.patch(path, json={"filters": None}).json()["filters"] is None
    assert api.admin.patch(path, json={"url": "http://10.0.0.1/x"}).status_code == 422
    create(api, name="other")
    assert api.admin.patch(path, json={"name": "other"}).status_code == 409
    enabled = api.admin.post(f"{path}/enable").json()
    assert enabled["active"] is True and enabled["disabled_reason"] is None
    assert api.admin.delete(path).status_code == 204
    assert api.admin.get(path).status_code == 404
    assert site["id"] not in {s["id"] for s in api.admin.get("/v1/subscribers").json()}
    assert create(api, name="site two")["id"] != site["id"]  # the name is free again


def test_deleting_withdraws_pending_deliveries_and_revokes_its_keys(api):
    site = create(api)
    key = api.admin.post(f"/v1/subscribers/{site['id']}/keys").json()["key"]
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1)
    render(story["id"], 1)
    api.admin.delete(f"/v1/subscribers/{site['id']}")
    assert [d.state for d in deliveries(story["id"])] == ["withdrawn"]
    assert client(key).get("/v1/feed").status_code == 401


def test_rotation_signs_with_both_secrets_during_the_overlap(api):
    site = create(api)
    rotated = api.admin.post(f"/v1/subscribers/{site['id']}/rotate-secret", json={"overlap_seconds": 3600}).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != site["secret"]
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1)
    render(story["id"], 1)
    (row,) = deliveries(story["id"])
    out = delivery.claim([row.id], settings=get_settings())[row.id]
    assert out.secrets == (rotated["secret"], site["secret"])
    with db.session_scope() as session:  # the overlap ends
        session.exec(update(Subscriber).values(previous_secret_expires_at=utcnow() - timedelta(seconds=1)))
    delivery.record(
        [delivery.Attempt(out, utcnow(), SendResult(500, 1.0, "HTTP 500", "", None))], settings=get_settings()
    )
    with db.session_scope() as session:
        session.exec(update(delivery.DELIVERIES).values(next_attempt_at=utcnow()))
    assert delivery.claim([row.id], settings=get_settings())[row.id].secrets == (rotated["secret"],)


@pytest.mark.parametrize(
    "failing_for, last_failure, disabled",
    [
        (timedelta(days=4), timedelta(hours=1), True),  # failing every time for four days
        (timedelta(hours=1), timedelta(minutes=5), False),  # not long enough yet
        (timedelta(days=4), timedelta(days=4), False),  # one old failure, then nothing known: a new streak
    ],
)
def test_a_subscriber_failing_for_too_long_is_disabled(api, failing_for, last_failure, disabled):
    site = create(api)
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1)
    render(story["id"], 1)
    with db.session_scope() as session:
        session.exec(
            update(Subscriber).values(failing_since=utcnow() - failing_for, last_failed_at=utcnow() - last_failure)
        )
    (row,) = deliveries(story["id"])
    out = delivery.claim([row.id], settings=get_settings())[row.id]
    delivery.record(
        [delivery.Attempt(out, utcnow(), SendResult(None, 1.0, "refused", None, None))], settings=get_settings()
    )
    view = api.admin.get(f"/v1/subscribers/{site['id']}").json()
    assert view["active"] is not disabled
    if disabled:
        assert "every delivery failed for over 3 days" in view["disabled_reason"]


def test_a_success_ends_a_failing_streak(api):
    site = create(api)
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1)
    render(story["id"], 1)
    with db.session_scope() as session:
        session.exec(update(Subscriber).values(failing_since=utcnow() - timedelta(days=1)))
    (row,) = deliveries(story["id"])
    out = delivery.claim([row.id], settings=get_settings())[row.id]
    delivery.record([delivery.Attempt(out, utcnow(), SendResult(200, 1.0, None, "ok", None))], settings=get_settings())
    assert api.admin.get(f"/v1/subscribers/{site['id']}").json()["failing_since"] is None


def test_subscriber_keys_read_only_their_feed(api):
    site = create(api)
    created = api.admin.post(f"/v1/subscribers/{site['id']}/keys", json={"name": "site reader"})
    assert created.status_code == 201 and created.json()["subscriber_id"] == site["id"]
    reader = client(created.json()["key"])
    assert reader.get("/v1/feed").status_code == 200
    assert reader.get("/v1/stories").status_code == 403
    assert reader.post("/v1/stories", json=STORY).status_code == 403
    assert api.editor.get("/v1/feed").status_code == 403
    assert api.admin.post("/v1/keys", json={"name": "x", "role": "subscriber"}).status_code == 422


def test_deleting_leaves_a_send_in_flight_to_finish(api):
    site = create(api)
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1)
    render(story["id"], 1)
    (row,) = deliveries(story["id"])
    out = delivery.claim([row.id], settings=get_settings())[row.id]  # in flight
    api.admin.delete(f"/v1/subscribers/{site['id']}")
    assert deliveries(story["id"])[0].state == "pending"
    delivery.record([delivery.Attempt(out, utcnow(), SendResult(200, 1.0, None, "ok", None))], settings=get_settings())
    assert deliveries(story["id"])[0].state == "delivered"  # what landed is recorded as landed


def test_a_subscriber_picks_its_format_and_a_claim_renders_it(api):
    """ninjs by default; newsml-g2 and nitf on request, changed by PATCH; anything else refused.
    A claimed delivery carries the body of its subscriber's format and its content type."""
    assert create(api, "json-site")["format"] == "ninjs"
    site = create(api, "g2-site", format="newsml-g2")
    assert site["format"] == "newsml-g2"
    refused = api.admin.post("/v1/subscribers", json={"name": "rss-site", "url": URL, "format": "rss"})
    assert refused.status_code == 422 and "format" in refused.text
    story = api.editor.post("/v1/stories", json=STORY).json()
    enrich(story["id"], 1)
    render(story["id"], 1)
    mine = [d for d in deliveries(story["id"]) if d.subscriber_id == site["id"]]
    claimed = delivery.claim([mine[0].id], settings=get_settings())[mine[0].id]
    assert claimed.content_type == "application/vnd.iptc.g2.newsitem+xml"
    assert claimed.body.startswith(b"<?xml") and b"urn:newswire:story:" + story["id"].encode() in claimed.body
    assert claimed.event_type == "story.published"
    changed = api.admin.patch(f"/v1/subscribers/{site['id']}", json={"format": "nitf"})
    assert changed.status_code == 200 and changed.json()["format"] == "nitf"


HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIuiQ1JNuqmtWW0l6ECS6EVXQIuimgfS6Ngg3C8R1CZ2"


def sftp(**changes):
    return {
        "type": "sftp",
        "host": "127.0.0.1",
        "username": "wire",
        "password": "Sesame-api-test",
        "host_key": HOST_KEY,
        "path": "in",
        **changes,
    }


@pytest.mark.parametrize(
    ("channel", "says"),
    [
        (sftp(host="10.20.30.40"), "10.20.30.40, a private"),  # not in the allowed networks
        (sftp(host_key="not a key"), "host_key is not a public key"),
        (sftp(password=None), "needs a password or a private_key"),
        (sftp(private_key="-----BEGIN nonsense-----"), "private_key is not"),
        ({"type": "folder", "path": "../etc"}, "without '..'"),
        ({"type": "folder", "path": "/var/www"}, "relative to NEWSWIRE_FOLDER_CHANNEL_ROOT"),
        ({"type": "ftp", "host": "127.0.0.1"}, "channel"),  # no username, no password
        ({"type": "ftp", "host": "10.9.8.7", "username": "u", "password": "p"}, "10.9.8.7, a private"),
        ({"type": "email", "host": "10.9.8.7", "from": "a@b.test", "to": ["c@d.test"]}, "10.9.8.7, a private"),
        ({"type": "email", "host": "127.0.0.1", "from": "a@b.test", "to": []}, "to"),
        ({"type": "email", "host": "127.0.0.1", "from": "not an address", "to": ["c@d.test"]}, "from"),
        ({"type": "gopher", "host": "127.0.0.1"}, "channel"),
    ],
)
def test_a_channel_is_checked_before_it_is_stored(api, channel, says):
    answer = api.admin.post("/v1/subscribers", json={"name": "files", "channel": channel})
    assert answer.status_code == 422 and says in answer.text, answer.text
    assert api.admin.get("/v1/subscribers").json() == []


def test_url_and_channel_are_one_or_the_other(api):
    both = api.admin.post("/v1/subscribers", json={"name": "x", "url": URL, "channel": {"type": "webhook", "url": URL}})
    neither = api.admin.post("/v1/subscribers", json={"name": "x"})
    assert both.status_code == neither.status_code == 422
    webhook = create(api, "hook", channel={"type": "webhook", "url": URL})
    assert webhook["url"] == URL and webhook["channel"] == {"type": "webhook", "url": URL}


def test_sftp_credentials_are_write_only_and_sealed_at_rest(api):
    site = create(api, "sftp-site", channel=sftp())
    assert site["url"] == "sftp://wire@127.0.0.1:22/in"
    assert site["channel"]["credentials"] == ["password"] and site["channel"]["host_key"] == HOST_KEY
    listed = api.admin.get("/v1/subscribers").text + api.admin.get(f"/v1/subscribers/{site['id']}").text
    assert "Sesame-api-test" not in listed + str(site)
    with db.read_scope() as session:
        row = session.get(Subscriber, site["id"])
    assert "Sesame-api-test" not in row.credentials and "Sesame" not in str(row.channel)
    from shared import credentials

    assert credentials.unseal(row.credentials) == {"password": "Sesame-api-test"}
    moved = api.admin.patch(f"/v1/subscribers/{site['id']}", json={"channel": {"type": "folder", "path": "wire"}})
    assert moved.status_code == 200 and moved.json()["channel"] == {"type": "folder", "path": "wire"}
    with db.read_scope() as session:
        assert session.get(Subscriber, site["id"]).credentials is None  # the old password is gone


def test_email_and_ftp_channels_keep_their_password_sealed(api):
    mail = create(
        api,
        "mail-site",
        channel={
            "type": "email",
            "host": "127.0.0.1",
            "port": 2525,
            "username": "wire",
            "password": "Mail-secret-1",
            "from": "wire@newswire.test",
            "to": ["desk@site.test"],
        },
    )
    assert mail["url"] == "mailto:desk@site.test"
    assert mail["channel"] == {
        "type": "email",
        "host": "127.0.0.1",
        "port": 2525,
        "starttls": True,
        "username": "wire",
        "from": "wire@newswire.test",
        "to": ["desk@site.test"],
        "credentials": ["password"],
    }
    ftp = create(
        api, "ftp-site", channel={"type": "ftp", "host": "127.0.0.1", "username": "u", "password": "Ftp-1", "tls": True}
    )
    assert ftp["url"] == "ftps://u@127.0.0.1:21/." and ftp["channel"]["credentials"] == ["password"]
    assert "Mail-secret-1" not in api.admin.get("/v1/subscribers").text and "Ftp-1" not in str(ftp)
