"""The reference receiver marks a webhook-id as seen only once the event is safely handled:
a failed write answers 500, and the retry (same webhook-id) is processed, not dropped."""

import json
import threading

import httpx
import pytest

from services.ingest.subscribers.service import new_webhook_secret
from services.receiver.server import Receiver
from shared.embedded_redis import free_port
from shared.webhook_client import event_body, signed_headers


@pytest.fixture
def receiver(tmp_path):
    secret = new_webhook_secret()
    server = Receiver(free_port(), secret, out=tmp_path)  # a directory: appending to it fails
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, secret, tmp_path
    server.shutdown()
    server.server_close()


def test_a_failed_write_is_not_taken_for_a_duplicate_on_retry(receiver):
    server, secret, folder = receiver
    url = f"http://127.0.0.1:{server.server_address[1]}/webhooks"
    data = {"uri": "urn:newswire:story:1", "version": "1", "headlines": [{"role": "main", "value": "H"}]}
    body = event_body("story.published", "2026-11-28T00:00:00Z", data)

    def send():
        return httpx.post(url, content=body, headers=signed_headers(secret, "msg_retry", body), timeout=5)

    first = send()
    assert first.status_code == 500
    server.out = folder / "events.jsonl"  # the site fixed its disk
    second = send()
    assert second.status_code == 200 and second.text == "ok"
    assert "msg_retry" in server.out.read_text()
    assert send().text == "duplicate ignored"


def test_an_xml_subscriber_s_documents_are_verified_and_kept_as_they_came(receiver):
    server, secret, folder = receiver
    server.out = folder / "events.jsonl"
    url = f"http://127.0.0.1:{server.server_address[1]}/webhooks"
    body = b'<?xml version="1.0" encoding="UTF-8"?><nitf xmlns="http://iptc.org/std/NITF/2006-10-18/"/>'
    headers = signed_headers(secret, "msg_xml", body, content_type="application/nitf+xml", event_type="story.killed")
    assert httpx.post(url, content=body, headers=headers, timeout=5).text == "ok"
    kept = json.loads(server.out.read_text())
    assert kept["event"] == {"type": "story.killed", "content_type": "application/nitf+xml", "document": body.decode()}
    tampered = body.replace(b"nitf", b"NITF")
    assert httpx.post(url, content=tampered, headers=headers, timeout=5).status_code == 401
