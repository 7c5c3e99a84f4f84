"""Describe the resource types the emulator serves and answer API discovery from them.

The store and the HTTP app (``app.py``) look resource types up here; the
catalog starts with the built-in kinds a Sandlot operator and kopf use and grows
with every CustomResourceDefinition loaded from YAML or created through the API.
The discovery documents (``/api``, ``/apis``, ``/apis/G/V`` ...) are pure
functions of the catalog.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .schemas import CustomResourceSchema

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SERVER_VERSION = {
    "major": "1",
    "minor": "36",
    "gitVersion": "v1.36.3-kubeemu",
    "gitCommit": "kubeemu",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.26",
    "compiler": "gc",
    "platform": "linux/amd64",
}


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """One served resource: a group, its served versions, a plural and how it is scoped."""

    group: str
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False
    custom: bool = False  # served from a CRD
    verbs: tuple[str, ...] = ALL_VERBS

    @property
    def key(self) -> tuple[str, str]:
        """Return the storage key: objects are stored once per group and plural."""
        return (self.group, self.plural)

    @property
    def qualified_kind(self) -> str:
        """Return how validation messages name the kind: `Deployment.apps`, `ConfigMap` for core."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def api_version(self, version: str | None = None) -> str:
        """Return the apiVersion string for a version (the first served one by default)."""
        version = version or self.versions[0]
        return f"{self.group}/{version}" if self.group else version

    def discovery_entries(self) -> list[dict[str, Any]]:
        """Return the APIResource entries (the resource and its status subresource)."""
        entry = {
            "name": self.plural,
            "singularName": self.singular or self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        entries = [entry]
        if self.has_status:
            entries.append({"name": f"{self.plural}/status", "singularName": "", "namespaced": self.namespaced,
                            "kind": self.kind, "verbs": ["get", "patch", "update"]})
        return entries


def _builtin(group: str, version: str, plural: str, kind: str, namespaced: bool = True,
             short: tuple[str, ...] = (), status: bool = False, categories: tuple[str, ...] = (),
             verbs: tuple[str, ...] = ALL_VERBS) -> ResourceType:
    return ResourceType(group=group, versions=(version,), plural=plural, kind=kind, namespaced=namespaced,
                        singular=kind.lower(), short_names=short, has_status=status, categories=categories,
                        verbs=verbs)


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _builtin("", "v1", "namespaces", "Namespace", namespaced=False, short=("ns",), status=True,
             verbs=tuple(v for v in ALL_VERBS if v != "deletecollection")),
    _builtin("", "v1", "configmaps", "ConfigMap", short=("cm",)),
    _builtin("", "v1", "secrets", "Secret"),
    _builtin("", "v1", "services", "Service", short=("svc",), status=True, categories=("all",)),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",)),
    _builtin("", "v1", "resourcequotas", "ResourceQuota", short=("quota",), status=True),
    _builtin("", "v1", "limitranges", "LimitRange", short=("limits",)),
    _builtin("", "v1", "events", "Event", short=("ev",)),
    _builtin("", "v1", "pods", "Pod", short=("po",), status=True, categories=("all",)),
    _builtin("events.k8s.io", "v1", "events", "Event", short=("ev",)),
    _builtin("apps", "v1", "deployments", "Deployment", short=("deploy",), status=True, categories=("all",)),
    _builtin("batch", "v1", "jobs", "Job", status=True, categories=("all",)),
    _builtin("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short=("netpol",)),
    # Served as the real apiserver serves it (1.33+), but holding no object: the real one's
    # `kubernetes` ServiceCIDR comes from --service-cluster-ip-range, which the emulator has not.
    _builtin("networking.k8s.io", "v1", "servicecidrs", "ServiceCIDR", namespaced=False, status=True),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease"),
    _builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
             namespaced=False, short=("crd", "crds"), status=True, categories=("api-extensions",)),
    # kopf's peering CRDs: kopf.dev is current, zalando.org the legacy group kopf still looks for.
    *(ResourceType(group=group, versions=("v1",), plural=plural, kind=kind, namespaced=namespaced,
                   singular=kind.lower(), custom=True)
      for group in ("kopf.dev", "zalando.org")
      for plural, kind, namespaced in (("kopfpeerings", "KopfPeering", True),
                                       ("clusterkopfpeerings", "ClusterKopfPeering", False))),
)


class CrdError(ValueError):
    """A CustomResourceDefinition document the emulator cannot serve."""


def resource_type_from_crd(crd: dict[str, Any], source: str = "the request") -> ResourceType:
    """Build the ResourceType a CustomResourceDefinition (apiextensions.k8s.io/v1) declares."""
    try:
        spec = crd["spec"]
        names = spec["names"]
        served = [v for v in spec["versions"] if v.get("served", True)]
        plural, kind, group = names["plural"], names["kind"], spec["group"]
    except (KeyError, TypeError) as exc:
        raise CrdError(f"{source}: not an apiextensions.k8s.io/v1 CustomResourceDefinition, missing {exc}; "
                       "it needs spec.group, spec.names.plural/kind, spec.versions") from exc
    if not served:
        raise CrdError(f"{source}: CRD {plural}.{group} serves no version; set served: true on one")
    scope = spec.get("scope", "Namespaced")
    if scope not in ("Namespaced", "Cluster"):
        raise CrdError(f"{source}: spec.scope is {scope!r}; use Namespaced or Cluster")
    # The storage version goes first so that objects are reported with it by default.
    served.sort(key=lambda v: not v.get("storage", False))
    return ResourceType(
        group=group,
        versions=tuple(v["name"] for v in served),
        plural=plural,
        kind=kind,
        namespaced=scope == "Namespaced",
        singular=names.get("singular") or kind.lower(),
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        has_status=any("status" in (v.get("subresources") or {}) for v in served),
        custom=True,
    )


def crd_schemas(crd: dict[str, Any], source: str = "the request") -> dict[str, CustomResourceSchema]:
    """Return the schema of each served version of a CRD that declares one."""
    schemas = {}
    for version in crd["spec"]["versions"]:
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if version.get("served", True) and schema:
            try:
                schemas[version["name"]] = CustomResourceSchema(schema)
            except Exception as exc:  # jsonschema's SchemaError and friends: name the CRD and version
                raise CrdError(f"{source}: the openAPIV3Schema of version {version['name']} is not usable: {exc}") from exc
    return schemas


def read_crd_documents(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Read every CustomResourceDefinition document from YAML files (other kinds are skipped)."""
    crds = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise CrdError(f"CRD file {path} does not exist; pass paths to existing YAML files")
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                resource_type_from_crd(doc, source=str(path))  # fail early, naming the file
                crd_schemas(doc, source=str(path))
                crds.append(doc)
    return crds


class Catalog:
    """Hold the served resource types, indexed for URL lookups; safe to use from several threads."""

    def __init__(self, types: Iterable[ResourceType] = BUILTIN_TYPES) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[tuple[str, str], ResourceType] = {}
        self._schemas: dict[tuple[str, str], dict[str, CustomResourceSchema]] = {}
        for rtype in types:
            self.register(rtype)

    def register(self, rtype: ResourceType, schemas: dict[str, CustomResourceSchema] | None = None) -> None:
        """Serve a resource type (replacing an earlier one with the same group and plural)."""
        with self._lock:
            self._by_key[rtype.key] = rtype
            self._schemas[rtype.key] = schemas or {}

    def unregister(self, key: tuple[str, str]) -> None:
        """Stop serving a resource type."""
        with self._lock:
            self._by_key.pop(key, None)
            self._schemas.pop(key, None)

    def schema(self, key: tuple[str, str], version: str) -> CustomResourceSchema | None:
        """Return the schema custom objects of a type must conform to in a version, if any."""
        return self._schemas.get(key, {}).get(version)

    def by_key(self, key: tuple[str, str]) -> ResourceType | None:
        """Return the type stored under (group, plural), if served."""
        return self._by_key.get(key)

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """Return the type a URL's group, version and plural name, if served."""
        rtype = self._by_key.get((group, plural))
        return rtype if rtype is not None and version in rtype.versions else None

    def by_kind(self, kind: str) -> list[ResourceType]:
        """Return the types whose kind, plural or short name is this (case-insensitive)."""
        wanted = kind.lower()
        return [t for t in list(self._by_key.values())
                if wanted in (t.kind.lower(), t.plural, t.singular, *t.short_names)]

    def group_versions(self) -> dict[str, list[str]]:
        """Return each served group's versions, the preferred (first registered) first."""
        groups: dict[str, list[str]] = {}
        for rtype in list(self._by_key.values()):
            versions = groups.setdefault(rtype.group, [])
            versions.extend(v for v in rtype.versions if v not in versions)
        return groups

    def types(self) -> list[ResourceType]:
        """Return every served type."""
        return list(self._by_key.values())

    def types_in(self, group: str, version: str) -> list[ResourceType]:
        """Return the types served in one group version."""
        return [t for t in list(self._by_key.values()) if t.group == group and version in t.versions]


def api_group(name: str, versions: list[str]) -> dict[str, Any]:
    """Return the APIGroup document of one group."""
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(catalog: Catalog) -> dict[str, Any]:
    """Return the /apis document: every named group."""
    groups = [api_group(name, versions) for name, versions in sorted(catalog.group_versions().items()) if name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(catalog: Catalog, group: str, version: str) -> dict[str, Any] | None:
    """Return the APIResourceList of a group version, or None when nothing is served there."""
    types = catalog.types_in(group, version)
    if not types:
        return None
    resources = [entry for t in sorted(types, key=lambda t: t.plural) for entry in t.discovery_entries()]
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}
