"""The admin API under `/__sandlot/`: reset a tenant, read its request log, manage keys, snapshot the store.

Called by the stateful handler for every request whose path starts with `/__sandlot/`.
Guarded by the admin token (`Authorization: Bearer <token>` or `X-Sandlot-Admin-Token`);
a tenant's own sandbox key may also reset that tenant and read its log (self-service, so a
test suite can reset before each run without holding the admin token). See docs/stateful.md.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from sandlot.mock.messages import MockRequest, MockResponse, problem_response
from sandlot.sandbox.config import SandboxConfig
from sandlot.sandbox.problems import forbidden
from sandlot.sandbox.store import ORIGIN_API, Store
from sandlot.sandbox.tenancy import authenticate, bearer_or_basic, issue_for_tenant

PREFIX = "/__sandlot/"


def json_response(status: int, body: Any) -> MockResponse:
    """Build a JSON response."""
    return MockResponse(status, [("content-type", "application/json")],
                        json.dumps(body, ensure_ascii=False).encode())



def request_args(req: MockRequest) -> dict[str, Any] | MockResponse:
    """Return an admin request's query parameters and JSON object body merged, or a 400 problem."""
    params = dict(urllib.parse.parse_qsl(req.query))
    try:
        body = json.loads(req.body) if req.body else {}
    except ValueError:
        return problem_response(400, "The request body must be JSON.")
    if not isinstance(body, dict):
        return problem_response(400, "The request body must be a JSON object.")
    return {**params, **body}

class AdminApi:
    """Serve `/__sandlot/*` over a store; `on_reset(tenant_id)` lets the caller drop caches."""

    def __init__(self, store: Store, config: SandboxConfig, clock: Callable[[], float] = time.time,
                 on_reset: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.on_reset = on_reset or (lambda tenant_id: None)
        #: Called before reading the request log or taking a snapshot (the handler flushes its buffer here).
        self.before_read: Callable[[], None] = lambda: None
        #: Called after a snapshot was restored (the handler drops what it derived from the old state).
        self.after_restore: Callable[[], None] = lambda: None

    def _caller(self, req: MockRequest) -> tuple[str, str | None] | None:
        """Return ("admin", None), ("tenant", tenant_id), or None for an unknown caller."""
        token = self.config.admin_token
        offered = [req.headers.get("x-sandlot-admin-token", ""),
                   *bearer_or_basic(req.headers.get("authorization"))]
        if token and any(o and secrets.compare_digest(o, token) for o in offered):
            return "admin", None
        for value in offered[1:]:
            tenant_id = authenticate(self.store, value)
            if tenant_id:
                return "tenant", tenant_id
        return None

    def handle(self, req: MockRequest) -> MockResponse:
        """Route one admin request."""
        route = req.path[len(PREFIX):].strip("/")
        if route == "health" and req.method in ("GET", "HEAD"):
            return json_response(200, {"status": "ok", "stateful": True,
                                       "tenants": len(self.store.list_tenants())})
        caller = self._caller(req)
        if caller is None:
            return problem_response(401, "The admin API needs the admin token (Authorization: "
                                         "Bearer <token> or X-Sandlot-Admin-Token), or the "
                                         "tenant's own sandbox key for reset and requests.")
        role, own_tenant = caller
        if route == "snapshot":
            return self._snapshot(req) if role == "admin" else forbidden(f"{req.path} needs the admin token.")
        args = request_args(req)
        if isinstance(args, MockResponse):
            return args
        if route in ("reset", "requests"):
            tenant_id = self._target_tenant(args, own_tenant)
            if isinstance(tenant_id, MockResponse):
                return tenant_id
            if role == "tenant" and tenant_id != own_tenant:
                return forbidden("A sandbox key may only reset or read its own tenant.")
            if route == "reset" and req.method == "POST":
                return self._reset(tenant_id)
            if route == "requests" and req.method == "GET":
                return self._requests(tenant_id, args)
            return problem_response(405, f"{req.method} is not allowed on {req.path}",
                                    headers=[("allow", "POST" if route == "reset" else "GET")])
        if role != "admin":
            return forbidden(f"{req.path} needs the admin token.")
        if route == "keys" and req.method == "POST":
            return self._create_key(args)
        if route == "keys" and req.method == "GET":
            keys = self.store.list_keys(args.get("tenant"))
            return json_response(200, {"keys": [_key_view(k) for k in keys]})
        if route.startswith("keys/") and req.method == "DELETE":
            key_id = route[len("keys/"):]
            if self.store.revoke_key(key_id, self.clock()):
                return json_response(200, {"key_id": key_id, "revoked": True})
            return problem_response(404, f"No active key {key_id!r}.")
        if route == "tenants" and req.method == "GET":
            return json_response(200, {"tenants": [
                {**asdict(t), "objects": self.store.count_objects(t.tenant_id),
                 "created_objects": self.store.count_objects(t.tenant_id, ORIGIN_API)}
                for t in self.store.list_tenants()]})
        return problem_response(404, f"No admin endpoint {req.method} {req.path}; see "
                                     "docs/stateful.md for reset, requests, keys and tenants.")

    def _target_tenant(self, args: dict[str, Any], own_tenant: str | None) -> str | MockResponse:
        if args.get("key"):
            tenant_id = authenticate(self.store, str(args["key"]))
            if tenant_id is None:
                return problem_response(404, "No tenant has that key (unknown or revoked).")
            return tenant_id
        tenant_id = args.get("tenant") or own_tenant
        if not tenant_id:
            return problem_response(400, 'Name the tenant: {"tenant": "<id>"} or {"key": "<key>"}.')
        if self.store.get_tenant(str(tenant_id)) is None:
            return problem_response(404, f"No tenant {tenant_id!r}.")
        return str(tenant_id)

    def _reset(self, tenant_id: str) -> MockResponse:
        started = time.perf_counter()
        count = self.store.reset_tenant(tenant_id, self.clock())
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.on_reset(tenant_id)
        return json_response(200, {"tenant": tenant_id, "objects": count,
                                   "duration_ms": round(elapsed_ms, 2)})

    def _requests(self, tenant_id: str, args: dict[str, Any]) -> MockResponse:
        try:
            limit = max(1, min(int(args.get("limit", 50)), self.config.log_size))
        except ValueError:
            return problem_response(400, "limit must be a whole number.")
        self.before_read()
        entries = self.store.read_log(tenant_id, limit)
        return json_response(200, {"tenant": tenant_id, "requests": [asdict(e) for e in entries]})

    def _snapshot(self, req: MockRequest) -> MockResponse:
        """GET: the whole store as gzip'd SQLite; PUT: replace the whole store with such a body.

        The operator takes one before a sandbox sleeps and puts it back when it wakes, so the
        stub's objects, tenants and keys survive its pod being scaled to zero.
        """
        if req.method == "GET":
            self.before_read()
            data = self.store.snapshot()
            return MockResponse(200, [("content-type", "application/gzip")], data)
        if req.method == "PUT":
            try:
                self.store.restore(req.body)
            except ValueError as exc:
                return problem_response(400, f"{exc}.")
            self.after_restore()
            return json_response(200, {"restored": True, "bytes": len(req.body),
                                       "tenants": len(self.store.list_tenants())})
        return problem_response(405, f"{req.method} is not allowed on {req.path}", headers=[("allow", "GET, PUT")])

    def _create_key(self, args: dict[str, Any]) -> MockResponse:
        tenant_id = args.get("tenant")
        tenant_id, key = issue_for_tenant(self.store, self.clock(), tenant_id=tenant_id,
                                          name=str(args.get("name") or ""))
        return json_response(201, {"key": key.secret, "key_id": key.key_id, "tenant": tenant_id,
                                   "note": "Shown once; store it now."})


def _key_view(record: Any) -> dict[str, Any]:
    view = asdict(record)
    view.pop("key_hash")
    return view
