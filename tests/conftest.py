import json

import pytest

from tests.support import REPO


@pytest.fixture(scope="session")
def seed_story() -> dict:
    return json.loads((REPO / "seeds/stories/us-returns-to-central-asia.json").read_text())


@pytest.fixture(autouse=True)
def no_log_ids_carried_over():
    """Each test starts with no log ids bound: service code called directly (not from a task or a
    request, which scope their ids) must not leak ids into the next test."""
    from shared import logs

    with logs.cleared():
        yield
