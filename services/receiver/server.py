"""Reference webhook receiver — what a downstream site needs, and nothing more.

1. Verify the signature with the ``standardwebhooks`` package (rejects bad signatures
   and timestamps older than five minutes) and answer 401 when it fails.
2. Drop duplicates by ``webhook-id``: delivery is at least once, so the same message may
   arrive twice; it must take effect once. Mark an id as seen only after the story was used:
   if using it fails, answer 5xx and the retry (same id) is used then.
3. Use the story: here, append it to a JSON-lines file (optional) and log one line. A subscriber
   taking NewsML-G2 or NITF gets XML: the same signature check (without parsing the body as
   JSON), and the document is kept as it came, with its event (``newswire-event-type``).

Run it: ``newswire receiver --port 8001 --secret whsec_...``
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

log = logging.getLogger(__name__)


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, secret: str, out: Path | None = None, host: str = "127.0.0.1"):
        super().__init__((host, port), Handler)
        self.webhook = Webhook(secret)
        self.out = out
        self.seen: set[str] = set()  # a real site keeps these in its database
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        is_json = headers.get("content-type", "application/json").startswith("application/json")
        try:
            event = self.server.webhook.verify(body, headers, json_parse=is_json)
        except WebhookVerificationError as exc:
            return self.answer(401, f"signature rejected: {exc}")
        if not is_json:  # a NewsML-G2 or NITF subscriber: the document as it came, and its event
            event = {"type": headers.get("newswire-event-type"), "content_type": headers["content-type"]}
            event["document"] = body.decode()

        message_id = headers["webhook-id"]
        # One message at a time per receiver: seen-check, handling and marking must not interleave
        # with a retry of the same message arriving on another connection.
        with self.server.lock:
            if message_id in self.server.seen:
                return self.answer(200, "duplicate ignored")
            try:
                self.use(message_id, event)
            except OSError as exc:  # not marked as seen: the retry (same webhook-id) is handled anew
                return self.answer(500, f"could not store the event: {exc.strerror}")
            self.server.seen.add(message_id)  # only once the event is safely handled
        self.answer(200, "ok")

    def use(self, message_id: str, event: dict) -> None:
        if self.server.out:
            with self.server.out.open("a") as fh:
                fh.write(json.dumps({"webhook_id": message_id, "event": event}) + "\n")
        if "data" not in event:
            log.info("received %s as %s (signature verified)", event["type"], event["content_type"])
            return
        if event.get("type") == "webhook.test":  # the portal's test event: nothing to publish
            log.info("received a test event (signature verified)", extra={"webhook_id": message_id})
            return
        item = event["data"]
        places = ",".join(sorted({p["literal"] for p in item.get("places", []) if p.get("literal")}))
        headline = item["headlines"][0]["value"] if item.get("headlines") else ""
        story_id = item["uri"].rsplit(":", 1)[-1]
        log.info(
            'received %s "%s" places=%s (signature verified)',
            event["type"],
            headline,
            places,
            extra={"story_id": story_id, "version": _number(item["version"]), "webhook_id": message_id},
        )

    def answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args) -> None:  # keep the log to one line per story
        return


def _number(version: object) -> object:
    """ninjs carries the version as a string; logs show it as a number, as the pipeline's do."""
    return int(version) if isinstance(version, str) and version.isdigit() else version


def serve(port: int, secret: str, out: Path | None = None) -> None:
    server = Receiver(port, secret, out)
    log.info("receiver listening on http://127.0.0.1:%d/webhooks", port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
