"""The collector's full passes skip what a process made while setting up (``shared.gc_freeze``)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref

import pytest

from shared.gc_freeze import freeze_startup_objects


class Node:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen():
    """Give the test process's objects back to the collector afterwards."""
    yield
    gc.unfreeze()


def test_live_objects_are_frozen_and_garbage_is_collected_first(unfrozen):
    kept = [Node() for _ in range(500)]
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage  # a cycle: only the collector frees it

    frozen = freeze_startup_objects()

    assert gone() is None, "garbage alive at the freeze would be kept for good"
    assert frozen >= len(kept)
    tracked = {id(each) for each in gc.get_objects()}
    assert not any(id(node) in tracked for node in kept), "a frozen object is still looked at by full passes"


def test_a_full_pass_after_the_freeze_looks_at_new_objects_only(unfrozen):
    startup = [[i] for i in range(50_000)]
    freeze_startup_objects()
    made_later = [[i] for i in range(100)]

    tracked = gc.get_objects(generation=2) + gc.get_objects(generation=1) + gc.get_objects(generation=0)

    assert len(tracked) < len(startup)
    assert any(each is made_later for each in tracked)


WORKER_SET_UP = """
import gc
import services.enrichment.tasks  # its worker_init handler loads the entity model
from celery.signals import worker_init, worker_process_init
from services.enrichment.taggers import ner
from shared.gc_freeze import freeze_when_worker_set_up

freeze_when_worker_set_up()
assert gc.get_freeze_count() == 0
worker_init.send(sender=None)
after_init = gc.get_freeze_count()
model_in_sight = any(each is ner.model() for each in gc.get_objects())
made_by_pool_process = [[i] for i in range(10_000)]
worker_process_init.send(sender=None)
print(after_init, gc.get_freeze_count(), model_in_sight)
"""


def test_an_enrichment_worker_freezes_after_loading_its_model_and_each_pool_process_again():
    env = {**os.environ, "NEWSWIRE_REDIS_URL": "redis://127.0.0.1:1/0"}  # only imported: nothing connects
    done = subprocess.run([sys.executable, "-c", WORKER_SET_UP], capture_output=True, text=True, timeout=120, env=env)

    assert done.returncode == 0, done.stderr
    after_init, after_pool_process, model_in_sight = done.stdout.split()
    assert int(after_init) > 100_000, "the model's objects are not frozen"
    assert model_in_sight == "False", "the model was loaded after the freeze"
    assert int(after_pool_process) >= int(after_init) + 10_000
