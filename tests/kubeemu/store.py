"""Keep the emulated cluster's objects in memory with the apiserver's write semantics.

The HTTP app (``app.py``) calls one method per request; tests may read through
``objects()``. Every write goes through ``_put``/``_drop``, which assign the
global resourceVersion, maintain the indexes (uid, owners, namespace members)
and record the watch event. What is reproduced: server-filled metadata,
generation on spec changes, optimistic concurrency, the status subresource kept
apart, finalizers and deletionTimestamp, namespace termination, ownerReference
garbage collection and a bounded watch history (see docs/emulator.md).

Stored objects are never mutated in place (a write stores a new dict), so a
stored object can be serialised or kept in the history without copying.
All methods take one re-entrant lock, so tests may call them from any thread.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import dataclasses
import datetime
import base64
import ipaddress
import json
import random
import re
import threading
import uuid
from typing import Any

from .catalog import Catalog, CrdError, ResourceType, crd_schemas, resource_type_from_crd
from .errors import ApiError, FieldError, conflict, details, invalid, invalid_fields, not_found, qualified
from .immutability import immutable_changes
from .patches import apply_patch, patch_media_type
from .workloads import WorkloadSimulator

ObjKey = tuple[tuple[str, str], str, str]  # ((group, plural), namespace or "", name)
NAMESPACES = ("", "namespaces")
CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
FOREGROUND = "foregroundDeletion"
ROOT_CA_DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
                       "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
                       "guaranteed across distributions of Kubernetes clusters.")
#: The emulator has no TLS and no CA: the root CA ConfigMap holds a placeholder, not a certificate.
ROOT_CA = "-----BEGIN CERTIFICATE-----\nkubeemu serves plain HTTP and has no CA\n-----END CERTIFICATE-----\n"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclasses.dataclass(frozen=True)
class WatchEvent:
    """One change as watchers see it; `old` is the previous state of a MODIFIED object."""

    rv: int
    type: str
    key: ObjKey
    obj: dict[str, Any]
    old: dict[str, Any] | None = None


@dataclasses.dataclass(eq=False)
class Subscription:
    """A live watch: events of one resource type are pushed to its queue on its event loop."""

    rtkey: tuple[str, str]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue = dataclasses.field(default_factory=asyncio.Queue)

    def push(self, event: WatchEvent | None) -> None:
        """Deliver an event (None closes the stream) from whichever thread wrote."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except RuntimeError:  # the loop is closed: the watch is already over
            pass


def now_timestamp() -> str:
    """Return the current time as the apiserver writes timestamps (RFC 3339, seconds, UTC)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_part(obj: dict[str, Any], rtype: ResourceType) -> dict[str, Any]:
    """Return the fields whose change bumps metadata.generation."""
    ignored = {"metadata", "apiVersion", "kind"} | ({"status"} if rtype.has_status else set())
    return {k: v for k, v in obj.items() if k not in ignored}


_SUBDOMAIN_RULE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                   "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
_DNS_LABEL_RULE = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                   "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                   "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
_NAME_PART_RULE = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                   "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                   "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_LABEL_VALUE_RULE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                     "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                     "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
#: Kinds whose names are DNS labels (the rest are DNS subdomains), as kube-apiserver 1.36 validates them.
_LABEL_NAMED = {NAMESPACES, ("", "services")}
#: Kinds whose objects carry metadata.generation in kube-apiserver 1.36 (custom resources always do).
GENERATION_KINDS = {("", "pods"), ("apps", "deployments"), ("batch", "jobs"), ("networking.k8s.io", "networkpolicies"),
                    CRDS}


def has_generation(rtype: ResourceType) -> bool:
    """Tell whether objects of a type carry metadata.generation (ConfigMaps, Secrets, Namespaces ... do not)."""
    return rtype.custom or rtype.key in GENERATION_KINDS


def _quoted(value: Any) -> str:
    """Return a value as Go's field errors print it (JSON, no spaces)."""
    return json.dumps(value, separators=(",", ":"))


def _name_errors(rtype: ResourceType, name: str) -> list[FieldError]:
    """Return what kube-apiserver says about a name that is not a DNS subdomain (or label)."""
    def bad(problem: str) -> FieldError:
        return FieldError("metadata.name", f"Invalid value: {_quoted(name)}: {problem}")

    if rtype.key == ("", "services") and "." in name:
        return [bad("must not contain dots")]
    if rtype.key in _LABEL_NAMED:
        return ([bad("must be no more than 63 characters")] if len(name) > 63 else []) + (
            [] if _DNS_LABEL.match(name) else [bad(_DNS_LABEL_RULE)])
    return ([bad("must be no more than 253 characters")] if len(name) > 253 else []) + (
        [] if _DNS_SUBDOMAIN.match(name) else [bad(_SUBDOMAIN_RULE)])


def _label_errors(labels: dict[str, str]) -> list[FieldError]:
    """Return what kube-apiserver says about invalid label keys and values."""
    found = []
    for key, value in labels.items():
        prefix, slash, label_name = key.rpartition("/")
        problems = []
        if not label_name:
            problems.append("name part must be non-empty")
        elif len(label_name) > 63:
            problems.append("name part must be no more than 63 bytes")
        if label_name and not _LABEL_NAME.match(label_name):
            problems.append(_NAME_PART_RULE)
        if slash and not _DNS_SUBDOMAIN.match(prefix):
            problems.append(f"prefix part {_SUBDOMAIN_RULE}")
        found += [FieldError("metadata.labels", f"Invalid value: {_quoted(key)}: {p}") for p in problems]
        if len(value) > 63:
            found.append(FieldError("metadata.labels", f"Invalid value: {_quoted(value)}: must be no more than 63 bytes"))
        if value and not _LABEL_NAME.match(value):
            found.append(FieldError("metadata.labels", f"Invalid value: {_quoted(value)}: {_LABEL_VALUE_RULE}"))
    return found


def _check_string_maps(rtype: ResourceType, obj: dict[str, Any], version: str | None) -> None:
    """Refuse non-string labels or annotations as kube-apiserver's decoder does (400, not 422)."""
    meta = obj["metadata"]
    for field in ("labels", "annotations"):
        values = meta.get(field)
        if values is None:
            continue
        wrong = values if not isinstance(values, dict) else next(
            (v for v in values.values() if not isinstance(v, str)), None)
        if wrong is not None or not isinstance(values, dict):
            json_type = {bool: "bool", int: "number", float: "number", list: "array", dict: "object"}.get(
                type(wrong), "value")
            where = f"ObjectMeta.metadata.{field}" if not rtype.custom else f"ObjectMeta.{field}"
            target = "map[string]string" if not isinstance(values, dict) else "string"
            version = version or rtype.versions[0]
            api = f"{rtype.group}/{version}" if rtype.group and not rtype.custom else version
            raise ApiError(400, "BadRequest", f'{rtype.kind} in version "{api}" cannot be handled as a {rtype.kind}: '
                           f"json: cannot unmarshal {json_type} into Go struct field {where} of type {target}")


def _event_errors(event: dict[str, Any]) -> list[FieldError]:
    """Return what kube-apiserver says about a core/v1 Event (its legacy and eventTime rules)."""
    namespace = event["metadata"].get("namespace", "")
    involved = (event.get("involvedObject") or {}).get("namespace") or ""
    mismatch = FieldError("involvedObject.namespace", f"Invalid value: {_quoted(involved)}: does not match event.namespace")
    if not event.get("eventTime"):
        return [mismatch] if (involved and involved != namespace) or (
            not involved and namespace not in ("", "default")) else []
    errors = [mismatch] if not involved and namespace not in ("default", "kube-system") else []
    component = event.get("reportingComponent") or ""
    if not component:
        errors += [FieldError("reportingComponent", "Required value"),
                   FieldError("reportingComponent", 'Invalid value: "": name part must be non-empty')]
    if not _LABEL_NAME.match(component.rpartition("/")[2]):
        errors.append(FieldError("reportingComponent", f"Invalid value: {_quoted(component)}: {_NAME_PART_RULE}"))
    for field in ("reportingInstance", "action"):
        if not event.get(field):
            errors.append(FieldError(field, "Required value"))
    return errors


def _validate_type(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Refuse what kube-apiserver's validation of a kind refuses, where the emulator checks it (Events)."""
    if rtype.key == ("", "events") and (errors := _event_errors(obj)):
        raise invalid_fields(rtype.kind, rtype.group, obj["metadata"]["name"], errors)


def _validate_metadata(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Refuse names and labels kube-apiserver refuses, with its messages (422 listing every field)."""
    meta = obj["metadata"]
    errors = _name_errors(rtype, meta["name"]) + _label_errors(meta.get("labels") or {})
    if errors:
        raise invalid_fields(rtype.kind, rtype.group, meta["name"], errors)


class Store:
    """The cluster state: objects by type, indexes, the resourceVersion counter and watchers."""

    def __init__(self, catalog: Catalog, history_size: int = 5000) -> None:
        self.catalog = catalog
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = collections.defaultdict(dict)
        self._by_uid: dict[str, ObjKey] = {}
        self._dependents: dict[str, set[ObjKey]] = collections.defaultdict(set)
        self._members: dict[str, set[ObjKey]] = collections.defaultdict(set)
        self._rv = 0
        self._history: collections.deque[WatchEvent] = collections.deque(maxlen=history_size)
        self._history_floor = 0  # the newest resourceVersion that fell out of the history
        # The resourceVersion at which a type's watch cache starts: a CRD's, when it was registered.
        # kube-apiserver answers 410 to a watch from before that (its cache began with a list there).
        self._type_floor: dict[tuple[str, str], int] = {}
        self._subscriptions: dict[tuple[str, str], set[Subscription]] = collections.defaultdict(set)
        self._closing = False
        self._retiring_types: set[tuple[str, str]] = set()  # CRDs deleted while instances remain
        self._next_cluster_ip = 10
        self.workloads = WorkloadSimulator()
        self.enforce_crd_schemas = False  # prune, default and validate custom resources (see schemas.py)
        for name in INITIAL_NAMESPACES:
            self.create(self.catalog.by_key(NAMESPACES), None, {"metadata": {"name": name}})

    # ----- reads -------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        """Return the current (newest) resourceVersion of the whole store."""
        return str(self._rv)

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """Return a stored object or raise 404."""
        obj = self._objects[rtype.key].get((namespace or "", name))
        if obj is None:
            raise not_found(rtype.plural, rtype.group, name)
        return obj

    def list(self, rtype: ResourceType, namespace: str | None) -> tuple[list[dict[str, Any]], str]:
        """Return the objects of a type (in one namespace, or all) sorted like etcd, and the list's version."""
        with self._lock:
            items = [obj for (ns, _), obj in self._objects[rtype.key].items() if namespace is None or ns == namespace]
            return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])), str(self._rv)

    def objects(self, types: set[tuple[str, str]] | None = None, namespace: str | None = None,
                ) -> list[dict[str, Any]]:
        """Return copies of stored objects, optionally only of some (group, plural) types or one namespace."""
        with self._lock:
            return copy.deepcopy([obj for rtkey, by_name in self._objects.items() if types is None or rtkey in types
                                  for (ns, _), obj in by_name.items() if namespace is None or ns == namespace])

    # ----- watches -----------------------------------------------------------------------------

    def subscribe(self, rtype: ResourceType, since: str | None, loop: asyncio.AbstractEventLoop,
                  ) -> tuple[Subscription, list[WatchEvent]]:
        """Start a watch; return it with the events it must replay first (or raise 410 Gone)."""
        with self._lock:
            if since in (None, "", "0"):
                backlog = [WatchEvent(int(o["metadata"]["resourceVersion"]), "ADDED", (rtype.key, "", ""), o)
                           for o in self.list(rtype, None)[0]]
            else:
                try:
                    since_rv = int(since)
                except ValueError:
                    raise ApiError(400, "BadRequest", f"invalid resourceVersion {since!r}: it must be a number")
                floor = max(self._history_floor, self._type_floor.get(rtype.key, 0))
                if since_rv < floor:
                    raise ApiError(410, "Expired", f"too old resource version: {since_rv} ({floor})")
                backlog = [e for e in self._history if e.rv > since_rv and e.key[0] == rtype.key]
            subscription = Subscription(rtype.key, loop)
            self._subscriptions[rtype.key].add(subscription)
            if self._closing:
                subscription.push(None)  # the server is stopping: end this stream after its backlog
            return subscription, backlog

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering events to a watch."""
        with self._lock:
            self._subscriptions[subscription.rtkey].discard(subscription)

    def close_watches(self) -> None:
        """End every open watch stream, and any opened from now on (the server is stopping)."""
        with self._lock:
            self._closing = True
            for subscriptions in self._subscriptions.values():
                for subscription in subscriptions:
                    subscription.push(None)

    # ----- writes: the single place where state changes ------------------------------------------

    def _emit(self, event_type: str, key: ObjKey, obj: dict[str, Any], old: dict[str, Any] | None = None) -> None:
        if len(self._history) == self._history.maxlen:
            self._history_floor = self._history[0].rv
        event = WatchEvent(self._rv, event_type, key, obj, old)
        self._history.append(event)
        for subscription in self._subscriptions.get(key[0], ()):
            subscription.push(event)

    def _put(self, rtype: ResourceType, new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        """Store a created or updated object under a new resourceVersion and tell the watchers."""
        meta = new["metadata"]
        key: ObjKey = (rtype.key, meta.get("namespace", ""), meta["name"])
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        self._objects[rtype.key][key[1:]] = new
        self._by_uid[meta["uid"]] = key
        for ref in (old or {}).get("metadata", {}).get("ownerReferences") or ():
            self._forget_dependent(ref, key)
        for ref in meta.get("ownerReferences") or ():
            self._dependents[ref.get("uid", "")].add(key)
        if key[1]:
            self._members[key[1]].add(key)
        self._emit("MODIFIED" if old else "ADDED", key, new, old)
        return new

    def _forget_dependent(self, ref: dict[str, Any], key: ObjKey) -> None:
        dependents = self._dependents.get(ref.get("uid", ""))
        if dependents is not None:
            dependents.discard(key)
            if not dependents:
                del self._dependents[ref.get("uid", "")]

    def _drop(self, rtype: ResourceType, obj: dict[str, Any], answer: dict[str, Any] | None = None) -> dict[str, Any]:
        """Remove an object for good, tell the watchers, then collect what depended on it.

        Returns the object as deleted (or `answer` with the deletion's resourceVersion, when an
        update emptied the finalizers: the apiserver answers with the updated object)."""
        meta = obj["metadata"]
        key: ObjKey = (rtype.key, meta.get("namespace", ""), meta["name"])
        stored = self._objects[rtype.key].pop(key[1:])
        self._by_uid.pop(meta["uid"], None)
        owner_refs = [*(meta.get("ownerReferences") or ()), *(stored["metadata"].get("ownerReferences") or ())]
        for ref in owner_refs:
            self._forget_dependent(ref, key)
        self._rv += 1
        deleted_rv = str(self._rv)
        final = {**obj, "metadata": {**meta, "resourceVersion": deleted_rv}}
        self._emit("DELETED", key, final)
        if key[1]:
            self._members[key[1]].discard(key)
            self._finish_namespace_if_empty(key[1])
        if rtype.key == CRDS:
            self._retire_crd(obj)
        if rtype.key in self._retiring_types and not self._objects[rtype.key]:
            self._retiring_types.discard(rtype.key)
            self.catalog.unregister(rtype.key)
        for dependent in sorted(self._dependents.pop(meta["uid"], set())):
            self._collect_garbage(dependent)
        for uid in {ref.get("uid", "") for ref in owner_refs}:
            self._release_foreground(uid)  # an owner deleted in the foreground may wait for this one
        if answer is not None:
            return {**answer, "metadata": {**answer["metadata"], "resourceVersion": deleted_rv}}
        return final

    # ----- create ------------------------------------------------------------------------------

    def create(self, rtype: ResourceType, namespace: str | None, body: Any, version: str | None = None,
               ) -> dict[str, Any]:
        """Create an object as POST does: fill server metadata, refuse duplicates and missing namespaces."""
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        with self._lock:
            obj = copy.deepcopy(body)
            meta = obj.setdefault("metadata", {})
            if not isinstance(meta, dict):
                raise ApiError(400, "BadRequest", "metadata must be an object")
            namespace = self._check_namespace(rtype, namespace, meta)
            if not meta.get("name"):
                if not meta.get("generateName"):
                    raise invalid(rtype.kind, rtype.group, "", "metadata.name", "Required value: name or generateName is required")
                suffix = "".join(random.choices(_GENERATE_ALPHABET, k=5))
                meta["name"] = meta["generateName"] + suffix
            if (namespace or "", meta["name"]) in self._objects[rtype.key]:
                raise ApiError(409, "AlreadyExists", f'{qualified(rtype.plural, rtype.group)} "{meta["name"]}" already exists',
                               details(meta["name"], rtype.group, rtype.plural))
            obj["apiVersion"], obj["kind"] = rtype.api_version(version), rtype.kind
            for server_field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
                meta.pop(server_field, None)
            meta.pop("generation", None)
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_timestamp())
            if has_generation(rtype):
                meta["generation"] = 1
            if rtype.has_status:  # the status subresource is the only way to write status
                obj.pop("status", None)
                if not rtype.custom:
                    obj["status"] = {"loadBalancer": {}} if rtype.key == ("", "services") else {}
            _check_string_maps(rtype, obj, version)
            self._apply_type_rules(rtype, obj, None)
            _validate_metadata(rtype, obj)
            _validate_type(rtype, obj)
            obj = self._conform(rtype, obj)
            created = self._put(rtype, obj, None)
            self._after_write(rtype, (rtype.key, namespace or "", meta["name"]), announce=True)
            if rtype.key == NAMESPACES:
                self._furnish_namespace(meta["name"])
            return created

    def _furnish_namespace(self, name: str) -> None:
        """Create what kube-controller-manager puts in every new namespace: the root CA ConfigMap
        (root-ca-cert-publisher) and the `default` ServiceAccount (serviceaccount controller)."""
        for plural, body in (("configmaps", {"metadata": {"name": "kube-root-ca.crt", "annotations": {
                                 "kubernetes.io/description": ROOT_CA_DESCRIPTION}}, "data": {"ca.crt": ROOT_CA}}),
                             ("serviceaccounts", {"metadata": {"name": "default"}})):
            rtype = self.catalog.by_key(("", plural))
            if rtype is not None and (name, body["metadata"]["name"]) not in self._objects[rtype.key]:
                self.create(rtype, name, body)

    def _check_namespace(self, rtype: ResourceType, namespace: str | None, meta: dict[str, Any]) -> str | None:
        """Return the namespace an object goes into; 404 if it is missing, 403 if it is terminating."""
        if not rtype.namespaced:
            meta.pop("namespace", None)
            return None
        if meta.get("namespace") and namespace and meta["namespace"] != namespace:
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                           "sent on the request")
        namespace = namespace or meta.get("namespace")
        if not namespace:
            raise ApiError(400, "BadRequest", "a namespace is required: POST to /api(s)/.../namespaces/NS/PLURAL")
        meta["namespace"] = namespace
        ns_obj = self._objects[NAMESPACES].get(("", namespace))
        if ns_obj is None:
            raise not_found("namespaces", "", namespace)
        if ns_obj["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f'{qualified(rtype.plural, rtype.group)} "{meta.get("name") or meta.get("generateName", "")}" '
                           f"is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                           details(meta.get("name", ""), rtype.group, rtype.plural, causes=[
                               {"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated",
                                "field": "metadata.namespace"}]))
        return namespace

    def _conform(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Return a custom object pruned, defaulted and validated by its CRD's schema (422 if invalid)."""
        version = obj["apiVersion"].rpartition("/")[2]
        schema = self.catalog.schema(rtype.key, version) if rtype.custom and self.enforce_crd_schemas else None
        return obj if schema is None else schema.conform(obj, rtype.group)

    def _apply_type_rules(self, rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        """Fill what the apiserver fills for particular kinds (namespaces, secrets, services, CRDs)."""
        meta = obj["metadata"]
        if rtype.key == NAMESPACES:
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            if old is None:
                obj["status"] = {"phase": "Active"}
        elif rtype.key == ("", "secrets"):
            obj.setdefault("type", "Opaque")
            if "stringData" in obj:
                data = obj.setdefault("data", {}) or {}
                for k, v in (obj.pop("stringData") or {}).items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
                obj["data"] = data
        elif rtype.key == ("", "services"):
            spec = obj.setdefault("spec", {})
            previous_ip = ((old or {}).get("spec") or {}).get("clusterIP")
            if spec.get("type") != "ExternalName" and not spec.get("clusterIP"):
                if previous_ip:
                    spec["clusterIP"] = previous_ip
                else:
                    spec["clusterIP"] = str(ipaddress.ip_address("10.96.0.0") + self._next_cluster_ip)
                    self._next_cluster_ip += 1
                spec["clusterIPs"] = [spec["clusterIP"]]
        elif rtype.key == ("batch", "jobs") and old is None:
            self._generate_job_selector(obj)
        elif rtype.key == CRDS:
            try:
                crd_type = resource_type_from_crd(obj)
            except CrdError as exc:
                raise invalid(rtype.kind, rtype.group, meta.get("name", ""), "spec", f"Invalid value: {exc}")
            if meta["name"] != f"{crd_type.plural}.{crd_type.group}":
                raise invalid(rtype.kind, rtype.group, meta["name"], "metadata.name",
                              f'Invalid value: "{meta["name"]}": must be spec.names.plural+"."+spec.group')
            if old is None:
                names = obj["spec"]["names"]
                obj["status"] = {"acceptedNames": names, "storedVersions": list(crd_type.versions[:1]),
                                 "conditions": [{"type": t, "status": "True", "reason": r, "lastTransitionTime": now_timestamp()}
                                                for t, r in (("NamesAccepted", "NoConflicts"), ("Established", "InitialNamesAccepted"))]}
            try:
                schemas = crd_schemas(obj)
            except CrdError as exc:
                raise invalid(rtype.kind, rtype.group, meta["name"], "spec.versions[].schema.openAPIV3Schema",
                              f"Invalid value: {exc}")
            self._retiring_types.discard(crd_type.key)
            if self.catalog.by_key(crd_type.key) is None:
                self._type_floor[crd_type.key] = self._rv
            self.catalog.register(crd_type, schemas)

    @staticmethod
    def _generate_job_selector(job: dict[str, Any]) -> None:
        """Give a new Job the selector and pod labels kube-apiserver generates (unless manualSelector),
        and the pod template's labels as its own when it has none."""
        meta, spec = job["metadata"], job.setdefault("spec", {})
        template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
        if not spec.get("manualSelector") and "selector" not in spec:
            uid = meta["uid"]
            template_meta["labels"] = {**(template_meta.get("labels") or {}),
                                       "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": meta["name"],
                                       "controller-uid": uid, "job-name": meta["name"]}
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        if not meta.get("labels") and template_meta.get("labels"):
            meta["labels"] = dict(template_meta["labels"])

    # ----- update, patch -----------------------------------------------------------------------

    def replace(self, rtype: ResourceType, namespace: str | None, name: str, body: Any,
                subresource: str | None = None, version: str | None = None) -> dict[str, Any]:
        """Replace an object as PUT does (409 on a stale metadata.resourceVersion)."""
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise ApiError(400, "BadRequest", f"the name of the object ({body_name}) does not match the name on the URL ({name})")
        if rtype.custom and not (body.get("metadata") or {}).get("resourceVersion"):
            raise invalid(rtype.plural, rtype.group, name, "metadata.resourceVersion",
                          "Invalid value: 0: must be specified for an update")
        return self._update(rtype, namespace, name, lambda current: copy.deepcopy(body), subresource, version)

    def patch(self, rtype: ResourceType, namespace: str | None, name: str, content_type: str, body: Any,
              subresource: str | None = None, version: str | None = None) -> dict[str, Any]:
        """Patch an object as PATCH does (merge, JSON or strategic merge patch)."""
        patch_media_type(content_type, rtype.custom)  # an unaccepted type is 415 even for a missing object
        return self._update(rtype, namespace, name, lambda current: apply_patch(content_type, current, body, rtype.custom),
                            subresource, version)

    def _update(self, rtype: ResourceType, namespace: str | None, name: str, change, subresource: str | None,
                version: str | None) -> dict[str, Any]:
        if subresource not in (None, "status") or (subresource == "status" and not rtype.has_status):
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({subresource} of {rtype.plural})")
        with self._lock:
            old = self.get(rtype, namespace, name)
            # A deep copy: merge patches share untouched subtrees with their target, and the stored
            # object (also held by the watch history) must never change in place.
            current = copy.deepcopy({**old, "apiVersion": rtype.api_version(version)})
            candidate = change(current)
            if not isinstance(candidate, dict) or not isinstance(candidate.get("metadata", {}), dict):
                raise ApiError(400, "BadRequest", "the result of the request is not an object with metadata")
            sent_rv = (candidate.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != old["metadata"]["resourceVersion"]:
                raise conflict(rtype.plural, rtype.group, name, "the object has been modified; please apply your "
                               "changes to the latest version and try again")
            new = self._conform(rtype, self._merge_allowed(rtype, old, candidate, subresource))
            if subresource is None and (errors := immutable_changes(rtype.key, old, new)):
                raise invalid_fields(rtype.kind, rtype.group, name, errors)
            if new == old:
                return old  # a no-op write changes nothing, like the apiserver: no new version, no event
            if has_generation(rtype) and _spec_part(new, rtype) != _spec_part(old, rtype):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            meta = new["metadata"]
            if old["metadata"].get("deletionTimestamp"):
                added = sorted(set(meta.get("finalizers") or ()) - set(old["metadata"].get("finalizers") or ()))
                if added:
                    # kube-apiserver reports this twice (object meta and update validation both check it).
                    found = ", ".join(json.dumps(f) for f in added)
                    error = FieldError("metadata.finalizers", "Forbidden: no new finalizers can be added if the object "
                                       f"is being deleted, found new finalizers []string{{{found}}}")
                    raise invalid_fields(rtype.kind, rtype.group, name, [error, error])
                if not meta.get("finalizers"):
                    # The update is not stored: the stored object is deleted (its DELETED event shows it as
                    # it was); the answer is the object as the update made it.
                    return self._drop(rtype, old, answer=new)
            updated = self._put(rtype, new, old)
            if subresource is None:
                self._after_write(rtype, (rtype.key, namespace or "", name))
            return self._objects[rtype.key].get((namespace or "", name), updated)

    def _merge_allowed(self, rtype: ResourceType, old: dict[str, Any], candidate: dict[str, Any],
                       subresource: str | None) -> dict[str, Any]:
        """Return the new object: only status through /status, everything but status otherwise."""
        if subresource == "status":
            new = copy.deepcopy(old)
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
            return new
        new = candidate
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        if rtype.has_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        meta = new.setdefault("metadata", {})
        for fixed in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "generation", "resourceVersion"):
            if fixed in old["metadata"]:
                meta[fixed] = old["metadata"][fixed]
            else:
                meta.pop(fixed, None)
        _check_string_maps(rtype, new, None)
        self._apply_type_rules(rtype, new, old)
        _validate_metadata(rtype, new)
        _validate_type(rtype, new)
        return new

    # ----- delete, finalizers, namespaces, garbage collection ----------------------------------

    def delete(self, rtype: ResourceType, namespace: str | None, name: str, options: Any = None) -> dict[str, Any]:
        """Delete an object as DELETE does; with finalizers it only gets a deletionTimestamp."""
        options = options if isinstance(options, dict) else {}
        with self._lock:
            obj = self.get(rtype, namespace, name)
            preconditions = options.get("preconditions") or {}
            for field in ("uid", "resourceVersion"):
                if preconditions.get(field) and preconditions[field] != obj["metadata"].get(field):
                    label, hint = {"uid": ("UID", "deleted and then recreated"),
                                   "resourceVersion": ("ResourceVersion", "modified")}[field]
                    raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified(rtype.kind, rtype.group)} '
                                   f'"{name}": the {label} in the precondition ({preconditions[field]}) does not match '
                                   f'the {label} in record ({obj["metadata"].get(field)}). The object might have been '
                                   f"{hint}", details(name, rtype.group, rtype.kind))
            policy = options.get("propagationPolicy")
            if policy == "Orphan":
                self._orphan_dependents(obj["metadata"]["uid"])
            if policy == "Foreground" and rtype.key != NAMESPACES:
                return self._delete_foreground(rtype, obj)
            return self._delete(rtype, obj)

    def _delete_foreground(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Delete in the foreground, as the garbage collector does: the owner gets a deletionTimestamp
        and the `foregroundDeletion` finalizer, its dependents are deleted, and the owner goes once no
        dependent with `blockOwnerDeletion: true` is left. Returns the owner as the DELETE answers it."""
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return obj
        new = copy.deepcopy(obj)
        new["metadata"].update(deletionTimestamp=now_timestamp(), deletionGracePeriodSeconds=0,
                               finalizers=[*(meta.get("finalizers") or []), FOREGROUND])
        if has_generation(rtype):
            new["metadata"]["generation"] = meta.get("generation", 1) + 1
        answer = self._put(rtype, new, obj)
        for key in sorted(self._dependents.get(meta["uid"], set())):
            dependent, dependent_type = self._objects[key[0]].get(key[1:]), self.catalog.by_key(key[0])
            if dependent is None or dependent_type is None:
                continue
            if self._dependents.get(dependent["metadata"]["uid"]):
                self._delete_foreground(dependent_type, dependent)
            else:
                self._delete(dependent_type, dependent)
        self._release_foreground(meta["uid"])
        return answer

    def _release_foreground(self, uid: str) -> None:
        """Remove an owner's `foregroundDeletion` finalizer once it has no blocking dependent left."""
        key = self._by_uid.get(uid)
        owner = self._objects[key[0]].get(key[1:]) if key is not None else None
        if owner is None or FOREGROUND not in (owner["metadata"].get("finalizers") or ()):
            return
        for dep_key in self._dependents.get(uid, set()):
            dependent = self._objects[dep_key[0]].get(dep_key[1:])
            refs = (dependent or {}).get("metadata", {}).get("ownerReferences") or []
            if any(r.get("uid") == uid and r.get("blockOwnerDeletion") for r in refs):
                return
        rtype = self.catalog.by_key(key[0])
        new = copy.deepcopy(owner)
        new["metadata"]["finalizers"] = [f for f in owner["metadata"]["finalizers"] if f != FOREGROUND]
        if not new["metadata"]["finalizers"]:
            self._drop(rtype, owner)
        else:
            self._put(rtype, new, owner)

    def _delete(self, rtype: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            return obj
        if rtype.key == NAMESPACES:
            return self._terminate_namespace(obj)
        if not meta.get("finalizers"):
            return self._drop(rtype, obj)
        new = copy.deepcopy(obj)
        new["metadata"].update(deletionTimestamp=now_timestamp(), deletionGracePeriodSeconds=0)
        if has_generation(rtype):
            new["metadata"]["generation"] = meta.get("generation", 1) + 1
        return self._put(rtype, new, obj)

    def _terminate_namespace(self, ns_obj: dict[str, Any]) -> dict[str, Any]:
        """Mark a namespace Terminating, delete what is in it, and remove it once it is empty."""
        name = ns_obj["metadata"]["name"]
        new = copy.deepcopy(ns_obj)
        new["metadata"].update(deletionTimestamp=now_timestamp(), deletionGracePeriodSeconds=0)
        new["status"] = {**(new.get("status") or {}), "phase": "Terminating"}
        terminating = self._put(self.catalog.by_key(NAMESPACES), new, ns_obj)
        for key in sorted(self._members.get(name, set())):
            member_type = self.catalog.by_key(key[0])
            member = self._objects[key[0]].get(key[1:])
            if member is not None and member_type is not None:
                self._delete(member_type, member)
        self._finish_namespace_if_empty(name)
        return terminating

    def _finish_namespace_if_empty(self, name: str) -> None:
        ns_obj = self._objects[NAMESPACES].get(("", name))
        if (ns_obj is None or not ns_obj["metadata"].get("deletionTimestamp") or self._members.get(name)
                or ns_obj["metadata"].get("finalizers")):
            return
        self._members.pop(name, None)
        self._drop(self.catalog.by_key(NAMESPACES), ns_obj)

    def _retire_crd(self, crd: dict[str, Any]) -> None:
        """Delete a removed CRD's objects; the type is served until the last one is gone."""
        try:
            crd_type = resource_type_from_crd(crd)
        except CrdError:
            return
        instances = list(self._objects[crd_type.key].values())
        if not instances:
            self.catalog.unregister(crd_type.key)
            return
        self._retiring_types.add(crd_type.key)
        for obj in instances:
            self._delete(crd_type, obj)

    def _after_write(self, rtype: ResourceType, key: ObjKey, announce: bool = False) -> None:
        """React to a write of an object's main resource as the cluster's controllers would."""
        self._collect_garbage(key, announce)
        obj = self._objects[rtype.key].get(key[1:])
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        status = self.workloads.status_for(rtype.key, obj)
        if status is not None and status != obj.get("status"):
            self._put(rtype, {**copy.deepcopy(obj), "status": status}, obj)

    def _owner_state(self, dependent: ObjKey, ref: dict[str, Any]) -> str:
        """Tell how the garbage collector sees an ownerReference: "live", "absent" or "unresolvable".

        As in Kubernetes 1.20+: a namespaced owner must be in the dependent's namespace (otherwise
        it counts as absent), and a cluster-scoped dependent cannot have a namespaced owner (such a
        reference can never be resolved, so it never causes a deletion).
        """
        owner = self._by_uid.get(ref.get("uid", ""))
        group = (ref.get("apiVersion") or "").rpartition("/")[0]
        kinds = [t for t in self.catalog.by_kind(ref.get("kind") or "") if t.group == group]
        namespaced = bool(owner[1]) if owner is not None else (kinds[0].namespaced if kinds else None)
        if namespaced is None or (namespaced and not dependent[1]):
            return "unresolvable"
        if owner is None or (owner[1] and owner[1] != dependent[1]):
            return "absent"
        return "live"

    def _collect_garbage(self, key: ObjKey, announce: bool = False) -> None:
        """Delete a dependent whose owners are all absent; drop absent references if a live one remains."""
        obj = self._objects[key[0]].get(key[1:])
        refs = (obj or {}).get("metadata", {}).get("ownerReferences") or []
        rtype = self.catalog.by_key(key[0])
        if not refs or rtype is None:
            return
        states = [self._owner_state(key, ref) for ref in refs]
        if announce:
            for ref, state in zip(refs, states):
                crossing = state == "unresolvable" or (state == "absent" and ref.get("uid") in self._by_uid)
                if crossing:
                    self._record_event(key, obj, "OwnerRefInvalidNamespace",
                                       f"ownerRef [{ref.get('apiVersion')}/{ref.get('kind')}, namespace: {key[1]}, "
                                       f"name: {ref.get('name')}, uid: {ref.get('uid')}] does not exist in namespace \"{key[1]}\"")
        if "absent" not in states:
            return
        if all(state == "absent" for state in states):
            self._delete(rtype, obj)
        elif "live" in states:
            new = copy.deepcopy(obj)
            new["metadata"]["ownerReferences"] = [r for r, state in zip(refs, states) if state != "absent"]
            self._put(rtype, new, obj)

    def _record_event(self, key: ObjKey, obj: dict[str, Any], reason: str, message: str) -> None:
        """Post a Warning Event about an object, as a controller would (best effort)."""
        meta = obj["metadata"]
        event = {"metadata": {"generateName": f"{meta['name']}."}, "type": "Warning", "reason": reason,
                 "message": message, "source": {"component": "garbage-collector-controller"},
                 "involvedObject": {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"],
                                    "namespace": key[1], "uid": meta["uid"]},
                 "firstTimestamp": now_timestamp(), "lastTimestamp": now_timestamp(), "count": 1}
        try:
            self.create(self.catalog.by_key(("", "events")), key[1] or "default", event)
        except ApiError:
            pass  # e.g. the namespace is terminating: events are auxiliary

    def _orphan_dependents(self, owner_uid: str) -> None:
        """Remove the references to an owner from its dependents (propagationPolicy=Orphan)."""
        for key in sorted(self._dependents.pop(owner_uid, set())):
            obj = self._objects[key[0]].get(key[1:])
            rtype = self.catalog.by_key(key[0])
            if obj is None or rtype is None:
                continue
            new = copy.deepcopy(obj)
            new["metadata"]["ownerReferences"] = [r for r in obj["metadata"].get("ownerReferences") or []
                                                  if r.get("uid") != owner_uid]
            if not new["metadata"]["ownerReferences"]:
                del new["metadata"]["ownerReferences"]
            self._put(rtype, new, obj)
