"""The OpenAPI description is one a client generator can use."""

import pytest


@pytest.fixture
def spec(api):
    return api.anonymous.get("/openapi.json").json()


def operations(spec):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_bearer_auth_is_a_security_scheme_on_every_v1_operation(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "nw_…",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    for path, method, operation in operations(spec):
        if path.startswith("/v1/"):
            assert operation["security"] == [{"bearerAuth": []}], (method, path)


def test_operation_ids_are_readable_and_unique(spec):
    ids = [operation["operationId"] for _, _, operation in operations(spec)]
    assert len(ids) == len(set(ids))
    assert {
        "create_story",
        "update_story",
        "correct_story",
        "kill_story",
        "list_stories",
        "get_story",
        "list_story_versions",
        "get_story_version",
        "retry_story_version",
        "set_story_tags",
        "list_keys",
        "revoke_key",
        "create_subscriber",
        "enable_subscriber",
    } <= set(ids)
    assert all(i.isidentifier() and i.islower() for i in ids)


def test_every_error_response_has_the_real_error_body(spec):
    for path, method, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and path.startswith("/v1/"):
                content = response["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
                assert set(content["example"]["error"]) >= {"code", "message"}
    assert "HTTPValidationError" not in str(spec)
    assert spec["paths"]["/v1/stories/{story_id}/kill"]["post"]["responses"].keys() >= {
        "401",
        "403",
        "404",
        "409",
        "422",
    }


def test_tags_and_ninjs_are_typed(spec):
    schemas = spec["components"]["schemas"]
    tags = schemas["StoryTags"]["properties"]
    assert tags["places"]["items"] == {"$ref": "#/components/schemas/PlaceTag"}
    assert "code" in schemas["PlaceTag"]["properties"]
    version = spec["paths"]["/v1/stories/{story_id}/versions/{number}"]["get"]["responses"]["200"]
    assert version["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/NinjsItem"}
    assert {"uri", "version", "pubStatus", "edNote", "places", "subjects"} <= set(schemas["NinjsItem"]["properties"])


def test_webhook_payloads_are_described(spec):
    assert set(spec["webhooks"]) == {"story.published", "story.updated", "story.corrected", "story.killed"}
    killed = spec["webhooks"]["story.killed"]["post"]
    assert killed["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WebhookEvent"
    }
    assert {p["name"] for p in killed["parameters"]} == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    event_types = spec["components"]["schemas"]["WebhookEvent"]["properties"]["type"]["enum"]
    assert set(event_types) == set(spec["webhooks"])
