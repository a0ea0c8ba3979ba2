"""A fast local webhook receiver for benchmarks: an aiohttp server on 127.0.0.1 that answers 200
at once and notes when each webhook-id first arrived. Runs in its own process, so it never
shares the benchmark client's interpreter lock.

    python -m bench.receiver --port P
    GET /stats: {"count", "first", "last", "times"}; GET /arrivals: [[story uri, time], ...]
"""

from __future__ import annotations

import argparse
import time

from aiohttp import web

from shared.gc_freeze import freeze_startup_objects


def make_app() -> web.Application:
    arrivals: dict[str, float] = {}
    stories: dict[str, str] = {}  # webhook-id -> the story's uri

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        message_id = request.headers.get("webhook-id", "")
        if message_id not in arrivals:
            arrivals[message_id] = time.time()
            start = body.find(b'"uri":"')
            stories[message_id] = body[start + 7 : body.find(b'"', start + 7)].decode() if start >= 0 else ""
        return web.Response(text="ok")

    async def by_story(_request: web.Request) -> web.Response:
        return web.json_response([[stories[m], t] for m, t in arrivals.items()])

    async def stats(_request: web.Request) -> web.Response:
        times = sorted(arrivals.values())
        return web.json_response(
            {
                "count": len(times),
                "first": times[0] if times else None,
                "last": times[-1] if times else None,
                "times": times,
            }
        )

    async def reset(_request: web.Request) -> web.Response:
        arrivals.clear()
        stories.clear()
        return web.Response(text="reset")

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    app.router.add_get("/stats", stats)
    app.router.add_get("/arrivals", by_story)
    app.router.add_get("/reset", reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    freeze_startup_objects()  # as the project's processes do
    web.run_app(make_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
