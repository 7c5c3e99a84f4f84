"""Scenarios: which one applies to a request, and what it answers.

Called by the simulation stage (simulation/stage.py) for every API request. A scenario comes
from, in order: the request's `Sandlot-Scenario` header, the tenant's sticky scenario (set with
`PUT /__sandlot/scenario`), the stub's default (`--scenario`, the SandboxEnvironment's
`downstreams[].scenario`). Names are either built in (faults.py; the same meaning on every
stub) or declared by the API owner in the spec's `x-sandlot-scenarios` or the sidecar config's
`scenarios:` (a status, a body: an example name or inline, and headers).

Parameters follow the name after `;`: `timeout; delay=2s`, `slow; latency=100ms`,
`rate_limited; retry_after=30`, `downstream_failure; status=504`. Everything here is pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sandlot.mock.engine import Engine, Match
from sandlot.mock.messages import MockRequest, MockResponse
from sandlot.simulation.faults import (
    BUILTIN,
    DOWNSTREAM_STATUSES,
    MAX_HOLD_SECONDS,
    PARAMS,
    Answer,
    builtin_response,
    problem,
)
from sandlot.util.durations import DurationError, parse_duration

_DURATION_PARAMS = ("delay", "latency")
_INT_PARAMS = ("retry_after", "status")


class ScenarioError(ValueError):
    """A scenario that cannot be used (unknown name, bad parameter, bad declaration)."""


@dataclass(frozen=True)
class Choice:
    """A scenario picked for one request: its name, parsed parameters and where it came from."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str = "header"  # header | sticky | default
    operations: tuple[str, ...] = ()  # sticky scenarios may be limited to some operations


@dataclass(frozen=True)
class NamedScenario:
    """A scenario the API owner declared: the answer to give instead of the normal one."""

    name: str
    status: int
    body: Any = None
    example: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    operations: tuple[str, ...] = ()  # operationIds (or "METHOD /path"); empty: every operation
    description: str = ""


def parse_params(text: str, where: str = "Sandlot-Scenario") -> dict[str, Any]:
    """Parse `key=value; key=value` scenario parameters (durations in seconds, ints as ints)."""
    params: dict[str, Any] = {}
    for part in text.split(";"):
        key, sep, value = part.strip().partition("=")
        key = key.strip().lower()
        if not key:
            continue
        if not sep:
            raise ScenarioError(f"{where}: parameter {key!r} needs a value (e.g. delay=2s)")
        value = value.strip().strip('"')
        try:
            if key in _DURATION_PARAMS:
                params[key] = parse_duration(value, f"{where}: {key}")
            elif key in _INT_PARAMS:
                params[key] = int(parse_duration(value, f"{where}: {key}")) if key == "retry_after" \
                    else int(value)
            else:
                params[key] = value
        except (DurationError, ValueError) as exc:
            raise ScenarioError(str(exc) if isinstance(exc, DurationError)
                                else f"{where}: {key}={value!r} must be a whole number") from None
    return params


def parse_header(value: str) -> tuple[str, dict[str, Any]]:
    """Split `name; key=value ...` into the name and its parameters."""
    name, _, rest = value.partition(";")
    return name.strip().lower(), parse_params(rest)


def named_from(declarations: Any, where: str) -> dict[str, NamedScenario]:
    """Read `x-sandlot-scenarios` / config `scenarios:`: name -> {status, body|example, headers}."""
    if declarations is None:
        return {}
    if not isinstance(declarations, Mapping):
        raise ScenarioError(f"{where}: must map scenario names to {{status, body, headers}}")
    found: dict[str, NamedScenario] = {}
    for name, spec in declarations.items():
        here = f"{where}.{name}"
        if name in BUILTIN:
            raise ScenarioError(f"{here}: {name!r} is a built-in scenario; choose another name")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("status"), int) \
                or not 100 <= spec["status"] <= 599:
            raise ScenarioError(f"{here}: needs a status between 100 and 599, e.g. {{status: 402}}")
        headers = spec.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise ScenarioError(f"{here}.headers: must map header names to values")
        operations = spec.get("operations") or []
        if isinstance(operations, str):
            operations = [operations]
        found[str(name).lower()] = NamedScenario(
            str(name).lower(), spec["status"], spec.get("body"), spec.get("example"),
            tuple((str(k).lower(), str(v)) for k, v in headers.items()), tuple(map(str, operations)),
            str(spec.get("description") or ""))
    return found


def operation_names(match: Match) -> set[str]:
    """Return the names a declaration may use for an operation: operationId and `METHOD /path`."""
    op = match.operation
    names = {f"{op.method} {op.path}"}
    if op.operation_id:
        names.add(op.operation_id)
    return names


def choose(header: str | None, sticky: Mapping[str, Any] | None, default: str | None,
           match: Match) -> Choice | None:
    """Pick the scenario for a request: header, then the tenant's sticky one, then the default."""
    if header and header.strip():
        name, params = parse_header(header)
        return Choice(name, params, "header")
    if sticky and sticky.get("name"):
        operations = tuple(sticky.get("operations") or ())
        if not operations or operation_names(match) & set(operations):
            return Choice(str(sticky["name"]), dict(sticky.get("params") or {}), "sticky", operations)
    if default:
        name, params = parse_header(default)
        return Choice(name, params, "default")
    return None


def check_name(name: str, named: Mapping[str, NamedScenario]) -> None:
    """Raise ScenarioError when `name` is neither built in nor declared."""
    if name not in BUILTIN and name not in named:
        known = ", ".join([*BUILTIN, *sorted(named)])
        raise ScenarioError(f"unknown scenario {name!r}; known: {known}")


def check(name: str, params: Mapping[str, Any], named: Mapping[str, NamedScenario]) -> None:
    """Raise ScenarioError for an unknown name, a parameter the scenario does not take, or a
    value it cannot use (so a typo is refused instead of silently ignored)."""
    check_name(name, named)
    allowed = PARAMS.get(name, ())
    for key in params:
        if key not in allowed:
            takes = f"its parameters: {', '.join(allowed)}" if allowed else "it takes no parameters"
            raise ScenarioError(f"scenario {name!r} has no parameter {key!r}; {takes}")
    if "status" in params and params["status"] not in DOWNSTREAM_STATUSES:
        raise ScenarioError(f"{name}: status={params['status']} is not allowed; use "
                            f"{' or '.join(map(str, DOWNSTREAM_STATUSES))}")
    for key in ("delay", "latency"):
        if key in params:
            check_hold(params[key], f"{name}: {key}")


def check_hold(seconds: float, where: str) -> None:
    """Raise ScenarioError when a request would be held longer than MAX_HOLD_SECONDS."""
    if seconds > MAX_HOLD_SECONDS:
        raise ScenarioError(f"{where}: {seconds:g} s is longer than the cap of {MAX_HOLD_SECONDS:g} s; "
                            f"hold a request at most {MAX_HOLD_SECONDS:g}s")


def answer(choice: Choice, named: Mapping[str, NamedScenario], engine: Engine, req: MockRequest,
           match: Match) -> Answer | None:
    """Return the scenario's answer, or None when the request should be answered normally
    (`slow`, or a named scenario limited to other operations)."""
    if choice.name in BUILTIN:
        return builtin_response(choice.name, choice.params, engine, req, match)
    scenario = named.get(choice.name)
    if scenario is None:
        check_name(choice.name, named)
        return None
    if scenario.operations and not operation_names(match) & set(scenario.operations):
        return None
    return Answer(named_response(scenario, engine, req, match))


def named_response(scenario: NamedScenario, engine: Engine, req: MockRequest, match: Match
                   ) -> MockResponse:
    """Render a declared scenario: through the spec when it documents the status, else as JSON."""
    extra = [*scenario.headers, ("sandlot-scenario", scenario.name)]
    if scenario.body is None and scenario.example is None and \
            engine.plan(match.operation).response.documented(scenario.status) is None:
        return problem(scenario.status, scenario.name, f"the {scenario.name} scenario", extra)
    return declared_response(scenario.status, scenario.body, scenario.example, extra, engine, req, match)


def declared_response(status: int, body: Any, example: str | None, headers: list[tuple[str, str]],
                      engine: Engine, req: MockRequest, match: Match) -> MockResponse:
    """Render a status with a declared body or example name (named scenarios, magic values):
    through the spec's documented response when there is one, so negotiation and documented
    headers apply; otherwise the body as JSON. `headers` are added either way."""
    if engine.plan(match.operation).response.documented(status) is not None:
        kwargs: dict[str, Any] = {"status": status}
        if example is not None:
            kwargs["example"] = example
        elif body is not None:
            kwargs["body"] = body
        response = engine.respond(req, match, **kwargs)
        if response.status == status:
            response.headers.extend(headers)
            return response
    return MockResponse(status, [("content-type", "application/json"), *headers],
                        json.dumps(body if body is not None else {}).encode())
