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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import kopf
from pydantic import ValidationError

from sandlot import metrics
from sandlot.api.v1alpha1 import SandboxEnvironment, SpecSync
from sandlot.controller.sources import Latest, SourceError
from sandlot.kube import Kube
from sandlot.reconcile import naming
from sandlot.reconcile import sync as decide
from sandlot.reconcile.conditions import set_condition
from sandlot.reconcile.desired import Document
from sandlot.reconcile.tenancy import SOURCE_NOT_ALLOWED

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
    source = decide.source_id(downstream.openapi)

    def fresh() -> decide.Verdict:
        latest = read(downstream.openapi, field_, None, None)
        assert latest.document is not None
        return decide.start(source, latest.document, now, latest.etag, latest.last_modified)

    if previous is None or previous.source != source:
        return fresh()  # first served, or a source a person just named: served as it is
    served = served_document(kube, sandbox_namespace, downstream.name, previous.digest)
    if served is None:
        return fresh()  # the stub's ConfigMap was lost or changed by hand: start again from the source
    try:
        latest = read(downstream.openapi, field_, previous.etag, previous.lastModified)
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
            latest = read(downstream.openapi, field_, None, None)
            document = latest.document
            assert document is not None
    return decide.follow(downstream=downstream.name, policy=downstream.syncPolicy, previous=previous, served=served,
                         read=decide.Read(document, latest.etag, latest.last_modified), accepted=accepted, now=now,
                         cr=cr)


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
                              field_=f"spec.downstreams[{i}].openapi", previous=_previous(previous.get(d.name)),
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
