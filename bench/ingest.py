"""How many ``POST /v1/stories`` the API accepts per second, against the bare limit.

    python -m bench.ingest [--clients 8] [--seconds 10] [--repeat 3] [--postgres URL]

* project: the real API (``newswire api`` under uvicorn, its own process) with only Redis
  running — no workers, so nothing else competes for the database; each story is announced to
  Redis as in production. Editor key, no Idempotency-Key: every request files a new story.
* bare: ``bench/bare/ingest_app.py``, an ``async def`` FastAPI endpoint that validates the same
  body and inserts one row, served by uvicorn with the API's settings, in its own process.

Both run for the whole benchmark and are measured in turn (project, bare, bare, project, ...),
``--repeat`` times each, every time after a 2 s warm-up that is not counted. The load comes from
``wrk`` when it is on PATH, otherwise from a closed-loop aiohttp client in this process
(``--clients`` connections, each sending its next request when the previous answer arrived).

The API's per-key rate limit (6000/minute by default) is raised to 1,000,000/minute, so that the
limiter still runs but never refuses. Every database is a new one (PostgreSQL: a throw-away
database per server, dropped afterwards). At the end each server's story table is counted: it
must hold every story answered 202.

Each run also reads the server process's CPU time from /proc (user and system, warm-up
included) and divides it by the stories it accepted: the CPU a request costs. On a machine whose
speed drifts from one run to the next, that cost moves less than the rate does, so the second
ratio printed (bare's CPU per request over the project's) is the one to compare code versions by.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import sqlalchemy as sa
import uvicorn

from bench.machine import cpu_times, describe
from bench.pipeline import pct
from shared.embedded_redis import free_port
from shared.gc_freeze import freeze_startup_objects
from tests.support import PostgresDatabase, Stack, wait_for

WARM_UP = 2.0
REQUEST_TIMEOUT = 30.0
RATE_LIMIT = "1000000/minute"
HEADLINE = "Central bank holds rates steady as inflation eases for a third month"
BODY_TEXT = (
    "The central bank left its main interest rate unchanged on Thursday, saying inflation had "
    "eased for a third consecutive month but remained above its target. Policymakers voted "
    "seven to two to hold the rate, with the two dissenters favouring a quarter-point cut. The "
    "governor said further easing would depend on wage growth and energy prices."
)


def story(n: int | str) -> dict:
    return {"headline": f"{HEADLINE} #{n}", "body_text": BODY_TEXT, "urgency": 5}


@dataclass
class Run:
    """One measured window (the warm-up's 202s only count towards ``stored``)."""

    accepted: int
    non_2xx: int
    seconds: float
    p50_ms: float
    p99_ms: float
    stored: int  # 202 answers, warm-up included: rows the server must hold for this run
    #: The server process's user and system CPU seconds over the run, warm-up included.
    cpu_user: float = 0.0
    cpu_system: float = 0.0

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        """The server's CPU per story it accepted (warm-up included): what a request costs,
        whatever else the machine was doing (a rate moves with the machine's load, this less)."""
        return 1000 * (self.cpu_user + self.cpu_system) / self.stored if self.stored else 0.0

    @property
    def system_share(self) -> float:
        used = self.cpu_user + self.cpu_system
        return self.cpu_system / used if used else 0.0


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]
    count_rows: Callable[[], int]
    pid: int = 0  # the server process (for a profiler)


# --- the built-in load generator -------------------------------------------------------------


@dataclass
class Tally:
    accepted: int = 0
    non_2xx: int = 0
    last_end: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def note(self, status: int, started: float, ended: float) -> None:
        self.accepted += status == 202
        self.non_2xx += not 200 <= status < 300
        self.latencies.append(ended - started)
        self.last_end = max(self.last_end, ended)


async def _client(session, target: Target, numbers, warm_until: float, stop_at: float, tallies) -> None:
    """One connection's closed loop: the next request once the previous answer is read."""
    while (started := time.perf_counter()) < stop_at:
        try:
            async with session.post(target.url, json=story(next(numbers)), headers=target.headers) as answer:
                await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        tallies[started >= warm_until].note(status, started, time.perf_counter())


async def _aiohttp_load(target: Target, clients: int, seconds: float) -> Run:
    warm, measured = Tally(), Tally()
    numbers = itertools.count()
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm_until = time.perf_counter() + WARM_UP
        stop_at = warm_until + seconds
        await asyncio.gather(
            *(_client(session, target, numbers, warm_until, stop_at, (warm, measured)) for _ in range(clients))
        )
    ms = [v * 1000 for v in measured.latencies] or [0.0]
    return Run(
        accepted=measured.accepted,
        non_2xx=measured.non_2xx,
        seconds=max(measured.last_end - warm_until, 1e-9),
        p50_ms=pct(ms, 0.50),
        p99_ms=pct(ms, 0.99),
        stored=warm.accepted + measured.accepted,
    )


# --- wrk --------------------------------------------------------------------------------------

WRK_SCRIPT = """
local threads = {}
local made = 0
function setup(thread)
  made = made + 1
  thread:set("tid", made)
  table.insert(threads, thread)
end
function init(args)
  n = 0
  accepted = 0
  non2xx = 0
end
request = function()
  n = n + 1
  return wrk.format("POST", nil, HEADERS, PREFIX .. tid .. "-" .. n .. SUFFIX)
end
response = function(status, headers, body)
  if status == 202 then accepted = accepted + 1 end
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
done = function(summary, latency, requests)
  local a, b = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    b = b + t:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format("BENCH accepted=%d non2xx=%d duration_us=%d p50_us=%d p99_us=%d\\n",
    a, b + e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def wrk_script(target: Target) -> str:
    prefix, suffix = json.dumps(story("@N@")).split("@N@")
    headers = {**target.headers, "Content-Type": "application/json"}
    table = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
    return f"HEADERS = {{{table}}}\nPREFIX = {_lua_string(prefix)}\nSUFFIX = {_lua_string(suffix)}\n" + WRK_SCRIPT


def _wrk(script: Path, target: Target, clients: int, seconds: float) -> dict[str, int]:
    command = ["wrk", "-t2", f"-c{clients}", f"-d{seconds:g}s", f"--timeout={REQUEST_TIMEOUT:g}s", "-s", str(script)]
    done = subprocess.run(
        [*command, target.url], capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT + 30, check=True
    )
    found = re.search(r"^BENCH (.*)$", done.stdout, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no result: {done.stdout}{done.stderr}")
    return {k: int(v) for k, v in (pair.split("=") for pair in found.group(1).split())}


def _wrk_load(target: Target, clients: int, seconds: float) -> Run:
    """wrk abandons the requests in flight when its time is up: the server may still store
    them, so the table can hold up to ``clients`` stories more per wrk run than were counted."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(wrk_script(target))
        script.flush()
        warm = _wrk(Path(script.name), target, clients, WARM_UP)
        measured = _wrk(Path(script.name), target, clients, seconds)
    return Run(
        accepted=measured["accepted"],
        non_2xx=measured["non2xx"],
        seconds=measured["duration_us"] / 1e6,
        p50_ms=measured["p50_us"] / 1000,
        p99_ms=measured["p99_us"] / 1000,
        stored=warm["accepted"] + measured["accepted"],
    )


def measure(target: Target, clients: int, seconds: float) -> Run:
    """One run against ``target``, with the CPU its server process used meanwhile."""
    user, system = cpu_times(target.pid)
    if shutil.which("wrk"):
        run = _wrk_load(target, clients, seconds)
    else:
        run = asyncio.run(_aiohttp_load(target, clients, seconds))
    user_after, system_after = cpu_times(target.pid)
    return replace(run, cpu_user=user_after - user, cpu_system=system_after - system)


# --- the two servers --------------------------------------------------------------------------


def _counter(url: str, table: str, stack: contextlib.ExitStack):
    engine = sa.create_engine(url)
    stack.callback(engine.dispose)

    def count() -> int:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()

    return count


def _database(tmp: Path, name: str, postgres: str | None, stack: contextlib.ExitStack) -> str:
    if not postgres:
        return f"sqlite:///{tmp / name}.db"
    pg = PostgresDatabase(postgres)
    url = pg.create()
    stack.callback(pg.drop)
    return url


def start_project(tmp: Path, postgres: str | None, stack: contextlib.ExitStack) -> Target:
    data = tmp / "project"
    data.mkdir()
    api = Stack(data, _database(tmp, "project", postgres, stack), {"NEWSWIRE_RATE_LIMIT_PER_KEY": RATE_LIMIT})
    stack.callback(api.stop)
    api.start(services=("api",))
    headers = {"Authorization": f"Bearer {api.editor_key}"}
    return Target(
        "project API", f"{api.api_url}/v1/stories", headers, lambda: api.count("story"), api.processes["api"].pid
    )


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def start_bare(tmp: Path, postgres: str | None, stack: contextlib.ExitStack) -> Target:
    url, port = _database(tmp, "bare", postgres, stack), free_port()
    log = stack.enter_context((tmp / "bare.log").open("w"))
    command = [sys.executable, "-m", "bench.bare.ingest_app", "--port", str(port), "--database", url]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    stack.callback(_stop, server)
    wait_for(lambda: server.poll() is not None or _listening(port), timeout=60, what="the bare server")
    if server.poll() is not None:
        raise RuntimeError(f"the bare server exited: {(tmp / 'bare.log').read_text()[-3000:]}")
    count_rows = _counter(url, "story", stack)
    return Target("bare (bench/bare)", f"http://127.0.0.1:{port}/v1/stories", {}, count_rows, server.pid)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the run and its report -------------------------------------------------------------------


def run(clients: int, seconds: float, repeat: int, postgres: str | None) -> str:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        targets = [start_project(Path(tmp), postgres, stack), start_bare(Path(tmp), postgres, stack)]
        runs: dict[str, list[Run]] = {t.name: [] for t in targets}
        for i in range(repeat):
            for target in targets if i % 2 == 0 else targets[::-1]:
                runs[target.name].append(measure(target, clients, seconds))
        rows = {t.name: t.count_rows() for t in targets}
    return report(clients, seconds, repeat, postgres, runs, rows)


def _row(name: str, runs: list[Run]) -> str:
    rates = [r.rate for r in runs]
    p50 = statistics.median(r.p50_ms for r in runs)
    p99 = statistics.median(r.p99_ms for r in runs)
    non_2xx = sum(r.non_2xx for r in runs)
    spread = f"{min(rates):.0f}–{max(rates):.0f}"
    cpu = statistics.median(r.cpu_ms_per_request for r in runs)
    system = statistics.median(r.system_share for r in runs)
    return (
        f"| {name} | {statistics.median(rates):.0f} | {spread} | {p50:.1f} | {p99:.1f} | {non_2xx} "
        f"| {cpu:.2f} | {100 * system:.0f} % |"
    )


def _stored_check(name: str, runs: list[Run], rows: int, clients: int) -> str:
    counted = sum(r.stored for r in runs)
    abandoned = clients * 2 * len(runs) if shutil.which("wrk") else 0  # see _wrk_load
    ok = counted <= rows <= counted + abandoned
    verdict = "OK" if ok else "MISMATCH"
    return f"- {name}: {rows} rows in its story table, {counted} answered 202 (warm-ups included): {verdict}"


def report(clients, seconds, repeat, postgres, runs: dict[str, list[Run]], rows: dict[str, int]) -> str:
    project, bare = runs.values()
    ratio = statistics.median(r.rate for r in project) / max(statistics.median(r.rate for r in bare), 1e-9)
    cpu_ratio = statistics.median(r.cpu_ms_per_request for r in bare) / max(
        statistics.median(r.cpu_ms_per_request for r in project), 1e-9
    )
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    generator = "wrk -t2" if shutil.which("wrk") else "closed-loop aiohttp client (this process)"
    lines = [
        f"Machine: {describe()}.",
        f"Database: {'PostgreSQL' if postgres else 'SQLite (WAL)'}; uvicorn {uvicorn.__version__}, 1 process each, "
        f"loop {loop}, HTTP {http}, log level info, no access log.",
        f"Load: {generator}, {clients} connections, {seconds:g} s measured after {WARM_UP:g} s of warm-up, "
        f"{repeat} time(s) each, alternating.",
        "",
        "| server | accepted/s (median) | min–max | p50 ms | p99 ms | non-2xx | CPU ms / request | of it system |",
        "|---|---|---|---|---|---|---|---|",
        *(_row(name, r) for name, r in runs.items()),
        "",
        f"Ratio project / bare (median accepted/s): ×{ratio:.2f}",
        f"Ratio of CPU per request, bare / project (the server process only"
        f"{'; PostgreSQL’s own not counted' if postgres else ''}): ×{cpu_ratio:.2f}",
        "",
        "Stored (every story answered 202 is in the table):",
        *(_stored_check(name, r, rows[name], clients) for name, r in runs.items()),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", help="a PostgreSQL URL to benchmark on instead of SQLite")
    args = parser.parse_args()
    freeze_startup_objects()  # the load's own collector pauses would count against whichever run they hit
    print(run(args.clients, args.seconds, args.repeat, args.postgres))


if __name__ == "__main__":
    main()
