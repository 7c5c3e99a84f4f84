"""Problem responses the sandbox layer gives that the mock's `problem_response` has no title
for: `forbidden` (403). Called by the simulation's and the stateful admin API's guards."""

from __future__ import annotations

import json

from sandlot.mock.messages import PROBLEM_JSON, MockResponse, problem_body


def forbidden(detail: str) -> MockResponse:
    """Build a 403 problem titled "Forbidden": the caller is known but may not do this."""
    body = {**problem_body(403, detail), "title": "Forbidden"}
    return MockResponse(403, [("content-type", PROBLEM_JSON)], json.dumps(body, ensure_ascii=False).encode())
