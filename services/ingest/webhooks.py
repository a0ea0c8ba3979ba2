"""The webhook payloads subscribers receive, described under the OpenAPI ``webhooks`` key so
that a site's developer (or a client generator) gets their schema with the API's."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Header

from shared.ninjs import WebhookEvent

HEADERS = """Headers (Standard Webhooks): `webhook-id` (the same on every retry: dedupe on it),
`webhook-timestamp` (Unix seconds of this attempt), `webhook-signature` (`v1,` + base64
HMAC-SHA256 of `id.timestamp.body` with the subscriber's secret; during a secret rotation, one
signature per secret, space-separated). Answer 2xx to acknowledge; redirects are failures;
410 disables the subscription; 429/502/503/504 may send `Retry-After`."""

DESCRIPTIONS = {
    "story.published": "A new story (version 1).",
    "story.updated": "A new version of a story: new content, or editors' tag changes.",
    "story.corrected": "A corrected version; `data.edNote` says what was corrected. Also sent to every "
    "site that got an earlier version.",
    "story.killed": "The story is withdrawn: `data.pubStatus` is `canceled`, `data.edNote` the reason. "
    "Sent only to sites that may hold an earlier version: take the story down.",
}

WebhookId = Annotated[str, Header(alias="webhook-id")]
WebhookTimestamp = Annotated[str, Header(alias="webhook-timestamp")]
WebhookSignature = Annotated[str, Header(alias="webhook-signature")]


def document(app: FastAPI) -> None:
    for event_type, description in DESCRIPTIONS.items():

        def receiver(
            body: WebhookEvent,
            webhook_id: WebhookId,
            webhook_timestamp: WebhookTimestamp,
            webhook_signature: WebhookSignature,
        ) -> None:
            """Implemented by the subscriber."""

        app.webhooks.post(
            event_type,
            summary=event_type,
            description=f"{description}\n\n{HEADERS}",
            operation_id=event_type.replace(".", "_"),
            tags=["webhooks"],
        )(receiver)


def acknowledge_responses(spec: dict) -> None:
    """What a subscriber answers: any 2xx (FastAPI would document its own 200 and 422)."""
    for path in spec.get("webhooks", {}).values():
        for operation in path.values():
            operation["responses"] = {"2XX": {"description": "Received (dedupe on webhook-id first)."}}
