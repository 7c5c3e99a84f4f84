"""GraphQL over HTTP: the GraphQL engine's HTTP surface, as the GraphQL-over-HTTP spec says.

Called by the GraphQL stages (graphql/stage.py, stateless; state/graphql.py, stateful) for every
request the stages above them passed on, and by http/compose.py, which builds a `GraphQLSurface`
for a GraphQL stub.

- `POST /graphql` with `Content-Type: application/json` and `{"query", "variables",
  "operationName", "extensions"}`; `GET /graphql?query=...` for queries (a mutation over GET is
  405 with `Allow: POST`); other methods 405; another content type 415; a body that is not a
  JSON object, or a `query` that is not a string, 400.
- The answer is `application/graphql-response+json` or `application/json`, negotiated against
  `Accept` (none, or `*/*`, means `application/json`; neither acceptable: 406). With
  `application/graphql-response+json` a document that does not parse or validate, and a
  request error (bad variables, unknown operation), is 400; with `application/json` they are
  200, as the spec's legacy rules say. Errors are the standard `errors` list.
- `GET /graphql` with `Accept: text/html` and no query is the explorer page, built from static
  files shipped in the wheel (graphql/explorer/): no CDN, works offline.

`GraphQLSurface` describes this surface as a one-path OpenAPI document, so the stages above the
engine (admin, simulation, tenancy) route, authenticate, rate-limit and fail it exactly as they
do a REST API: its documented 4xx/5xx answers carry GraphQL `errors` bodies.
"""

from __future__ import annotations

import functools
import json
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from sandlot.graphql.engine import Fault, GraphQLEngine, GraphQLRequest, Outcome, Run
from sandlot.graphql.model import Records
from sandlot.mock.context import RequestContext
from sandlot.mock.engine import Engine
from sandlot.mock.messages import MockRequest, MockResponse
from sandlot.mock.negotiate import media_type, negotiate
from sandlot.openapi.loader import Spec

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MEDIA = [JSON, GRAPHQL_RESPONSE]
DEFAULT_PATH = "/graphql"
#: GraphQL error codes of the documented HTTP failures (the simulation's scenarios render them).
_FAILURES = {
    400: ("BAD_REQUEST", "The request is not valid GraphQL over HTTP; see x-sandlot-errors."),
    401: ("UNAUTHENTICATED", "Unknown or revoked sandbox key."),
    429: ("RATE_LIMITED", "Too many requests; retry after the time in Retry-After."),
    500: ("INTERNAL_SERVER_ERROR", "The server failed (a Sandlot scenario)."),
    502: ("BAD_GATEWAY", "A service behind the API failed (a Sandlot scenario)."),
    503: ("SERVICE_UNAVAILABLE", "The API is unavailable (a Sandlot scenario); retry after Retry-After."),
    504: ("GATEWAY_TIMEOUT", "A service behind the API timed out (a Sandlot scenario)."),
}
Publish = Callable[[str | None, list[tuple[str, str, dict[str, Any]]]], None]


def surface_document(path: str, title: str) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of a GraphQL endpoint at `path` (see the module docstring)."""
    error_item = {"type": "object", "required": ["message"],
                  "properties": {"message": {"type": "string"}, "path": {"type": "array"},
                                 "locations": {"type": "array"}, "extensions": {"type": "object"}}}
    errors = {"type": "object", "required": ["errors"], "additionalProperties": False,
              "properties": {"errors": {"type": "array", "minItems": 1, "items": error_item}}}
    result = {"type": "object", "properties": {"data": {"type": ["object", "null"]},
                                               "errors": {"type": "array", "items": error_item},
                                               "extensions": {"type": "object"}}}

    def content(schema: Any, example: Any = None) -> dict[str, Any]:
        media = {"schema": schema, **({"example": example} if example is not None else {})}
        return {JSON: media, GRAPHQL_RESPONSE: media}

    responses: dict[str, Any] = {"200": {"description": "The GraphQL response", "content": content(result)}}
    for status, (code, message) in _FAILURES.items():
        responses[str(status)] = {"description": message, "content": content(
            errors, {"errors": [{"message": message, "extensions": {"code": code}}]})}
    query = {"name": "query", "in": "query", "required": False, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{title} (GraphQL over HTTP)", "version": "1",
                 "description": "The HTTP surface of a GraphQL API served by Sandlot; the schema is at the "
                                "same path, by introspection."},
        "paths": {path: {
            "get": {"operationId": "graphqlGet", "parameters": [query], "responses": responses},
            "post": {"operationId": "graphql", "requestBody": {"required": False, "content": {"*/*": {}}},
                     "responses": responses},
        }},
    }


class GraphQLSurface(Engine):
    """The OpenAPI engine of a GraphQL endpoint, carrying the GraphQL engine that answers it."""

    def __init__(self, graphql: GraphQLEngine, *, path: str = DEFAULT_PATH, seed: int = 0) -> None:
        self.graphql = graphql
        self.path = path
        title = graphql.loaded.source.rsplit("/", 1)[-1]
        super().__init__(Spec(surface_document(path, title), graphql.loaded.source, "3.1.0",
                              list(graphql.files)), seed=seed)


# -- requests -------------------------------------------------------------------------------------

def _errors(status: int, message: str, media: str = JSON, headers: Sequence[tuple[str, str]] = ()) -> MockResponse:
    body = json.dumps({"errors": [{"message": message}]}).encode()
    return MockResponse(status, [("content-type", f"{media}; charset=utf-8"), *headers], body)


def read_request(req: MockRequest, media: str) -> GraphQLRequest | MockResponse:
    """Return the GraphQL request a GET or POST carries, or the refusal (400, 405, 415)."""
    if req.method == "GET":
        params = dict(urllib.parse.parse_qsl(req.query, keep_blank_values=True))
        raw: dict[str, Any] = {k: params[k] for k in ("query", "operationName") if k in params}
        for key in ("variables", "extensions"):
            if params.get(key):
                try:
                    raw[key] = json.loads(params[key])
                except ValueError:
                    return _errors(400, f"The {key} parameter is not JSON.", media)
    elif req.method == "POST":
        content_type = media_type(req.headers.get("content-type"))
        if not content_type:
            return _errors(415, "Send the request as Content-Type: application/json.", media)
        if content_type != JSON:
            return _errors(415, f"Content-Type {content_type} is not supported; send application/json "
                                "({\"query\": ..., \"variables\": ...}).", media)
        try:
            body = json.loads(req.body.decode("utf-8")) if req.body else None
        except (ValueError, UnicodeDecodeError):
            return _errors(400, "The request body is not JSON.", media)
        if not isinstance(body, dict):
            return _errors(400, 'The request body must be a JSON object: {"query": "{ ... }"}.', media)
        raw = body
    else:
        return _errors(405, f"{req.method} is not supported; use POST (or GET for queries).", media,
                       [("allow", "GET, POST")])
    query = raw.get("query")
    if not isinstance(query, str):
        return _errors(400, "Give the GraphQL document as the string parameter `query`." if query is None
                       else "The `query` parameter must be a string.", media)
    operation = raw.get("operationName")
    if operation is not None and not isinstance(operation, str):
        return _errors(400, "`operationName` must be a string.", media)
    variables = raw.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return _errors(400, "`variables` must be a JSON object.", media)
    extensions = raw.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        return _errors(400, "`extensions` must be a JSON object.", media)
    return GraphQLRequest(query, variables, operation, extensions)


def render(outcome: Outcome, media: str) -> MockResponse:
    """Return an outcome as the HTTP answer: status by the media type's rules (module docstring)."""
    status = 200
    if outcome.status is not None and (media == GRAPHQL_RESPONSE or outcome.status >= 500):
        status = outcome.status
    elif media == GRAPHQL_RESPONSE and outcome.stage in ("parse", "validate", "request"):
        status = 400
    return MockResponse(status, [("content-type", f"{media}; charset=utf-8")], outcome.body())


@functools.cache
def explorer_page(path: str = DEFAULT_PATH) -> bytes:
    """Return the explorer page (HTML with its script and styles inlined) for an endpoint."""
    folder = resources.files("sandlot.graphql") / "explorer"
    html = (folder / "index.html").read_text(encoding="utf-8")
    page = (html.replace("/*STYLE*/", (folder / "explorer.css").read_text(encoding="utf-8"))
            .replace("/*SCRIPT*/", (folder / "explorer.js").read_text(encoding="utf-8"))
            .replace("__ENDPOINT__", json.dumps(path)))
    return page.encode("utf-8")


def wants_page(req: MockRequest) -> bool:
    """Tell whether a request asks for the explorer: a GET preferring HTML, without a query."""
    if req.method != "GET" or "query=" in req.query:
        return False
    return negotiate(["text/html", *MEDIA], req.headers.get("accept")) == "text/html"


def answer(ctx: RequestContext, *, records: Records | None = None, publish: Publish | None = None) -> MockResponse:
    """Answer one request to a GraphQL stub: the explorer, a refusal, or the executed request.

    `records` holds the tenant's objects (stateful); `publish` hands the mutations' events to
    the subscriptions (graphql/subscriptions.py)."""
    surface = ctx.engine
    assert isinstance(surface, GraphQLSurface), "a GraphQL stage needs a GraphQL surface"
    req = ctx.request
    if req.path.rstrip("/") != surface.path.rstrip("/"):
        return _errors(404, f"No endpoint at {req.path}; GraphQL is served at {surface.path}.")
    if wants_page(req):
        return MockResponse(200, [("content-type", "text/html; charset=utf-8"),
                                  ("cache-control", "no-cache")], explorer_page(surface.path))
    accept = req.headers.get("accept")
    media = negotiate(MEDIA, accept) if accept and accept.strip() else JSON
    if media is None:
        return _errors(406, f"Accept {accept!r} allows neither {GRAPHQL_RESPONSE} nor {JSON}.")
    request = read_request(req, media)
    if isinstance(request, MockResponse):
        return request
    engine = surface.graphql
    kind = engine.operation_type(request)
    if kind == "mutation" and req.method == "GET":
        return _errors(405, "Mutations are sent with POST.", media, [("allow", "POST")])
    if kind == "subscription":
        return _errors(400, f"Subscriptions are served over WebSocket (graphql-transport-ws) at "
                            f"{surface.path}, not over HTTP.", media)
    try:
        fault = Fault.from_scenario(ctx.scenario, ctx.scenario_params) if ctx.scenario else None
    except ValueError as exc:
        return _errors(400, str(exc), media)
    outcome = engine.execute(request, Run(records=records, fault=fault))
    if outcome.events and publish is not None:
        publish(ctx.tenant, outcome.events)
    return render(outcome, media)


def scenario_catalogue() -> Mapping[str, tuple[str, tuple[str, ...]]]:
    """Return GraphQL's own scenarios: name -> (what it does, its parameters)."""
    from sandlot.graphql.engine import SCENARIOS

    return SCENARIOS
