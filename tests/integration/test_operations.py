"""What an operator relies on: a hung Redis never hangs the API, heartbeats say who is alive,
and exactly one scheduler runs."""

import json
import time

import httpx
import pytest

from tests.integration.conftest import BACKENDS, running_stack
from tests.support import FreezableProxy, Stack, newswire, wait_for


class ProxiedStack(Stack):
    """Every service reaches Redis through a proxy the test can freeze."""

    proxy: FreezableProxy

    def broker_url_for(self, redis_url: str) -> str:
        self.proxy = FreezableProxy(int(redis_url.rsplit(":", 1)[1].split("/")[0]))
        return f"redis://127.0.0.1:{self.proxy.port}/0"

    def stop(self) -> None:
        super().stop()
        self.proxy.close()


OPERATIONS_ENV = {"NEWSWIRE_HEARTBEAT_MAX_AGE_SECONDS": "4", "NEWSWIRE_BROKER_BACKOFF_SECONDS": "1"}


@pytest.fixture(scope="module", params=BACKENDS)
def proxied(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"ops-{request.param}")
    yield from running_stack(request.param, folder, extra_env=OPERATIONS_ENV, stack_class=ProxiedStack)


def readiness(stack) -> dict:
    return httpx.get(f"{stack.api_url}/readyz", timeout=5).json()


def test_every_component_beats_and_says_so(proxied):
    for name in ("enrichment", "publish", "delivery", "beat"):
        done = wait_for(
            lambda name=name: (lambda d: d if d.returncode == 0 else None)(newswire(["health", name], proxied.env)),
            timeout=30,
            what=f"{name}'s heartbeat",
        )
        assert "alive" in done.stdout


def test_a_second_scheduler_refuses_to_start(proxied):
    done = newswire(["beat"], proxied.env)
    assert done.returncode == 3
    assert "another scheduler holds the lease" in done.stderr


def test_a_hung_redis_hangs_nothing_and_the_story_arrives_when_it_answers(proxied):
    subscriber, receiver = proxied.subscribe()
    try:
        proxied.proxy.freeze()
        with proxied.client(proxied.editor_key) as api:
            started = time.monotonic()
            accepted = api.post("/v1/stories", json={"headline": "Filed while Redis hangs", "body_text": "Text."})
            took = time.monotonic() - started
        assert accepted.status_code == 202 and took < 2.0, (accepted.status_code, took)
        state = wait_for(lambda: (lambda r: r if r["status"] == "degraded" else None)(readiness(proxied)), timeout=10)
        assert state["ready"] is True and state["checks"]["database"] == "ok"
        assert wait_for(
            lambda: (lambda d: d if d.returncode == 1 else None)(newswire(["health", "enrichment"], proxied.env)),
            timeout=30,
            what="the enrichment worker's heartbeat to go stale while Redis hangs",
        )
        proxied.proxy.thaw()
        story_id = accepted.json()["id"]
        arrived = wait_for(
            lambda: [e for e in receiver.events() if e["event"]["data"]["uri"].endswith(story_id)],
            timeout=90,
            what="the story filed during the hang to arrive",
        )
        assert len({e["webhook_id"] for e in arrived}) == 1
        wait_for(lambda: readiness(proxied)["status"] == "ok", timeout=30, what="readiness back to ok")
    finally:
        proxied.proxy.thaw()
        receiver.stop()


def status(stack) -> dict:
    done = newswire(["status", "--json"], stack.env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def backlog_of(found: dict, stories: int) -> dict | None:
    waiting = found["queues"] and found["queues"]["enrichment"] >= 1
    return found if waiting and found["unfinished"].get("stored") == stories else None


def drained_of(found: dict) -> dict | None:
    idle = found["queues"] and found["queues"]["enrichment"] == 0
    return found if idle and found["oldest_unfinished"] is None and not found["unfinished"] else None


def test_status_shows_a_backlog_building_and_draining(proxied):
    with proxied.client(proxied.editor_key) as api:  # the pipeline moves before the test starts
        canary = api.post("/v1/stories", json={"headline": "Canary", "body_text": "Text."}).json()["id"]
        wait_for(lambda: api.get(f"/v1/stories/{canary}").json()["status"] == "published", timeout=60, what="canary")
    proxied.kill("enrichment")
    try:
        with proxied.client(proxied.editor_key) as api:
            ids = [
                api.post("/v1/stories", json={"headline": f"Backlog {n}", "body_text": "Text."}).json()["id"]
                for n in range(5)
            ]
        # Five versions wait to be tagged, their messages in the enrichment queue. (Exactly five messages is
        # not guaranteed: a message Redis hands to a consumer in the instant it dies is lost with it; the
        # scheduler's stuck sweep re-queues that version once the queue has drained, which is checked below.)
        building = wait_for(lambda: backlog_of(status(proxied), 5), timeout=30, what="five stories waiting")
        assert building["workers"]["enrichment"] == 0 and building["workers"]["publish"] >= 1
        assert building["oldest_unfinished"]["state"] == "stored"
    finally:
        proxied.restart("enrichment")
    drained = wait_for(lambda: drained_of(status(proxied)), timeout=90, what="the backlog to drain")
    assert drained["workers"]["enrichment"] == 1 and drained["outbox"]["unsent"] == 0
    assert drained["scheduler"]["last_beat_seconds_ago"] < 5
    with proxied.client(proxied.editor_key) as api:
        assert {api.get(f"/v1/stories/{i}").json()["status"] for i in ids} == {"published"}


def test_operators_disable_and_enable_a_subscriber(proxied):
    subscriber, receiver = proxied.subscribe()
    receiver.stop()
    done = newswire(["subscribers", "disable", subscriber["id"]], proxied.env)
    assert done.returncode == 0 and "disabled" in done.stdout
    listed = json.loads(newswire(["subscribers", "list", "--json"], proxied.env).stdout)
    mine = next(s for s in listed if s["id"] == subscriber["id"])
    assert mine["active"] is False and "operator" in mine["disabled_reason"]
    assert any(s["id"] == subscriber["id"] for s in status(proxied)["subscribers"]["disabled"])
    assert newswire(["subscribers", "enable", subscriber["id"]], proxied.env).stdout.strip().endswith("active")
