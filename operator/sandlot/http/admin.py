"""The one admin router for `/__sandlot/`: every Sandlot endpoint, behind one caller check.

The first of the HTTP app's stages (http/compose.py): requests under `/__sandlot/` are
answered here, all others pass on to the journal and the simulation (or the drift proxy). Open
to anyone: `health`, `openapi.json`, `scenarios`, `magic`, `activity` (when the stub last
answered a request: http/activity.py, recorded here for every request but the probes) and the
inspector page's static files (`ui`, from the package's http/ui/ folder; the page itself asks
for a token or key). `snapshot` (stateful: the whole store, GET to take it, PUT to put it back;
the operator's sleep and wake) needs the admin token. Everything else acts on one tenant and
needs the admin token (`Authorization: Bearer <token>` or `X-Sandlot-Admin-Token`, naming the
tenant with `tenant` or `key`) or the tenant's own credential (self-service, so a test suite can
reset before each run without holding the admin token): `reset`, `requests...` (the journal: the
admin token without a tenant sees every tenant's), `scenario`, `clock`, `clock/advance`,
`webhooks/...`, `whoami`. `keys` and `tenants` (stateful) and `drift` (the drift proxy) need the
admin token. A stub without an admin token (the stateless mock without one) treats every caller
as admin. The work is done by the journal, simulation, state and proxy stages; this module only
routes, checks and answers. See docs/stateful.md, docs/scenarios.md and docs/inspector.md.
"""

from __future__ import annotations

import importlib.resources
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from sandlot.drift.report import FORMATS as DRIFT_FORMATS
from sandlot.drift.report import MEDIA_TYPES as DRIFT_MEDIA_TYPES
from sandlot.drift.report import render as render_drift
from sandlot.drift.stage import ProxyStage
from sandlot.http.activity import PROBE_ROUTES, Activity
from sandlot.mock.context import EdgeAction, Next, RequestContext
from sandlot.mock.engine import RESERVED_PREFIX
from sandlot.mock.messages import MockRequest, MockResponse, json_response, problem_response
from sandlot.simulation.stage import Simulation
from sandlot.state.auth import (
    PUBLIC_TENANT,
    authenticate,
    bearer_or_basic,
    issue_for_tenant,
    tenant_of_credential,
)
from sandlot.state.journal import JournalQuery, example_snippet, fixture_snippet, parse_filters, to_har
from sandlot.state.journal_stage import JournalStage
from sandlot.state.stage import StateStage
from sandlot.state.store import ORIGIN_API, KeyRecord

Args = dict[str, Any]
#: The routes that act on one tenant (and `webhooks/endpoints/<id>`, `webhooks/deliveries/<id>/resend`,
#: `requests/...`).
TENANT_ROUTES = frozenset({"reset", "requests", "scenario", "clock", "clock/advance", "webhooks/endpoints",
                           "webhooks/events", "webhooks/deliveries", "webhooks/trigger"})
#: The inspector page's files (package data in sandlot/http/ui/) and their media types.
UI_FILES = {"index.html": "text/html; charset=utf-8", "inspector.js": "text/javascript; charset=utf-8",
            "inspector.css": "text/css; charset=utf-8"}
#: How often the live tail looks for new entries (seconds).
TAIL_EVERY = 0.25
Health = Callable[[], dict[str, Any]]
_UNKNOWN_CALLER = ("This endpoint needs the admin token (Authorization: Bearer <token> or "
                   "X-Sandlot-Admin-Token), or the tenant's own sandbox key.")


def request_args(ctx: RequestContext) -> Args | MockResponse:
    """Return an admin request's query parameters and JSON object body merged, or a 400 problem."""
    req = ctx.request
    params = dict(urllib.parse.parse_qsl(req.query))
    try:
        body = json.loads(req.body) if req.body else {}
    except ValueError:
        return problem_response(400, "The request body must be JSON.")
    if not isinstance(body, dict):
        return problem_response(400, "The request body must be a JSON object.")
    return {**params, **body}


@dataclass(frozen=True)
class Caller:
    """Who calls the admin API: the admin (any tenant), or a tenant acting on itself."""

    admin: bool
    tenant: str | None  # the caller's own tenant (None for the admin or an unknown credential)


class AdminRouter:
    """The admin stage: route `/__sandlot/*`, check the caller once, answer through the stages."""

    def __init__(self, simulation: Simulation, state: StateStage | None, admin_token: str | None,
                 health: Health, clock: Callable[[], float] = time.time, drift: ProxyStage | None = None,
                 journal: JournalStage | None = None, activity: Activity | None = None) -> None:
        """`health` adds the app's own facts (operations, reloads) to `GET /__sandlot/health`;
        `drift` is the drift proxy whose record `GET /__sandlot/drift` shows; `journal` records
        the requests `requests...` reads; `activity` records when requests came
        (`GET /__sandlot/activity`)."""
        self.drift = drift
        self.activity = activity or Activity(clock)
        self.simulation = simulation
        self.state = state
        self.admin_token = admin_token
        self.health = health
        self.clock = clock
        self.journal = journal
        self._ui: dict[str, bytes] = {}

    def __call__(self, ctx: RequestContext, call_next: Next) -> MockResponse:
        """Answer a request under `/__sandlot/`; pass any other on."""
        if not ctx.request.path.startswith(RESERVED_PREFIX):
            self.activity.touch()
            return call_next(ctx)
        route = ctx.request.path[len(RESERVED_PREFIX):].strip("/")
        method = ctx.request.method
        if route not in PROBE_ROUTES:
            self.activity.touch()
        public = self._public(ctx, route, method)
        if public is not None:
            return public
        caller = self._caller(ctx)
        if route == "snapshot" and self.state is not None:  # its body is a snapshot, not JSON arguments
            return self._snapshot(ctx, method, caller)
        args = request_args(ctx)
        if isinstance(args, MockResponse):
            return args
        if route == "drift" and self.drift is not None:
            return self._drift(ctx, method, args, caller)
        if route in ("keys", "tenants") or route.startswith("keys/"):
            return self._keys(ctx, route, method, args, caller)
        if route == "whoami" and method == "GET":
            if not caller.admin and caller.tenant is None:
                return problem_response(401, _UNKNOWN_CALLER)
            return json_response(200, {"admin": caller.admin, "tenant": caller.tenant or
                                       (PUBLIC_TENANT if self.state is None else None),
                                       "stateful": self.state is not None, "journal": self.journal is not None})
        journal_route = route == "requests" or route.startswith("requests/")
        if route not in TENANT_ROUTES and not journal_route and \
                not route.startswith(("webhooks/endpoints/", "webhooks/deliveries/")):
            return self._not_found(ctx)
        if journal_route and caller.admin and not args.get("tenant") and not args.get("key"):
            tenant: str | None | MockResponse = None  # the admin reads every tenant's requests
        else:
            tenant = self._target(args, caller)
        if isinstance(tenant, MockResponse):
            return tenant
        try:
            if journal_route:
                return self._journal_route(ctx, route, method, args, tenant, call_next)
            assert tenant is not None
            return self._tenant_route(ctx, route, method, args, tenant)
        except (ValueError, TypeError) as exc:
            return problem_response(400, str(exc))

    # -- the one caller check ----------------------------------------------------------------
    def _caller(self, ctx: RequestContext) -> Caller:
        """Tell whether the request holds the admin token, and which tenant its credential is."""
        headers = ctx.request.headers
        offered = [headers.get("x-sandlot-admin-token", ""), *bearer_or_basic(headers.get("authorization"))]
        token = self.admin_token
        if token is None:
            return Caller(True, ctx.tenant)
        if any(o and secrets.compare_digest(o, token) for o in offered):
            return Caller(True, None)
        own = ctx.tenant
        # Stateful, a request without a credential is nobody's: the public tenant is not its own.
        return Caller(False, None if own == PUBLIC_TENANT and self.state is not None else own)

    def _target(self, args: Args, caller: Caller) -> str | MockResponse:
        """Return the tenant an admin request acts on, or the refusal."""
        named = args.get("tenant")
        if args.get("key"):
            named = self._tenant_of_key(str(args["key"]))
            if named is None:
                return problem_response(404, "No tenant has that key (unknown or revoked).")
        if not caller.admin and caller.tenant is None:
            return problem_response(401, _UNKNOWN_CALLER)
        if not caller.admin:
            if named and named != caller.tenant:
                return problem_response(403, "A sandbox key may only act on its own tenant.")
            return caller.tenant or ""
        target = named or caller.tenant or (PUBLIC_TENANT if self.state is None else None)
        if target is None:
            return problem_response(400, 'Name the tenant: {"tenant": "<id>"} or {"key": "<key>"}.')
        if self.state is not None and self.state.store.get_tenant(str(target)) is None:
            return problem_response(404, f"No tenant {target!r}.")
        return str(target)

    def _tenant_of_key(self, key: str) -> str | None:
        if self.state is not None:
            return authenticate(self.state.store, key)
        return tenant_of_credential(key)  # the stateless mock: one tenant per credential

    # -- routes ------------------------------------------------------------------------------
    def _public(self, ctx: RequestContext, route: str, method: str) -> MockResponse | None:
        if method not in ("GET", "HEAD"):
            return None
        if route == "activity" and method in ("GET", "HEAD"):
            return json_response(200, self.activity.report())
        if route == "health":
            body = {"status": "ok", **self.health()}
            if self.state is not None:
                body.update(stateful=True, tenants=len(self.state.store.list_tenants()))
            return json_response(200, body)
        if route == "openapi.json":
            return MockResponse(200, [("content-type", "application/json")], ctx.engine.bundled_json())
        if route == "scenarios":
            return json_response(200, self.simulation.scenarios_view())
        if route == "magic":
            return json_response(200, self.simulation.magic_view())
        if route == "ui" or route.startswith("ui/"):
            return self._ui_file(route[3:] or "index.html")
        return None

    def _ui_file(self, name: str) -> MockResponse:
        """Serve one of the inspector page's static files (read from the package once)."""
        if name not in UI_FILES:
            return problem_response(404, f"No inspector file {name!r}.")
        if name not in self._ui:
            self._ui[name] = importlib.resources.files("sandlot.http").joinpath("ui", name).read_bytes()
        return MockResponse(200, [("content-type", UI_FILES[name]), ("cache-control", "no-cache"),
                                  ("content-security-policy", "default-src 'self'; img-src 'self' data:"),
                                  ("x-content-type-options", "nosniff")], self._ui[name])

    def _tenant_route(self, ctx: RequestContext, route: str, method: str, args: Args,
                      tenant: str) -> MockResponse:
        sim = self.simulation
        if route == "reset" and method == "POST":
            return self._reset(tenant)
        if route == "scenario" and method == "GET":
            return json_response(200, {"tenant": tenant, "scenario": sim.sticky(tenant)})
        if route == "scenario" and method in ("PUT", "POST"):
            return json_response(200, {"tenant": tenant, "scenario": sim.set_sticky(tenant, args)})
        if route == "scenario" and method == "DELETE":
            sim.clear_sticky(tenant)
            return json_response(200, {"tenant": tenant, "scenario": None})
        if route == "clock" and method == "GET":
            return json_response(200, sim.clock_view(tenant))
        if route == "clock/advance" and method == "POST":
            return json_response(200, sim.advance_clock(tenant, args))
        if route == "webhooks/endpoints" and method == "GET":
            return json_response(200, {"tenant": tenant, "endpoints": sim.endpoints(tenant),
                                       "callback_secret": sim.callback_secret(tenant)})
        if route == "webhooks/endpoints" and method == "POST":
            return json_response(201, {"tenant": tenant, **sim.register_endpoint(tenant, args)})
        if route.startswith("webhooks/endpoints/") and method == "DELETE":
            endpoint_id = route.rsplit("/", 1)[1]
            if not sim.remove_endpoint(tenant, endpoint_id):
                return problem_response(404, f"No webhook endpoint {endpoint_id!r} registered by this "
                                             "tenant (endpoints from the config file stay).")
            return json_response(200, {"id": endpoint_id, "deleted": True})
        if route == "webhooks/events" and method == "GET":
            return json_response(200, {"events": [{"type": e.name, "description": e.description}
                                                  for e in sim.event_types().values()]})
        if route == "webhooks/deliveries" and method == "GET":
            return json_response(200, {"tenant": tenant, "deliveries": [
                d.view() for d in sim.outbox.deliveries(tenant)]})
        if route.startswith("webhooks/deliveries/") and route.endswith("/resend") and method == "POST":
            delivery_id = route[len("webhooks/deliveries/"):-len("/resend")]
            again = sim.resend(tenant, delivery_id)
            if again is None:
                return problem_response(404, f"No webhook delivery {delivery_id!r} for this tenant.")
            return json_response(202, {"tenant": tenant, "delivery": again.view()})
        if route == "webhooks/trigger" and method == "POST":
            return sim.trigger(tenant, args)
        return self._not_found(ctx)

    def _reset(self, tenant: str) -> MockResponse:
        started = time.perf_counter()
        count = self.state.reset(tenant) if self.state is not None else 0
        self.simulation.reset(tenant)
        body: dict[str, Any] = {"tenant": tenant, "objects": count}
        if self.state is not None:
            body["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return json_response(200, body)

    # -- the request journal ------------------------------------------------------------------
    def _journal_route(self, ctx: RequestContext, route: str, method: str, args: Args, tenant: str | None,
                       call_next: Next) -> MockResponse:
        """Serve `requests`, `requests/stream`, `requests/{id}[/replay|/example|/fixture]`."""
        journal = self.journal
        if journal is None:
            return problem_response(404, "This stub keeps no request journal (it was started with --no-journal).")
        journal.flush()
        rest = route[len("requests"):].strip("/")
        if rest == "" and method == "GET":
            query = replace(parse_filters(args, self.clock()), tenant=tenant)
            entries = journal.store.find(query)
            if args.get("format") == "har":
                from sandlot import __version__

                host = ctx.request.headers.get("host", "localhost")
                return json_response(200, to_har(entries, f"http://{host}", __version__),
                                     [("content-disposition", 'attachment; filename="sandlot-requests.har"')])
            return json_response(200, {"tenant": tenant, "requests": entries})
        if rest == "" and method == "DELETE":
            return json_response(200, {"tenant": tenant, "deleted": journal.store.delete(tenant)})
        if rest == "stream" and method == "GET":
            return self._tail(ctx, replace(parse_filters(args, self.clock()), tenant=tenant))
        entry_id, _, action = rest.partition("/")
        if not entry_id.isdigit():
            return self._not_found(ctx)
        entry = journal.store.get(int(entry_id), tenant)
        if entry is None:
            return problem_response(404, f"No request {entry_id} in this journal" +
                                    (" for this tenant." if tenant is not None else "."))
        if action == "" and method == "GET":
            return json_response(200, entry)
        if action == "replay" and method == "POST":
            return self._replay(ctx, entry, call_next)
        if action == "example" and method == "GET":
            return json_response(200, example_snippet(entry, args.get("name")))
        if action == "fixture" and method == "GET":
            return self._fixture(entry)
        return self._not_found(ctx)

    def _tail(self, ctx: RequestContext, query: JournalQuery) -> MockResponse:
        """Answer the live tail: server-sent events, one `request` event per new entry."""
        assert self.journal is not None
        journal = self.journal
        after = ctx.request.headers.get("last-event-id", "")
        last = [query.after if query.after is not None else int(after) if after.isdigit()
                else journal.store.last_id()]

        def poll() -> bytes:
            journal.flush()
            found = journal.store.find(replace(query, after=last[0], limit=200), oldest_first=True)
            if not found:
                return b""
            last[0] = found[-1]["id"]
            return b"".join(b"id: %d\nevent: request\ndata: " % e["id"] +
                            json.dumps(e, ensure_ascii=False).encode() + b"\n\n" for e in found)

        ctx.edge = EdgeAction("stream", TAIL_EVERY, poll)
        return MockResponse(200, [("content-type", "text/event-stream"), ("cache-control", "no-cache"),
                                  ("x-accel-buffering", "no")], b"retry: 1000\n\n")

    def _replay(self, ctx: RequestContext, entry: dict[str, Any], call_next: Next) -> MockResponse:
        """Send a recorded request through the stages again, as its tenant (the journal records it)."""
        assert self.journal is not None
        req = entry["request"]
        if req["truncated"] or req["binary"]:
            return problem_response(409, f"Request {entry['id']}'s body was kept only in part "
                                         f"({req['size']} bytes); it cannot be replayed.")
        headers = {k: v for k, v in req["headers"].items() if k not in ("content-length", "host")}
        headers["host"] = ctx.request.headers.get("host", "localhost")
        again = RequestContext(MockRequest(entry["method"], entry["path"], entry["query"], headers,
                                           req["body"].encode()), ctx.engine, ctx.identify, ctx.base_clock)
        again.assume_tenant(entry["tenant"])
        again.replay_of = entry["id"]
        response = call_next(again)
        new_id = self.journal.flush()
        return json_response(200, {"replay_of": entry["id"], "id": new_id, "status": response.status,
                                   "request": self.journal.store.get(new_id) if new_id else None})

    def _fixture(self, entry: dict[str, Any]) -> MockResponse:
        """Answer the object in a recorded response as fixtures YAML for its collection."""
        route = str(entry.get("route") or "")
        method, _, template = route.partition(" ")
        binding = self.state.model.binding(method, template) if self.state is not None and route else None
        if binding is None or self.state is None:
            return problem_response(400, "Only a response of a stateful collection's operation can become a fixture.")
        collection = self.state.model.collections[binding.collection]
        return json_response(200, fixture_snippet(entry, collection.name, collection.wrapper))

    def _keys(self, ctx: RequestContext, route: str, method: str, args: Args, caller: Caller) -> MockResponse:
        """Serve `keys` and `tenants`: the admin's alone, and only where keys are kept (stateful)."""
        if self.state is None:
            return self._not_found(ctx)
        if not caller.admin:
            if caller.tenant is None:
                return problem_response(401, _UNKNOWN_CALLER)
            return problem_response(403, f"{ctx.request.path} needs the admin token.")
        store = self.state.store
        if route == "keys" and method == "POST":
            tenant_id, key = issue_for_tenant(store, self.clock(), tenant_id=args.get("tenant"),
                                              name=str(args.get("name") or ""))
            return json_response(201, {"key": key.secret, "key_id": key.key_id, "tenant": tenant_id,
                                       "note": "Shown once; store it now."})
        if route == "keys" and method == "GET":
            return json_response(200, {"keys": [_key_view(k) for k in store.list_keys(args.get("tenant"))]})
        if route.startswith("keys/") and method == "DELETE":
            key_id = route[len("keys/"):]
            if store.revoke_key(key_id, self.clock()):
                return json_response(200, {"key_id": key_id, "revoked": True})
            return problem_response(404, f"No active key {key_id!r}.")
        if route == "tenants" and method == "GET":
            return json_response(200, {"tenants": [
                {**asdict(t), "objects": store.count_objects(t.tenant_id),
                 "created_objects": store.count_objects(t.tenant_id, ORIGIN_API)}
                for t in store.list_tenants()]})
        return self._not_found(ctx)

    def _drift(self, ctx: RequestContext, method: str, args: Args, caller: Caller) -> MockResponse:
        """Serve `GET /__sandlot/drift[?format=json|text|markdown]`: the drift proxy's record (admin only)."""
        assert self.drift is not None
        if not caller.admin:
            status = 401 if caller.tenant in (None, PUBLIC_TENANT) else 403
            return problem_response(status, f"{ctx.request.path} needs the admin token.")
        if method != "GET":
            return problem_response(405, f"{method} is not allowed on {ctx.request.path}; use GET",
                                    headers=[("allow", "GET")])
        fmt = str(args.get("format", "json"))
        if fmt not in DRIFT_FORMATS:
            return problem_response(400, f"format must be one of {', '.join(DRIFT_FORMATS)}, not {fmt!r}.")
        return MockResponse(200, [("content-type", DRIFT_MEDIA_TYPES[fmt])],
                            render_drift(self.drift.report(), fmt).encode())

    def _snapshot(self, ctx: RequestContext, method: str, caller: Caller) -> MockResponse:
        """GET: the whole store as gzip'd SQLite; PUT: replace the whole store with such a body (admin only).

        The operator takes one before a sandbox sleeps and puts it back when it wakes, so the
        stub's objects, tenants and keys survive its pod being scaled to zero.
        """
        assert self.state is not None
        if not caller.admin:
            return problem_response(403, f"{ctx.request.path} needs the admin token.")
        if method == "GET":
            return MockResponse(200, [("content-type", "application/gzip")], self.state.snapshot())
        if method == "PUT":
            try:
                tenants = self.state.restore(ctx.request.body)
            except ValueError as exc:
                return problem_response(400, f"{exc}.")
            return json_response(200, {"restored": True, "bytes": len(ctx.request.body), "tenants": tenants})
        return problem_response(405, f"{method} is not allowed on {ctx.request.path}",
                                headers=[("allow", "GET, PUT")])

    @staticmethod
    def _not_found(ctx: RequestContext) -> MockResponse:
        req = ctx.request
        return problem_response(404, f"No admin endpoint {req.method} {req.path}; see docs/stateful.md "
                                     "(reset, requests, keys, tenants) and docs/scenarios.md (scenario, "
                                     "clock, webhooks).")


def _key_view(record: KeyRecord) -> dict[str, Any]:
    view = asdict(record)
    view.pop("key_hash")
    return view
