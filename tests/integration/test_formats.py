"""Subscribers that take NewsML-G2 or NITF: a story, its correction and its kill reach them over
signed webhooks as three schema-valid documents, in order, the last one a cancellation; a ninjs
subscriber of the same story still gets JSON."""

from __future__ import annotations

import threading

from lxml import etree
from standardwebhooks.webhooks import Webhook

from tests.support import LocalEndpoint, wait_for, xml_schema

STORY = {
    "headline": "US returns to Central Asia",
    "body_text": "WASHINGTON — The United States will reopen talks with Kazakhstan and Uzbekistan.\n\nMore follows.",
    "slugline": "US-ASIA",
}
G2 = {"g": "http://iptc.org/std/nar/2006-10-01/"}
N = {"n": "http://iptc.org/std/NITF/2006-10-18/"}


class FormatSite:
    """A receiver on 127.0.0.1 registered as a subscriber of one format; it keeps what verified."""

    def __init__(self, stack, output_format: str):
        self.arrived: list[tuple[dict, bytes]] = []
        self.lock = threading.Lock()
        self.endpoint = LocalEndpoint(self._respond)
        with stack.client(stack.admin_key) as admin:
            created = admin.post(
                "/v1/subscribers",
                json={
                    "name": f"{output_format}-site-{self.endpoint.port}",
                    "url": self.endpoint.url,
                    "format": output_format,
                },
            )
        assert created.status_code == 201, created.text
        assert created.json()["format"] == output_format
        self.webhook = Webhook(created.json()["secret"])

    def _respond(self, body: bytes, headers: dict) -> tuple[int, dict]:
        self.webhook.verify(body, headers, json_parse=False)  # the signature covers the XML body too
        with self.lock:
            self.arrived.append((headers, body))
        return 200, {}

    def documents(self, story_id: str) -> list[tuple[dict, bytes]]:
        """What arrived of one story (the stack is shared: other tests' stories may still be on
        their way to every active subscriber, this one included)."""
        with self.lock:
            return [(headers, body) for headers, body in self.arrived if story_id.encode() in body]

    def close(self) -> None:
        self.endpoint.close()


def test_a_story_its_correction_and_its_kill_reach_newsml_g2_and_nitf_sites_in_order(stack):
    g2_site, nitf_site, json_site = (
        FormatSite(stack, "newsml-g2"),
        FormatSite(stack, "nitf"),
        FormatSite(stack, "ninjs"),
    )
    try:
        with stack.client(stack.editor_key) as api:
            story = api.post("/v1/stories", json=STORY).json()
            path, story_id = f"/v1/stories/{story['id']}", story["id"]
            wait_for(lambda: len(g2_site.documents(story_id)) >= 1, timeout=60, what="version 1 as NewsML-G2")
            corrected = api.post(f"{path}/corrections", json={**STORY, "note": "Corrects the countries"})
            assert corrected.status_code == 202, corrected.text
            wait_for(lambda: len(g2_site.documents(story_id)) >= 2, timeout=60, what="version 2 as NewsML-G2")
            killed = api.post(f"{path}/kill", json={"reason": "Legal: withdrawn"})
            assert killed.status_code == 202, killed.text
            sites = (g2_site, nitf_site, json_site)
            wait_for(
                lambda: all(len(s.documents(story_id)) == 3 for s in sites),
                timeout=60,
                what="three versions everywhere",
            )
        _check_newsml_g2(g2_site.documents(story["id"]), story["uri"])
        _check_nitf(nitf_site.documents(story["id"]), story["id"])
        assert [h["content-type"] for h, _ in json_site.documents(story["id"])] == ["application/json"] * 3
    finally:
        for site in (g2_site, nitf_site, json_site):
            site.close()


def _check_newsml_g2(documents, uri: str) -> None:
    schema = xml_schema("NewsML-G2_2.35-spec-All-Power.xsd")
    assert [h["content-type"] for h, _ in documents] == ["application/vnd.iptc.g2.newsitem+xml"] * 3
    assert [h["newswire-event-type"] for h, _ in documents] == ["story.published", "story.corrected", "story.killed"]
    roots = [etree.fromstring(body) for _, body in documents]
    for root in roots:
        assert schema.validate(root), [str(e) for e in schema.error_log]
        assert root.get("guid") == uri
    assert [r.get("version") for r in roots] == ["1", "2", "3"]
    statuses = [r.find("g:itemMeta/g:pubStatus", G2).get("qcode") for r in roots]
    assert statuses == ["stat:usable", "stat:usable", "stat:canceled"]
    assert roots[1].find("g:itemMeta/g:signal", G2).get("qcode") == "sig:correction"
    assert roots[1].findtext("g:itemMeta/g:edNote", namespaces=G2) == "Corrects the countries"
    assert roots[2].findtext("g:itemMeta/g:edNote", namespaces=G2) == "Legal: withdrawn"
    # the webhook-id of each version is its own, and stays the same on a retry
    assert len({h["webhook-id"] for h, _ in documents}) == 3


def _check_nitf(documents, story_id: str) -> None:
    schema = xml_schema("nitf-3-6.xsd")
    assert [h["content-type"] for h, _ in documents] == ["application/nitf+xml"] * 3
    roots = [etree.fromstring(body) for _, body in documents]
    for root in roots:
        assert schema.validate(root), [str(e) for e in schema.error_log]
    docdata = [r.find("n:head/n:docdata", N) for r in roots]
    assert [d.find("n:doc-id", N).get("id-string") for d in docdata] == [f"{story_id}-v{n}" for n in (1, 2, 3)]
    assert [d.get("management-status") for d in docdata] == ["usable", "usable", "canceled"]
    assert docdata[1].find("n:ed-msg", N).get("msg-type") == "correction"
    assert docdata[2].find("n:ed-msg", N).attrib == {"msg-type": "kill", "info": "Legal: withdrawn"}
