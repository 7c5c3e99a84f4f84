"""The request and response values that flow through the mock pipeline.

`http/app.py` turns an ASGI scope into a `MockRequest`, the engine turns it into a
`MockResponse`; the simulation and state stages build and rewrite the same values.
Nothing here knows about an HTTP framework.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PROBLEM_JSON = "application/problem+json"


def _lower_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Return headers as a dict with lower-cased names; repeated names are joined with ', '."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    merged: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged


@dataclass(slots=True)
class MockRequest:
    """One HTTP request: method, raw path (no query), raw query string, headers, body bytes."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if not isinstance(self.headers, dict):
            self.headers = _lower_headers(self.headers)
        else:  # one lower() over every name at once: a name that changes changes the whole
            names = "".join(self.headers)
            if names != names.lower():
                self.headers = _lower_headers(self.headers)


@dataclass(slots=True)
class MockResponse:
    """One HTTP response: status, headers (name, value) in order, body bytes."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Return the first header value called `name` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Violation:
    """One reason a request was refused: where (location + JSON pointer) and why."""

    location: str  # path | query | header | cookie | body | security | request
    pointer: str
    message: str
    #: The schema rule that failed (`minimum: 1 at #/properties/amount`), when a schema decided;
    #: read by the request journal's explanations, left out of problem bodies.
    rule: str = field(default="", compare=False)

    def as_dict(self) -> dict[str, str]:
        """Return the violation as it appears in a problem body's `errors` list."""
        return {"location": self.location, "pointer": self.pointer, "message": self.message}


PROBLEM_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    403: "Forbidden",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
}


def json_response(status: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> MockResponse:
    """Build an `application/json` response (non-ASCII kept as is)."""
    return MockResponse(status, [("content-type", "application/json"), *headers],
                        json.dumps(body, ensure_ascii=False).encode())


def problem_body(status: int, detail: str, errors: Iterable[Violation] = ()) -> dict[str, Any]:
    """Build an RFC 9457 problem document with Sandlot's `errors` extension."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": PROBLEM_TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    errs = [e.as_dict() for e in errors]
    if errs:
        body["errors"] = errs
    return body


def problem_response(
    status: int,
    detail: str,
    errors: Iterable[Violation] = (),
    headers: Iterable[tuple[str, str]] = (),
) -> MockResponse:
    """Build a `application/problem+json` response."""
    body = json.dumps(problem_body(status, detail, errors), ensure_ascii=False).encode()
    return MockResponse(status, [("content-type", PROBLEM_JSON), *headers], body)
