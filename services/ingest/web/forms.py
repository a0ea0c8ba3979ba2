"""HTML forms read into the API's own request models, so a form is checked exactly as a JSON
body is; a refusal comes back as one readable message per field, the editor's text kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.ingest.exceptions import Refused

M = TypeVar("M", bound=BaseModel)
STORY_FIELDS = ("headline", "body_text", "body_html", "byline", "located", "slugline", "language")
#: How the forms show an embargo (``datetime-local`` with seconds, UTC).
EMBARGO_FORMAT = "%Y-%m-%dT%H:%M:%S"


class FormRefused(Exception):
    """The form's values and what is wrong with them, to show the form again."""

    def __init__(self, values: dict[str, str], errors: list[str]):
        super().__init__("; ".join(errors))
        self.values, self.errors = values, errors


def without_empty(values: Any) -> Any:
    """A query's fields without the empty ones (a filter form sends every field, empty or not)."""
    return {k: v for k, v in values.items() if v not in ("", None)} if isinstance(values, dict) else values


def text_values(form: Any) -> dict[str, str]:
    """The form's text fields (file uploads and repeated names ignored), stripped."""
    return {name: value.strip() for name, value in form.items() if isinstance(value, str)}


def utc_time(value: str | None) -> datetime | None:
    """A ``datetime-local`` field, read as UTC (the forms say so); empty: none."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def story_payload(values: dict[str, str]) -> dict[str, Any]:
    """The JSON body the API would take for these form values (empty fields left out)."""
    payload: dict[str, Any] = {name: values[name] for name in STORY_FIELDS if values.get(name)}
    if values.get("urgency"):
        payload["urgency"] = int(values["urgency"]) if values["urgency"].isdigit() else values["urgency"]
    if "embargoed_until" in values and values["embargoed_until"] != values.get("embargo_was"):
        payload["embargoed_until"] = utc_time(values["embargoed_until"])  # empty: lifted
    # unchanged on an update or correction form: left out, so the story keeps its embargo as it
    # stands now (the API's rule), even if another editor moved it after this page was loaded
    if values.get("note"):
        payload["note"] = values["note"]
    return payload


def parsed(model: type[M], values: dict[str, str], payload: dict[str, Any] | None = None) -> M:
    """``model`` from the form, or ``FormRefused`` with a message per problem."""
    try:
        return model.model_validate(story_payload(values) if payload is None else payload)
    except ValueError as exc:  # ValidationError is a ValueError
        raise FormRefused(values, messages(exc)) from None


def messages(exc: Exception) -> list[str]:
    """What is wrong, one readable line per problem, for any refusal a form can meet."""
    if isinstance(exc, FormRefused):
        return exc.errors
    if isinstance(exc, ValidationError):
        found = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "form"
            found.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
        return found
    if isinstance(exc, Refused):
        return [exc.message]
    return [str(exc)]
