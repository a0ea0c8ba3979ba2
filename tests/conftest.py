import json

import pytest

from tests.support import REPO


@pytest.fixture(scope="session")
def seed_story() -> dict:
    return json.loads((REPO / "seeds/stories/us-returns-to-central-asia.json").read_text())
