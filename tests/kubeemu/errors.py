"""Build the apiserver's error answers: an exception carrying a v1 Status body.

Raised by the store and the HTTP app; the app turns it into a JSON response (or
into an ERROR event inside a watch stream).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An API failure with the HTTP code, reason and message the real apiserver would send."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict[str, Any]:
        """Return the v1 Status object describing this failure."""
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def qualified(plural: str, group: str) -> str:
    """Return how the apiserver names a resource in messages (`configmaps`, `things.example.com`)."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    """Return the 404 for a missing object."""
    return ApiError(404, "NotFound", f'{qualified(plural, group)} "{name}" not found',
                    {"name": name, "group": group, "kind": plural})


def invalid(kind: str, name: str, field: str, problem: str) -> ApiError:
    """Return the 422 Invalid the apiserver sends when a field fails validation."""
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {field}: {problem}',
                    {"name": name, "kind": kind, "causes": [{"field": field, "message": problem}]})
