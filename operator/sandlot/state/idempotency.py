"""`Idempotency-Key`: replay the first response for a repeated request, refuse a reused key.

Called by the simulation stage (simulation/stage.py) around the stages after it for POST, PATCH and DELETE requests that
carry an `Idempotency-Key` header, as Stripe does:

- same key, same method, path and body: the first response is returned again, unchanged, with
  `Idempotent-Replayed: true`, and nothing is created twice;
- same key, another request: 400 with an `idempotency_error` body (Stripe's wording);
- a first request that failed validation (4xx from the spec's checks) is not remembered, so the
  client can fix it and retry with the same key; 5xx answers are not remembered either.

Records live in the tenant's state (`sandlot.idem.<key>`), so a reset forgets them and tenants
never see each other's keys. The decision (`lookup`) and the record (`record`) are pure.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sandlot.mock.messages import MockRequest, MockResponse

HEADER = "idempotency-key"
REPLAYED_HEADER = "idempotent-replayed"
STATE_PREFIX = "sandlot.idem."
METHODS = frozenset({"POST", "PATCH", "DELETE", "PUT"})
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Replay:
    """The request repeats an earlier one: answer with this response."""

    response: MockResponse


@dataclass(frozen=True)
class Conflict:
    """The key was first used with another request: answer with this error."""

    response: MockResponse


def fingerprint(req: MockRequest) -> str:
    """Return a digest of what makes two requests "the same": method, path, query and body."""
    return hashlib.sha256(b"\0".join((req.method.encode(), req.path.encode(), req.query.encode(),
                                      req.body))).hexdigest()


def state_key(key: str) -> str:
    """Return the tenant-state key holding an idempotency record."""
    return STATE_PREFIX + key


def error_response(status: int, message: str, kind: str = "idempotency_error") -> MockResponse:
    """Build Stripe's error shape: {"error": {"type", "message"}}."""
    body = {"error": {"type": kind, "message": message}}
    return MockResponse(status, [("content-type", "application/json")], json.dumps(body).encode())


def lookup(key: str, req: MockRequest, stored: Any) -> Replay | Conflict | None:
    """Decide from the stored record (or None) whether to replay, refuse, or serve normally."""
    if len(key) > MAX_KEY_LENGTH:
        return Conflict(error_response(400, f"The Idempotency-Key is longer than {MAX_KEY_LENGTH} "
                                            "characters; use a shorter key (a UUID fits).",
                                       "invalid_request_error"))
    if not isinstance(stored, dict):
        return None
    if stored.get("fingerprint") != fingerprint(req):
        return Conflict(error_response(
            400, "Keys for idempotent requests can only be used with the same parameters they were "
                 f"first used with. Try using a key other than '{key}' if you meant to execute a "
                 "different request."))
    headers = [(k, v) for k, v in stored["headers"]] + [(REPLAYED_HEADER, "true")]
    return Replay(MockResponse(stored["status"], headers, base64.b64decode(stored["body"])))


def record(req: MockRequest, response: MockResponse) -> dict[str, Any] | None:
    """Return the record to store for a first response, or None when it must not be remembered."""
    if response.status >= 500 or response.status in (400, 401, 403, 405, 415, 422, 429):
        return None
    return {"fingerprint": fingerprint(req), "status": response.status,
            "headers": [[k, v] for k, v in response.headers],
            "body": base64.b64encode(response.body).decode()}
