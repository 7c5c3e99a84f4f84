"""Follow a downstream's spec: which version its stub serves next, and what the sandbox's status says.

Pure. The controller (controller/sync.py) reads the downstream's source (a ConfigMap, a URL or an
S3 object, within the tenant's grant) and the version its stub serves now; `follow` decides from
the downstream's syncPolicy and the acceptance annotation which of the two the stub serves next,
comparing them with the one diff engine (`sandlot diff`'s, through `compare_texts`, which reads
nothing but the two texts). The verdict carries the downstream's new `status.specs` entry, the
Event to post and the outcome to count; `conditions` sums every downstream up as the
SandboxEnvironment's SpecSynced and SpecDrift conditions.

The policies (docs/drift.md): Auto serves every new version (a breaking one is reported until
accepted); BlockBreaking serves a new version unless it breaks the served one; Manual serves no
new version until accepted. Accepting is the annotation `sandlot.dev/accept-spec-<downstream>`
set to the version's digest. A version that cannot be served (it does not load, or it refers to
another file or URL the stub could not read) is never served in place of a good one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandlot.api.v1alpha1 import SpecBreak, SpecSync
from sandlot.diff.formats import Report, render_summary
from sandlot.diff.inputs import DiffInputError, text_input
from sandlot.diff.run import compare_texts
from sandlot.reconcile.desired import Document

ACCEPT_PREFIX = "sandlot.dev/accept-spec-"
#: Lines of a diff summary kept in a condition or Event at most: the counts, the changes (errors first), the rest.
SUMMARY_LINES = 8


def accept_annotation(downstream: str) -> str:
    """Return the annotation that accepts a version of `downstream`'s spec (its value: the digest)."""
    return ACCEPT_PREFIX + downstream


def accept_command(cr_namespace: str, cr_name: str, downstream: str, digest: str) -> str:
    """Return the kubectl command that accepts version `digest` of `downstream`'s spec."""
    return (f"kubectl -n {cr_namespace} annotate sandboxenvironment {cr_name} "
            f"{accept_annotation(downstream)}={digest} --overwrite")


def source_id(source: Any) -> str:
    """Return where a spec source reads (stored in status.specs; a new one starts the following afresh)."""
    if source.configMap is not None:
        return f"configMap {source.configMap.name} key {source.configMap.key}"
    if getattr(source, "url", None) is not None:
        return str(source.url)
    ref = source.s3
    return f"s3://{ref.bucket}/{ref.key}" + (f" at {ref.endpointUrl}" if ref.endpointUrl else "")


def serves(policy: str, *, breaking: bool, accepted: bool) -> bool:
    """Return whether a new version is served under `policy` (it breaks the served one: `breaking`)."""
    if policy == "Auto":
        return True
    if policy == "BlockBreaking":
        return accepted or not breaking
    return accepted  # Manual


@dataclass(frozen=True)
class Event:
    """An Event to post on the SandboxEnvironment."""

    reason: str
    message: str
    warning: bool = False


@dataclass(frozen=True)
class Verdict:
    """What `follow` decided for one downstream."""

    serve: Document           # what the stub serves from now on
    state: SpecSync           # its status.specs entry
    event: Event | None = None
    outcome: str | None = None  # for sandlot_spec_changes_total: served, held or invalid (None: no new version)
    breaking: bool = False      # the new version breaks the served one


@dataclass(frozen=True)
class Read:
    """What the controller read for one downstream: the source's version (or why it cannot be read)."""

    latest: Document | None
    etag: str | None = None
    last_modified: str | None = None
    problem: str | None = None  # the source cannot be read now: the reason's message


def start(source: str, latest: Document, now: str, etag: str | None = None,
          last_modified: str | None = None) -> Verdict:
    """Return the verdict for a downstream served for the first time (or from a new source): serve it."""
    return Verdict(latest, SpecSync(source=source, digest=latest.digest(), syncedAt=now,
                                    sourceDigest=latest.digest(), state="Synced", etag=etag,
                                    lastModified=last_modified))


def _summary(changes: list[Any]) -> str:
    return render_summary(Report("", "", changes), most=SUMMARY_LINES - 2, cut_errors=True, command=False).rstrip("\n")


def _unservable(latest: Document) -> str | None:
    """Return why a version cannot be served in place of a good one, or None."""
    try:
        text_input(latest.filename, latest.text)
    except DiffInputError as exc:
        if not exc.self_contained:
            return (f"{exc}; the stub reads only this document in the cluster, and the operator fetches nothing "
                    "a spec refers to")
        return str(exc)
    return None


def _changes(served: Document, latest: Document) -> list[Any]:
    """Return the changes from the served version to the latest (none judged when the served one does not load)."""
    try:
        return compare_texts(served.filename, served.text, latest.filename, latest.text)
    except DiffInputError:  # the served version does not load: no client can rely on it
        return []


def follow(*, downstream: str, policy: str, previous: SpecSync, served: Document, read: Read, accepted: str | None,
           now: str, cr: tuple[str, str]) -> Verdict:
    """Return which version `downstream`'s stub serves next, its status entry and what to report.

    `previous` is its status entry, `served` the version its stub serves (previous.digest),
    `read` what its source holds now, `accepted` the acceptance annotation's value and `cr` the
    SandboxEnvironment's (namespace, name), for the command that accepts a version.
    """
    digest = served.digest()
    if read.latest is None:  # the source cannot be read: keep serving
        message = f"{downstream}: {read.problem}; still serving {digest}"
        event = Event("SpecSourceUnreadable", message, warning=True) if previous.state != "Unreadable" else None
        return Verdict(served, previous.model_copy(update={"state": "Unreadable", "message": message}), event)
    latest = read.latest
    new = latest.digest()
    fresh = new != previous.sourceDigest  # a version not seen before
    base = previous.model_copy(update={"sourceDigest": new, "etag": read.etag, "lastModified": read.last_modified,
                                   "message": ""})
    lineage = previous.breaking if previous.breaking is not None and not previous.breaking.held else None
    if lineage is not None and accepted in (lineage.digest, digest):
        lineage = None  # the breaking change the stub serves was accepted
    if new == digest:  # the source holds what is served (again)
        event = None
        if previous.state != "Synced":
            event = Event("SpecSynced", f"{downstream}: the source holds the served version {digest} again")
        elif previous.breaking is not None and lineage is None:
            event = Event("BreakingChangeAccepted",
                          f"{downstream}: the breaking change to {previous.breaking.digest} was accepted")
        return Verdict(served, base.model_copy(update={"state": "Synced", "breaking": lineage}), event)

    problem = _unservable(latest)
    if problem is not None:
        message = f"{downstream}: version {new} cannot be served: {problem}; still serving {digest}"
        event = Event("SpecInvalid", message, warning=True) if fresh else None
        return Verdict(served, base.model_copy(update={"state": "Invalid", "message": message}), event,
                       "invalid" if fresh else None)

    changes = _changes(served, latest)
    errors = sum(c.level == "error" for c in changes)
    summary = _summary(changes)
    if serves(policy, breaking=errors > 0, accepted=accepted == new):
        breaking = lineage
        if errors and accepted != new:
            breaking = SpecBreak(digest=new, previous=digest, errors=errors, summary=summary)
        state = base.model_copy(update={"digest": new, "syncedAt": now, "state": "Synced", "breaking": breaking})
        if errors and accepted != new:
            event = Event("BreakingChange", f"{downstream}: serving {new}, which breaks {digest} (syncPolicy "
                                            f"{policy}); to accept it: {accept_command(*cr, downstream, new)}\n"
                                            f"{summary}", warning=True)
        else:
            why = " (accepted)" if accepted == new and policy != "Auto" else ""
            event = Event("SpecSynced", f"{downstream}: serving {new} (was {digest}){why}\n{summary}")
        return Verdict(latest, state, event, "served", errors > 0)

    if errors:
        breaking = SpecBreak(digest=new, previous=digest, errors=errors, summary=summary, held=True)
        message = (f"{downstream}: {new} breaks the served {digest} and is held (syncPolicy {policy}); to serve it: "
                   f"{accept_command(*cr, downstream, new)}")
        event = Event("BreakingChange", f"{message}\n{summary}", warning=True) if fresh else None
    else:
        breaking = lineage
        message = (f"{downstream}: {new} waits for acceptance (syncPolicy Manual), still serving {digest}; to serve "
                   f"it: {accept_command(*cr, downstream, new)}")
        event = Event("AwaitingAcceptance", f"{message}\n{summary}") if fresh else None
    state = base.model_copy(update={"state": "Held", "message": message, "breaking": breaking})
    return Verdict(served, state, event, "held" if fresh else None, errors > 0)


def conditions(specs: Mapping[str, SpecSync], cr: tuple[str, str]) -> list[tuple[str, bool, str, str]]:
    """Return (type, status, reason, message) of the SpecSynced and SpecDrift conditions for every downstream.

    `cr` is the SandboxEnvironment's (namespace, name), for the command that accepts a version.
    """
    out_of_sync = {name: s for name, s in specs.items() if s.state != "Synced"}
    if not out_of_sync:
        served = "; ".join(f"{name} serves {s.digest} since {s.syncedAt}" for name, s in sorted(specs.items()))
        synced = ("SpecSynced", True, "Synced", served or "no downstreams")
    else:
        states = {s.state for s in out_of_sync.values()}
        held_breaking = any(s.state == "Held" and s.breaking is not None and s.breaking.held
                            for s in out_of_sync.values())
        reason = ("BreakingChangeHeld" if held_breaking else "AwaitingAcceptance" if "Held" in states
                  else "SpecInvalid" if "Invalid" in states else "SourceUnreadable")
        synced = ("SpecSynced", False, reason, "; ".join(s.message for _, s in sorted(out_of_sync.items())))
    drifted = {name: s.breaking for name, s in sorted(specs.items()) if s.breaking is not None}
    if not drifted:
        return [synced, ("SpecDrift", False, "NoBreakingChange",
                         "no downstream's spec has a breaking change that was not accepted")]
    parts = []
    for name, brk in drifted.items():
        how = "held, to serve it" if brk.held else "served, to accept it"
        parts.append(f"{name}: {brk.digest} breaks {brk.previous} ({how}: {accept_command(*cr, name, brk.digest)})\n"
                     f"{brk.summary}")
    return [synced, ("SpecDrift", True, "BreakingChange", "\n".join(parts))]


def specs_patch(current: Mapping[str, Any], wanted: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Return the JSON merge patch of status.specs that turns `current` into `wanted`.

    A merge patch keeps what it does not mention, so a downstream removed from the spec, and a
    field an entry no longer has (an ETag the source stopped sending), are sent as null.
    """
    patch: dict[str, Any] = dict.fromkeys(sorted(set(current) - set(wanted)))
    for name, entry in wanted.items():
        value = dict(entry)
        for key in current.get(name) or {}:
            value.setdefault(key, None)
        patch[name] = value
    return patch


def configmap_references(namespace: str, name: str, spec: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """Return {(namespace, ConfigMap name): "namespace/name"} for every ConfigMap a SandboxEnvironment's
    downstreams read their specs from: the index the ConfigMap watch follows (controller/sync.py).

    Reads the raw spec (a malformed one names what it can): the index is built for every object kopf sees.
    """
    refs: dict[tuple[str, str], str] = {}
    downstreams = spec.get("downstreams") if isinstance(spec, Mapping) else None
    for downstream in downstreams if isinstance(downstreams, list) else []:
        for field_ in ("openapi", "graphql"):
            source = downstream.get(field_) if isinstance(downstream, Mapping) else None
            ref = source.get("configMap") if isinstance(source, Mapping) else None
            if isinstance(ref, Mapping) and isinstance(ref.get("name"), str):
                refs[(namespace, ref["name"])] = f"{namespace}/{name}"
    return refs


def acceptance_pending(specs: Mapping[str, Any], annotations: Mapping[str, str]) -> bool:
    """Return True when an acceptance annotation names a version a reconcile pass would act on: a held
    version (to serve it) or a served breaking one (to clear SpecDrift)."""
    for name, entry in specs.items():
        value = annotations.get(accept_annotation(name))
        if not value or not isinstance(entry, Mapping):
            continue
        if entry.get("state") == "Held" and entry.get("sourceDigest") == value:
            return True
        breaking = entry.get("breaking") or {}
        if breaking and not breaking.get("held") and value in (breaking.get("digest"), entry.get("digest")):
            return True
    return False
