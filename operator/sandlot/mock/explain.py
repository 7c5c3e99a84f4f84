"""Explain a refused request: the closest documented routes for a 404/405, and the exact
parameter or body rule that failed for a 400/401/415/422.

Called by the request journal (state/journal_stage.py) for answers of 400 and above, after the
stages answered, so the fast path of a successful request never pays for it. Pure: it reads the
engine's routes and plans and the response, and returns plain dicts the journal stores.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from typing import Any

from sandlot.mock.engine import Engine, Match, Operation
from sandlot.mock.messages import MockRequest, MockResponse, Violation
from sandlot.mock.validate import Refusal

#: How many close routes an explanation lists.
CLOSEST = 3
#: A route further than this (in segment edits) from the request is not "close".
_FAR = 2.5
_ERRORS_HEADER = "x-sandlot-errors"


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _segment_cost(sent: str, documented: str) -> float:
    """Return how far a request segment is from a template segment (0: it matches)."""
    if documented.startswith("{") and documented.endswith("}"):
        return 0.0  # a bare parameter takes any value
    if sent == documented:
        return 0.0
    if "{" in documented:  # `{Sid}.json`: compare the literal parts
        literal = "".join(p for i, p in enumerate(documented.replace("}", "{").split("{")) if i % 2 == 0)
        return 1.0 - difflib.SequenceMatcher(None, sent, literal).ratio() * 0.8
    return 1.0 - difflib.SequenceMatcher(None, sent.lower(), documented.lower()).ratio()


def route_distance(path: str, template: str) -> float:
    """Return how many segment edits separate a request path from a path template (0: it matches)."""
    sent, documented = _segments(path), _segments(template)
    matcher = difflib.SequenceMatcher(None, [s.lower() for s in sent],
                                      [d.lower() if "{" not in d else "\0param" for d in documented])
    cost = 0.0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        pairs = list(zip(sent[i1:i2], documented[j1:j2], strict=False))
        cost += sum(_segment_cost(s, d) for s, d in pairs)
        cost += abs((i2 - i1) - (j2 - j1))  # segments added or missing
    return round(cost, 3)


def closest_routes(engine: Engine, method: str, path: str, limit: int = CLOSEST) -> list[dict[str, Any]]:
    """Return the documented routes closest to METHOD path, best first: method, path (with the
    server's base path), operation id and how far it is."""
    bases = [b for b in engine.base_paths if path == b or path.startswith(b + "/")]
    shown_base = bases[0] if bases else (engine.base_paths[0] if engine.base_paths else "")
    relative = path[len(bases[0]):] or "/" if bases else path
    scored = []
    for operation in engine.operations:
        distance = route_distance(relative, operation.path)
        if operation.method != method.upper():
            distance += 0.5
        if distance <= _FAR:
            scored.append((distance, operation))
    scored.sort(key=lambda pair: (pair[0], pair[1].path, pair[1].method))
    return [{"method": op.method, "path": shown_base + op.path, "operation": op.operation_id,
             "distance": round(distance, 3)} for distance, op in scored[:limit]]


def _error_list(response: MockResponse) -> list[dict[str, Any]]:
    """Return the violations an answer carries (its `x-sandlot-errors` header or problem body)."""
    raw = response.header(_ERRORS_HEADER)
    try:
        problem = json.loads(raw) if raw else json.loads(response.body) if response.body else None
    except ValueError:
        return []
    errors = problem.get("errors") if isinstance(problem, dict) else None
    return [dict(e) for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _detail(response: MockResponse) -> str | None:
    raw = response.header(_ERRORS_HEADER)
    try:
        problem = json.loads(raw) if raw else json.loads(response.body) if response.body else None
    except ValueError:
        return None
    detail = problem.get("detail") if isinstance(problem, dict) else None
    return str(detail) if detail else None


def _violations(found: Iterable[Violation]) -> list[dict[str, Any]]:
    out = []
    for v in found:
        item: dict[str, Any] = v.as_dict()
        if v.rule:
            item["rule"] = v.rule
        out.append(item)
    return out


def _refusal(engine: Engine, req: MockRequest, match: Match, status: int) -> Refusal | None:
    """Validate again (only refused requests get here) to learn each violated schema rule; None
    when validation does not explain this status."""
    outcome = engine.check_request(req, match)
    if not isinstance(outcome, Refusal):
        return None
    # A body that breaks its schema is answered 400 where the operation documents no 422.
    return outcome if outcome.status == status or (outcome.status, status) == (422, 400) else None


def explain(engine: Engine, req: MockRequest, response: MockResponse,
            routed: Match | MockResponse | None) -> dict[str, Any] | None:
    """Return why a request got a 4xx answer, or None for any other answer.

    - 404 or 405 with no documented route: `summary` and the `closest` routes;
    - a refusal by validation (400, 401, 415, 422): each violation with its `location`,
      `pointer`, `message` and, where a schema decided, the `rule` (keyword, value, schema path);
    - any other 4xx (a stateful 404 for an unknown id, a scenario): the answer's own errors.
    """
    status = response.status
    if status < 400 or status >= 500:
        return None
    match = routed if isinstance(routed, Match) else None
    if match is None and status in (404, 405):
        found = engine.match(req)
        match = found if isinstance(found, Match) else None
    if match is None and status in (404, 405):
        allowed = response.header("allow")
        summary = (f"{req.method} is not documented for this path; allowed: {allowed}" if status == 405 and allowed
                   else f"no documented path matches {req.path}")
        return {"summary": summary, "closest": closest_routes(engine, req.method, req.path)}
    errors: list[dict[str, Any]] = []
    if match is not None and status in (400, 401, 415, 422):
        refusal = _refusal(engine, req, match, status)
        if refusal is not None:
            errors = _violations(refusal.errors)
            return {"summary": refusal.detail, "operation": _name(match.operation), "errors": errors}
    errors = _error_list(response)
    summary = _detail(response) or f"answered {status}"
    explanation: dict[str, Any] = {"summary": summary, "errors": errors}
    if match is not None:
        explanation["operation"] = _name(match.operation)
    return explanation


def _name(operation: Operation) -> str:
    return operation.operation_id or f"{operation.method} {operation.path}"
