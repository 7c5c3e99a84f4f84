"""Build the apiserver's error answers: an exception carrying a v1 Status body.

Raised by the store and the HTTP app; the app turns it into a JSON response (or
into an ERROR event inside a watch stream). The bodies follow kube-apiserver 1.36:
`details` leaves out an empty group or name, and each cause of a 422 carries the
reason of its field error (FieldValueInvalid, FieldValueRequired ...) and the
message without the field in front, as tests/kubeemu/test_against_apiserver.py checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The reason of a field error, by how its text starts (Go's field.ErrorType).
_REASONS = (
    ("Invalid value", "FieldValueInvalid"), ("Required value", "FieldValueRequired"),
    ("Forbidden", "FieldValueForbidden"), ("Unsupported value", "FieldValueNotSupported"),
    ("Too long", "FieldValueTooLong"), ("Too many", "FieldValueTooMany"), ("Duplicate value", "FieldValueDuplicate"),
)


class ApiError(Exception):
    """An API failure with the HTTP code, reason and message the real apiserver would send."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        """Return the v1 Status object describing this failure."""
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


def details(name: str, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    """Return a Status's details as the apiserver writes them (empty name and group left out)."""
    found: dict[str, Any] = {}
    if name:
        found["name"] = name
    if group:
        found["group"] = group
    found["kind"] = kind
    found.update(extra)
    return found


def qualified(plural: str, group: str) -> str:
    """Return how the apiserver names a resource in messages (`configmaps`, `things.example.com`)."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    """Return the 404 for a missing object."""
    return ApiError(404, "NotFound", f'{qualified(plural, group)} "{name}" not found', details(name, group, plural))


def conflict(plural: str, group: str, name: str, problem: str) -> ApiError:
    """Return the 409 Conflict of an update that lost a race."""
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {problem}',
                    details(name, group, plural))


@dataclass(frozen=True)
class FieldError:
    """One field error, as Go's field.Error: `text` is what follows `field: ` in the message."""

    field: str
    text: str
    #: The reason when the text does not tell it (FieldValueTypeInvalid reads as "Invalid value").
    kind: str = ""

    @property
    def reason(self) -> str:
        if self.kind:
            return self.kind
        return next((reason for prefix, reason in _REASONS if self.text.startswith(prefix)), "FieldValueInvalid")

    def __str__(self) -> str:
        return f"{self.field}: {self.text}"


def invalid_fields(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """Return the 422 Invalid listing field errors (the message names each distinct one once)."""
    rendered = list(dict.fromkeys(str(e) for e in errors))
    listed = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    causes = [{"reason": e.reason, "message": e.text, "field": e.field} for e in errors]
    return ApiError(422, "Invalid", f'{qualified(kind, group)} "{name}" is invalid: {listed}',
                    details(name, group, kind, causes=causes))


def invalid(kind: str, group: str, name: str, field: str, text: str) -> ApiError:
    """Return the 422 Invalid the apiserver sends when one field fails validation."""
    return invalid_fields(kind, group, name, [FieldError(field, text)])
