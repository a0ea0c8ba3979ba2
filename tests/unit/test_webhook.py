from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.ingest.subscribers.service import new_webhook_secret
from services.publish.delivery import backoff
from shared.webhook_client import event_body, parse_retry_after, signed_headers


def test_secret_has_standard_webhooks_form():
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    import base64

    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert new_webhook_secret() != secret


def test_signature_verifies_with_the_standardwebhooks_package():
    secret = new_webhook_secret()
    body = event_body("story.published", "2026-11-28T00:00:00Z", {"uri": "urn:newswire:story:1"})
    headers = signed_headers(secret, "msg_1", body)
    assert Webhook(secret).verify(body, headers)["data"]["uri"] == "urn:newswire:story:1"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"story:1", b"story:2"), headers)


def test_old_timestamps_are_rejected_by_receivers():
    secret = new_webhook_secret()
    body = b"{}"
    stale = signed_headers(secret, "msg_1", body, now=datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, stale)


def test_rotation_sends_both_signatures():
    old, new = new_webhook_secret(), new_webhook_secret()
    body = b'{"a":1}'
    headers = signed_headers([old, new], "msg_2", body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(body, headers) == {"a": 1}
    assert Webhook(new).verify(body, headers) == {"a": 1}


def test_backoff_grows_with_jitter_and_honours_retry_after():
    first = [backoff(1).total_seconds() for _ in range(50)]
    assert all(4.0 <= d <= 6.0 for d in first)
    assert 8.0 <= backoff(2).total_seconds() <= 12.0
    assert backoff(30).total_seconds() <= 6 * 3600 * 1.2
    assert backoff(1, retry_after=120).total_seconds() == 120
    assert backoff(1, retry_after=10**9).total_seconds() == 86400


def test_retry_after_forms():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize(
    "value",
    ["²", "１２", "Wed, 21 Oct 99999999999999999999 07:28:00 GMT", "-5", "1e9", "Mon, 99 Foo 2026 07:28:00 GMT"],
)
def test_malformed_retry_after_is_ignored(value):
    assert parse_retry_after(value) is None


def test_retry_after_far_ahead_is_capped():
    assert parse_retry_after("9" * 30) == 86400.0
    assert parse_retry_after("Wed, 21 Oct 9999 07:28:00 GMT") == 86400.0
