"""Reference webhook receiver — what a downstream site needs, and nothing more.

1. Verify the signature with the ``standardwebhooks`` package (rejects bad signatures
   and timestamps older than five minutes) and answer 401 when it fails.
2. Drop duplicates by ``webhook-id``: delivery is at least once, so the same message may
   arrive twice; it must take effect once.
3. Use the story: here, print one line and optionally append it to a JSON-lines file.

Run it: ``newswire receiver --port 8001 --secret whsec_...``
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


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
        try:
            event = self.server.webhook.verify(body, headers)
        except WebhookVerificationError as exc:
            return self.answer(401, f"signature rejected: {exc}")

        message_id = headers["webhook-id"]
        with self.server.lock:
            duplicate = message_id in self.server.seen
            self.server.seen.add(message_id)
        if duplicate:
            return self.answer(200, "duplicate ignored")

        item = event["data"]
        places = ",".join(sorted({p["literal"] for p in item.get("places", []) if p.get("literal")}))
        headline = item["headlines"][0]["value"] if item.get("headlines") else ""
        story_id = item["uri"].rsplit(":", 1)[-1]
        print(
            f"received {event['type']} story={story_id} v{item['version']} "
            f'"{headline}" places={places} (signature verified)',
            flush=True,
        )
        if self.server.out:
            with self.server.lock, self.server.out.open("a") as fh:
                fh.write(json.dumps({"webhook_id": message_id, "event": event}) + "\n")
        self.answer(200, "ok")

    def answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args) -> None:  # keep stdout to one line per story
        return


def serve(port: int, secret: str, out: Path | None = None) -> None:
    server = Receiver(port, secret, out)
    print(f"receiver listening on http://127.0.0.1:{port}/webhooks", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
