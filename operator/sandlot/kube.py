"""The one module that calls the Kubernetes API outside kopf's own machinery.

A thin, generic client over the official `kubernetes` package: objects are plain dicts,
addressed by apiVersion and kind, so the renderers and reconcilers never touch client
model classes (which silently drop unknown fields). Called by the kopf handlers only;
`make_api_client` is the one place a client is built.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from sandlot.reconcile.naming import ANNOTATION_HASH, ANNOTATION_OWNER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the API."""

    plural: str
    namespaced: bool


KINDS: dict[tuple[str, str], Kind] = {
    ("v1", "Namespace"): Kind("namespaces", False),
    ("v1", "ConfigMap"): Kind("configmaps", True),
    ("v1", "Secret"): Kind("secrets", True),
    ("v1", "Service"): Kind("services", True),
    ("v1", "ServiceAccount"): Kind("serviceaccounts", True),
    ("v1", "ResourceQuota"): Kind("resourcequotas", True),
    ("v1", "LimitRange"): Kind("limitranges", True),
    ("v1", "Pod"): Kind("pods", True),
    ("apps/v1", "Deployment"): Kind("deployments", True),
    ("batch/v1", "Job"): Kind("jobs", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): Kind("networkpolicies", True),
    ("networking.k8s.io/v1", "ServiceCIDR"): Kind("servicecidrs", False),
    ("sandlot.dev/v1alpha1", "SandboxEnvironment"): Kind("sandboxenvironments", True),
    ("sandlot.dev/v1alpha1", "SandboxTenant"): Kind("sandboxtenants", False),
}

#: Objects that are created once and never replaced (credentials must not rotate on a reconcile).
CREATE_ONLY = {("v1", "Secret")}
#: Objects whose spec is immutable: a change means delete and create again.
RECREATE = {("batch/v1", "Job")}
# Replaces tried before a 409 Conflict from another writer is given up on (the handler retries).
REPLACE_ATTEMPTS = 5


#: A Kubernetes object as the API sends it: decoded JSON.
Obj = dict[str, Any]
#: Objects of a list (named here: inside Kube, `list` is the method).
Objs = list[Obj]


class NotFound(Exception):
    """The object (or the namespace it should live in) does not exist."""


class Conflict(Exception):
    """An object of the wanted name exists but was not made for this sandbox: it is never adopted."""


class Recreating(Exception):
    """An immutable object was deleted to be created again; retry once it is gone."""


def make_api_client() -> k8s.ApiClient:
    """Return an API client for the in-cluster service account, else for KUBECONFIG as set now."""
    from sandlot.settings import load_settings

    cfg = k8s.Configuration()
    # One connection per handler thread (kopf runs up to `workers` sync handlers at once).
    cfg.connection_pool_maxsize = load_settings().workers
    try:
        kubernetes.config.load_incluster_config(client_configuration=cfg)
    except kubernetes.config.ConfigException:
        # Read KUBECONFIG now, not at import: the client library fixes its default path on import.
        path = (load_settings().kubeconfig or "").split(":")[0] or None
        kubernetes.config.load_kube_config(config_file=path, client_configuration=cfg)
    return k8s.ApiClient(cfg)


def secret_values(secret: dict[str, Any]) -> dict[str, str]:
    """Return a Secret's values as text (data is base64; stringData, when echoed, is plain)."""
    values = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    values.update(secret.get("stringData") or {})
    return values


def config_hash(obj: Obj) -> str:
    """Return a digest of what the operator wants for `obj` (annotation excluded)."""
    clean = json.loads(json.dumps(obj, sort_keys=True))
    clean.get("metadata", {}).get("annotations", {}).pop(ANNOTATION_HASH, None)
    return hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).hexdigest()[:20]


def _path(api_version: str, kind: str, namespace: str | None, name: str | None = None,
          sub: str | None = None) -> str:
    """Return the REST path of a collection or object."""
    info = KINDS[(api_version, kind)]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if info.namespaced and namespace:
        base += f"/namespaces/{namespace}"
    path = f"{base}/{info.plural}"
    if name:
        path += f"/{name}"
    if sub:
        path += f"/{sub}"
    return path


class Kube:
    """Generic create/get/list/replace/patch/delete on dict objects; counts its write calls."""

    def __init__(self, api_client: k8s.ApiClient | None = None) -> None:
        self.api = api_client or k8s.ApiClient()
        self.writes = 0

    def _call(self, method: str, path: str, *, body: Any = None, query: list[tuple[str, str]] | None = None,
              content_type: str = "application/json") -> Obj:
        """Call the API and return the decoded JSON body (always an object for these calls)."""
        if method != "GET":
            self.writes += 1
        headers = {"Accept": "application/json", "Content-Type": content_type}
        method_, url, headers_, body_, post = self.api.param_serialize(
            method, path, query_params=query or [], header_params=headers, body=body,
            auth_settings=["BearerToken"],
        )
        resp = self.api.call_api(method_, url, header_params=headers_, body=body_, post_params=post,
                                 _request_timeout=30)
        raw = resp.read()
        if not 200 <= resp.status < 300:
            raise ApiException(status=resp.status, reason=resp.reason, body=raw.decode("utf-8", "replace"))
        decoded: Obj = json.loads(raw) if raw else {}
        return decoded

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        """Return the object, or None when it does not exist."""
        try:
            return self._call("GET", _path(api_version, kind, namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None) -> list[Obj]:
        """Return the objects of a kind (in one namespace or all), optionally selected by labels."""
        query = [("labelSelector", label_selector)] if label_selector else []
        data = self._call("GET", _path(api_version, kind, namespace), query=query)
        return list(data.get("items") or [])

    def list_at(self, api_version: str, kind: str, namespace: str | None = None) -> tuple[Objs, str]:
        """Return the objects of a kind (in one namespace or all) and the list's resourceVersion, where a watch
        of what changes afterwards starts."""
        data = self._call("GET", _path(api_version, kind, namespace))
        return list(data.get("items") or []), str((data.get("metadata") or {}).get("resourceVersion") or "")

    def watch(self, api_version: str, kind: str, namespace: str | None = None, *, resource_version: str,
              timeout_seconds: int = 300, opened: Callable[[Any], None] | None = None) -> Iterator[tuple[str, Obj]]:
        """Yield (type, object) for each change of a kind after `resource_version`, until the server ends the
        watch (after `timeout_seconds`). `opened` receives the open response, so another thread can end the
        watch early (`response.shutdown()`). An ERROR event raises ApiException with its code (410: the
        version is too old; list again)."""
        query = [("watch", "true"), ("resourceVersion", resource_version), ("timeoutSeconds", str(timeout_seconds)),
                 ("allowWatchBookmarks", "true")]
        method, url, headers, body, post = self.api.param_serialize(
            "GET", _path(api_version, kind, namespace), query_params=query,
            header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
        resp = self.api.call_api(method, url, header_params=headers, body=body, post_params=post,
                                 _request_timeout=(10, timeout_seconds + 30))
        if resp.status != 200:
            raise ApiException(status=resp.status, reason=resp.reason, body=resp.read().decode("utf-8", "replace"))
        stream = resp.response
        if opened is not None:
            opened(stream)
        buffer, finished = b"", False
        try:
            for chunk in stream.stream(amt=None, decode_content=False):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise ApiException(status=status.get("code") or 500, reason=status.get("reason"),
                                           body=status.get("message"))
                    yield event["type"], event.get("object") or {}
            finished = True
        finally:
            if finished:
                stream.release_conn()  # read to its end: the connection can serve the next request
            else:
                stream.close()  # ended early (an error, or shut down by another thread): drop the connection

    def create(self, obj: Obj) -> Obj:
        """Create `obj`; raise NotFound when its namespace does not exist."""
        meta = obj["metadata"]
        try:
            return self._call("POST", _path(obj["apiVersion"], obj["kind"], meta.get("namespace")), body=obj)
        except ApiException as exc:
            if exc.status == 404:
                raise NotFound(f"namespace {meta.get('namespace')} not found") from exc
            raise

    def replace(self, obj: Obj) -> Obj:
        """Replace `obj` (its metadata.resourceVersion guards against lost updates)."""
        meta = obj["metadata"]
        return self._call("PUT", _path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"]),
                          body=obj)

    def patch(self, api_version: str, kind: str, name: str, patch: Obj, *, namespace: str | None = None,
              status: bool = False) -> Obj:
        """Apply a JSON merge patch to an object or its status subresource."""
        path = _path(api_version, kind, namespace, name, "status" if status else None)
        return self._call("PATCH", path, body=patch, content_type="application/merge-patch+json")

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete an object in the background; return False when it was already gone."""
        try:
            self._call("DELETE", _path(api_version, kind, namespace, name),
                       body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
            return True
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise


def ensure(kube: Kube, desired: Obj, *, probably_absent: bool = False) -> str:
    """Make one object match `desired`; return "created", "updated" or "unchanged".

    Idempotent and restart-safe: the hash annotation says whether the live object already
    holds what is wanted, so an unchanged object is never written and nothing is created twice.
    A live object whose owner annotation differs from the desired one raises Conflict: the
    operator changes only what it made for the same sandbox.
    `probably_absent` (its namespace was created a moment ago) tries the create first and reads
    the object only when the create answers 409, saving a GET per object on a new sandbox.
    """
    obj = json.loads(json.dumps(desired))
    digest = config_hash(obj)
    obj["metadata"].setdefault("annotations", {})[ANNOTATION_HASH] = digest
    meta = obj["metadata"]
    key = (obj["apiVersion"], obj["kind"])
    live = None if probably_absent else kube.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
    if live is None:
        try:
            kube.create(obj)
            return "created"
        except ApiException as exc:
            if exc.status != 409:
                raise
            live = kube.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            if live is None:
                raise
    live_annotations = live.get("metadata", {}).get("annotations") or {}
    owner = meta["annotations"].get(ANNOTATION_OWNER)
    if owner is not None and live_annotations.get(ANNOTATION_OWNER) != owner:
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        raise Conflict(f"{obj['kind']} {where}{meta['name']} exists and was not made for sandbox {owner}; it is "
                       "never adopted, changed or deleted: delete or rename it, or rename the SandboxEnvironment")
    if key in CREATE_ONLY:
        return "unchanged"
    if live_annotations.get(ANNOTATION_HASH) == digest:
        return "unchanged"
    if key in RECREATE:
        kube.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        for _ in range(20):  # background deletion of the object itself takes moments
            if kube.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")) is None:
                obj["metadata"].pop("resourceVersion", None)
                kube.create(obj)
                return "updated"
            time.sleep(0.25)
        raise Recreating(f"{obj['kind']} {meta['name']} changed and is being re-created")
    meta["resourceVersion"] = live["metadata"].get("resourceVersion")
    if obj["kind"] == "Service":
        # The apiserver allocated these; a replace must carry them or it is refused.
        for field in ("clusterIP", "clusterIPs"):
            if field in (live.get("spec") or {}):
                obj["spec"][field] = live["spec"][field]
    if obj["kind"] == "Namespace":
        # A namespace's spec holds only server-managed finalizers: patch labels/annotations.
        kube.patch("v1", "Namespace", meta["name"], {"metadata": {
            "labels": meta.get("labels"), "annotations": meta.get("annotations")}})
        return "updated"
    for _ in range(REPLACE_ATTEMPTS - 1):
        try:
            kube.replace(obj)
            return "updated"
        except ApiException as exc:
            if exc.status != 409:
                raise
            # Another writer (a controller updating the status, at times several times in a
            # row) came between the read and the replace. The desired object is whole, so it is
            # replaced again over the version stored now, after the same ownership check.
            live = kube.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
            if live is None or (live.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_OWNER) != owner:
                raise
            meta["resourceVersion"] = live["metadata"].get("resourceVersion")
    kube.replace(obj)  # the last attempt: a 409 now goes to the handler, which retries later
    return "updated"
