"""Standard Webhooks delivery: sign at send time, POST without following redirects,
classify the answer."""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from shared.netguard import Target

RESPONSE_EXCERPT = 500
#: Statuses whose Retry-After header is honoured.
RETRY_AFTER_STATUSES = {429, 502, 503, 504}


@dataclass
class SendResult:
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str | None
    retry_after_seconds: float | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def event_body(event_type: str, timestamp: str, data: dict) -> bytes:
    return json.dumps({"type": event_type, "timestamp": timestamp, "data": data}, separators=(",", ":")).encode()


def signed_headers(secret: str | list[str], message_id: str, body: bytes, now: datetime | None = None) -> dict:
    """Standard Webhooks headers. With several secrets (rotation) every signature is sent."""
    now = now or datetime.now(UTC)
    secrets = [secret] if isinstance(secret, str) else secret
    signatures = " ".join(Webhook(s).sign(message_id, now, body.decode()) for s in secrets)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
        "user-agent": "Newswire-Webhooks/1",
    }


#: The longest Retry-After honoured; a receiver cannot park a delivery for longer.
MAX_RETRY_AFTER = 86400.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), capped at a
    day; None for anything else. Never raises: the header is the receiver's, not ours."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() alone accepts "²" and "１２"
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def send(client: httpx.Client, target: Target, body: bytes, headers: dict) -> SendResult:
    """POST once, to the address the SSRF check approved (the Host header and, for HTTPS, the
    TLS server name stay the URL's own). Only the first few KB of the answer are read: a
    receiver cannot make the worker hold a large response in memory."""
    started = time.perf_counter()
    extensions = {"sni_hostname": target.hostname} if target.scheme == "https" else {}
    try:
        with client.stream(
            "POST",
            target.pinned_url(),
            content=body,
            extensions=extensions,
            headers={**headers, "host": target.host_header},
        ) as response:
            excerpt = b""
            for chunk in response.iter_raw():
                excerpt += chunk
                if len(excerpt) >= 4 * RESPONSE_EXCERPT:
                    break
            status, retry_header = response.status_code, response.headers.get("retry-after")
    except httpx.HTTPError as exc:
        return SendResult(None, (time.perf_counter() - started) * 1000, f"{exc.__class__.__name__}: {exc}", None, None)
    latency = (time.perf_counter() - started) * 1000
    retry_after = parse_retry_after(retry_header) if status in RETRY_AFTER_STATUSES else None
    error = None if 200 <= status < 300 else f"HTTP {status}"
    text = excerpt.decode("utf-8", errors="replace")[:RESPONSE_EXCERPT]
    return SendResult(status, latency, error, text, retry_after)
