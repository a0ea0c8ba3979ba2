"""Instructions a ``POST /v1/stories`` costs the API, against the bare endpoint: a count that does
not drift with the machine.

    python -m bench.instructions [--requests 200] [--warm-up 30]

On a machine whose speed drifts by a quarter within minutes, a change that saves 5 % of a request
cannot be seen in requests/s or in CPU seconds. valgrind's callgrind counts the instructions a
process runs instead: the same code on the same input gives the same count to well under 1 %,
whatever else the machine is doing. Each app runs in a process of its own under callgrind, called
in-process (ASGI calls, one request after another, no socket and no uvicorn: both would add the
same to either side); counting is switched on after the warm-up (``callgrind_control``) and off
after the last request, so neither start-up nor imports are counted. The project's API gets a
migrated SQLite database, an editor key and a Redis of its own (``tests.support.Stack``, no
workers): each request files a story, answers 202 and relays its event to Redis, as under
``bench.ingest``. The bare endpoint is ``bench.bare.ingest_app``. Every request must answer 202.

Instruction counts are not seconds (a cache miss costs no instruction), so they compare versions
of the code, not the project with the machine: ``bench.ingest`` stays the measure of the target.
valgrind makes each process about 70 times slower while it counts: 200 requests take a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import describe

TARGETS = ("project", "bare")
_COLLECTED = re.compile(r"^==\d+== Collected : (\d+)$", re.MULTILINE)


def collected(valgrind_messages: str) -> int:
    """The instructions callgrind counted in all, from the ``Collected :`` line it writes to
    stderr when the process ends."""
    found = _COLLECTED.findall(valgrind_messages)
    if len(found) != 1:
        raise ValueError(f"expected one 'Collected :' line from callgrind, found {len(found)}")
    return int(found[0])


# --- the process under callgrind ---------------------------------------------------------------


def _counting(on: bool) -> None:
    """Switch callgrind's counting for this process; sleeps (not spins) until it took effect, so
    the wait adds almost nothing to the count."""
    command = ["callgrind_control", "--instr=on" if on else "--instr=off", str(os.getpid())]
    control = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while control.poll() is None:
        time.sleep(0.005)
    if control.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: is this process running under callgrind?")


async def _post(app, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """One request through the ASGI app; its status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/stories",
        "raw_path": b"/v1/stories",
        "root_path": "",
        "query_string": b"",
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent, answer = False, {}

    async def receive() -> dict:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # nothing more comes: the request is whole
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]

    await app(scope, receive, send)
    return answer["status"]


async def _requests(app, headers, bodies: list[bytes]) -> None:
    for body in bodies:
        status = await _post(app, body, headers)
        if status != 202:
            raise RuntimeError(f"a request answered {status}, not 202")


# --- parts of the project left out, to see what each costs ------------------------------------------


async def _passthrough(self, scope, receive, send) -> None:
    await self.app(scope, receive, send)


def _without_logging() -> None:
    import logging

    logging.disable(logging.INFO)


def _without_relay() -> None:
    from shared import events

    events.api_relay.offer = lambda _event_ids: False


def _without_send() -> None:
    from shared import queue

    queue.send = lambda *_args, **_kwargs: None


def _without_mark_sent() -> None:
    from shared import events

    events._mark_sent = lambda _event_ids: None


def _without_rate_limit() -> None:
    from services.ingest import ratelimit

    ratelimit.RateLimitMiddleware.__call__ = _passthrough


def _without_request_id() -> None:
    from services.ingest import middleware

    middleware.RequestIdMiddleware.__call__ = _passthrough


def _without_metrics() -> None:
    from services.ingest import app

    app.metrics.install = lambda _app: None


def _without_web() -> None:
    from services.ingest import app

    app.web.install = lambda _app: None


#: ``--without`` NAME → what leaves that part out of the project's API (before it is built).
#: Bench-only patches: what a part costs is the count with it less the count without it.
WITHOUT = {
    "logging": _without_logging,  # INFO lines ("story filed"; "request" is request-id's)
    "relay": _without_relay,  # the events stay unsent: no thread hop, no message, no mark-sent
    "send": _without_send,  # the message to the broker only (Celery's send_task)
    "mark-sent": _without_mark_sent,  # the relay's write transaction only
    "rate-limit": _without_rate_limit,
    "request-id": _without_request_id,  # and its "request" log line
    "metrics": _without_metrics,  # prometheus-fastapi-instrumentator's middleware
    "web": _without_web,  # the desk's and the portal's routes
}


def _app(target: str, database: str):
    if target == "bare":
        from bench.bare.ingest_app import create_app

        return create_app(database)
    from services.ingest.app import create_app
    from shared import logs
    from shared.config import get_settings

    settings = get_settings()
    logs.configure(settings.log_level, settings.log_format, "api")  # as ``newswire api`` does
    return create_app()


def child(target: str, bodies: Path, warm_up: int, key: str, database: str, without: list[str]) -> None:
    """Build the app (less the parts ``without`` names), warm it up with the first ``warm_up``
    bodies, count the rest. (The bodies come in a file: the bare app must not share a process
    with the project's models.)"""
    from shared.gc_freeze import freeze_startup_objects

    for part in without:
        WITHOUT[part]()
    app = _app(target, database)
    freeze_startup_objects()  # as both servers do
    headers = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {key}".encode())]
    lines = [line.encode() for line in bodies.read_text().splitlines()]

    async def run() -> None:
        await _requests(app, headers, lines[:warm_up])
        _counting(True)
        await _requests(app, headers, lines[warm_up:])
        _counting(False)

    asyncio.run(run())


# --- the parent ----------------------------------------------------------------------------------


def count(
    target: str, args: argparse.Namespace, env: dict[str, str], key: str, work: Path, without: tuple[str, ...] = ()
) -> int:
    """Instructions per request of one app (less the parts ``without`` names), counted in a
    process of its own."""
    run = "-".join((target, *without))
    out = work / f"callgrind.{run}.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "bench.instructions",
        "--child",
        target,
        "--bodies",
        str(work / "bodies.jsonl"),
        "--warm-up",
        str(args.warm_up),
        "--key",
        key,
        "--database",
        f"sqlite:///{work / f'{run}.db'}",
        *(["--without", ",".join(without)] if without else []),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{target} under callgrind failed:\n{done.stderr[-3000:]}")
    return collected(done.stderr) // args.requests


def runs(args: argparse.Namespace) -> list[tuple[str, tuple[str, ...]]]:
    """(app, parts left out) of each count: the project and the bare app, then the project
    without each part asked for, one at a time, and without all of them."""
    without = [part for part in args.without.split(",") if part] if args.without else []
    unknown = sorted(set(without) - set(WITHOUT))
    if unknown:
        raise SystemExit(f"--without: unknown {', '.join(unknown)} (known: {', '.join(WITHOUT)})")
    counted = [("project", ()), ("bare", ())] + [("project", (part,)) for part in without]
    return counted + ([("project", tuple(without))] if len(without) > 1 else [])


def measure(args: argparse.Namespace) -> dict[tuple[str, tuple[str, ...]], int]:
    from bench.ingest import RATE_LIMIT, story
    from tests.support import Stack, newswire

    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind (with callgrind_control) is not installed")
    with tempfile.TemporaryDirectory(prefix="newswire-instructions-") as tmp:
        work = Path(tmp)
        bodies = (json.dumps(story(n)) for n in range(args.warm_up + args.requests))
        (work / "bodies.jsonl").write_text("\n".join(bodies) + "\n")
        stack = Stack(work / "stack", None, {"NEWSWIRE_RATE_LIMIT_PER_KEY": RATE_LIMIT})
        stack.env["NEWSWIRE_REDIS_URL"] = stack.redis.start()
        try:
            done = newswire(["migrate"], stack.env)
            if done.returncode != 0:
                raise RuntimeError(done.stderr)
            key = stack.create_key("editor")
            root = str(Path(__file__).resolve().parent.parent)
            env = {**stack.env, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
            return {(target, without): count(target, args, env, key, work, without) for target, without in runs(args)}
        finally:
            stack.redis.stop()


def report(per_request: dict[tuple[str, tuple[str, ...]], int], args: argparse.Namespace) -> str:
    project, bare = per_request[("project", ())], per_request[("bare", ())]
    lines = [
        describe(),
        "",
        f"POST /v1/stories in-process (ASGI, one at a time), {args.requests} requests counted after "
        f"{args.warm_up} not counted, under valgrind's callgrind",
        "",
        "| app | instructions per request | share of the project's |",
        "|---|---|---|",
        f"| project | {project:,} | 100 % |",
        f"| bare | {bare:,} | {100 * bare / project:.1f} % |",
    ]
    for (_app_name, without), counted in per_request.items():
        if without:
            saved = project - counted
            lines.append(
                f"| project without {' + '.join(without)} | {counted:,} | {100 * counted / project:.1f} % "
                f"(the part: {saved:,}, {100 * saved / project:.1f} %) |"
            )
    return "\n".join([*lines, "", f"ratio (bare / project): ×{bare / project:.3f}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests counted")
    parser.add_argument("--warm-up", type=int, default=30, help="requests before counting starts")
    parser.add_argument(
        "--without",
        help=f"also count the project without each of these parts, comma-separated: {', '.join(WITHOUT)}",
    )
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--bodies", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(
            args.child,
            args.bodies,
            args.warm_up,
            args.key,
            args.database,
            (args.without or "").split(",") if args.without else [],
        )
        return
    print(report(measure(args), args))


if __name__ == "__main__":
    main()
