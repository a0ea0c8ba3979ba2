"""``newswire`` — one entry point for every service and operator task.

newswire run                      whole pipeline on embedded defaults (make run)
newswire migrate                  create/upgrade the database schema
newswire keys create --role editor|admin --name NAME
newswire keys list | revoke ID
newswire api [--host H] [--port P]
newswire worker enrichment|publish|delivery [--concurrency N]
newswire beat                     the scheduler (run exactly one)
newswire receiver --port P --secret whsec_... [--out FILE]
newswire seed [--dir DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

WORKERS = {
    # queue: (tasks module, pool, default concurrency)
    "enrichment": ("services.enrichment.tasks", "prefork", 2),
    "publish": ("services.publish.tasks", "prefork", 2),
    "delivery": ("services.publish.tasks", "threads", 2),  # the async engine does the sending
}


def _logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("alembic", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


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

    from shared.config import get_settings

    settings = get_settings()
    uvicorn.run(
        "services.ingest.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level.lower(),
    )
    return 0


def cmd_worker(args) -> int:
    import importlib
    import os

    from shared.queue import get_celery

    module, pool, concurrency = WORKERS[args.queue]
    importlib.import_module(module)
    app = get_celery()
    app.worker_main(
        [
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
        ]
    )
    return 0


def cmd_beat(_args) -> int:
    from services.scheduler.loop import run
    from shared.config import get_settings

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run(get_settings().scheduler_interval_seconds, stop)
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newswire", description="Newswire: the event-driven newswire.")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the whole pipeline on embedded defaults").set_defaults(fn=cmd_run)
    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(fn=cmd_migrate)

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

    api = sub.add_parser("api", help="serve the ingest HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(fn=cmd_api)

    worker = sub.add_parser("worker", help="run a Celery worker for one stage")
    worker.add_argument("queue", choices=sorted(WORKERS))
    worker.add_argument("--concurrency", type=int)
    worker.add_argument("--pool", choices=["prefork", "threads", "solo"])
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(fn=cmd_worker)

    sub.add_parser("beat", help="run the scheduler (exactly one per deployment)").set_defaults(fn=cmd_beat)

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

    seed = sub.add_parser("seed", help="load seeds/ (idempotent)")
    seed.add_argument("--dir")
    seed.set_defaults(fn=cmd_seed)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Refusals and unreachable dependencies end in one line on stderr and
    exit code 1 or 2, never a traceback."""
    args = build_parser().parse_args(argv)
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from shared.config import get_settings

    try:
        _logging(get_settings().log_level)
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
