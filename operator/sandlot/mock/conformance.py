"""Check one real exchange against the spec: the request a client sent and the response a real
API gave, as a list of findings (rule id, where, message).

Called by the traffic-drift proxy (`sandlot mock SPEC --proxy UPSTREAM`, sandlot/drift/) for
every request it forwards. There is one validator: the request is checked by the engine's own
request validation (`Engine.check_request`, the checks that make the mock refuse a request),
and the response body by the engine's compiled response schemas (`SchemaIndex.validator(...,
"response")`, the validator the mock's examples and stored objects are checked with), its
status by the responder's documented-response lookup and its media type by the request side's
media-type matching. What JSON Schema does not call an error but a spec reader does, a property
the schema does not declare, is found by walking the body with the schema index's property
look-ups. Pure: nothing here does I/O.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandlot.mock.engine import Engine, Match
from sandlot.mock.messages import MockRequest, MockResponse
from sandlot.mock.negotiate import is_json, match_declared, media_type
from sandlot.mock.validate import Refusal
from sandlot.openapi.loader import escape_token
from sandlot.openapi.schemas import SchemaIndex

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True, slots=True)
class ConformanceRule:
    """One kind of finding: a stable id, a level and what it means."""

    id: str
    level: str
    description: str


#: Every rule a finding can name, in report order. Request findings are warnings: the spec and
#: the client disagree, and either may be wrong; response findings that break a client generated
#: from the spec are errors, additions it can ignore are warnings.
RULES: dict[str, ConformanceRule] = {r.id: r for r in (
    ConformanceRule("request-operation-undocumented", WARNING,
                    "the request matches no documented path, or its method is not documented there"),
    ConformanceRule("request-credentials-missing", WARNING,
                    "the request satisfies none of the operation's security requirements"),
    ConformanceRule("request-content-type-undocumented", WARNING,
                    "the request body's Content-Type is not one the operation accepts"),
    ConformanceRule("request-parameter-invalid", WARNING,
                    "a request parameter is missing, malformed or breaks its schema"),
    ConformanceRule("request-body-invalid", WARNING,
                    "the request body is missing, malformed or breaks its schema"),
    ConformanceRule("response-status-undocumented", ERROR,
                    "the response status is not documented (not as the code, its NXX range or default)"),
    ConformanceRule("response-content-type-undocumented", ERROR,
                    "the response's Content-Type is not a documented media type of that status"),
    ConformanceRule("response-body-missing", ERROR,
                    "the response has no body where the spec documents one"),
    ConformanceRule("response-body-undocumented", WARNING,
                    "the response has a body where the spec documents none"),
    ConformanceRule("response-body-malformed", ERROR,
                    "a JSON response body does not parse"),
    ConformanceRule("response-property-missing", ERROR,
                    "a required property is missing from the response body"),
    ConformanceRule("response-property-undocumented", WARNING,
                    "the response body has a property its schema does not declare"),
    ConformanceRule("response-type-mismatch", ERROR,
                    "a response value has another JSON type than its schema says"),
    ConformanceRule("response-value-undocumented", ERROR,
                    "a response value is not one of its schema's enum (or const) values"),
    ConformanceRule("response-format-mismatch", ERROR,
                    "a response value breaks its schema's format (date-time, uuid, email, int32, ...)"),
    ConformanceRule("response-schema-violation", ERROR,
                    "a response value breaks another schema keyword (bounds, length, pattern, oneOf, ...)"),
    ConformanceRule("response-header-missing", ERROR,
                    "a response header the spec marks required is missing"),
)}

_NOTHING = object()
_NO_BODY_STATUSES = frozenset({204, 205, 304})
_KEYWORD_RULES = {"required": "response-property-missing", "type": "response-type-mismatch",
                  "enum": "response-value-undocumented", "const": "response-value-undocumented",
                  "format": "response-format-mismatch"}
_CLOSING_KEYWORDS = ("additionalProperties", "unevaluatedProperties")
_MAX_MESSAGE = 300
_MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Finding:
    """One way an exchange differs from the spec.

    `pointer` groups findings: a JSON pointer into `location` with array indexes written `*`
    (`/data/*/email`); `at` is the pointer of this very occurrence (`/data/3/email`)."""

    rule: str
    location: str  # operation | security | path | query | header | cookie | body | status | content-type
    pointer: str
    message: str
    status: int | None = None  # the response's status, for response findings
    at: str = ""
    value: Any = None  # the offending value (None when there is none to show)

    @property
    def level(self) -> str:
        """Return the rule's level: "error" or "warning"."""
        return RULES[self.rule].level


def check_request(engine: Engine, req: MockRequest, routed: Match | MockResponse) -> list[Finding]:
    """Return how a request breaks the spec: no documented operation, or every violation the
    mock's request validation finds (`routed` is the engine's match, or its 404/405 answer)."""
    if isinstance(routed, MockResponse):
        detail = _problem_detail(routed) or f"{req.method} {req.path} matches no documented operation"
        return [Finding("request-operation-undocumented", "operation", "", detail)]
    outcome = engine.check_request(req, routed)
    if not isinstance(outcome, Refusal):
        return []
    return [_request_finding(outcome, v.location, v.pointer, v.message) for v in outcome.errors]


def _request_finding(refusal: Refusal, location: str, pointer: str, message: str) -> Finding:
    if refusal.status == 401:
        rule = "request-credentials-missing"
    elif refusal.status == 415:
        rule = "request-content-type-undocumented"
    elif location == "body":
        rule = "request-body-invalid"
    else:
        rule = "request-parameter-invalid"
    return Finding(rule, location, pointer, message, at=pointer)


def check_response(engine: Engine, req: MockRequest, match: Match, status: int,
                   headers: Iterable[tuple[str, str]], body: bytes) -> list[Finding]:
    """Return how a real response to a routed request breaks the operation's documented responses."""
    plan = engine.plan(match.operation).response
    chosen = plan.documented(status)
    if chosen is None:
        return [Finding("response-status-undocumented", "status", "",
                        f"status {status} is not documented for {match.operation.method} {match.operation.path} "
                        f"(documented: {plan.codes()})", status)]
    sent = {name.lower(): value for name, value in headers}
    findings = [Finding("response-header-missing", "header", "/" + escape_token(name.lower()),
                        f"the required response header {name!r} is missing", status, "/" + escape_token(name.lower()))
                for name, header in (chosen.response.get("headers") or {}).items()
                if (engine.index.deref(header) or {}).get("required") is True
                and name.lower() not in sent and name.lower() != "content-type"]
    content: Mapping[str, Any] = chosen.response.get("content") or {}
    bodiless = req.method == "HEAD" or status in _NO_BODY_STATUSES or status < 200
    if not body:
        if content and not bodiless:
            findings.append(Finding("response-body-missing", "body", "",
                                    f"the {status} response has no body; documented: {', '.join(content)}", status))
        return findings
    content_type = sent.get("content-type")
    if not content:
        findings.append(Finding("response-body-undocumented", "body", "",
                                f"the {status} response has a body ({media_type(content_type) or 'no Content-Type'}, "
                                f"{len(body)} bytes) where the spec documents none", status))
        return findings
    declared = match_declared(content, content_type) if content_type else None
    if declared is None:
        findings.append(Finding("response-content-type-undocumented", "content-type", "",
                                f"Content-Type {media_type(content_type) or '(none)'!r} is not documented for "
                                f"{status} (documented: {', '.join(content)})", status,
                                value=content_type))
        return findings
    if not is_json(media_type(content_type)):
        return findings  # other media types are passed unchecked, as request bodies are
    try:
        value = json.loads(body)
    except ValueError as exc:
        findings.append(Finding("response-body-malformed", "body", "",
                                f"the {media_type(content_type)} body does not parse: {exc}", status))
        return findings
    schema = plan.media_schema(chosen, declared)
    if schema is None:
        return findings
    findings += schema_findings(engine.index, schema, value, status)
    return findings


def schema_findings(index: SchemaIndex, schema: Any, value: Any, status: int | None = None) -> list[Finding]:
    """Return how a response value breaks its schema (the response validator), and every property
    it holds that the schema does not declare."""
    validator = index.validator(schema, "response")
    found: list[Finding] = []
    for error in validator.iter_errors(value):
        if error.validator in _CLOSING_KEYWORDS and error.validator_value is False:
            continue  # reported below, one finding per property
        path = list(error.absolute_path)
        rule = _KEYWORD_RULES.get(str(error.validator), "response-schema-violation")
        shown: Any = error.instance
        if rule == "response-property-missing":
            missing = _required_name(error.message)
            if missing is not None:
                path.append(missing)
            shown = None
        message = error.message if len(error.message) <= _MAX_MESSAGE else error.message[:_MAX_MESSAGE - 3] + "..."
        found.append(Finding(rule, "body", _pattern(path), message, status, _pointer(path), shown))
    _undocumented(index, schema, value, [], found, status)
    return found


def _required_name(message: str) -> str | None:
    """Return the property a `required` error names ("'id' is a required property")."""
    head = message.partition(" is a required property")[0]
    try:
        name = ast.literal_eval(head)
    except (ValueError, SyntaxError):
        return None
    return name if isinstance(name, str) else None


def _undocumented(index: SchemaIndex, schema: Any, value: Any, path: list[str | int], out: list[Finding],
                  status: int | None) -> None:
    """Add a finding for each property of `value` its schema does not declare (recursively)."""
    if len(path) > _MAX_DEPTH:
        return
    if isinstance(value, list):
        items = index.subschema(schema, "items")
        if items:
            for i, item in enumerate(value):
                _undocumented(index, items, item, [*path, i], out, status)
        return
    if not isinstance(value, dict):
        return
    declared = index.property_names(schema)
    openness = _openness(index, schema)
    for name, item in value.items():
        if name in declared or openness is True:
            sub = index.subschema(schema, "properties", name)
            if sub:
                _undocumented(index, sub, item, [*path, name], out, status)
        elif declared or openness is False:
            where = [*path, name]
            out.append(Finding("response-property-undocumented", "body", _pattern(where),
                               f"{name!r} is not a property the schema declares", status, _pointer(where), item))


def _openness(index: SchemaIndex, schema: Any, depth: int = 0) -> bool | None:
    """Tell whether an object schema admits undeclared properties: True when it says so
    (additionalProperties: true or a schema, patternProperties), False when it forbids them,
    None when it does not say (then only its declared properties are documented)."""
    schema = index.deref(schema)
    if not isinstance(schema, Mapping) or depth > 8:
        return None
    extra = schema.get("additionalProperties", _NOTHING)
    if extra is True or isinstance(extra, Mapping) or schema.get("patternProperties"):
        return True
    said: bool | None = False if extra is False else None
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key) or ():
            inner = _openness(index, sub, depth + 1)
            if inner is True:
                return True
            said = said if inner is None else inner
    return said


def _pointer(path: list[Any]) -> str:
    return "".join("/" + escape_token(str(p)) for p in path)


def _pattern(path: list[Any]) -> str:
    """Return a pointer with array indexes written `*`, so every element's finding is one group."""
    return "".join("/*" if isinstance(p, int) else "/" + escape_token(str(p)) for p in path)


def _problem_detail(response: MockResponse) -> str | None:
    try:
        detail = json.loads(response.body).get("detail")
    except (ValueError, AttributeError):
        return None
    return detail if isinstance(detail, str) else None


def markdown_table() -> str:
    """Return the drift rule table of docs/drift.md: id, level and meaning of every rule, in report order."""
    lines = ["| id | level | meaning |", "|---|---|---|"]
    lines += [f"| `{rule.id}` | {rule.level} | {rule.description} |" for rule in RULES.values()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
