"""Follow each downstream's spec at its source: the reads and reports around reconcile/sync.py.

Called by the handlers (controller/handlers.py) on every reconcile pass: `follow_specs` reads what
every downstream's source holds now (through controller/sources.py, within the tenant's grant,
with the url/s3 validators kept in status) and the version its stub serves (the sandbox's
`openapi-<downstream>` ConfigMap), and lets reconcile/sync.py decide which the stub serves next;
after the objects are written, `report` stages status.specs and the SpecSynced and SpecDrift
conditions, posts the Events and counts the changes.

The stub moves to a new version without a restart: the operator rewrites only the ConfigMap, the
kubelet projects it into the running pod (within its sync period, about a minute by default) and
`sandlot mock` reloads the file in place (http/reload.py), keeping its stateful data.

What starts a pass, besides the handlers' own: `ConfigMapFollower` watches the ConfigMaps that
sandboxes name as sources and wakes those sandboxes; `due` (called by the periodic check) looks
at a woken sandbox's ConfigMaps, polls its url and s3 sources every SANDLOT_SPEC_POLL_SECONDS
with their validators, and notices an acceptance annotation, and says whether a pass must run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from sandlot import metrics
from sandlot.api.v1alpha1 import SandboxEnvironment, SpecSync
from sandlot.controller.admission import TenantInvalid
from sandlot.controller.sources import Latest, SourceError, read_latest
from sandlot.kube import Kube
from sandlot.reconcile import naming
from sandlot.reconcile import sync as decide
from sandlot.reconcile.conditions import set_condition
from sandlot.reconcile.desired import Document, stub_document
from sandlot.reconcile.tenancy import SOURCE_NOT_ALLOWED, check_sources, source_grant

log = logging.getLogger("sandlot.operator")

#: Reads a downstream's source: (source, CR field, etag, last_modified) -> what it holds now.
Reader = Callable[[Any, str, str | None, str | None], Latest]


@dataclass
class Followed:
    """The documents the stubs serve after this pass, and the verdicts to report once they are written."""

    documents: dict[str, Document] = field(default_factory=dict)
    verdicts: dict[str, decide.Verdict] = field(default_factory=dict)


def _previous(raw: Any) -> SpecSync | None:
    """Return a downstream's status entry as a model (None when absent or written by something else)."""
    try:
        return SpecSync.model_validate(raw) if raw else None
    except ValidationError:
        return None


def served_document(kube: Kube, namespace: str, downstream: str, digest: str) -> Document | None:
    """Return the version `digest` of the downstream's spec as its stub's ConfigMap holds it (None: it does not)."""
    cm = kube.get("v1", "ConfigMap", naming.spec_configmap_name(downstream), namespace)
    for filename, text in ((cm or {}).get("data") or {}).items():
        document = Document(filename, text)
        if document.digest() == digest:
            return document
    return None


def _follow_one(kube: Kube, *, sandbox_namespace: str, downstream: Any, field_: str, previous: SpecSync | None,
                accepted: str | None, read: Reader, now: str, cr: tuple[str, str]) -> decide.Verdict:
    """Return the verdict for one downstream (raises SourceError when nothing can be served from its source)."""
    source = decide.source_id(downstream.source)
    read = _as_stub_reads(read, downstream)

    def fresh() -> decide.Verdict:
        latest = read(downstream.source, field_, None, None)
        assert latest.document is not None
        return decide.start(source, latest.document, now, latest.etag, latest.last_modified)

    if previous is None or previous.source != source:
        return fresh()  # first served, or a source a person just named: served as it is
    served = served_document(kube, sandbox_namespace, downstream.name, previous.digest)
    if served is None:
        return fresh()  # the stub's ConfigMap was lost or changed by hand: start again from the source
    try:
        latest = read(downstream.source, field_, previous.etag, previous.lastModified)
    except SourceError as exc:
        if exc.reason == SOURCE_NOT_ALLOWED:
            raise  # a refusal stops the sandbox, as on its first pass (docs/security.md)
        return decide.follow(downstream=downstream.name, policy=downstream.syncPolicy, previous=previous,
                             served=served, read=decide.Read(None, problem=exc.message), accepted=accepted,
                             now=now, cr=cr)
    document = latest.document
    if document is None:  # unchanged since the validators: it still holds previous.sourceDigest
        if previous.sourceDigest == previous.digest:
            document = served
        elif previous.state in ("Held", "Invalid") and not (previous.state == "Held" and decide.serves(
                downstream.syncPolicy, breaking=previous.breaking is not None and previous.breaking.held,
                accepted=accepted == previous.sourceDigest)):
            return decide.Verdict(served, previous)  # still held or invalid: nothing to decide again
        else:  # the held version is to be served now (or its state is unknown): read it whole
            latest = read(downstream.source, field_, None, None)
            document = latest.document
            assert document is not None
    return decide.follow(downstream=downstream.name, policy=downstream.syncPolicy, previous=previous, served=served,
                         read=decide.Read(document, latest.etag, latest.last_modified), accepted=accepted, now=now,
                         cr=cr)


def _as_stub_reads(read: Reader, downstream: Any) -> Reader:
    """Return `read` giving each version as the downstream's stub is shipped it (a GraphQL schema
    named `schema.graphql`), so versions compare and digest as the stub's ConfigMap holds them."""
    if downstream.graphql is None:
        return read

    def as_stub(source: Any, field_: str, etag: str | None, last_modified: str | None) -> Latest:
        latest = read(source, field_, etag, last_modified)
        if latest.document is None:
            return latest
        return replace(latest, document=stub_document(downstream, latest.document))

    return as_stub


def follow_specs(kube: Kube, *, cr: tuple[str, str], sandbox_namespace: str, status: dict[str, Any],
                 annotations: dict[str, str], model: SandboxEnvironment, read: Reader, now: str) -> Followed:
    """Return what every downstream's stub serves after this pass and why (reads; writes nothing).

    Raises SourceError when a downstream's source cannot be read and its stub serves nothing yet
    from that source, or when the tenant's grant refuses it.
    """
    followed = Followed()
    previous = status.get("specs") or {}
    for i, d in enumerate(model.spec.downstreams):
        verdict = _follow_one(kube, sandbox_namespace=sandbox_namespace, downstream=d,
                              field_=f"spec.downstreams[{i}].{d.source_field}",
                              previous=_previous(previous.get(d.name)),
                              accepted=annotations.get(decide.accept_annotation(d.name)), read=read, now=now, cr=cr)
        followed.documents[d.name] = verdict.serve
        followed.verdicts[d.name] = verdict
    return followed


def report(sbx: Any, followed: Followed, now: str) -> None:
    """Stage status.specs and the SpecSynced/SpecDrift conditions on `sbx` (handlers.Sandbox); post the
    Events; count the new versions. Called once the stubs' ConfigMaps hold what the verdicts serve."""
    states = {name: v.state for name, v in followed.verdicts.items()}
    wanted = {name: state.to_wire() for name, state in states.items()}
    current = sbx.status.get("specs") or {}
    if current != wanted:
        sbx.write(specs=decide.specs_patch(current, wanted))
    conditions = sbx.status.get("conditions")
    for type_, ok, reason, message in decide.conditions(states, (sbx.cr_namespace, sbx.name)):
        conditions = set_condition(conditions, type_=type_, status=ok, reason=reason, message=message, now=now,
                                   generation=sbx.generation)
    sbx.write(conditions=conditions)
    for verdict in followed.verdicts.values():
        if verdict.outcome is not None:
            metrics.SPEC_CHANGES.labels(outcome=verdict.outcome, breaking=str(verdict.breaking).lower()).inc()
        if verdict.event is not None:
            post = kopf.warn if verdict.event.warning else kopf.info
            post(sbx.body, reason=verdict.event.reason, message=verdict.event.message)


# ----- what starts a pass: the ConfigMap watch, url/s3 polls, acceptances -------------------------------------


def _data_digest(configmap: Mapping[str, Any] | None) -> str | None:
    """Return a digest of a ConfigMap's data (None: it does not exist), so metadata-only changes wake nobody."""
    if configmap is None:
        return None
    data = {"data": configmap.get("data") or {}, "binaryData": configmap.get("binaryData") or {}}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class ConfigMapFollower:
    """Watch the ConfigMaps that SandboxEnvironments read their downstreams' specs from; wake the sandboxes
    that read one that changed.

    `references` is kopf's live index of those ConfigMaps ((namespace, name) -> the sandboxes' keys,
    reconcile/sync.py `configmap_references`), handed over by the periodic check (`use`): kopf
    gives its indices to resource handlers only. There is one watch per namespace holding such a
    sandbox, started and stopped as the index changes: the operator never watches every ConfigMap
    of the cluster, only those of the namespaces where sandboxes read one (a team's own few), and a
    change to any other ConfigMap there is dropped on arrival. A watch by name alone cannot be had
    (a field selector names one object per watch: a watch per ConfigMap), and a label selector
    would ask every team to label its ConfigMaps. A woken sandbox is picked up by its periodic
    check (`due`), which reads the ConfigMap once and reconciles only when the version changed.
    """

    def __init__(self, kube: Kube, references: Mapping[tuple[str, str], Iterable[str]] | None = None, *,
                 check_seconds: float = 1.0, watch_seconds: int = 300) -> None:
        self.kube = kube
        self.references: Mapping[tuple[str, str], Iterable[str]] = references if references is not None else {}
        self.check_seconds = check_seconds
        self.watch_seconds = watch_seconds
        self._woken: set[str] = set()
        self._lock = threading.Lock()
        self._watches: dict[str, _NamespaceWatch] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ConfigMapFollower:
        """Start following (a thread that keeps one watch per namespace the index names)."""
        self._thread = threading.Thread(target=self._manage, name="sandlot-configmap-follower", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop every watch and the thread that manages them."""
        self._stop.set()
        for watch in list(self._watches.values()):
            watch.stop()
        if self._thread is not None:
            self._thread.join(10)

    def use(self, references: Mapping[tuple[str, str], Iterable[str]]) -> None:
        """Follow the ConfigMaps of `references` (kopf's live index; the same object every time)."""
        self.references = references

    def namespaces(self) -> set[str]:
        """Return the namespaces holding a ConfigMap some sandbox reads its spec from."""
        return {namespace for namespace, _ in self._keys()}

    def _keys(self) -> list[tuple[str, str]]:
        for _ in range(5):  # kopf updates the index on its own thread: copy it, again if it moved meanwhile
            try:
                return list(self.references)
            except RuntimeError:
                continue
        return []

    def wake(self, namespace: str, names: Iterable[str] | None = None) -> None:
        """Mark the sandboxes reading the named ConfigMaps of `namespace` (None: any of them) as due."""
        wanted = None if names is None else set(names)
        keys = [key for key in self._keys() if key[0] == namespace and (wanted is None or key[1] in wanted)]
        sandboxes: set[str] = set()
        for key in keys:
            try:
                sandboxes.update(self.references[key])
            except KeyError:
                continue
        with self._lock:
            self._woken |= sandboxes

    def take(self, sandbox: str) -> bool:
        """Return whether `sandbox` ("namespace/name") was woken since last asked (and forget it)."""
        with self._lock:
            woken = sandbox in self._woken
            self._woken.discard(sandbox)
            return woken

    def wake_sandbox(self, sandbox: str) -> None:
        """Mark `sandbox` ("namespace/name") as due again (a pass that took its wake did not finish)."""
        with self._lock:
            self._woken.add(sandbox)

    def _manage(self) -> None:
        while not self._stop.is_set():
            wanted = self.namespaces()
            for namespace in wanted - set(self._watches):
                self._watches[namespace] = _NamespaceWatch(self, namespace).start()
            for namespace in set(self._watches) - wanted:
                self._watches.pop(namespace).stop()
            self._stop.wait(self.check_seconds)


class _NamespaceWatch:
    """One namespace's ConfigMaps: list (waking every sandbox reading one: changes may have been missed), then
    watch from the list's version, waking the sandboxes that read a ConfigMap whose data changed."""

    def __init__(self, follower: ConfigMapFollower, namespace: str) -> None:
        self.follower = follower
        self.namespace = namespace
        self._stop = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name=f"sandlot-configmaps-{namespace}", daemon=True)

    def start(self) -> _NamespaceWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            try:
                response.shutdown()  # wakes the read blocked on the watch stream
            except (OSError, AttributeError):
                pass

    def _opened(self, response: Any) -> None:
        self._response = response
        if self._stop.is_set():
            self.stop()

    def _run(self) -> None:
        kube, backoff = self.follower.kube, 1.0
        while not self._stop.is_set():
            try:
                items, version = kube.list_at("v1", "ConfigMap", self.namespace)
                seen = {cm["metadata"]["name"]: _data_digest(cm) for cm in items}
                self.follower.wake(self.namespace)
                while not self._stop.is_set():
                    for type_, obj in kube.watch("v1", "ConfigMap", self.namespace, resource_version=version,
                                                 timeout_seconds=self.follower.watch_seconds, opened=self._opened):
                        version = (obj.get("metadata") or {}).get("resourceVersion") or version
                        if type_ == "BOOKMARK":
                            continue
                        name = obj["metadata"]["name"]
                        digest = None if type_ == "DELETED" else _data_digest(obj)
                        if seen.get(name) != digest:
                            seen[name] = digest
                            self.follower.wake(self.namespace, [name])
                backoff = 1.0
            except ApiException as exc:
                if exc.status != 410:  # 410: the version is too old; list again at once
                    log.info(f"watch of ConfigMaps in {self.namespace} failed ({exc.status}); again in {backoff:.0f}s")
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 60.0)
            except Exception as exc:  # noqa: BLE001 - a dropped connection, a shutdown: start again unless stopping
                if not self._stop.is_set():
                    log.info(f"watch of ConfigMaps in {self.namespace} ended ({exc!r}); again in {backoff:.0f}s")
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 60.0)


def _reader(ctx: Any, cr_namespace: str, model: SandboxEnvironment) -> Reader | None:
    """Return a reader of the sandbox's sources within its tenant's grant, or None when the grant (or the
    SandboxTenant) refuses or is invalid: a full pass then says why."""
    try:
        found = ctx.admission.read(model.spec.tenant)  # one GET; an invalid tenant reads nothing
    except TenantInvalid:
        return None
    tenant = found.spec if found is not None else None
    grant = source_grant(model.spec.tenant, tenant, ctx.platform)
    if check_sources(model, grant, cr_namespace) is not None:
        return None

    def read(source: Any, field_: str, etag: str | None, last_modified: str | None) -> Latest:
        return read_latest(ctx.kube, cr_namespace, source, field_, grant=grant, addresses=ctx.addresses,
                           timeout=ctx.settings.fetch_timeout_seconds, etag=etag, last_modified=last_modified)
    return read


def _source_moved(read: Reader, source: Any, field_: str, entry: SpecSync, poll: bool) -> bool:
    """Return whether a source holds another version than status.specs says it did (or became (un)readable)."""
    try:
        latest = read(source, field_, entry.etag, entry.lastModified)
    except SourceError:
        if poll:
            metrics.SPEC_POLLS.labels(result="failed").inc()
        return entry.state != "Unreadable"
    if latest.document is None:
        metrics.SPEC_POLLS.labels(result="not_modified").inc()
        return entry.state == "Unreadable"
    moved = latest.document.digest() != entry.sourceDigest or entry.state == "Unreadable"
    if poll:
        metrics.SPEC_POLLS.labels(result="changed" if moved else "unchanged").inc()
    return moved


def due(ctx: Any, memo: Any, body: Mapping[str, Any], model: SandboxEnvironment) -> bool:
    """Return whether a reconcile pass must run now for the sandbox's specs (called by the periodic check).

    True when an acceptance annotation names a version to act on, when a ConfigMap source the watch
    saw change (`ctx.follower`) holds another version than status.specs says, or when a url or s3
    source due for its poll (every `ctx.settings.spec_poll_seconds`; validators sent, so an unchanged
    document costs a 304) does. Reads at most one object per source; writes nothing.
    """
    meta = body["metadata"]
    specs = (body.get("status") or {}).get("specs") or {}
    if not specs:
        return False  # never followed yet: the handlers' own passes come first
    if decide.acceptance_pending(specs, meta.get("annotations") or {}):
        return True
    cr_namespace, key = meta["namespace"], f"{meta['namespace']}/{meta['name']}"
    woken = ctx.follower is not None and ctx.follower.take(key)
    now = time.monotonic()
    poll = now - getattr(memo, "spec_polled_at", float("-inf")) >= ctx.settings.spec_poll_seconds
    followed = []  # (index, downstream, its status entry) for those still read from the source they were
    for i, d in enumerate(model.spec.downstreams):
        entry = _previous(specs.get(d.name))
        if entry is not None and entry.source == decide.source_id(d.source):
            followed.append((i, d, entry))
    remote = [(i, d, e) for i, d, e in followed if d.source.configMap is None]
    if poll and remote:
        memo.spec_polled_at = now
    else:
        poll = False
    check = [(i, d, e) for i, d, e in followed if (woken and d.source.configMap is not None)
             or (poll and d.source.configMap is None)]
    if not check:
        return False
    try:
        read = _reader(ctx, cr_namespace, model)
        if read is None:
            return True
        return any(_source_moved(read, d.source, f"spec.downstreams[{i}].{d.source_field}", entry,
                                 d.source.configMap is None) for i, d, entry in check)
    except ApiException:
        return True  # the full pass retries and reports it


def wake_again(ctx: Any, body: Mapping[str, Any]) -> None:
    """Give back the wake `due` took when the pass it started did not finish: the next periodic check
    reads the ConfigMap again instead of waiting for the next full resync."""
    if ctx.follower is not None:
        meta = body["metadata"]
        ctx.follower.wake_sandbox(f"{meta['namespace']}/{meta['name']}")
