from datetime import datetime, timezone

import pytest

from services.enrichment.taggers import tag_story
from services.publish.formats import ninjs
from tests.integration.test_pipeline import validate_ninjs

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=timezone.utc)


def document(**overrides):
    base = dict(
        story_id="abc123", version=2, headline="Kerry in Astana", body_text="John Kerry visited Astana.",
        body_html=None, byline="Staff", located="ASTANA", slugline="Kerry-Astana", language=None, urgency=3,
        pubstatus="usable", embargoed_until=None, first_created=NOW, version_created=NOW,
        tags=tag_story(headline="Kerry in Astana", body="John Kerry visited Astana. Kerry spoke.", located="ASTANA"),
    )
    base.update(overrides)
    return ninjs.StoryDocument(**base)


def test_render_is_valid_ninjs_31_with_codes():
    item = ninjs.render(document())
    validate_ninjs(item)  # against the schema handed to the project
    assert item["uri"] == "urn:newswire:story:abc123"
    assert item["version"] == "2"
    assert item["language"] == "en"
    assert item["places"][0] == {"name": "Astana", "rel": "dateline", "literal": "KZ",
                                 "uri": "https://sws.geonames.org/1526273/"}
    assert item["bodies"][0]["contentType"] == "text/plain"
    assert item["firstCreated"] == "2026-11-28T09:30:00Z"


def test_html_body_and_embargo_render():
    tags = tag_story(headline="Hi", body="Hi there")
    item = ninjs.render(document(body_text=None, body_html="<p>Hi there</p>", embargoed_until=NOW,
                                 pubstatus="withheld", tags=tags))
    validate_ninjs(item)
    assert item["bodies"][0] == {"role": "main", "contentType": "text/html", "value": "<p>Hi there</p>",
                                 "wordCount": 2, "charCount": 8}
    assert item["embargoedUntil"] == "2026-11-28T09:30:00Z"
    assert item["pubStatus"] == "withheld"


def test_invalid_item_is_refused():
    with pytest.raises(ninjs.InvalidNinjs, match="urgency"):
        ninjs.render(document(urgency=12))


def test_project_schema_copy_is_unchanged():
    from tests.support import SHARED_MATERIAL

    given = SHARED_MATERIAL / "spec" / "ninjs-schema_3.1.json"
    ours = ninjs.SCHEMA_DIR / "ninjs-schema_3.1.json"
    if given.exists():
        assert given.read_bytes() == ours.read_bytes()
    assert ninjs.validator().schema["$id"].startswith("http://www.iptc.org/std/ninjs/ninjs-schema_3.1")
