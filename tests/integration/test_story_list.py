"""The story list pages through 500 stories while 100 more are posted: no story twice, none
missed (on the real API process and database)."""

import subprocess
import sys
import threading

from tests.support import wait_for

SEED = """
import sys
from shared.db import session_scope
from services.ingest.stories import schemas, service
ids = []
for batch in range(5):
    with session_scope() as session:
        for n in range(100):
            payload = schemas.StoryCreate(headline=f"Existing {batch * 100 + n}", body_text="Text.")
            ids.append(service.create_story(session=session, payload=payload).story.id)
print(" ".join(ids))
"""


def test_pages_through_500_stories_while_100_more_are_posted(api_stack):
    done = subprocess.run([sys.executable, "-c", SEED], env=api_stack.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    existing = set(done.stdout.split())
    assert len(existing) == 500

    posted: list[str] = []

    def post_100():
        with api_stack.client(api_stack.editor_key) as api:
            for n in range(100):
                answer = api.post("/v1/stories", json={"headline": f"New {n}", "body_text": "Text."})
                assert answer.status_code == 202
                posted.append(answer.json()["id"])

    writer = threading.Thread(target=post_100)
    writer.start()
    seen: list[str] = []
    with api_stack.client(api_stack.editor_key) as api:
        page = api.get("/v1/stories", params={"limit": 25}).json()
        first_page_at = len(posted)
        while True:
            seen += [item["id"] for item in page["items"]]
            if not page["next"]:
                break
            before = len(posted)  # let some posts land between every two pages
            wait_for(
                lambda before=before: len(posted) > before or not writer.is_alive(),
                timeout=30,
                what="a concurrent post",
            )
            page = api.get(page["next"]).json()
    writer.join(60)
    assert len(posted) == 100
    assert first_page_at < 100  # the pages really were read while stories were being posted
    assert len(seen) == len(set(seen))  # no story twice
    assert existing <= set(seen)  # none of the 500 missed
    assert set(seen) - existing <= set(posted)
    assert set(seen[25:]) <= existing  # stories posted meanwhile only ever appear on the first page
