"""Built-in faults: the responses (or the lack of one) that the built-in scenarios produce.

Called by the scenario chooser (simulation/scenarios.py) to turn a fault name into an `Answer`:
a `MockResponse`, and for what cannot be a response an `EdgeAction` for the ASGI edge
(http/edge.py): holding a request past a delay then closing the connection (`timeout`),
resetting it (`connection_reset`), or adding latency (`slow`). The decision is pure; the
simulation stage puts the action on the request context, where the edge reads it.

Statuses follow what a client must handle: 429 (with `Retry-After` and the spec's documented
429 body when there is one), 500, 503, 502 or 504. When the operation documents the status,
its documented response is rendered (so a generated client parses it); otherwise an
`application/problem+json` body says which scenario produced it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from sandlot.mock.context import EdgeAction
from sandlot.mock.engine import Engine, Match
from sandlot.mock.messages import MockRequest, MockResponse

LATENCY_HEADER = "sandlot-latency"
SCENARIO_HEADER = "sandlot-scenario"

RATE_LIMITED = "rate_limited"
TIMEOUT = "timeout"
SERVER_ERROR = "server_error"
UNAVAILABLE = "unavailable"
DOWNSTREAM_FAILURE = "downstream_failure"
CONNECTION_RESET = "connection_reset"
SLOW = "slow"

#: Built-in scenario name -> what it does (shown by `GET /__sandlot/scenarios` and the docs).
BUILTIN = {
    RATE_LIMITED: "429 with Retry-After (retry_after=N, default 1) and the spec's documented 429 body",
    TIMEOUT: "hold the request for delay=D (default 5s), then close the connection without answering",
    SERVER_ERROR: "500 (the documented 500 response when there is one)",
    UNAVAILABLE: "503 with Retry-After (retry_after=N, default 1)",
    DOWNSTREAM_FAILURE: "502 Bad Gateway, or status=504 for Gateway Timeout",
    CONNECTION_RESET: "reset the TCP connection (RST) without answering",
    SLOW: "answer normally after latency=D (default 250ms; also the Sandlot-Latency header)",
}

#: Built-in scenario name -> the parameters it takes (any other parameter is refused).
PARAMS: dict[str, tuple[str, ...]] = {
    RATE_LIMITED: ("retry_after",), TIMEOUT: ("delay",), SERVER_ERROR: (), UNAVAILABLE: ("retry_after",),
    DOWNSTREAM_FAILURE: ("status",), CONNECTION_RESET: (), SLOW: ("latency",),
}
#: The statuses `downstream_failure; status=N` may give.
DOWNSTREAM_STATUSES = (502, 504)
#: The longest a request may be held (timeout's delay, slow's latency, Sandlot-Latency), in
#: seconds: a held request ties up a connection, and a typo like `delay=5h` should not.
MAX_HOLD_SECONDS = 120.0

_TITLES = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass(frozen=True)
class Answer:
    """A scenario's answer: the response, and what the ASGI edge must do with it (if anything)."""

    response: MockResponse
    edge: EdgeAction | None = None


def problem(status: int, scenario: str, detail: str, headers: list[tuple[str, str]] | None = None
            ) -> MockResponse:
    """Build a problem+json response naming the scenario that produced it."""
    body = {"type": f"https://sandlot.dev/problems/scenario/{scenario}", "title": _TITLES.get(status, "Error"),
            "status": status, "detail": detail, "scenario": scenario}
    return MockResponse(status, [("content-type", "application/problem+json"), *(headers or [])],
                        json.dumps(body).encode())


def documented(engine: Engine, req: MockRequest, match: Match | None, status: int,
               headers: list[tuple[str, str]]) -> MockResponse | None:
    """Render the operation's documented response for `status` with `headers` added; None when
    the operation does not document it."""
    if match is not None and engine.plan(match.operation).response.documented(status) is not None:
        response = engine.respond(req, match, status=status)
        if response.status == status:
            response.headers.extend(headers)
            return response
    return None


def documented_or_problem(engine: Engine, req: MockRequest, match: Match | None, status: int,
                          scenario: str, detail: str, headers: list[tuple[str, str]] | None = None
                          ) -> MockResponse:
    """Render the operation's documented response for `status`, else a problem; add `headers`."""
    headers = [*(headers or []), ("sandlot-scenario", scenario)]
    return documented(engine, req, match, status, headers) or problem(status, scenario, detail, headers)


def builtin_response(name: str, params: Mapping[str, float | int | str], engine: Engine,
                     req: MockRequest, match: Match | None) -> Answer | None:
    """Return the answer a built-in fault gives, or None for `slow` (answer normally, later).

    `params` are already parsed: retry_after (int seconds), delay/latency (seconds), status.
    """
    if name == RATE_LIMITED:
        retry = int(params.get("retry_after", 1))
        return Answer(documented_or_problem(engine, req, match, 429, name,
                                            f"Rate limited by the {name} scenario; retry after {retry} s.",
                                            [("retry-after", str(retry))]))
    if name == SERVER_ERROR:
        return Answer(documented_or_problem(engine, req, match, 500, name,
                                            "The server_error scenario: the provider failed internally."))
    if name == UNAVAILABLE:
        retry = int(params.get("retry_after", 1))
        return Answer(documented_or_problem(engine, req, match, 503, name,
                                            "The unavailable scenario: the provider is down for maintenance.",
                                            [("retry-after", str(retry))]))
    if name == DOWNSTREAM_FAILURE:
        status = int(params.get("status", 502))
        what = "timed out" if status == 504 else "answered with garbage"
        return Answer(documented_or_problem(engine, req, match, status, name,
                                            f"The downstream_failure scenario: a service behind the provider {what}."))
    if name == TIMEOUT:
        delay = float(params.get("delay", 5.0))
        return Answer(problem(504, name, "held, then closed (the client never sees this body)"),
                      EdgeAction("close", delay))
    if name == CONNECTION_RESET:
        return Answer(problem(502, name, "reset (the client never sees this body)"), EdgeAction("reset", 0.0))
    if name == SLOW:
        return None
    raise KeyError(name)
