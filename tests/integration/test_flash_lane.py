"""Flash stories (urgency 1-2) never wait behind a backlog of routine ones: with the
enrichment worker down, a backlog builds; a flash story posted last is enriched first."""

import sqlalchemy as sa

from tests.support import wait_for


def test_flash_story_overtakes_a_routine_backlog(stack):
    stack.kill("enrichment")
    try:
        with stack.client(stack.editor_key) as api:
            routine = [
                api.post(
                    "/v1/stories", json={"headline": f"Routine {i}", "body_text": "Markets in Tashkent.", "urgency": 5}
                ).json()["id"]
                for i in range(15)
            ]
            flash = api.post(
                "/v1/stories", json={"headline": "FLASH: quake", "body_text": "A quake hit Almaty.", "urgency": 1}
            ).json()["id"]
    finally:
        stack.restart("enrichment")
    ids = routine + [flash]

    def enriched_order():
        with stack.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT story_id, enriched_at FROM story_version WHERE enriched_at IS NOT NULL")
            ).all()
        done = {story_id: at for story_id, at in rows if story_id in ids}
        return done if len(done) == len(ids) else None

    done = wait_for(enriched_order, timeout=120, what="the backlog to be enriched")
    order = sorted(ids, key=lambda story_id: done[story_id])
    assert order[0] == flash

    def all_published():
        with stack.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT story_id FROM story_version WHERE state = 'published'")).all()
        return set(ids) <= {story_id for (story_id,) in rows}

    # the stack is shared: let the backlog go out before the next test counts what its sites get
    wait_for(all_published, timeout=120, what="the backlog to be published")
