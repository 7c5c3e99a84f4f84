"""Serve the Kubernetes REST API over HTTP from the in-memory store (an aiohttp application).

`make_app(catalog, store, ledger)` is called by ``server.py``. One catch-all
handler parses the path like the apiserver (discovery, then
/api/v1/... or /apis/G/V/..., namespaced or cluster-scoped, optional /status),
counts the request in the ledger, and calls one store method. Watches stream
JSON lines until timeoutSeconds, the client leaving, or the server stopping.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import logging
import threading
from typing import Any

from aiohttp import web

from .catalog import SERVER_VERSION, Catalog, ResourceType, api_group, api_group_list, api_resource_list
from .errors import ApiError, details
from .selectors import SelectorError, parse_field_selector, parse_label_selector
from .store import Store, WatchEvent

logger = logging.getLogger(__name__)
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
DEFAULT_WATCH_SECONDS = 1800.0


class RequestLedger:
    """Count requests by verb and by (verb, resource), and hold the faults tests inject."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_verb: collections.Counter[str] = collections.Counter()
        self.by_resource: collections.Counter[tuple[str, str]] = collections.Counter()
        self._faults: dict[tuple[str, str], list[Any]] = {}

    def record(self, verb: str, plural: str) -> None:
        """Count one request."""
        with self._lock:
            self.by_verb[verb] += 1
            self.by_resource[(verb, plural)] += 1

    def writes(self) -> int:
        """Return how many write requests (create, update, patch, delete) were served."""
        with self._lock:
            return sum(self.by_verb[v] for v in WRITE_VERBS)

    def reset(self) -> None:
        """Forget the counts (faults stay)."""
        with self._lock:
            self.by_verb.clear()
            self.by_resource.clear()

    def inject_fault(self, verb: str, plural: str, code: int = 500, times: int | None = 1,
                     message: str = "injected fault") -> None:
        """Make the next `times` requests of a verb on a resource fail (None: until cleared)."""
        with self._lock:
            self._faults[(verb, plural)] = [code, times, message]

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self._faults.clear()

    def take_fault(self, verb: str, plural: str) -> ApiError | None:
        """Return the error to answer this request with, if a fault is armed for it."""
        with self._lock:
            fault = self._faults.get((verb, plural))
            if fault is None:
                return None
            code, times, message = fault
            if times is not None:
                fault[1] = times - 1
                if fault[1] <= 0:
                    del self._faults[(verb, plural)]
            reason = {500: "InternalError", 503: "ServiceUnavailable", 403: "Forbidden", 409: "Conflict",
                      422: "Invalid", 429: "TooManyRequests"}.get(code, "InternalError")
            return ApiError(code, reason, f"{message} ({verb} {plural})")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")


def _as_version(obj: dict[str, Any], rtype: ResourceType, version: str) -> dict[str, Any]:
    """Return the object as seen through a URL's version (no conversion besides apiVersion)."""
    api_version = rtype.api_version(version)
    return obj if obj.get("apiVersion") == api_version else {**obj, "apiVersion": api_version}


def _list_item(obj: dict[str, Any], rtype: ResourceType, version: str) -> dict[str, Any]:
    """Return an object as a list shows it: kube-apiserver leaves kind and apiVersion out of the items
    of built-in lists (the list says them); custom resources keep theirs."""
    if rtype.custom:
        return _as_version(obj, rtype, version)
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


def paginate(items: list[dict[str, Any]], list_rv: str, limit: str | None, token: str | None,
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return one page of a sorted list and the list metadata (continue token, remaining count).

    A continue token names the last (namespace, name) served; the next page is read from the
    current state rather than from a snapshot at the first page's resourceVersion.
    """
    if token:
        try:
            start = tuple(json.loads(base64.urlsafe_b64decode(token.encode()))["after"])
        except (ValueError, KeyError, TypeError):
            raise ApiError(400, "BadRequest", f"invalid continue token {token!r}: pass metadata.continue of the previous page")
        items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > start]
    try:
        size = int(limit) if limit else 0
    except ValueError:
        raise ApiError(400, "BadRequest", f"limit must be a whole number, got {limit!r}")
    metadata: dict[str, Any] = {"resourceVersion": list_rv}
    if 0 < size < len(items):
        last = items[size - 1]["metadata"]
        after = json.dumps({"after": [last.get("namespace", ""), last["name"]]}).encode()
        metadata.update({"continue": base64.urlsafe_b64encode(after).decode(), "remainingItemCount": len(items) - size})
        items = items[:size]
    return items, metadata


def watch_view(event: WatchEvent, namespace: str | None, matches) -> tuple[str, dict[str, Any]] | None:
    """Return the (type, object) a filtered watch sees for an event, or None when it sees nothing.

    An object that starts or stops matching the filter is ADDED or DELETED for this watch,
    like the apiserver's watch cache does.
    """
    def visible(obj: dict[str, Any] | None) -> bool:
        return (obj is not None and (namespace is None or obj["metadata"].get("namespace") == namespace)
                and matches(obj))

    now, before = visible(event.obj), visible(event.old)
    if event.type != "MODIFIED":
        return (event.type, event.obj) if now else None
    if now and before:
        return ("MODIFIED", event.obj)
    if now:
        return ("ADDED", event.obj)
    if before:
        return ("DELETED", event.obj)
    return None


class ApiHandler:
    """Route API requests to the store; one instance per running emulator."""

    def __init__(self, catalog: Catalog, store: Store, ledger: RequestLedger) -> None:
        self.catalog, self.store, self.ledger = catalog, store, ledger

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._dispatch(request)
        except ApiError as exc:
            return _json(exc.status(), exc.code)
        except Exception as exc:  # an emulator bug: answer like the apiserver would, keep the traceback in the log
            logger.exception("kubeemu failed on %s %s", request.method, request.path_qs)
            return _json(ApiError(500, "InternalError", f"the Kubernetes emulator failed: {exc!r}").status(), 500)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if parts in (["healthz"], ["livez"], ["readyz"]):
            return web.Response(text="ok")
        if parts == ["version"]:
            return _json(SERVER_VERSION)
        if parts[:1] == ["api"] and len(parts) <= 2 or parts[:1] == ["apis"] and len(parts) <= 3:
            return self._discovery(parts)
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[:1] == ["apis"]:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        rtype, namespace, name, subresource = self._resolve(group, version, rest)
        return await self._serve(request, rtype, version, namespace, name, subresource)

    def _discovery(self, parts: list[str]) -> web.Response:
        """Answer /api, /api/v1, /apis, /apis/G and /apis/G/V."""
        self.ledger.record("discovery", "/".join(parts))
        if parts == ["api"]:
            return _json({"kind": "APIVersions", "versions": ["v1"],
                          "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        if parts == ["apis"]:
            return _json(api_group_list(self.catalog))
        if len(parts) == 2 and parts[0] == "apis":
            versions = self.catalog.group_versions().get(parts[1])
            if versions:
                return _json({"kind": "APIGroup", "apiVersion": "v1", **api_group(parts[1], versions)})
        else:
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            resources = api_resource_list(self.catalog, group, version)
            if resources:
                return _json(resources)
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _resolve(self, group: str, version: str, rest: list[str]):
        """Return (type, namespace, name, subresource) named by the path after the group version."""
        not_served = ApiError(404, "NotFound", f"the server could not find the requested resource "
                              f"({'/'.join([group or 'core', version, *rest])})")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = self.catalog.lookup(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise not_served
        rtype = self.catalog.lookup(group, version, rest[0])
        if rtype is None or (rtype.namespaced and namespace is None and len(rest) > 1):
            raise not_served
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if subresource is not None and (subresource != "status" or not rtype.has_status):
            raise not_served
        return rtype, namespace, name, subresource

    async def _body(self, request: web.Request) -> Any:
        """Return the decoded JSON body, or None when there is none."""
        raw = await request.read()
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"the request body is not valid JSON ({exc}); the emulator accepts JSON only")

    def _verb(self, request: web.Request, name: str | None) -> str:
        """Return the Kubernetes verb of a request (as RBAC names it) on a collection or an object."""
        method = request.method
        if name is None:
            watching = request.query.get("watch") in ("true", "1")
            verbs = {"GET": "watch" if watching else "list", "POST": "create", "DELETE": "deletecollection"}
        else:
            verbs = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
        if method not in verbs:
            raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({method})")
        return verbs[method]

    async def _serve(self, request: web.Request, rtype: ResourceType, version: str, namespace: str | None,
                     name: str | None, subresource: str | None) -> web.StreamResponse:
        verb = self._verb(request, name)
        self.ledger.record(verb, rtype.plural)
        fault = self.ledger.take_fault(verb, rtype.plural)
        if fault is not None:
            raise fault
        if "dryRun" in request.query:
            raise ApiError(400, "BadRequest", "dryRun is not supported by the Kubernetes emulator; drop the parameter")
        query = request.query
        if verb in ("list", "watch", "deletecollection"):
            try:
                label_match = parse_label_selector(query.get("labelSelector"))
                field_match = parse_field_selector(query.get("fieldSelector"))
            except SelectorError as exc:
                raise ApiError(400, "BadRequest", str(exc))

            def matches(obj: dict[str, Any]) -> bool:
                return label_match(obj) and field_match(obj)

            if verb == "watch":
                return await self._watch(request, rtype, version, namespace, matches)
            items, list_rv = self.store.list(rtype, namespace)
            items = [obj for obj in items if matches(obj)]
            if verb == "deletecollection":
                for obj in items:
                    try:
                        self.store.delete(rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"])
                    except ApiError as exc:
                        if exc.code != 404:  # gone meanwhile (garbage-collected): fine
                            raise
            page, list_meta = paginate(items, list_rv, query.get("limit"), query.get("continue"))
            return _json({"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version(version),
                          "metadata": list_meta, "items": [_list_item(obj, rtype, version) for obj in page]})
        if verb == "create":
            created = self.store.create(rtype, namespace, await self._body(request), version)
            return _json(_as_version(created, rtype, version), 201)
        if verb == "get":
            return _json(_as_version(self.store.get(rtype, namespace, name), rtype, version))
        if verb == "update":
            updated = self.store.replace(rtype, namespace, name, await self._body(request), subresource, version)
            return _json(_as_version(updated, rtype, version))
        if verb == "patch":
            patched = self.store.patch(rtype, namespace, name, request.headers.get("Content-Type", ""),
                                       await self._body(request), subresource, version)
            return _json(_as_version(patched, rtype, version))
        return self._delete(rtype, version, namespace, name, await self._body(request), query)

    def _delete(self, rtype: ResourceType, version: str, namespace: str | None, name: str, body: Any,
                query) -> web.Response:
        options = dict(body) if isinstance(body, dict) else {}
        if "propagationPolicy" in query:
            options["propagationPolicy"] = query["propagationPolicy"]
        result = self.store.delete(rtype, namespace, name, options)
        if result["metadata"].get("deletionTimestamp"):
            return _json(_as_version(result, rtype, version))  # pending finalizers: the object as it is now
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": details(name, rtype.group, rtype.plural, uid=result["metadata"]["uid"])})

    async def _watch(self, request: web.Request, rtype: ResourceType, version: str, namespace: str | None,
                     matches) -> web.StreamResponse:
        """Stream watch events as JSON lines: the replay from resourceVersion, then live ones."""
        query = request.query
        loop = asyncio.get_running_loop()
        try:
            timeout = float(query.get("timeoutSeconds") or DEFAULT_WATCH_SECONDS)
        except ValueError:
            raise ApiError(400, "BadRequest", f"timeoutSeconds must be a number, got {query['timeoutSeconds']!r}")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            subscription, backlog = self.store.subscribe(rtype, query.get("resourceVersion"), loop)
        except ApiError as exc:
            if exc.code != 410:
                raise
            await response.prepare(request)
            await response.write(json.dumps({"type": "ERROR", "object": exc.status()}).encode() + b"\n")
            await response.write_eof()
            return response
        deadline = loop.time() + timeout

        async def send(event_type: str, obj: dict[str, Any]) -> None:
            line = {"type": event_type, "object": _as_version(obj, rtype, version)}
            await response.write(json.dumps(line).encode() + b"\n")

        try:
            await response.prepare(request)
            for event in backlog:
                if (view := watch_view(event, namespace, matches)) is not None:
                    await send(*view)
            if query.get("sendInitialEvents") == "true":
                bookmark = {"kind": rtype.kind, "apiVersion": rtype.api_version(version), "metadata": {
                    "resourceVersion": self.store.resource_version,
                    "annotations": {"k8s.io/initial-events-end": "true"}}}
                await send("BOOKMARK", bookmark)
            while (remaining := deadline - loop.time()) > 0:
                try:
                    event = await asyncio.wait_for(subscription.queue.get(), remaining)
                except TimeoutError:
                    break
                if event is None:  # the server is stopping
                    break
                if (view := watch_view(event, namespace, matches)) is not None:
                    await send(*view)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # the client went away: nothing to tell it
        finally:
            self.store.unsubscribe(subscription)
        return response


def make_app(catalog: Catalog, store: Store, ledger: RequestLedger) -> web.Application:
    """Return the aiohttp application serving the emulated API."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", ApiHandler(catalog, store, ledger).__call__)
    return app
