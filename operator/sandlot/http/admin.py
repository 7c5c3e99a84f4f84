"""The one admin router for `/__sandlot/`: every Sandlot endpoint, behind one caller check.

The first of the HTTP app's stages (http/compose.py): requests under `/__sandlot/` are
answered here, all others pass on to the simulation. Open to anyone: `health`, `openapi.json`,
`scenarios`, `magic`, `activity` (when the stub last answered a request: http/activity.py,
recorded here for every request but the probes). `snapshot` (stateful: the whole store,
GET to take it, PUT to put it back; the operator's sleep and wake) needs the admin token.
Everything else acts on one tenant and needs the admin token
(`Authorization: Bearer <token>` or `X-Sandlot-Admin-Token`, naming the tenant with `tenant` or
`key`) or the tenant's own credential (self-service, so a test suite can reset before each run
without holding the admin token): `reset`, `requests` (stateful), `scenario`, `clock`,
`clock/advance`, `webhooks/...`. `keys` and `tenants` (stateful) and `drift` (the drift proxy)
need the admin token. A stub
without an admin token (the stateless mock without one) treats every caller as admin. The
work is done by the simulation and state stages; this module only routes, checks and answers.
See docs/stateful.md and docs/scenarios.md.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from sandlot.drift.report import FORMATS as DRIFT_FORMATS
from sandlot.drift.report import MEDIA_TYPES as DRIFT_MEDIA_TYPES
from sandlot.drift.report import render as render_drift
from sandlot.drift.stage import ProxyStage
from sandlot.http.activity import PROBE_ROUTES, Activity
from sandlot.mock.context import Next, RequestContext
from sandlot.mock.engine import RESERVED_PREFIX
from sandlot.mock.messages import MockResponse, json_response, problem_response
from sandlot.simulation.stage import Simulation
from sandlot.state.auth import (
    PUBLIC_TENANT,
    authenticate,
    bearer_or_basic,
    issue_for_tenant,
    tenant_of_credential,
)
from sandlot.state.stage import StateStage
from sandlot.state.store import ORIGIN_API, KeyRecord

Args = dict[str, Any]
#: The routes that act on one tenant (and `webhooks/endpoints/<id>`).
TENANT_ROUTES = frozenset({"reset", "requests", "scenario", "clock", "clock/advance", "webhooks/endpoints",
                           "webhooks/events", "webhooks/deliveries", "webhooks/trigger"})
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
                 activity: Activity | None = None) -> None:
        """`health` adds the app's own facts (operations, reloads) to `GET /__sandlot/health`;
        `drift` is the drift proxy whose record `GET /__sandlot/drift` shows; `activity` records
        when requests came (`GET /__sandlot/activity`)."""
        self.drift = drift
        self.activity = activity or Activity(clock)
        self.simulation = simulation
        self.state = state
        self.admin_token = admin_token
        self.health = health
        self.clock = clock

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
        if route not in TENANT_ROUTES and not route.startswith("webhooks/endpoints/"):
            return self._not_found(ctx)
        tenant = self._target(args, caller)
        if isinstance(tenant, MockResponse):
            return tenant
        try:
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
        return None

    def _tenant_route(self, ctx: RequestContext, route: str, method: str, args: Args,
                      tenant: str) -> MockResponse:
        sim = self.simulation
        if route == "reset" and method == "POST":
            return self._reset(tenant)
        if route == "requests" and method == "GET" and self.state is not None:
            return self._requests(tenant, args)
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

    def _requests(self, tenant: str, args: Args) -> MockResponse:
        assert self.state is not None
        try:
            limit = max(1, min(int(args.get("limit", 50)), self.state.config.log_size))
        except ValueError:
            return problem_response(400, "limit must be a whole number.")
        self.state.flush_log()
        entries = self.state.store.read_log(tenant, limit)
        return json_response(200, {"tenant": tenant, "requests": [asdict(e) for e in entries]})

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
