"""Instructions a story costs the project — the API's ``POST /v1/stories`` against the bare
endpoint, or a worker stage's task — under valgrind: a count that does not drift with the machine.

    python -m bench.instructions [--stage api|enrichment|enrichment-alone|publish] [--requests 200]
                                 [--warm-up 30] [--without PART,...]

On a machine whose speed drifts by a quarter within minutes, a change that saves 5 % of a request
cannot be seen in requests/s or in CPU seconds. valgrind's callgrind counts the instructions a
process runs instead: the same code on the same input gives the same count to within about 1 %,
whatever else the machine is doing. Counting is switched on after the warm-up
(``callgrind_control``) and off after the last story, so neither start-up nor imports are counted.
Every process gets a migrated SQLite database of its own with an editor and an admin key, and an
embedded Redis (no workers): messages go to it and stay there.

* ``--stage api`` (default): each app in a process of its own, called in-process (ASGI calls, one
  request after another, no socket and no uvicorn: both would add the same to either side). The
  project files a story per request, answers 202 and relays its event, as under ``bench.ingest``;
  the bare endpoint is ``bench.bare.ingest_app``. Every request must answer 202.
* ``--stage enrichment`` / ``enrichment-alone`` / ``publish``: the project only (the bare chain's
  tasks do nothing). The stories are filed first, with one subscriber, uncounted; then the stage's
  task function (``enrichment.tag_version``, ``publish.render_version``: their bodies, called in
  this process, as a worker's pool process runs them) goes through the versions one by one.
  ``enrichment`` takes batches as configured (the first call of a burst holds and tags the next
  few; their own calls then find them tagged), ``enrichment-alone`` one version a call
  (``NEWSWIRE_TAGGING_BATCH_VERSIONS=1``: what a story costs in a trickle); ``publish`` renders
  versions tagged beforehand and queues one delivery each.
* ``--without``: the count again with each named part left out (bench-only patches), one at a
  time, then all together: what a part costs is the difference. In a worker stage only
  ``logging``, ``send`` and ``mark-sent`` leave anything out; the other parts are the API's.

Instruction counts are not seconds (a cache miss or a Redis round trip costs no instruction), so
they compare versions of the code, not the project with the machine: ``bench.ingest`` and
``bench.pipeline`` stay the measures of the targets. valgrind makes a process about 70 times
slower while it counts: 200 requests take a minute; a worker stage's task costs far more, so count
it on fewer stories (``--requests 50 --warm-up 10``: about five minutes a count for publish).
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


async def _post(app, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """One POST through the ASGI app; its status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
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


def _headers(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"authorization", f"Bearer {key}".encode())]


async def _file(app, key: str, bodies: list[bytes]) -> None:
    """POST each story; each must answer 202."""
    for body in bodies:
        status = await _post(app, "/v1/stories", body, _headers(key))
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


#: ``--without`` NAME → what leaves that part out (before the app is built). Bench-only patches:
#: what a part costs is the count with it less the count without it. ``logging``, ``send`` and
#: ``mark-sent`` apply to every stage; the rest to the API only (elsewhere they change nothing).
WITHOUT = {
    "logging": _without_logging,  # INFO lines ("story filed"; "request" is request-id's)
    "relay": _without_relay,  # the events stay unsent: no thread hop, no message, no mark-sent
    "send": _without_send,  # the message to the broker only (queue.send)
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


def child(args: argparse.Namespace) -> None:
    """Build the app (less the parts ``--without`` names), warm the stage up on the first
    ``--warm-up`` stories, count it on the rest. (The stories come in a file: the bare app must
    not share a process with the project's models.)"""
    from shared.gc_freeze import freeze_startup_objects

    for part in parts(args.without):
        WITHOUT[part]()
    app = _app(args.child, args.database)
    freeze_startup_objects()  # as both servers do
    lines = [line.encode() for line in args.bodies.read_text().splitlines()]
    if args.stage == "api":

        async def run() -> None:
            await _file(app, args.key, lines[: args.warm_up])
            _counting(True)
            await _file(app, args.key, lines[args.warm_up :])
            _counting(False)

        asyncio.run(run())
        return
    asyncio.run(_file_for_workers(app, args.key, args.admin_key, lines))
    _count_worker_stage(args.stage, _version_ids(), args.warm_up)


async def _file_for_workers(app, key: str, admin_key: str, bodies: list[bytes]) -> None:
    """The stories a worker stage takes up, and one subscriber, so that publishing creates a
    delivery for each version (nothing here is counted)."""
    subscriber = json.dumps({"name": "counted site", "url": "http://127.0.0.1:9/webhooks"}).encode()
    status = await _post(app, "/v1/subscribers", subscriber, _headers(admin_key))
    if status != 201:
        raise RuntimeError(f"the subscriber was refused: {status}")
    await _file(app, key, bodies)


def _version_ids() -> list[int]:
    from sqlmodel import select

    from shared.db import read_scope
    from shared.models import StoryVersion

    with read_scope() as session:
        return list(session.exec(select(StoryVersion.id).order_by(StoryVersion.id)))


def _count_worker_stage(stage: str, version_ids: list[int], warm_up: int) -> None:
    """Run the stage's task function on each version in turn, counting all but the first
    ``warm_up``; publishing takes versions tagged beforehand."""
    from services.enrichment.taggers import warm_up as load_taggers
    from services.enrichment.tasks import tag_version
    from services.publish.tasks import render_version

    load_taggers()
    task = render_version if stage == "publish" else tag_version
    if stage == "publish":
        for version_id in version_ids:
            tag_version(version_id)
    for version_id in version_ids[:warm_up]:
        task(version_id)
    _counting(True)
    for version_id in version_ids[warm_up:]:
        task(version_id)
    _counting(False)


# --- the parent ----------------------------------------------------------------------------------


def parts(without: str | None) -> list[str]:
    """The parts a ``--without`` value names; an unknown one is refused with the known ones."""
    named = [part for part in (without or "").split(",") if part]
    unknown = sorted(set(named) - set(WITHOUT))
    if unknown:
        raise SystemExit(f"--without: unknown {', '.join(unknown)} (known: {', '.join(WITHOUT)})")
    return named


def runs(args: argparse.Namespace) -> list[tuple[str, tuple[str, ...]]]:
    """(app, parts left out) of each count: the project (and, for the API, the bare app), then
    the project without each part asked for, one at a time, and without all of them."""
    without = parts(args.without)
    counted = [("project", ())] + ([("bare", ())] if args.stage == "api" else [])
    counted += [("project", (part,)) for part in without]
    return counted + ([("project", tuple(without))] if len(without) > 1 else [])


def _stage_env(env: dict[str, str], stage: str, database: str) -> dict[str, str]:
    env = {**env, "NEWSWIRE_DATABASE_URL": database}
    if stage != "api":
        # A tagger call runs some 70 times slower under valgrind: no budget may run out (the
        # calls are the same whatever the budget), and valgrind delivers the alarm late.
        env["NEWSWIRE_TAGGER_BUDGET_SECONDS"] = "3600"
    if stage == "enrichment-alone":
        env["NEWSWIRE_TAGGING_BATCH_VERSIONS"] = "1"
    return env


def _new_database(env: dict[str, str]) -> tuple[str, str]:
    """Migrate the database ``env`` names; an editor and an admin key in it."""
    from tests.support import newswire

    def run(*command: str) -> str:
        done = newswire(list(command), env)
        if done.returncode != 0:
            raise RuntimeError(f"newswire {' '.join(command)} failed: {done.stderr}")
        return (done.stdout.strip().splitlines() or [""])[-1]

    run("migrate")
    return tuple(run("keys", "create", "--role", role, "--name", f"counted {role}") for role in ("editor", "admin"))


def count(run: tuple[str, tuple[str, ...]], args: argparse.Namespace, env: dict[str, str], work: Path) -> int:
    """Instructions per story of one run (app, parts left out), counted in a process of its
    own, on a database of its own."""
    target, without = run
    name = "-".join((target, *without))
    env = _stage_env(env, args.stage, f"sqlite:///{work / name}.db")
    editor, admin = _new_database(env) if target == "project" else ("", "")
    # The profile file goes to the temporary directory (valgrind would write callgrind.out.<pid>
    # where it runs); the count is read from valgrind's messages.
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={work / name}.out"]
    command += [sys.executable, "-m", "bench.instructions", "--child", target, "--stage", args.stage]
    command += ["--bodies", str(work / "bodies.jsonl"), "--warm-up", str(args.warm_up)]
    command += ["--key", editor, "--admin-key", admin, "--database", env["NEWSWIRE_DATABASE_URL"]]
    command += ["--without", ",".join(without)] if without else []
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{name} under callgrind failed:\n{done.stderr[-3000:]}")
    return collected(done.stderr) // args.requests


def measure(args: argparse.Namespace) -> dict[tuple[str, tuple[str, ...]], int]:
    from bench.ingest import RATE_LIMIT, story
    from shared.embedded_redis import EmbeddedRedis

    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind (with callgrind_control) is not installed")
    with tempfile.TemporaryDirectory(prefix="newswire-instructions-") as tmp:
        work = Path(tmp)
        bodies = (json.dumps(story(n)) for n in range(args.warm_up + args.requests))
        (work / "bodies.jsonl").write_text("\n".join(bodies) + "\n")
        redis = EmbeddedRedis(work / "redis", appendonly=False)
        root = str(Path(__file__).resolve().parent.parent)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
            "NEWSWIRE_DATA_DIR": str(work),
            "NEWSWIRE_REDIS_URL": redis.start(),
            "NEWSWIRE_RATE_LIMIT_PER_KEY": RATE_LIMIT,
            "NEWSWIRE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        }
        try:
            return {run: count(run, args, env, work) for run in runs(args)}
        finally:
            redis.stop()


WHAT = {
    "api": "POST /v1/stories in-process (ASGI, one at a time)",
    "enrichment": "enrichment.tag_version, version by version (batches as configured)",
    "enrichment-alone": "enrichment.tag_version, one version a call (a batch of one)",
    "publish": "publish.render_version, version by version (one subscriber)",
}


def report(per_story: dict[tuple[str, tuple[str, ...]], int], args: argparse.Namespace) -> str:
    project = per_story[("project", ())]
    lines = [
        describe(),
        "",
        f"{WHAT[args.stage]}: {args.requests} stories counted after {args.warm_up} not counted, "
        "under valgrind's callgrind",
        "",
        "| run | instructions per story | share of the project's |",
        "|---|---|---|",
        f"| project | {project:,} | 100 % |",
    ]
    for (target, without), counted in per_story.items():
        if target == "bare":
            lines.append(f"| bare | {counted:,} | {100 * counted / project:.1f} % (ratio ×{counted / project:.3f}) |")
        elif without:
            saved = project - counted
            lines.append(
                f"| project without {' + '.join(without)} | {counted:,} | {100 * counted / project:.1f} % "
                f"(the part: {saved:,}, {100 * saved / project:.1f} %) |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=tuple(WHAT), default="api", help="what is counted (default: api)")
    parser.add_argument("--requests", type=int, default=200, help="stories counted")
    parser.add_argument("--warm-up", type=int, default=30, help="stories before counting starts")
    parser.add_argument(
        "--without",
        help=f"also count the project without each of these parts, comma-separated: {', '.join(WITHOUT)}",
    )
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--bodies", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--admin-key", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    print(report(measure(args), args))


if __name__ == "__main__":
    main()
