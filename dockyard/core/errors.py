"""Domain errors. Services raise these; one handler (``dockyard.config.api``) maps them to HTTP in
GitLab's shapes: ``{"message": "404 Project Not Found"}``, ``{"message": {"path": ["..."]}}`` or
``{"error": "..."}``.
"""

from __future__ import annotations

from typing import Any


class DockyardError(Exception):
    status = 400

    def __init__(self, message: Any = None) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"message": self.message}


class NotFound(DockyardError):
    """Missing, or not visible to the caller: the two must be indistinguishable."""

    status = 404

    def __init__(self, resource: str | None = None) -> None:
        super().__init__(f"404 {resource} Not Found" if resource else "404 Not Found")


class Unauthorized(DockyardError):
    status = 401

    def __init__(self, message: str = "401 Unauthorized") -> None:
        super().__init__(message)


class Forbidden(DockyardError):
    status = 403

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(f"403 Forbidden - {reason}" if reason else "403 Forbidden")


class InsufficientScope(DockyardError):
    status = 403

    def __init__(self, scopes: list[str]) -> None:
        super().__init__("insufficient_scope")
        self.scopes = scopes

    def body(self) -> dict[str, Any]:
        return {
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token.",
            "scope": " ".join(self.scopes),
        }


class ValidationFailed(DockyardError):
    """Field errors: ``{"message": {"field": ["error", ...]}}`` with status 400."""

    status = 400

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class BadRequest(DockyardError):
    """A malformed or missing parameter: ``{"error": "name is missing"}``."""

    status = 400

    def body(self) -> dict[str, Any]:
        return {"error": self.message}


class Conflict(DockyardError):
    status = 409

    def __init__(self, message: str = "409 Conflict") -> None:
        super().__init__(message)


def check(errors: dict[str, list[str]]) -> None:
    """Raise :class:`ValidationFailed` when any field collected an error."""
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        raise ValidationFailed(errors)
