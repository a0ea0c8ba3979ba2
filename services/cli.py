"""``newswire`` — one entry point for every service and operator task.

newswire run                      whole pipeline on embedded defaults (make run)
newswire migrate                  create/upgrade the database schema
newswire keys create --role editor|admin --name NAME
newswire keys list | revoke ID
newswire api [--host H] [--port P]
newswire worker enrichment|publish|delivery [--concurrency N] [--metrics-port P]
newswire beat [--metrics-port P]  the scheduler (run exactly one)
newswire receiver --port P --secret whsec_... [--out FILE]
newswire seed [--dir DIR]
newswire status [--json]          queues, workers, oldest unfinished story, outbox, subscribers, scheduler
newswire subscribers list [--json] | disable ID | enable ID
newswire health enrichment|publish|delivery|beat   exit 0 while its heartbeat is fresh
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

#: Tagging is CPU-bound: one enrichment pool process per CPU this process may run on (its CPU
#: set, as a container or ``taskset`` gives it, where the system tells: Linux; else every CPU). A
#: third process on two cores moved nothing measurable (docs/benchmarks.md, "2026-11-29
#: (morning)"); the compose file pins its own count to fit the container's memory limit.
ENRICHMENT_PROCESSES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

WORKERS = {
    # queue: (tasks module, pool, default concurrency)
    "enrichment": ("services.enrichment.tasks", "prefork", ENRICHMENT_PROCESSES),
    "publish": ("services.publish.tasks", "prefork", 2),
    "delivery": ("services.publish.tasks", "threads", 2),  # the async engine does the sending
}


def _logging(settings, args) -> None:
    """Every process logs through one handler: readable lines, or JSON ones (NEWSWIRE_LOG_FORMAT)."""
    from shared import logs

    service = f"worker-{args.queue}" if args.command == "worker" else args.command
    logs.configure(settings.log_level, settings.log_format, service)


def _celery_logging(loglevel=None, **_kwargs) -> None:
    """Celery's ``setup_logging`` signal: keep our handler (Celery adds none of its own and leaves
    stdout alone); only the worker's ``--loglevel`` applies."""
    if loglevel:
        logging.getLogger().setLevel(loglevel)


def _celery_notice(msg, *_args) -> None:
    logging.getLogger("celery.apps.worker").info(str(msg).strip())


def _celery_output(log_format: str) -> list[str]:
    """Celery logs through our handler. In JSON only log lines: no banner (``--quiet``), and the
    notices it writes straight to the terminal (``worker: Warm shutdown``) become log lines."""
    from celery.apps import worker
    from celery.signals import setup_logging

    setup_logging.connect(_celery_logging, weak=False)
    if log_format != "json":
        return []
    worker.safe_say = _celery_notice
    return ["--quiet"]


def cmd_migrate(_args) -> int:
    from shared.db import migrate

    migrate()
    print("database schema is up to date")
    return 0


def cmd_keys_create(args) -> int:
    from services.ingest.keys.service import create_key
    from shared.db import session_scope
    from shared.models import Role

    if args.role not in (Role.editor, Role.admin):
        print(
            f"error: unknown role {args.role!r}; choose editor or admin (a site's own key comes from "
            "POST /v1/subscribers/{id}/keys)",
            file=sys.stderr,
        )
        return 2
    role = Role(args.role)
    with session_scope() as session:
        row, key = create_key(session=session, name=args.name, role=role)
    print(f"created {row.role} key {row.name!r} (id {row.id}); it is shown only once:")
    print(key)
    return 0


def cmd_keys_list(_args) -> int:
    from services.ingest.keys.service import list_keys
    from shared.db import read_scope
    from shared.timeutil import isoformat

    with read_scope() as session:
        keys = list_keys(session=session)
    print(f"{'id':32}  {'role':6}  {'prefix':8}  {'created':20}  {'last used':20}  {'revoked':20}  name")
    for k in keys:
        times = [(isoformat(t) or "-")[:19] for t in (k.created_at, k.last_used_at, k.revoked_at)]
        print(f"{k.id:32}  {k.role:6}  {k.prefix:8}  {times[0]:20}  {times[1]:20}  {times[2]:20}  {k.name}")
    return 0


def cmd_status(args) -> int:
    """Queues, workers, the oldest unfinished story, outbox lag, subscribers, the scheduler."""
    from services import status
    from shared.config import get_settings

    found = status.collect(settings=get_settings())
    if args.json:
        print(json.dumps(found, indent=2, default=str))
    else:
        status.render(found)
    return 0


def cmd_subscribers_list(args) -> int:
    from services.ingest.subscribers.service import list_subscribers
    from shared.db import read_scope

    with read_scope() as session:
        rows = [
            {"id": s.id, "name": s.name, "url": s.url, "active": s.active, "disabled_reason": s.disabled_reason}
            for s in list_subscribers(session=session)
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'id':32}  {'state':8}  {'name':24}  url")
    for row in rows:
        print(f"{row['id']:32}  {'active' if row['active'] else 'disabled':8}  {row['name']:24}  {row['url']}")
    return 0


def cmd_subscribers_set(args) -> int:
    """Disable (deliveries are held) or enable (what was held goes out, in order) a subscriber."""
    from services.ingest.subscribers.service import enable_subscriber, update_subscriber
    from shared.config import get_settings
    from shared.db import session_scope

    with session_scope() as session:
        if args.subscribers_command == "enable":
            subscriber = enable_subscriber(session=session, subscriber_id=args.id)
        else:
            subscriber = update_subscriber(
                session=session,
                settings=get_settings(),
                subscriber_id=args.id,
                changes={"active": False},
                changed_by="an operator (newswire subscribers disable)",
            )
        state = "active" if subscriber.active else "disabled"
    print(f"{args.id}: {state}")
    return 0


def cmd_keys_revoke(args) -> int:
    from services.ingest.exceptions import Refused
    from services.ingest.keys.service import revoke_key
    from shared.db import session_scope

    try:
        with session_scope() as session:
            key = revoke_key(session=session, key_id=args.id)
    except Refused as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(f"revoked {key.role} key {key.name!r} (id {key.id}); it is refused from its next request on")
    return 0


def cmd_api(args) -> int:
    import uvicorn

    from services.ingest.app import create_app
    from shared.config import get_settings
    from shared.gc_freeze import freeze_startup_objects

    settings = get_settings()
    app = create_app()
    freeze_startup_objects()  # a full collector pass no longer stalls every request for ~0.1 s
    uvicorn.run(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through ours (see _logging)
        access_log=False,  # the API logs each request itself, with its request id
        # Open desk streams (SSE) and feed long-polls are reads: on shutdown they are cut after
        # this many seconds instead of holding the process for minutes.
        timeout_graceful_shutdown=8,
    )
    return 0


def cmd_worker(args) -> int:
    import importlib
    import os

    from shared import db, gc_freeze, heartbeat
    from shared.config import get_settings
    from shared.queue import get_celery

    module, pool, concurrency = WORKERS[args.queue]
    metrics_port = _worker_metrics_folder(args)
    importlib.import_module(module)
    db.import_driver()  # before the pool forks: no pool process imports it in its first story
    if metrics_port:
        _serve_worker_metrics(metrics_port)
    heartbeat.beat_on_worker_heartbeat(args.queue)
    gc_freeze.freeze_when_worker_set_up()  # after the tasks module's import: its model is loaded first
    app = get_celery()
    quiet = _celery_output(get_settings().log_format)
    limits = []
    if args.queue == "enrichment":  # a pool process that grew past this is replaced after its story
        limits = ["--max-memory-per-child", str(get_settings().enrichment_max_memory_mib * 1024)]
    app.worker_main(
        [
            *quiet,
            "worker",
            "--queues",
            args.queue,
            "--hostname",
            f"{args.queue}-{os.getpid()}@%h",
            "--pool",
            args.pool or pool,
            "--concurrency",
            str(args.concurrency or concurrency),
            "--loglevel",
            args.loglevel,
            "--without-gossip",
            "--without-mingle",
            *limits,
        ]
    )
    return 0


def _metrics_port(args) -> int:
    from shared.config import get_settings

    return get_settings().metrics_port if args.metrics_port is None else args.metrics_port


def _worker_metrics_folder(args) -> int:
    """With metrics on, every process of the worker (the pool's forked children too) writes its
    samples to files in a folder of this worker's own; this must happen before prometheus_client
    is first imported. Returns the metrics port (0: none)."""
    import tempfile

    port = _metrics_port(args)
    if port:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=f"newswire-metrics-{args.queue}-")
    return port


def _serve_worker_metrics(port: int) -> None:
    """Serve the sum over the worker's processes; a forked pool process closes its copy of the
    listening socket, so a restarted worker can bind the port again while old children exit."""
    from celery.signals import worker_process_init

    from shared import metrics
    from shared.config import get_settings

    server = metrics.serve(port, get_settings().host, multiprocess=True)
    if server is not None:
        worker_process_init.connect(lambda **_: server.socket.close(), weak=False)


def cmd_beat(args) -> int:
    from services.scheduler.loop import LeaseHeld, run
    from shared import metrics
    from shared.config import get_settings
    from shared.gc_freeze import freeze_startup_objects

    if _metrics_port(args):
        metrics.serve(_metrics_port(args), get_settings().host)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    freeze_startup_objects()
    try:
        run(get_settings().scheduler_interval_seconds, stop)
    except LeaseHeld as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


def cmd_health(args) -> int:
    """Exit 0 when the component's heartbeat is fresh (the compose healthcheck)."""
    from shared import heartbeat

    healthy, message = heartbeat.check(args.name)
    print(message, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


def cmd_receiver(args) -> int:
    from services.receiver.server import serve

    if not args.secret:
        print("error: give the subscriber's secret with --secret or NEWSWIRE_RECEIVER_SECRET", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve(args.port, args.secret, Path(args.out) if args.out else None)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_seed(args) -> int:
    from services.ingest.seeds import DEFAULT_SEEDS_DIR, load_seeds
    from shared.config import get_settings

    report = load_seeds(get_settings(), Path(args.dir) if args.dir else DEFAULT_SEEDS_DIR)
    for line in report.created or ["nothing new: seeds were loaded before"]:
        print(line)
    return 0


def cmd_run(_args) -> int:
    from services.runner import run_stack

    return run_stack()


METRICS_PORT_HELP = "serve /metrics here (default NEWSWIRE_METRICS_PORT; 0: off)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newswire", description="Newswire: the event-driven newswire.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the whole pipeline on embedded defaults").set_defaults(fn=cmd_run)
    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(fn=cmd_migrate)
    _add_key_commands(sub)
    _add_service_commands(sub)
    _add_operator_commands(sub)
    seed = sub.add_parser("seed", help="load seeds/ (idempotent)")
    seed.add_argument("--dir")
    seed.set_defaults(fn=cmd_seed)
    return parser


def _add_key_commands(sub) -> None:
    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create an API key and print it (last line)")
    create.add_argument("--role", required=True, help="editor or admin")
    create.add_argument("--name", required=True)
    create.set_defaults(fn=cmd_keys_create)
    keys.add_parser("list", help="list API keys: name, role, created, last used, revoked").set_defaults(
        fn=cmd_keys_list
    )
    revoke = keys.add_parser("revoke", help="revoke an API key by its id (see `keys list`)")
    revoke.add_argument("id")
    revoke.set_defaults(fn=cmd_keys_revoke)


def _add_service_commands(sub) -> None:
    """The long-running processes: the API, the workers, the scheduler, the reference receiver."""
    api = sub.add_parser("api", help="serve the ingest HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(fn=cmd_api)

    worker = sub.add_parser("worker", help="run a Celery worker for one stage")
    worker.add_argument("queue", choices=sorted(WORKERS))
    worker.add_argument("--concurrency", type=int)
    worker.add_argument("--pool", choices=["prefork", "threads", "solo"])
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument("--metrics-port", type=int, help=METRICS_PORT_HELP)
    worker.set_defaults(fn=cmd_worker)

    beat = sub.add_parser("beat", help="run the scheduler (exactly one per deployment)")
    beat.add_argument("--metrics-port", type=int, help=METRICS_PORT_HELP)
    beat.set_defaults(fn=cmd_beat)

    receiver = sub.add_parser("receiver", help="run the reference webhook receiver")
    receiver.add_argument("--port", type=int, required=True)
    receiver.add_argument(
        "--secret",
        default=os.environ.get("NEWSWIRE_RECEIVER_SECRET"),
        help="the subscriber's whsec_... secret (or set NEWSWIRE_RECEIVER_SECRET, "
        "which keeps it out of the process list)",
    )
    receiver.add_argument("--out", help="also append each verified event to this JSON-lines file")
    receiver.set_defaults(fn=cmd_receiver)


def _add_operator_commands(sub) -> None:
    """What an operator on call runs at a shell: status, subscribers, health."""
    from shared.heartbeat import NAMES

    status = sub.add_parser("status", help="queues, workers, oldest unfinished story, outbox, subscribers, scheduler")
    status.add_argument("--json", action="store_true", help="print JSON for scripts")
    status.set_defaults(fn=cmd_status)

    subscribers = sub.add_parser("subscribers", help="list, disable or enable subscribers").add_subparsers(
        dest="subscribers_command", required=True
    )
    listing = subscribers.add_parser("list", help="every subscriber: id, state, name, URL")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(fn=cmd_subscribers_list)
    for verb, text in (("disable", "hold its deliveries"), ("enable", "send what was held, in order")):
        one = subscribers.add_parser(verb, help=f"{verb} a subscriber ({text})")
        one.add_argument("id")
        one.set_defaults(fn=cmd_subscribers_set)

    health = sub.add_parser("health", help="exit 0 if a worker's or the scheduler's heartbeat is fresh")
    health.add_argument("name", choices=NAMES)
    health.set_defaults(fn=cmd_health)


def main(argv: list[str] | None = None) -> int:
    """Run one command. Refusals and unreachable dependencies end in one line on stderr and
    exit code 1 or 2, never a traceback."""
    args = build_parser().parse_args(argv)
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from shared.config import get_settings

    try:
        _logging(get_settings(), args)
        return args.fn(args) or 0
    except ValidationError as exc:
        print(f"error: invalid NEWSWIRE_* settings: {exc.errors()[0]['msg']}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"error: database: {reason} (is it reachable, and migrated with `newswire migrate`?)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
