"""The taggers' time budget holds when enrichment runs outside a process's main thread (the
Celery threads pool): a tagger that overruns is cut off, the story goes on with the other
taggers' tags, and the overrunning call is told to stop."""

from __future__ import annotations

import signal
import threading
import time

import pytest

import services.enrichment.taggers as taggers
from services.enrichment import service
from services.enrichment.taggers.budget import BudgetExceeded, check_deadline, within_budget
from shared.config import Settings

#: ample for the taggers that work; the stuck one never finishes on its own
BUDGET = 5.0
#: how long a test waits for an answer before calling it hung
HUNG = 60.0


@pytest.fixture(scope="module", autouse=True)
def loaded():
    taggers.warm_up()  # loading the model is not what the budget is for


def in_a_thread(fn):
    """Run ``fn`` in a new thread; its result, or None if it has not answered within HUNG."""
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(value=fn()), daemon=True)
    worker.start()
    worker.join(HUNG)
    return None if worker.is_alive() else result["value"]


@pytest.fixture
def stuck(monkeypatch):
    """Make one tagger hang until the test ends."""
    release = threading.Event()

    def hang(name: str) -> None:
        def never_done(*_args, **_kwargs):
            release.wait(HUNG * 2)
            return []

        monkeypatch.setattr(taggers, name, never_done)

    yield hang
    release.set()


def tags_in_a_thread(seed_story: dict, monkeypatch) -> dict | None:
    monkeypatch.setattr(service, "get_settings", lambda: Settings(tagger_budget_seconds=BUDGET))
    return in_a_thread(
        lambda: service.tags_for(
            headline=seed_story["headline"], body=seed_story["body_text"], located=None, language=None
        ).stored()
    )


def test_a_stuck_tagger_is_cut_off_in_a_worker_thread(seed_story, stuck, monkeypatch):
    stuck("find_subjects")
    tags = tags_in_a_thread(seed_story, monkeypatch)
    assert tags is not None, "the story waited for a stuck tagger"
    assert tags["failures"] == [{"tagger": "subjects", "error": f"over its {BUDGET:g} s budget"}]
    assert tags["subjects"] == []
    assert "John Kerry" in {p["name"] for p in tags["people"]}
    assert {"KG", "KZ", "UZ"} <= {p["code"] for p in tags["places"]}
    assert tags["keywords"]


def test_stuck_entities_leave_the_gazetteer_places_in_a_worker_thread(seed_story, stuck, monkeypatch):
    stuck("find_entities")
    tags = tags_in_a_thread(seed_story, monkeypatch)
    assert tags is not None, "the story waited for a stuck tagger"
    assert [f["tagger"] for f in tags["failures"]] == ["entities"]
    assert tags["people"] == []
    assert {"KG", "KZ", "UZ"} <= {p["code"] for p in tags["places"]}  # the gazetteer fallback
    assert tags["subjects"]


def test_an_abandoned_call_stops_at_its_next_check():
    stopped = threading.Event()

    def long_work():
        try:
            while not stopped.wait(0.01):
                check_deadline()
        except BudgetExceeded:
            stopped.set()
            raise

    def call():
        try:
            within_budget(0.2, long_work)
        except BudgetExceeded:
            return "cut off"
        return "finished"

    assert in_a_thread(call) == "cut off"
    assert stopped.wait(HUNG), "the abandoned call went on after its caller stopped waiting"


def test_a_call_within_its_budget_answers_in_a_worker_thread():
    def add(a, b=0):
        check_deadline()
        return a + b

    assert in_a_thread(lambda: within_budget(BUDGET, add, 2, b=3)) == 5


def test_an_error_reaches_the_caller_in_a_worker_thread():
    def broken():
        raise ValueError("bad input")

    def call():
        try:
            within_budget(BUDGET, broken)
        except ValueError as exc:
            return str(exc)
        return None

    assert in_a_thread(call) == "bad input"


def spin_past_any_budget() -> str:
    """Pure Python work that would run for HUNG seconds (signals reach it between bytecodes)."""
    end = time.monotonic() + HUNG
    while time.monotonic() < end:
        pass
    return "ran to the end"


def test_an_overrun_in_the_main_thread_is_interrupted_every_time():
    """In a process's main thread (a prefork pool process) the alarm cuts the call off; the
    handler stays installed between calls, and a call that finished in time leaves no alarm
    behind to cut off whatever runs next."""
    with pytest.raises(BudgetExceeded):
        within_budget(0.1, spin_past_any_budget)
    assert within_budget(0.1, lambda: 7) == 7
    time.sleep(0.3)  # past the budget of the call that finished: no alarm may go off now
    with pytest.raises(BudgetExceeded):
        within_budget(0.1, spin_past_any_budget)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
