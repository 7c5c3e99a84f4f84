"""The mock engine: one compiled spec that turns a `MockRequest` into a `MockResponse`.

Built once per spec (`Engine.from_source`) by the HTTP app's composition (http/compose.py).
The stages above it (simulation, state) use the steps separately, through the request context
(mock/context.py): `match` (route), `validate` (typed request or the refusal), `respond`
(render a status, optionally with a caller-supplied body).
`handle` runs the whole pipeline and caches its answers: the pipeline is a pure,
deterministic function of the request, so repeating a request costs a dict lookup (from the
second repetition: an answer is kept the second time its request comes).

Randomness is seeded from (--seed, method, path, query, body) with blake2b (mock/seeded.py), so the
same request always gets the same body and `--seed` changes every body at once.
"""

from __future__ import annotations

import json
import logging
import random
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandlot.mock.generate import Generator
from sandlot.mock.messages import MockRequest, MockResponse, Violation, problem_body, problem_response
from sandlot.mock.negotiate import negotiate
from sandlot.mock.reasons import explain_error
from sandlot.mock.responder import (
    NOTSET,
    Chosen,
    ResponseChoiceError,
    ResponsePlan,
    choice_error_response,
    serialize,
)
from sandlot.mock.router import Router, server_base_paths
from sandlot.mock.seeded import SeededRandom
from sandlot.mock.validate import Refusal, RequestPlan, ValidatedRequest
from sandlot.openapi.loader import Spec, SpecError, escape_token, iter_operations, load_spec
from sandlot.openapi.patterns import pattern_errors
from sandlot.openapi.schemas import SchemaIndex

log = logging.getLogger("sandlot.mock")

RESERVED_PREFIX = "/__sandlot/"
IGNORED_HEADER_PARAMS = ("accept", "content-type", "authorization")
_METHODS = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE")
_CONTROL_PARAMS = ("__code", "__example", "__dynamic")
_CACHE_SIZE = 4096
_CACHE_MAX_BODY = 64 * 1024  # larger request bodies are not cached
_CACHE_MAX_ENTRY_BYTES = 256 * 1024  # nor are larger responses
_CACHE_MAX_BYTES = 16 * 1024 * 1024  # keeps the cache from dominating the server's memory
_ERRORS_HEADER = "x-sandlot-errors"
_ERRORS_HEADER_MAX = 2000


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented operation: METHOD, path template, operationId and where it is in the spec."""

    method: str
    path: str
    operation_id: str | None
    node: Mapping[str, Any] = field(repr=False, compare=False)
    path_item: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def pointer(self) -> str:
        """Return the JSON pointer of the operation in the spec."""
        return f"/paths/{escape_token(self.path)}/{self.method.lower()}"


@dataclass(frozen=True, slots=True)
class Match:
    """A routed request: the operation and the raw (percent-decoded) path parameter strings."""

    operation: Operation
    path_params: dict[str, str]
    head: bool = False  # a HEAD request answered by the GET operation (body dropped)


@dataclass(frozen=True, slots=True)
class Controls:
    """Prism-style per-request choices: `Prefer: code=, example=, dynamic=` or `__code` ... ."""

    code: int | None = None
    example: str | None = None
    dynamic: bool | None = None


class _Plan:
    __slots__ = ("request", "response")

    def __init__(self, request: RequestPlan, response: ResponsePlan) -> None:
        self.request = request
        self.response = response


class ControlError(ValueError):
    """A `Prefer` value or `__` query control that cannot be honoured as written (e.g. `code=abc`)."""

    def __init__(self, location: str, pointer: str, message: str) -> None:
        super().__init__(message)
        self.violation = Violation(location, pointer, message)


_NO_CONTROLS = Controls()


def parse_controls(prefer: str | None, query: Mapping[str, list[str]]) -> Controls:
    """Read `Prefer` and the `__code`/`__example`/`__dynamic` query parameters (query wins).

    Raise ControlError for a `code` that is not a 3-digit status or a `dynamic` that is not
    true/false: silently ignoring it would answer 200 to a client that asked for an error.
    """
    if not prefer and not query:
        return _NO_CONTROLS
    if prefer and not query:
        known = _PREFER_CONTROLS.get(prefer)
        if known is None:
            known = _parse_controls(prefer, query)
            if len(_PREFER_CONTROLS) < _PREFER_CONTROLS_MAX:
                _PREFER_CONTROLS[prefer] = known
        return known
    return _parse_controls(prefer, query)


#: Prefer header -> its controls: clients send few distinct values, each parsed once. A value
#: that cannot be honoured raises ControlError every time (it is not kept).
_PREFER_CONTROLS: dict[str, Controls] = {}
_PREFER_CONTROLS_MAX = 256


def _parse_controls(prefer: str | None, query: Mapping[str, list[str]]) -> Controls:
    """Parse what parse_controls does not find kept."""
    found: dict[str, tuple[str, str, str]] = {}  # key -> (value, location, pointer)
    for part in (prefer or "").replace(";", ",").split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            found[key.strip().lower()] = (value.strip().strip('"'), "header", "/prefer")
    for name in _CONTROL_PARAMS:
        if query.get(name):
            found[name[2:]] = (query[name][0], "query", "/" + name)
    code: int | None = None
    if "code" in found:
        value, location, pointer = found["code"]
        if not (len(value) == 3 and value.isascii() and value.isdigit() and "100" <= value <= "599"):
            what = "the Prefer header's code" if location == "header" else "the __code query parameter"
            raise ControlError(location, pointer, f"{what} must be an HTTP status from 100 to 599, not {value!r}")
        code = int(value)
    dynamic: bool | None = None
    if "dynamic" in found:
        value, location, pointer = found["dynamic"]
        if value.lower() not in ("true", "false"):
            what = "the Prefer header's dynamic" if location == "header" else "the __dynamic query parameter"
            raise ControlError(location, pointer, f"{what} must be true or false, not {value!r}")
        dynamic = value.lower() == "true"
    example = found.get("example", ("",))[0]
    return Controls(code=code, example=example or None, dynamic=dynamic)


def strip_controls(query: str) -> str:
    """Return a raw query string without the `__code`/`__example`/`__dynamic` parameters."""
    if "__" not in query:
        return query
    kept = [p for p in query.split("&") if p.split("=", 1)[0] not in _CONTROL_PARAMS]
    return "&".join(kept)


class Engine:
    """A spec compiled for serving: routes now, per-operation plans on first use."""

    def __init__(self, spec: Spec, *, seed: int = 0, dynamic: bool = False, lenient: bool = False) -> None:
        self.spec = spec
        self.seed = seed
        self.dynamic = dynamic  # the default for requests that do not say (Prism's -d)
        self.lenient = lenient  # accept what server frameworks coerce (`--lenient`), with a warning each
        document = spec.document
        self.index = SchemaIndex(document, spec.version)
        # Every pattern compiled once, now; one that cannot be is named here and constrains nothing.
        self.pattern_errors = pattern_errors(spec)
        for error in self.pattern_errors:
            log.warning("%s (the pattern is ignored while serving; `sandlot mock --check` fails on it)", error)
        self.generator = Generator(document, openapi_version=spec.version)
        servers: list[tuple[str, Mapping[str, Any]]] = []
        self.operations: list[Operation] = []
        self._by_key: dict[tuple[str, str], Operation] = {}
        for method, template, op, item in iter_operations(document):
            operation = Operation(method, template, op.get("operationId"), op, item)
            self.operations.append(operation)
            self._by_key[(method, template)] = operation
            for holder in (op, item):
                servers += [(s.get("url", ""), s.get("variables") or {})
                            for s in holder.get("servers") or [] if isinstance(s, Mapping)]
        servers += [(s.get("url", ""), s.get("variables") or {})
                    for s in document.get("servers") or [] if isinstance(s, Mapping)]
        self.base_paths = server_base_paths(servers)
        self._base_below = [(p, p + "/") for p in self.base_paths]  # (base path, what starts below it)
        self.router: Router[Operation] = Router(self.base_paths)
        for operation in self.operations:
            self.router.add(operation.path, operation.method, operation)
        self._plans: dict[tuple[str, str], _Plan] = {}
        #: What every operation's RequestPlan keeps of the body-less requests it checked (one bound).
        self._checked: dict[tuple[Any, ...], Any] = {}
        # The answer cache, in two generations: answers go into `_cache` until it holds half the
        # entries or bytes allowed, then it becomes `_older` (whose answers are dropped) and a new
        # one starts; an answer found in `_older` moves back. Recently used answers stay, as with
        # an LRU list, without reordering or evicting one entry per request.
        self._cache: dict[tuple[Any, ...], MockResponse] = {}
        self._cache_bytes = 0
        self._older: dict[tuple[Any, ...], MockResponse] = {}
        self._older_bytes = 0
        # Hashes of requests answered once, in two generations too: an answer is kept the second
        # time its request comes. Keeping every first answer (a new id each request: none comes
        # again) cost more than routing, in memory traffic, for nothing.
        self._seen: set[int] = set()
        self._seen_older: set[int] = set()
        self._bundled_json: bytes | None = None

    @classmethod
    def from_source(cls, source: str, *, seed: int = 0, dynamic: bool = False, lenient: bool = False) -> Engine:
        """Load, bundle and compile a spec from a path or URL (raises SpecError)."""
        return cls(load_spec(source), seed=seed, dynamic=dynamic, lenient=lenient)

    @property
    def files(self) -> list[str]:
        """Return the local files the spec was read from (what a reloader watches)."""
        return self.spec.files

    def bundled_json(self) -> bytes:
        """Return the bundled (single-document, local-refs-only) spec as JSON, built once.

        Header parameters named Accept, Content-Type or Authorization are left out: OpenAPI
        says they SHALL be ignored, and tools that send them anyway (schemathesis does)
        produce requests that contradict the operation's own media types.
        """
        if self._bundled_json is None:
            document = dict(self.spec.document)
            paths = {}
            for template, item in (document.get("paths") or {}).items():
                if not isinstance(item, Mapping):
                    paths[template] = item
                    continue
                item = {k: self._without_ignored_headers(v) if k == "parameters" else v for k, v in item.items()}
                for method in [k for k in item if k.upper() in _METHODS]:
                    op = item[method]
                    if isinstance(op, Mapping) and "parameters" in op:
                        item[method] = {**op, "parameters": self._without_ignored_headers(op["parameters"])}
                paths[template] = item
            document["paths"] = paths
            self._bundled_json = json.dumps(document, ensure_ascii=False).encode()
        return self._bundled_json

    def _without_ignored_headers(self, params: Any) -> Any:
        if not isinstance(params, list):
            return params
        kept = []
        for param in params:
            resolved = self.index.deref(param)
            if (isinstance(resolved, Mapping) and resolved.get("in") == "header"
                    and str(resolved.get("name", "")).lower() in IGNORED_HEADER_PARAMS):
                continue
            kept.append(param)
        return kept

    def operation(self, method: str, path_template: str) -> Operation | None:
        """Return the operation for METHOD and a path template, or None."""
        return self._by_key.get((method.upper(), path_template))

    def plan(self, operation: Operation) -> _Plan:
        """Return the operation's compiled request and response plans (compiled on first use)."""
        key = (operation.method, operation.path)
        plan = self._plans.get(key)
        if plan is None:
            try:
                plan = _Plan(RequestPlan(self.index, operation.node, operation.path_item, self.spec.document,
                                         lenient=self.lenient, checked=self._checked),
                             ResponsePlan(self.index, self.generator, operation.node))
            except (AttributeError, TypeError, ValueError) as exc:
                raise SpecError(f"cannot compile the operation: {exc}", file=self.spec.source,
                                pointer=operation.pointer) from exc
            self._plans[key] = plan
        return plan

    # -- the pipeline, step by step -------------------------------------------------------------

    def match(self, req: MockRequest) -> Match | MockResponse:
        """Route a request; return the Match, or a 404/405 problem response."""
        found = self.router.match(req.method, req.path)
        head = False
        if found is not None and found.value is None and req.method == "HEAD" and "GET" in found.allowed:
            found = self.router.match("GET", req.path)
            head = True
        if found is None:
            return problem_response(404, f"no documented path matches {req.path}")
        if found.value is None:
            allow = ", ".join(found.allowed)
            return problem_response(405, f"{req.method} is not documented for {found.template}; allowed: {allow}",
                                    headers=[("allow", allow)])
        return Match(found.value, found.path_params, head)

    def validate(self, req: MockRequest, match: Match) -> ValidatedRequest | MockResponse:
        """Validate a routed request; return the typed request or the refusal response."""
        outcome = self.check_request(req, match)
        if isinstance(outcome, Refusal):
            plan = self.plan(match.operation)
            if outcome.status == 422 and plan.response.exactly(400) and not plan.response.exactly(422):
                # A body that breaks its schema is the spec's 400 where it documents no 422.
                outcome = Refusal(400, outcome.detail, outcome.errors, outcome.headers)
            return self.refuse(req, match, outcome)
        return outcome

    def check_request(self, req: MockRequest, match: Match) -> ValidatedRequest | Refusal:
        """Validate a routed request; return the typed request or the Refusal with every violation
        (`validate` renders it; the drift proxy records it, mock/conformance.py)."""
        clean = req if "__" not in req.query else MockRequest(
            req.method, req.path, strip_controls(req.query), req.headers, req.body)
        return self.plan(match.operation).request.check(clean, match.path_params)

    def refuse(self, req: MockRequest, match: Match, refusal: Refusal) -> MockResponse:
        """Render a refusal: the documented response for its status when there is one, else a problem.

        A client generated from the spec parses a 400/401/422 by its documented schema, so
        that shape wins; our problem document is used as the body when the documented schema
        accepts it, else the documented body with the reason in its message fields
        (mock/reasons.py), and always travels in the `x-sandlot-errors` header.
        """
        problem = problem_body(refusal.status, refusal.detail, refusal.errors)
        plan = self.plan(match.operation).response
        chosen = plan.documented(refusal.status)
        if chosen is None:
            return problem_response(refusal.status, refusal.detail, refusal.errors, refusal.headers)
        content = chosen.response.get("content") or {}
        accept = req.headers.get("accept")
        media = negotiate(list(content), accept) if content else None
        if content and media is None and self.plan(match.operation).request.declares_accept:
            accept = None
            media = negotiate(list(content), accept)
        body: Any = NOTSET
        if media is not None:
            schema = plan.media_schema(chosen, media)
            validator = self.index.validator(schema, "response") if schema is not None else None
            if validator is not None and not next(iter(validator.iter_errors(problem)), None):
                body = problem
            elif validator is not None:
                skeleton = plan.body_value(chosen, media, self.rng(req))
                explained = explain_error(skeleton, refusal.status, refusal.detail,
                                          [v.message for v in refusal.errors])
                if skeleton is not NOTSET and validator.is_valid(explained):
                    body = explained
        try:
            response = plan.render(chosen, accept, lambda: self.rng(req), body=body, head=match.head)
        except ResponseChoiceError:
            return problem_response(refusal.status, refusal.detail, refusal.errors, refusal.headers)
        response.headers.extend(refusal.headers)
        response.headers.append((_ERRORS_HEADER, errors_header(problem)))
        return response

    def respond(self, req: MockRequest, match: Match, *, status: int | None = None, body: Any = NOTSET,
                example: str | None = None, dynamic: bool = False) -> MockResponse:
        """Render the operation's response for `status` (default: the lowest 2xx).

        `body` replaces the generated body (the stateful layer passes stored objects);
        content negotiation and documented headers still apply.
        """
        plan = self.plan(match.operation).response
        try:
            chosen = plan.choose(status)
            return plan.render(chosen, req.headers.get("accept"), lambda: self.rng(req), example=example,
                               dynamic=dynamic, body=body, head=match.head)
        except ResponseChoiceError as err:
            if err.status == 406 and self.plan(match.operation).request.declares_accept:
                return self.respond(MockRequest(req.method, req.path, req.query,
                                                {k: v for k, v in req.headers.items() if k != "accept"}, req.body),
                                    match, status=status, body=body, example=example, dynamic=dynamic)
            if err.status == 406:
                chosen406 = plan.documented(406)
                if chosen406 is not None and status != 406:
                    return self.refuse(req, match, Refusal(406, err.detail, [
                        Violation("header", "/accept", err.detail)]))
            return choice_error_response(err)

    def response_schema(self, operation: Operation, status: int | None = None, media: str | None = None) -> Any:
        """Return the schema documented for an operation's response (default status: lowest 2xx)."""
        plan = self.plan(operation).response
        try:
            chosen = plan.choose(status)
        except ResponseChoiceError:
            return None
        return plan.media_schema(chosen, media)

    def rng(self, req: MockRequest) -> random.Random:
        """Return the random generator for a request: seeded by --seed, method, path, query and body.

        The path is taken without a server base path, so `/v2/pets/1` and `/pets/1` agree, and
        HEAD seeds as GET, so its Content-Length is that of the body GET sends.
        """
        path = req.path
        for prefix, below in self._base_below:
            if path.startswith(below):
                path = path[len(prefix):]
                break
        return SeededRandom(
            f"{self.seed}\0{'GET' if req.method == 'HEAD' else req.method}\0{path}\0"
            f"{strip_controls(req.query)}\0".encode() + req.body)

    # -- the whole pipeline ---------------------------------------------------------------------

    def handle(self, req: MockRequest, *, routed: Match | MockResponse | None = None,
               validated: ValidatedRequest | MockResponse | None = None,
               route: Callable[[], Match | MockResponse] | None = None) -> MockResponse:
        """Answer one request: route, validate, choose and render (cached per identical request).

        `routed` and `validated` are what an earlier stage already found (mock/context.py), so a
        request is routed and validated once; `route`, when given, routes (and remembers) for the
        caller when the answer is not cached (the request context's, so later readers such as the
        journal find the route made)."""
        key = None
        if len(req.body) <= _CACHE_MAX_BODY:
            key = (req.method, req.path, req.query, req.body, tuple(req.headers.items()))
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            cached = self._older.pop(key, None)
            if cached is not None:
                self._older_bytes -= len(cached.body) + len(req.body)
                self._keep(key, cached)
                return cached
        if routed is None and route is not None:
            routed = route()
        response = self._handle(req, routed, validated)
        if key is not None and len(response.body) <= _CACHE_MAX_ENTRY_BYTES:
            self._admit(key, response)
        return response

    def _admit(self, key: tuple[Any, ...], response: MockResponse) -> None:
        """Keep an answer when its request was seen before (a hash collision only keeps one early)."""
        digest = hash(key)
        if digest in self._seen or digest in self._seen_older:
            self._keep(key, response)
            return
        if len(self._seen) >= _CACHE_SIZE * 2:
            self._seen_older, self._seen = self._seen, set()
        self._seen.add(digest)

    def _keep(self, key: tuple[Any, ...], response: MockResponse) -> None:
        """Put an answer in the newer generation, starting a new one when it is full (at most
        _CACHE_SIZE answers and _CACHE_MAX_BYTES of bodies are kept in the two together)."""
        size = len(response.body) + len(key[3])
        if len(self._cache) >= max(1, _CACHE_SIZE // 2) or self._cache_bytes + size > _CACHE_MAX_BYTES // 2:
            self._older, self._older_bytes = self._cache, self._cache_bytes
            self._cache, self._cache_bytes = {}, 0
        self._cache[key] = response
        self._cache_bytes += size

    def _handle(self, req: MockRequest, routed: Match | MockResponse | None,
                validated: ValidatedRequest | MockResponse | None) -> MockResponse:
        if req.path.startswith(RESERVED_PREFIX):
            return problem_response(404, f"{RESERVED_PREFIX} is reserved for Sandlot's own endpoints")
        match = routed if routed is not None else self.match(req)
        if isinstance(match, MockResponse):
            return match
        try:
            if validated is None:
                validated = self.validate(req, match)
            if isinstance(validated, MockResponse):
                return validated
            query = urllib.parse.parse_qs(req.query) if "__" in req.query else {}
            try:
                controls = parse_controls(req.headers.get("prefer"), query)
            except ControlError as err:
                codes = self.plan(match.operation).response.codes()
                return problem_response(400, f"{err}; the documented responses are: {codes}", [err.violation])
            dynamic = self.dynamic if controls.dynamic is None else controls.dynamic
            return with_warnings(self.respond(req, match, status=controls.code, example=controls.example,
                                              dynamic=dynamic), validated)
        except SpecError as exc:
            log.error("%s", exc)
            return problem_response(500, f"the spec cannot answer this request: {exc}")


WARNING_HEADER = "sandlot-warning"


def with_warnings(response: MockResponse, validated: ValidatedRequest) -> MockResponse:
    """Return the response with one `Sandlot-Warning` header per coercion `--lenient` made."""
    if validated.coercions:
        response.headers.extend((WARNING_HEADER, f"lenient: {note}") for note in validated.coercions)
    return response


def errors_header(problem: dict[str, Any]) -> str:
    """Return a problem document as compact ASCII JSON for a header, dropping errors to fit."""
    problem = dict(problem)
    errors = list(problem.get("errors") or [])
    text = json.dumps(problem, separators=(",", ":"))
    while len(text) > _ERRORS_HEADER_MAX and errors:
        errors.pop()
        problem["errors"] = errors
        problem["truncated"] = True
        text = json.dumps(problem, separators=(",", ":"))
    return text if len(text) <= _ERRORS_HEADER_MAX else json.dumps(
        {"status": problem.get("status"), "truncated": True}, separators=(",", ":"))


def serialize_body(value: Any, content_type: str) -> bytes:
    """Encode a body value for a media type (re-exported for the stateful layer)."""
    return serialize(value, content_type)


__all__ = ["Chosen", "ControlError", "Controls", "Engine", "Match", "NOTSET", "Operation", "RESERVED_PREFIX",
           "ValidatedRequest", "parse_controls", "serialize_body", "with_warnings"]
