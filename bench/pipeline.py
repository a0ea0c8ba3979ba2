"""End-to-end pipeline benchmark on the real stack (embedded Redis, the API under uvicorn,
one Celery worker process per stage, the scheduler, SQLite or PostgreSQL).

    python -m bench.pipeline [--sequential 30] [--burst 300] [--postgres URL]
    python -m bench.pipeline --tiny [--stories 300] [--paced 200] [--rate R] [--clients 8] [--repeat 3] [--postgres URL]
    python -m bench.pipeline --conll GOLD.jsonl [--docs 100] [--clients 8] [--repeat 3] [--postgres URL]

Default mode (the 7 KB seed story, headline numbered per post):

* sequential: one story at a time, waiting for its webhook — latency from POST to the
  receiver's verified arrival, on an idle pipeline (the "first webhook out" figure);
* burst: N stories posted by 8 concurrent clients, then the time until the receiver has
  verified all of them — throughput and latency under load.

``--tiny``: the pipeline against its bare limit, with stories of ~100 characters (tagging is cheap,
so the plumbing shows). Project: ``--stories`` tiny stories from ``--clients`` concurrent clients,
stories/s from the first POST to the last verified arrival, and POST → arrival p50/p99 of that
run; then ``--paced`` stories posted open-loop at half the median stories/s just measured (each
story due at a fixed time whether or not the earlier ones arrived; latency runs from when it was
due), for p50/p99 at half load (or at ``--rate`` stories/s, to compare two versions of the code at
one load); the project's open-loop runs are also shown stage by stage (``bench.stages``: due →
filed → tagged → published → arrival, from the times the pipeline writes on each version). Bare:
the same two measurements, back to back on the same Redis
once the project's processes have stopped, with ``bench.bare.celery_chain`` — the project's own
Celery settings, three no-op tasks chained through three queues (one worker per queue, the stack's
pools and concurrency), the last POSTing a signed tiny event to the same receiver; the client
threads send the first task instead of POSTing a story. ``--bare-tagging``: the bare chain's first
task also tags the story as the enrichment worker does (``tags_for``): the limit of any pipeline
that tags every story, so the ratio shows the plumbing alone.

``--conll``: the first ``--docs`` documents of a CoNLL JSON-lines file (one document a line:
``{"id", "title", "text", ...}``, the text starting with the title line), each posted as a story
(headline: the title; body: the rest of the text) from ``--clients`` clients: stories/s from the
first POST to the last verified arrival. Bare: ``tags_for`` — what the enrichment worker runs on a
story, without the database — on the same headlines and bodies in 2 processes (multiprocessing,
each warmed up before the clock starts), documents/s, after the stack has stopped.

Each measurement of ``--tiny`` and ``--conll`` runs ``--repeat`` times (3 by default); tables show
the median and, in brackets, the smallest and largest run.

The receiver is an in-process HTTP server on 127.0.0.1 that verifies every signature with
``standardwebhooks`` and timestamps arrivals with the same clock as the POSTs.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from standardwebhooks.webhooks import Webhook

from bench.bare.celery_chain import TINY_BODY, TINY_HEADLINE, BareChain
from bench.machine import describe, rss_mib
from bench.stack import BenchStack
from bench.stack import describe as describe_stack
from bench.stages import STAGES, stage_times
from shared.gc_freeze import freeze_startup_objects
from tests.support import LocalEndpoint, PostgresDatabase, Stack, children, wait_for
from tools.split import read

SEED = json.loads((Path(__file__).resolve().parents[1] / "seeds/stories/us-returns-to-central-asia.json").read_text())
WORKERS = describe_stack()

Post = Callable[[int], tuple[str, float, float]]


class TimingReceiver(LocalEndpoint):
    """Verifies each webhook and notes when each story first arrived."""

    def __init__(self):
        self.arrivals: dict[str, float] = {}
        self.secret = ""
        self.lock = threading.Lock()
        super().__init__(self.respond)

    def respond(self, body: bytes, headers: dict) -> tuple[int, dict]:
        event = Webhook(self.secret).verify(body, headers)
        with self.lock:
            self.arrivals.setdefault(event["data"]["uri"].rsplit(":", 1)[-1], time.perf_counter())
        return 204, {}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(name: str, latencies: list[float]) -> str:
    ms = [v * 1000 for v in latencies]
    return f"| {name} | {len(ms)} | {statistics.median(ms):.0f} | {pct(ms, 0.95):.0f} | {max(ms):.0f} |"


def sequential_run(post: Post, receiver: TimingReceiver, count: int) -> tuple[list[float], list[float]]:
    """One story at a time, each waited for: (POST → arrival, POST accepted) per story."""
    latency, accepted = [], []
    for i in range(count):
        story_id, started, accept = post(i)
        wait_for(lambda story_id=story_id: story_id in receiver.arrivals, timeout=60, interval=0.002, what="story")
        latency.append(receiver.arrivals[story_id] - started)
        accepted.append(accept)
    return latency, accepted


def burst_run(post: Post, arrivals: dict[str, float], first: int, count: int, clients: int = 8) -> dict:
    """``count`` stories from ``clients`` clients at once; waits for every arrival."""
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        posted = list(pool.map(post, range(first, first + count)))
    posted_in = time.perf_counter() - started
    ids = {p[0] for p in posted}
    wait_for(lambda: ids <= arrivals.keys(), timeout=600, interval=0.05, what="burst")
    return {
        "posted_in": posted_in,
        "done": max(arrivals[i] for i in ids) - started,
        "latency": [arrivals[sid] - began for sid, began, _ in posted],
        "accepted": [accept for _, _, accept in posted],
    }


def paced_run(
    post: Post, arrivals: dict[str, float], first: int, count: int, rate: float, clients: int
) -> list[tuple[float, str]]:
    """Open loop: story ``i`` is due ``i / rate`` seconds after the start, whether or not the
    earlier ones have arrived. Returns (when it was due, its id) per story, once all arrived."""
    started = time.perf_counter()
    sent = []
    with ThreadPoolExecutor(clients) as pool:
        for i in range(count):
            due = started + i / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            sent.append((due, pool.submit(post, first + i)))
    posted = [(due, future.result()[0]) for due, future in sent]
    ids = {sid for _, sid in posted}
    wait_for(lambda: ids <= arrivals.keys(), timeout=600 + count / rate, interval=0.05, what="paced run")
    return posted


def worker_memory(stack: Stack) -> list[str]:
    memory = []
    for name in ("enrichment", "publish", "delivery"):
        pid = stack.processes[name].pid
        kids = children(pid)
        memory.append(
            f"{name} {rss_mib(pid):.0f} MiB main + "
            + " + ".join(f"{rss_mib(k):.0f}" for k in kids)
            + f" MiB in {len(kids)} pool process(es)"
            if kids
            else f"{name} {rss_mib(pid):.0f} MiB"
        )
    return memory


@contextmanager
def project_stack(postgres: str | None) -> Iterator[tuple[Stack, TimingReceiver, httpx.Client]]:
    """The running stack, the receiver subscribed to it, and an editor's API client."""
    pg = PostgresDatabase(postgres) if postgres else None
    with tempfile.TemporaryDirectory() as tmp:
        stack = BenchStack(Path(tmp), pg.create() if pg else None)
        receiver = TimingReceiver()
        api = None
        try:
            stack.start()
            with stack.client(stack.admin_key) as admin:
                answer = admin.post("/v1/subscribers", json={"name": "bench", "url": receiver.url})
                receiver.secret = answer.json()["secret"]
            api = httpx.Client(
                base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.editor_key}"}, timeout=30
            )
            yield stack, receiver, api
        finally:
            if api is not None:
                api.close()
            stack.stop()
            receiver.close()
            if pg:
                pg.drop()


def story_poster(api: httpx.Client, story: Callable[[int], dict]) -> Post:
    """POST story ``i``: (story id, when the POST started, how long until it was accepted)."""

    def post(i: int) -> tuple[str, float, float]:
        started = time.perf_counter()
        answer = api.post("/v1/stories", json=story(i))
        answer.raise_for_status()
        return answer.json()["id"], started, time.perf_counter() - started

    return post


def warm_up(post: Post, arrivals: dict[str, float], check: Callable[[], object] = lambda: None) -> None:
    """One item through, waited for: every connection open, every process ready."""
    item = post(-1)[0]
    wait_for(lambda: check() or item in arrivals, timeout=120, interval=0.01, what="the warm-up item")


def run(sequential: int, burst: int, postgres: str | None) -> str:
    with project_stack(postgres) as (stack, receiver, api):
        post = story_poster(api, lambda i: {**SEED, "headline": f"{SEED['headline']} #{i}"})
        warm_up(post, receiver.arrivals)
        seq_latency, seq_accept = sequential_run(post, receiver, sequential)
        bursted = burst_run(post, receiver.arrivals, sequential, burst)
        memory = worker_memory(stack)
    return report(postgres, burst, seq_latency, seq_accept, bursted, memory)


def report(postgres, burst, seq_latency, seq_accept, bursted, memory) -> str:
    posted_in, done = bursted["posted_in"], bursted["done"]
    lines = [
        f"Machine: {describe()}; database: {backend(postgres)}; workers: enrichment ×1, publish ×1, delivery ×1 "
        "(the async engine).",
        "",
        "| measurement | stories | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|",
        summary("POST accepted (202), one at a time", seq_accept),
        summary("POST → webhook verified at receiver, one at a time", seq_latency),
        summary(f"POST accepted (202), burst of {burst} from 8 clients", bursted["accepted"]),
        summary(f"POST → webhook verified, burst of {burst}", bursted["latency"]),
        "",
        f"Burst: {burst} stories accepted in {posted_in:.1f} s ({burst / posted_in:.0f}/s); all {burst} delivered "
        f"and verified {done:.1f} s after the first POST ({burst / done:.1f} stories/s end to end).",
        "",
        "Worker memory (PSS: shared pages split between the processes sharing them) after the run: "
        + "; ".join(memory)
        + ".",
    ]
    return "\n".join(lines)


def backend(postgres: str | None) -> str:
    return "PostgreSQL" if postgres else "SQLite"


def spread(values: list[float], digits: int = 0) -> str:
    """Median (smallest–largest), or the one value."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def ratio(project: list[float], bare: list[float]) -> str:
    return f"×{statistics.median(project) / statistics.median(bare):.2f}"


# --tiny


def tiny_story(i: int) -> dict:
    return {"headline": f"{TINY_HEADLINE} #{i}", "body_text": TINY_BODY}


def rounds(post: Post, arrivals: dict[str, float], args: argparse.Namespace, database_url: str | None = None) -> dict:
    """``--repeat`` bursts at full speed, then ``--repeat`` open-loop runs at half the median rate;
    with ``database_url``, each open-loop run's stage times too (``bench.stages``)."""
    first, bursts = 0, []
    for _ in range(args.repeat):
        bursts.append(burst_run(post, arrivals, first, args.stories, args.clients))
        first += args.stories
    rates = [args.stories / b["done"] for b in bursts]
    half = args.rate or statistics.median(rates) / 2
    paced, stages = [], []
    for _ in range(args.repeat):
        posted = paced_run(post, arrivals, first, args.paced, half, args.clients)
        paced.append([arrivals[sid] - due for due, sid in posted])
        if database_url:
            stages.append(stage_times(database_url, posted, arrivals))
        first += args.paced
    return {
        "stages": stages,
        "rates": rates,
        "half": half,
        "full p50": [pct(b["latency"], 0.50) * 1000 for b in bursts],
        "full p99": [pct(b["latency"], 0.99) * 1000 for b in bursts],
        "half p50": [pct(p, 0.50) * 1000 for p in paced],
        "half p99": [pct(p, 0.99) * 1000 for p in paced],
    }


def stop_services(stack: Stack) -> None:
    """Stop the API, the workers and the scheduler; the stack's Redis keeps running."""
    for proc in stack.processes.values():
        proc.terminate()
    for proc in stack.processes.values():
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def chain_poster(chain: BareChain) -> Post:
    def submit(i: int) -> tuple[str, float, float]:
        chain_id = f"chain{i}"
        started = time.perf_counter()
        chain.submit(chain_id)
        return chain_id, started, time.perf_counter() - started

    return submit


def run_tiny(args: argparse.Namespace) -> str:
    with project_stack(args.postgres) as (stack, receiver, api):
        post = story_poster(api, tiny_story)
        warm_up(post, receiver.arrivals)
        project = rounds(post, receiver.arrivals, args, stack.database_url)
        stop_services(stack)
        receiver.secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        chain = BareChain(stack.env, stack.data_dir, receiver.url, receiver.secret, args.bare_tagging)
        try:
            chain.start()
            submit = chain_poster(chain)
            warm_up(submit, receiver.arrivals, chain.alive)
            bare = rounds(submit, receiver.arrivals, args)
        finally:
            chain.stop()
    return tiny_report(args, project, bare, chain.describe())


def tiny_report(args: argparse.Namespace, project: dict, bare: dict, bare_workers: str) -> str:
    def row(name: str, key: str, digits: int = 0) -> str:
        cells = (spread(project[key], digits), spread(bare[key], digits), ratio(project[key], bare[key]))
        return f"| {name} | " + " | ".join(cells) + " |"

    half = f"half rate (project {project['half']:.1f}/s, bare {bare['half']:.1f}/s), {args.paced} each"
    if args.rate:
        half = f"{args.rate:.1f} stories/s (--rate), {args.paced} each"
    lines = [
        f"Machine: {describe()}; database: {backend(args.postgres)}.",
        f"Project: the real stack ({WORKERS}). Bare: bench.bare.celery_chain ({bare_workers}), the project's "
        "Celery settings, on the same Redis after the project's processes stopped.",
        f"Stories with a {len(TINY_BODY)}-character body; {args.repeat} run(s) of each measurement: "
        "median (smallest–largest).",
        "",
        "| measurement | project | bare | project/bare |",
        "|---|---|---|---|",
        row(f"stories/s, {args.stories} from {args.clients} clients, first POST → last verified arrival", "rates", 1),
        row("the same runs: POST → arrival p50 ms", "full p50"),
        row("the same runs: POST → arrival p99 ms", "full p99"),
        row(f"open loop at {half}: due → arrival p50 ms", "half p50"),
        row(f"open loop at {half}: due → arrival p99 ms", "half p99"),
        "",
        *stage_lines(project["stages"]),
    ]
    return "\n".join(lines)


def stage_lines(runs: list[dict[str, list[float]]]) -> list[str]:
    """The project's open-loop runs stage by stage (``bench.stages``): p50 and p99 ms of each."""
    lines = [
        "The project's open-loop runs, stage by stage (`bench.stages`; each run's p50 / p99, median of the runs):",
        "",
        "| stage | p50 ms | p99 ms |",
        "|---|---|---|",
    ]
    for stage in STAGES:
        p50 = statistics.median(pct(run[stage], 0.50) * 1000 for run in runs)
        p99 = statistics.median(pct(run[stage], 0.99) * 1000 for run in runs)
        lines.append(f"| {stage} | {p50:.1f} | {p99:.1f} |")
    return lines


# --conll


def conll_story(doc: dict) -> dict:
    """The document as an editor would file it: its title line as the headline, the rest as the body."""
    text = doc["text"].strip()
    title = (doc.get("title") or text.split("\n", 1)[0]).strip()
    body = text[len(title) :].strip() if text.startswith(title) else text
    return {"headline": title, "body_text": body or title}


_TAGGER: dict = {}


def _tagger_init(stories: list[dict], barrier) -> None:
    from services.enrichment.service import tags_for
    from services.enrichment.taggers import warm_up as load_taggers

    load_taggers()
    _TAGGER.update(stories=stories, barrier=barrier, tags_for=tags_for)


def _tagger_ready(_: int) -> int:
    _TAGGER["barrier"].wait(timeout=600)
    return os.getpid()


def _tag_one(i: int) -> int:
    story = _TAGGER["stories"][i]
    tags = _TAGGER["tags_for"](headline=story["headline"], body=story["body_text"], located=None, language=None)
    return len(tags.entities)


def bare_tagger(stories: list[dict], repeat: int, processes: int = 2) -> list[float]:
    """Documents/s of the enrichment worker's tagging call alone, in ``processes`` warm processes."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    with context.Pool(processes, initializer=_tagger_init, initargs=(stories, barrier)) as pool:
        ready = pool.map(_tagger_ready, range(processes), chunksize=1)  # each process loaded and waiting
        assert len(set(ready)) == processes
        rates = []
        for _ in range(repeat):
            started = time.perf_counter()
            pool.map(_tag_one, range(len(stories)), chunksize=1)
            rates.append(len(stories) / (time.perf_counter() - started))
    return rates


def run_conll(args: argparse.Namespace) -> str:
    docs = read(args.conll)[: args.docs]
    stories = [conll_story(doc) for doc in docs]
    with project_stack(args.postgres) as (_, receiver, api):
        post = story_poster(api, lambda i: stories[i % len(stories)])
        warm_up(post, receiver.arrivals)
        rates = []
        for n in range(args.repeat):
            done = burst_run(post, receiver.arrivals, n * len(stories), len(stories), args.clients)["done"]
            rates.append(len(stories) / done)
    bare = bare_tagger(stories, args.repeat)
    chars = sum(len(s["headline"]) + len(s["body_text"]) for s in stories) / len(stories)
    lines = [
        f"Machine: {describe()}; database: {backend(args.postgres)}.",
        f"{len(stories)} documents of {args.conll} ({chars:.0f} characters on average); {args.repeat} run(s) "
        "of each measurement: median (smallest–largest).",
        f"Project: the real stack ({WORKERS}), {args.clients} clients. Bare: services.enrichment.service.tags_for "
        "on the same headlines and bodies in 2 warm processes, after the stack stopped.",
        "",
        "| measurement | project | bare | project/bare |",
        "|---|---|---|---|",
        f"| documents/s (project: first POST → last verified arrival; bare: tagging only) | {spread(rates, 1)} "
        f"| {spread(bare, 1)} | {ratio(rates, bare)} |",
    ]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--tiny", action="store_true", help="tiny stories, against bench.bare.celery_chain")
    mode.add_argument("--conll", type=Path, metavar="PATH", help="CoNLL documents, against the tagger alone")
    parser.add_argument("--sequential", type=int, default=30)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--stories", type=int, default=300, help="--tiny: stories per full-speed run")
    parser.add_argument(
        "--bare-tagging", action="store_true", help="--tiny: the bare chain's first task tags the story too"
    )
    parser.add_argument("--paced", type=int, help="--tiny: stories per half-rate run (default: 2/3 of --stories)")
    parser.add_argument(
        "--rate", type=float, help="--tiny: the open-loop runs' stories/s (default: half the median full-speed rate)"
    )
    parser.add_argument("--docs", type=int, default=100, help="--conll: the first N documents")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", help="a PostgreSQL URL to benchmark on instead of SQLite")
    args = parser.parse_args()
    if args.paced is None:
        args.paced = max(1, round(args.stories * 2 / 3))
    return args


def main() -> None:
    args = parse_args()
    freeze_startup_objects()  # the load's own collector pauses would count against whichever run they hit
    if args.tiny:
        print(run_tiny(args))
    elif args.conll:
        print(run_conll(args))
    else:
        print(run(args.sequential, args.burst, args.postgres))


if __name__ == "__main__":
    main()
