"""What the ingest services refuse, independent of HTTP. ``errors.install`` answers each with
its status (401, 403, 404, 409, 422) and the one error body, so handlers need no try/except."""

from __future__ import annotations


class Refused(Exception):
    status = 400

    def __init__(self, code: str, message: str, details: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.code, self.message, self.details = code, message, details


class Unauthenticated(Refused):
    status = 401

    def __init__(self, message: str):
        super().__init__("unauthenticated", message)


class Forbidden(Refused):
    status = 403

    def __init__(self, message: str):
        super().__init__("forbidden", message)


class NotFound(Refused):
    status = 404

    def __init__(self, what: str):
        super().__init__("not_found", f"no {what}")


class Conflict(Refused):
    """The request conflicts with the state of what it names."""

    status = 409


class Invalid(Refused):
    """Well-formed, but not acceptable (an unknown Media Topic, an unknown country code)."""

    status = 422


class BadCursor(Refused):
    def __init__(self) -> None:
        super().__init__("invalid_cursor", "the cursor is not one this API gave out; start again without it")
