"""kopf handlers for SandboxEnvironment: thin glue from cluster events to the reconcilers.

`build_registry(settings)` registers them on a fresh kopf registry at start-up (called by
`sandlot operator` through controller/runner.py, and by the tests), so settings are read when
the operator starts, never at import. Each handler parses the body, calls the pure builders in
reconcile/ and render/, applies the result through kube.py, and writes the status once per
pass, with conditions that say what to do next.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from sandlot import metrics
from sandlot.api.v1alpha1 import API_VERSION, GROUP, VERSION, SandboxEnvironment, SandboxTenantSpec, parse_duration
from sandlot.controller import sleep, sync
from sandlot.controller.admission import Admission, LedgerBusy, Tenant, TenantInvalid
from sandlot.controller.sources import (
    SourceError,
    address_policy,
    learn_cluster_networks,
    platform_sources,
    read_latest,
    read_source,
)
from sandlot.controller.stubs import HttpStubClient, StubClient, StubError
from sandlot.kube import Conflict, Kube, NotFound, Recreating, ensure, make_api_client, secret_values
from sandlot.reconcile import naming
from sandlot.reconcile.admission import REFUSED_REASONS, WAKE_ANNOTATION, Admitted, Queued, queued_message
from sandlot.reconcile.conditions import get_condition, set_condition
from sandlot.reconcile.desired import (
    Credentials,
    Document,
    Inputs,
    StubSettings,
    credentials_copy,
    credentials_copy_name,
    desired_objects,
    endpoints,
    state_secret_name,
)
from sandlot.reconcile.idle import idle_verdict
from sandlot.reconcile.lifetime import Expiry, expiry, format_time, parse_time
from sandlot.reconcile.readiness import assess
from sandlot.reconcile.sync import configmap_references
from sandlot.reconcile.tenancy import PlatformSources, SourceGrant, check_sources, check_tenant, source_grant
from sandlot.settings import OperatorSettings, load_settings
from sandlot.util.keys import new_key_secret as generate_api_key
from sandlot.util.netguard import AddressPolicy

PLURAL = "sandboxenvironments"
KIND = "SandboxEnvironment"
TENANT_PLURAL = "sandboxtenants"
FINALIZER = "sandlot.dev/teardown"
#: Kinds the operator creates inside a sandbox namespace, checked when pruning leftovers.
PRUNABLE = [
    ("v1", "ConfigMap"), ("v1", "Service"), ("v1", "ServiceAccount"), ("v1", "ResourceQuota"),
    ("v1", "LimitRange"), ("apps/v1", "Deployment"), ("batch/v1", "Job"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
]
#: How long a deletion waits in its handler for the namespace to go before retrying slowly.
TEARDOWN_WAIT_SECONDS = 120.0
#: Readiness reasons the periodic check may clear again once the cause is gone.
WORKLOAD_REASONS = {"Provisioning", "Ready", "ImagePullFailed", "ContainerFailing", "SeedJobFailed", "Waking",
                    "Restoring"}

log = logging.getLogger("sandlot.operator")




@dataclass
class Context:
    """What every handler needs: the API client, the operator settings, and one lock per sandbox.

    kopf runs a sandbox's change handlers and its timer concurrently; the lock keeps one
    reconcile per sandbox at a time in this process (the periodic check skips a busy sandbox).
    """

    kube: Kube
    settings: OperatorSettings
    #: Which addresses url sources may reach (built at start-up: settings plus learned cluster networks).
    addresses: AddressPolicy = field(default_factory=AddressPolicy)
    #: What the platform's settings open for every tenant's sources.
    platform: PlatformSources = field(default_factory=PlatformSources)
    admission: Admission = None  # type: ignore[assignment]  # set in __post_init__
    #: How the operator reaches a sandbox's stubs (activity, state around a sleep); HTTP unless a test plugs one in.
    stubs: StubClient = None  # type: ignore[assignment]
    #: Watches the ConfigMaps sandboxes read their specs from (controller/sync.py); None until started.
    follower: sync.ConfigMapFollower | None = None
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _probed: dict[str, float] = field(default_factory=dict)
    #: The last SleepFailed problem per sandbox, so a lasting problem posts one Event.
    warned: dict[str, str] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.admission is None:
            self.admission = Admission(self.kube, format_validation)
        if self.stubs is None:
            self.stubs = HttpStubClient(timeout=self.settings.stub_timeout_seconds)

    def due(self, key: str, every: float) -> bool:
        """Return True at most once per `every` seconds for `key` (rate-limits the stubs' activity probes)."""
        now = time.monotonic()
        if now - self._probed.get(key, -every) < every:
            return False
        self._probed[key] = now
        return True

    @contextmanager
    def exclusive(self, key: str, *, wait: bool = True) -> Iterator[bool]:
        """Hold the sandbox's lock for the block; yield False (without it) when busy and not waiting."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        got = lock.acquire(blocking=wait)
        try:
            yield got
        finally:
            if got:
                lock.release()


def _context(memo: Any) -> Context:
    """Return the handler context kept in kopf's memo (created at start-up)."""
    ctx: Context = memo.sandlot
    return ctx


def format_validation(exc: ValidationError) -> str:
    """Return pydantic errors as `field.path: problem` lines a person can act on."""
    lines = []
    for err in exc.errors():
        path = ""
        for part in err["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{path or 'spec'}: {msg}")
    return "; ".join(lines) + "; fix the field(s) and apply again"


def _now() -> datetime:
    return datetime.now(UTC)


class Sandbox:
    """One SandboxEnvironment body, with its status changes gathered and written in one PATCH."""

    def __init__(self, ctx: Context, body: Any) -> None:
        self.ctx = ctx
        self.body = body
        meta = body["metadata"]
        self.name: str = meta["name"]
        self.cr_namespace: str = meta["namespace"]
        self.uid: str = meta.get("uid", "")
        self.generation: int | None = meta.get("generation")
        self.creation: str = meta["creationTimestamp"]
        self.status: dict[str, Any] = dict(body.get("status") or {})
        self.namespace = naming.sandbox_namespace(self.cr_namespace, self.name)
        self.key = f"{self.cr_namespace}/{self.name}"
        self.tenant = (body.get("spec") or {}).get("tenant") or "default"
        self._pending: dict[str, Any] = {}

    @property
    def phase(self) -> str | None:
        return self.status.get("phase")

    def write(self, *, phase: str | None = None, ready: tuple[bool | str, str, str] | None = None,
              observed: bool = False, **fields: Any) -> None:
        """Stage status changes: phase, the Ready condition and any other fields; `flush()` sends them.

        `observed` marks the current generation as fully handled (status.observedGeneration):
        set only when a reconcile finished or reached a verdict that needs a spec change.
        """
        patch: dict[str, Any] = dict(fields)
        if phase is not None:
            patch["phase"] = phase
        if ready is not None:
            status, reason, message = ready
            patch["conditions"] = set_condition(
                self.status.get("conditions"), type_="Ready", status=status, reason=reason, message=message,
                now=format_time(_now()), generation=self.generation)
        if observed and self.generation is not None:
            patch["observedGeneration"] = self.generation
        for key, value in patch.items():
            if self.status.get(key) != value:
                self._pending[key] = value
                self.status[key] = value

    def flush(self) -> None:
        """Write the staged status changes in one PATCH (none when nothing changed)."""
        changed, self._pending = self._pending, {}
        if not changed:
            return
        try:
            self.ctx.kube.patch(API_VERSION, KIND, self.name, {"status": changed},
                                namespace=self.cr_namespace, status=True)
        except ApiException as exc:
            if exc.status != 404:  # gone meanwhile: nothing left to report on
                raise
        if "phase" in changed:
            metrics.record_phase(self.key, changed["phase"], self.tenant)

    def fail(self, reason: str, message: str, *, phase: str = "Failed", final: bool = False) -> None:
        """Report a failure a person must fix: phase Failed, Ready=False, a warning Event; written at once.

        `final`: only a spec change can help, so this generation counts as handled.
        """
        metrics.RECONCILE_ERRORS.labels(reason=reason).inc()
        previous = get_condition(self.status.get("conditions"), "Ready") or {}
        self.write(phase=phase, ready=(False, reason, message), observed=final)
        self.flush()
        if (previous.get("reason"), previous.get("message")) != (reason, message):
            kopf.warn(self.body, reason=reason, message=message)


def _parse(sbx: Sandbox) -> SandboxEnvironment:
    """Return the CR as a model, or report why it is invalid and stop retrying."""
    try:
        return SandboxEnvironment.model_validate({"spec": sbx.body.get("spec") or {}})
    except ValidationError as exc:
        message = format_validation(exc)
        sbx.fail("InvalidSpec", message, final=True)
        raise kopf.PermanentError(message) from exc


class Waiting(Exception):
    """The sandbox waits in its tenant's queue: nothing more to do in this pass."""


def _read_tenant(sbx: Sandbox, model: SandboxEnvironment) -> Tenant | None:
    """Return the sandbox's SandboxTenant as stored now (None: none of that name), or report it invalid."""
    try:
        return sbx.ctx.admission.read(model.spec.tenant)
    except TenantInvalid as exc:
        sbx.fail("TenantInvalid", str(exc))
        raise kopf.TemporaryError("tenant invalid", delay=sbx.ctx.settings.retry_seconds) from exc


def _tenant_check(sbx: Sandbox, model: SandboxEnvironment, tenant: Tenant | None) -> SandboxTenantSpec | None:
    """Return the tenant's grant (None: no such tenant); stop when it does not allow this sandbox's spec.

    A namespace a SandboxTenant claims (its `namespaces`) may use no other tenant, so a
    sandbox cannot escape its tenant's limits by naming another, or a missing, SandboxTenant.
    """
    claimed_by = sorted(t["metadata"]["name"] for t in sbx.ctx.kube.list(API_VERSION, "SandboxTenant")
                        if sbx.cr_namespace in ((t.get("spec") or {}).get("namespaces") or []))
    spec = tenant.spec if tenant else None
    refusal = check_tenant(model, spec, cr_namespace=sbx.cr_namespace, claimed_by=claimed_by)
    if refusal is None:
        return spec
    sbx.fail(refusal.reason, refusal.message, final=not refusal.retry)
    if refusal.retry:
        raise kopf.TemporaryError(refusal.message, delay=sbx.ctx.settings.retry_seconds * 4)
    raise kopf.PermanentError(refusal.message)


def _source_check(sbx: Sandbox, model: SandboxEnvironment, tenant: SandboxTenantSpec | None) -> SourceGrant:
    """Return the tenant's source grant; stop (retrying later) before anything is fetched when it refuses a source.

    Retried rather than final: the platform team may widen the grant without a spec change.
    """
    grant = source_grant(model.spec.tenant, tenant, sbx.ctx.platform)
    refusal = check_sources(model, grant, sbx.cr_namespace)
    if refusal is not None:
        sbx.fail(refusal.reason, refusal.message)
        raise kopf.TemporaryError(refusal.message, delay=sbx.ctx.settings.retry_seconds * 4)
    return grant


def _admit(sbx: Sandbox, model: SandboxEnvironment, tenant: Tenant | None) -> None:
    """Hold a seat in the tenant's ledger, or stage the sandbox's place in the queue and stop (Waiting).

    The ledger in the tenant's status is the truth: a seat there means go on. A sandbox the
    ledger does not know yet, or the first in line, runs a full admission pass (which commits
    with optimistic concurrency); the others only read their place. Without a SandboxTenant no
    limit applies and the sandbox counts as admitted at its creation.
    """
    ctx = sbx.ctx
    name = model.spec.tenant
    verdict: Any = None
    if tenant is not None:
        seat = tenant.ledger.seat(sbx.key, sbx.uid)
        place = tenant.ledger.place(sbx.key, sbx.uid)
        if seat is not None:
            verdict = Admitted(seat.admitted_at)
        elif place is not None and place > 1:
            verdict = Queued(place, len(tenant.ledger.queue), tenant.status.get("waitingFor") or "")
        else:
            try:
                outcome = ctx.admission.run(name)
            except TenantInvalid as exc:
                sbx.fail("TenantInvalid", str(exc))
                raise kopf.TemporaryError("tenant invalid", delay=ctx.settings.retry_seconds) from exc
            except LedgerBusy as exc:
                raise kopf.TemporaryError(str(exc), delay=1) from exc
            tenant = outcome[0] if outcome else None
            verdict = outcome[1].verdicts.get(sbx.key) if outcome else None
    if tenant is None:  # no limits: admitted at creation (or now, if it waited under a tenant since deleted)
        verdict = Admitted(sbx.status.get("admittedAt")
                           or (format_time(_now()) if sbx.phase == "Queued" else sbx.creation))
    if isinstance(verdict, Admitted):
        if sbx.phase == "Queued":
            waited = (_now() - parse_time(sbx.status.get("wakeRequestedAt") or sbx.creation)).total_seconds()
            metrics.QUEUE_WAIT_SECONDS.observe(max(waited, 0.0))
            kopf.info(sbx.body, reason="Admitted",
                      message=f"admitted by tenant {name!r} after waiting in its queue; provisioning")
        elif tenant is not None and not sbx.status.get("admittedAt"):
            kopf.info(sbx.body, reason="Admitted", message=f"admitted by tenant {name!r}")
        sbx.write(admittedAt=sbx.status.get("admittedAt") or verdict.admitted_at, queuePosition=None)
        return
    if isinstance(verdict, Queued):
        message = queued_message(name, verdict)
        if sbx.phase != "Queued":
            kopf.info(sbx.body, reason="Queued", message=message)
        sbx.write(phase="Queued", queuePosition=verdict.position, ready=(False, "Queued", message))
        raise Waiting(message)
    if verdict is None:
        ready = get_condition(sbx.status.get("conditions"), "Ready") or {}
        if ready.get("reason") in REFUSED_REASONS:  # refused before, and the spec has not changed since
            raise kopf.PermanentError(ready.get("message", ""))
        raise kopf.TemporaryError(f"tenant {name!r} has no verdict on this sandbox yet", delay=1)
    sbx.fail(verdict.reason, verdict.message, final=True)
    raise kopf.PermanentError(verdict.message)



def _check_ownership(sbx: Sandbox) -> None:
    """Refuse to use a namespace, or the credentials copy's name, that exists but was not made for this sandbox.

    Checked before anything is created, so a conflict leaves nothing half-made; kube.ensure
    refuses any other object it did not make (Conflict) as a last line.
    """
    copy = sbx.ctx.kube.get("v1", "Secret", credentials_copy_name(sbx.name), sbx.cr_namespace)
    copy_owner = ((copy or {}).get("metadata", {}).get("annotations") or {}).get(naming.ANNOTATION_OWNER)
    if copy is not None and copy_owner != naming.owner_annotation(sbx.cr_namespace, sbx.name):
        message = (f"Secret {sbx.cr_namespace}/{credentials_copy_name(sbx.name)} exists and was not made for this "
                   "sandbox, which hands its credentials over under that name; it is never adopted or changed: "
                   "rename the SandboxEnvironment or the Secret")
        sbx.fail("ObjectConflict", message)
        raise kopf.TemporaryError(message, delay=sbx.ctx.settings.retry_seconds * 4)
    live = sbx.ctx.kube.get("v1", "Namespace", sbx.namespace)
    if live is None:
        return
    owner = (live["metadata"].get("annotations") or {}).get(naming.ANNOTATION_OWNER)
    if owner != naming.owner_annotation(sbx.cr_namespace, sbx.name):
        message = (f"namespace {sbx.namespace!r} exists and is not managed for this sandbox; "
                   "delete it or rename the SandboxEnvironment")
        sbx.fail("NamespaceConflict", message, final=True)
        raise kopf.PermanentError(message)
    if live["metadata"].get("deletionTimestamp"):
        sbx.write(phase="Provisioning", ready=(False, "NamespaceTerminating",
                  f"namespace {sbx.namespace} from an earlier sandbox of the same name is still being deleted"))
        sbx.flush()
        raise kopf.TemporaryError("namespace terminating", delay=sbx.ctx.settings.retry_seconds / 3)


def _prune(kube: Kube, namespace: str, wanted: list[dict[str, Any]]) -> list[str]:
    """Delete objects the operator made in the namespace that the spec no longer asks for."""
    keep = {(o["kind"], o["metadata"]["name"]) for o in wanted}
    removed = []
    for api_version, kind in PRUNABLE:
        for obj in kube.list(api_version, kind, namespace, f"{naming.MANAGED_BY}={naming.MANAGER}"):
            name = obj["metadata"]["name"]
            if (kind, name) not in keep:
                kube.delete(api_version, kind, name, namespace)
                removed.append(f"{kind}/{name}")
    return removed


def _workload_verdict(kube: Kube, namespace: str) -> Any:
    """Return the readiness verdict of the sandbox namespace's workloads."""
    selector = f"{naming.MANAGED_BY}={naming.MANAGER}"
    return assess(kube.list("apps/v1", "Deployment", namespace, selector),
                  kube.list("batch/v1", "Job", namespace, selector),
                  kube.list("v1", "Pod", namespace))


def _report_workloads(sbx: Sandbox) -> None:
    """Stage the phase and Ready condition the workloads show (and Events on a change).

    A sandbox woken from sleep is Ready only once its stubs have their kept state back.
    """
    verdict = _workload_verdict(sbx.ctx.kube, sbx.namespace)
    pending = sbx.status.get("restorePending") or []
    if verdict.ready and pending:
        problems, lost = sleep.restore_state(sbx.ctx.kube, sbx.ctx.stubs, namespace=sbx.namespace,
                                             urls=sbx.status.get("endpoints") or {}, downstreams=pending)
        if lost:
            kopf.warn(sbx.body, reason="StateLost", message=f"the state kept for stub(s) {', '.join(lost)} while the "
                      f"sandbox slept is gone (Secret {state_secret_name(lost[0])} deleted?); they start from "
                      "their seed")
        sbx.write(restorePending=[p for p in pending if p in problems] or None)
        if problems:
            sbx.write(phase="Provisioning", ready=(False, "Restoring", "putting back the state the stubs had before "
                      "the sandbox slept: " + "; ".join(f"{k}: {v}" for k, v in problems.items())))
            return
    was_ready = sbx.phase == "Ready"
    phase = "Ready" if verdict.ready else ("Failed" if verdict.failed else "Provisioning")
    previous = get_condition(sbx.status.get("conditions"), "Ready") or {}
    sbx.write(phase=phase, ready=(verdict.ready, verdict.reason, verdict.message))
    if verdict.ready and not was_ready:
        kopf.info(sbx.body, reason="Ready", message=f"sandbox ready in namespace {sbx.namespace}")
        if not sbx.status.get("firstReadyAt"):
            now = _now()
            seconds = (now - datetime.fromisoformat(sbx.creation.replace("Z", "+00:00"))).total_seconds()
            metrics.PROVISION_SECONDS.observe(max(seconds, 0.0))
            sbx.write(firstReadyAt=format_time(now))
    elif verdict.failed and previous.get("reason") != verdict.reason:
        metrics.RECONCILE_ERRORS.labels(reason=verdict.reason).inc()
        kopf.warn(sbx.body, reason=verdict.reason, message=verdict.message)


def _teardown_namespace(sbx: Sandbox) -> bool:
    """Ask for the sandbox namespace's deletion; return True once it is gone."""
    kube = sbx.ctx.kube
    live = kube.get("v1", "Namespace", sbx.namespace)
    if live is None:
        return True
    owner = (live["metadata"].get("annotations") or {}).get(naming.ANNOTATION_OWNER)
    if owner != naming.owner_annotation(sbx.cr_namespace, sbx.name):
        return True  # never delete a namespace this sandbox does not own
    if not live["metadata"].get("deletionTimestamp"):
        kube.delete("v1", "Namespace", sbx.namespace)
    return False


def _expiry(sbx: Sandbox, model: SandboxEnvironment, tenant: Any) -> Expiry:
    """Return when the sandbox expires, from its admission, its ttl and the tenant's limits."""
    return expiry(created=sbx.creation, admitted_at=sbx.status.get("admittedAt"), ttl=model.spec.ttl,
                  tenant=tenant, tenant_name=model.spec.tenant)


def _expire(sbx: Sandbox, model: SandboxEnvironment, ends: Expiry) -> None:
    """Handle a sandbox whose ttl (or its tenant's maxLifetime) ran out.

    Delete the CR, or tear down and keep it Expired (onExpiry: Retain).
    """
    kube = sbx.ctx.kube
    when = format_time(ends.at) if ends.at else sbx.status.get("expiresAt")
    raise_it = "spec.ttl" if ends.limit == "ttl" else "the tenant's maxLifetime"
    if model.spec.onExpiry == "Delete":
        kopf.info(sbx.body, reason="Expired", message=f"{ends.describe} ran out at {when}; deleting")
        metrics.EXPIRATIONS.labels(action="deleted").inc()
        kube.delete(API_VERSION, KIND, sbx.name, sbx.cr_namespace)
        return
    if sbx.phase == "Expired":
        return
    if sbx.phase != "Terminating":
        kopf.info(sbx.body, reason="Expired",
                  message=f"{ends.describe} ran out at {when}; tearing down, keeping the CR (onExpiry: Retain)")
        sbx.write(phase="Terminating", ready=(False, "Expired", f"expired at {when}; tearing down"))
    if _teardown_namespace(sbx):
        metrics.EXPIRATIONS.labels(action="retained").inc()
        sbx.write(phase="Expired", ready=(False, "Expired",
                  f"expired at {when} ({ends.describe}); raise {raise_it} to bring the sandbox back, or delete it"),
                  endpoints={}, queuePosition=None, sleepingSince=None, wakeRequestedAt=None, restorePending=None,
                  observed=True)
        sbx.ctx.admission.release(model.spec.tenant)
    sbx.flush()


def _summary(changes: dict[str, list[str]]) -> str:
    """Return `created Namespace/x, ...; updated ...` for an Event."""
    return "; ".join(f"{verb} {', '.join(refs)}" for verb, refs in changes.items() if refs)


# ----- reconcile -------------------------------------------------------------------------------


def _reconcile(ctx: Context, body: Any, logger: kopf.Logger) -> None:
    """Converge one sandbox (idempotent; the handlers and the periodic check both call it).

    Status is written once at the end of a pass (or once when the pass stops on a problem).
    """
    sbx = Sandbox(ctx, body)
    try:
        _converge(ctx, sbx, logger)
    except Waiting as waiting:
        logger.info(f"queued: {waiting}")
    finally:
        sbx.flush()


def _converge(ctx: Context, sbx: Sandbox, logger: kopf.Logger) -> None:
    """Run one reconcile pass of `sbx`, staging its status."""
    body = sbx.body
    model = _parse(sbx)
    sbx.tenant = model.spec.tenant
    tenant = _read_tenant(sbx, model)
    ends = _expiry(sbx, model, tenant.spec if tenant else None)
    if ends.at is not None and _now() >= ends.at:
        _expire(sbx, model, ends)
        return
    spec = _tenant_check(sbx, model, tenant)
    sleeping, wake = bool(sbx.status.get("sleepingSince")), sleep.wake_requested(body)
    asleep = sleeping and not wake
    try:
        if sleeping and wake and not sbx.status.get("wakeRequestedAt"):
            sbx.write(wakeRequestedAt=format_time(_now()))  # its place in the queue, if it has to wait
        if not asleep:
            _admit(sbx, model, tenant)
    finally:
        ends = _expiry(sbx, model, tenant.spec if tenant else None)
        sbx.write(expiresAt=format_time(ends.at) if ends.at else None)
    if wake:
        _wake(sbx, sleeping)
    _check_ownership(sbx)
    grant = _source_check(sbx, model, spec)
    first = sbx.phase in (None, "Pending", "Queued", "Expired")
    if asleep:
        if (get_condition(sbx.status.get("conditions"), "Ready") or {}).get("reason") != "Sleeping":
            # e.g. a wake request withdrawn while it waited in the queue
            sbx.write(ready=(False, "Sleeping", _sleeping_message(ctx, sbx, sbx.status["sleepingSince"], "")))
        sbx.write(phase="Sleeping", queuePosition=None, wakeRequestedAt=None)
    elif sbx.phase != "Ready":
        sbx.write(phase="Provisioning", ready=(False, "Provisioning", "creating the sandbox's objects"),
                  namespace=sbx.namespace)

    def read(source: Any, field_: str) -> Document:
        return read_source(ctx.kube, sbx.cr_namespace, source, field_, grant=grant, addresses=ctx.addresses,
                           timeout=ctx.settings.fetch_timeout_seconds)

    def read_spec(source: Any, field_: str, etag: str | None, last_modified: str | None) -> Any:
        return read_latest(ctx.kube, sbx.cr_namespace, source, field_, grant=grant, addresses=ctx.addresses,
                           timeout=ctx.settings.fetch_timeout_seconds, etag=etag, last_modified=last_modified)

    now = format_time(_now())
    try:
        followed = sync.follow_specs(ctx.kube, cr=(sbx.cr_namespace, sbx.name), sandbox_namespace=sbx.namespace,
                                     status=sbx.status, annotations=body["metadata"].get("annotations") or {},
                                     model=model, read=read_spec, now=now)
        specs: dict[str, Document] = followed.documents
        fixtures = None
        if model.spec.seed is not None and model.spec.seed.fixtures is not None:
            fixtures = read(model.spec.seed.fixtures, "spec.seed.fixtures")
            fixtures = Document("fixtures" + _suffix(fixtures.filename), fixtures.text)
    except SourceError as exc:
        sbx.fail(exc.reason, exc.message)
        raise kopf.TemporaryError(exc.message, delay=ctx.settings.retry_seconds) from exc

    kube = ctx.kube
    existing = kube.get("v1", "Secret", naming.CREDENTIALS_SECRET, sbx.namespace)
    creds = None if existing is not None else Credentials(generate_api_key(), secrets.token_urlsafe(32))
    s = ctx.settings
    inputs = Inputs(cr_namespace=sbx.cr_namespace, cr_name=sbx.name,
                    stub=StubSettings(image=s.stub_image, port=s.stub_port, cluster_domain=s.cluster_domain,
                                      dns_namespace=s.dns_namespace, dns_pod_label=s.dns_pod_label,
                                      operator_namespace=s.operator_namespace, operator_pod_labels=s.pod_labels()),
                    specs=specs, fixtures=fixtures, credentials=creds, awake=not asleep)
    wanted = desired_objects(model, inputs)
    urls = endpoints(model, inputs)
    writes_before = kube.writes
    changes: dict[str, list[str]] = {"created": [], "updated": [], "deleted": []}
    try:
        fresh = False  # the namespace was just created: what belongs in it cannot exist yet
        for obj in wanted:
            outcome = ensure(kube, obj, probably_absent=fresh)
            if obj["kind"] == "Namespace":
                fresh = outcome == "created"
            if outcome != "unchanged":
                where = obj["metadata"].get("namespace")
                ref = f"{obj['kind']} {where + '/' if where else ''}{obj['metadata']['name']}"
                logger.info(f"{outcome} {ref}")
                changes[outcome].append(f"{obj['kind']}/{obj['metadata']['name']}")
        # Read the credentials back: a concurrent pass (another replica, a restart) may have won the create.
        stored = existing or kube.get("v1", "Secret", naming.CREDENTIALS_SECRET, sbx.namespace)
        if stored is None:
            raise NotFound(f"Secret {sbx.namespace}/{naming.CREDENTIALS_SECRET} vanished after its creation")
        values = {k: v for k, v in secret_values(stored).items() if k in ("apiKey", "adminToken")}
        ensure(kube, credentials_copy(cr_namespace=sbx.cr_namespace, cr_name=sbx.name, cr_uid=sbx.uid,
                                      tenant=sbx.tenant, values=values, urls=urls))
        changes["deleted"] = _prune(kube, sbx.namespace, wanted)
    except Recreating as exc:
        raise kopf.TemporaryError(str(exc), delay=1) from exc
    except Conflict as exc:
        sbx.fail("ObjectConflict", str(exc))
        raise kopf.TemporaryError(str(exc), delay=s.retry_seconds * 4) from exc
    except (NotFound, ApiException) as exc:
        status = getattr(exc, "status", 404)
        if status in (403, 404, 409, 500, 503, 429):
            metrics.RECONCILE_ERRORS.labels(reason=f"api_{status}").inc()
            raise kopf.TemporaryError(f"API call failed ({status}); retrying", delay=s.retry_seconds / 3) from exc
        raise
    finally:
        metrics.API_WRITES.inc(kube.writes - writes_before)
    if any(changes.values()):
        summary = f"namespace {sbx.namespace}: {_summary(changes)}"
        if first:
            # The first pass is logged, not posted: the Ready Event (and the Ready condition
            # meanwhile) tells the person; an Event per sandbox creation is one API write saved.
            logger.info(f"provisioned {summary}")
        else:
            kopf.info(body, reason="Updated", message=summary)
    sync.report(sbx, followed, now)
    sbx.write(namespace=sbx.namespace, endpoints=urls, credentialsSecret=credentials_copy_name(sbx.name),
              observed=True)
    if not asleep:
        _report_workloads(sbx)


def _wake(sbx: Sandbox, sleeping: bool) -> None:
    """Bring an admitted sandbox out of sleep (its objects scale up in this pass) and drop the wake request."""
    if sleeping:
        waited = sbx.status.get("sleepingSince")
        kopf.info(sbx.body, reason="Waking", message=f"waking (asleep since {waited}); the stubs get their state back "
                                                     "before the sandbox is Ready")
        metrics.WAKES.inc()
        sbx.write(phase="Provisioning", sleepingSince=None, wakeRequestedAt=None,
                  ready=(False, "Waking", "scaling the app and the stubs back up"))
        sbx.flush()  # awake in the API first: a kill now leaves an awake sandbox holding its seat
    sleep.clear_wake_request(sbx.ctx.kube, sbx.cr_namespace, sbx.name)


def _sleeping_message(ctx: Context, sbx: Sandbox, since: str, why: str) -> str:
    """Return the Ready condition's message for a sleeping sandbox: since when, why, and how to wake it."""
    how = f"`kubectl annotate sbx {sbx.name} -n {sbx.cr_namespace} {WAKE_ANNOTATION}=now`"
    if ctx.settings.wake_url:
        how += f" or POST {ctx.settings.wake_url.rstrip('/')}/wake/{sbx.cr_namespace}/{sbx.name} with its apiKey"
    return f"asleep since {since}{': ' + why if why else ''}; wake it with {how}"


def _maybe_sleep(ctx: Context, sbx: Sandbox, model: SandboxEnvironment, logger: kopf.Logger) -> None:
    """Put a Ready sandbox to sleep when its tenant sets idleAfter and no request reached its stubs for that long.

    Order matters for a kill at any moment: the stubs' state is kept first (a sandbox killed
    before it is marked asleep simply stays awake), then the status says Sleeping (from then on
    it holds no seat), then the app and the stubs are scaled to zero, then the seat goes to the
    next in line.
    """
    tenant = ctx.admission.spec(model.spec.tenant, max_age=ctx.settings.resync_seconds)
    if tenant is None or not tenant.idleAfter or not ctx.due(sbx.key, ctx.settings.activity_seconds):
        return
    urls = sbx.status.get("endpoints") or {}
    names = [d.name for d in model.spec.downstreams]
    awake_since = parse_time(sbx.status.get("admittedAt") or sbx.creation)
    idle_after = parse_duration(tenant.idleAfter)

    def verdict() -> Any:
        return idle_verdict(sleep.readings(ctx.stubs, urls, names), awake_since=awake_since,
                            idle_after=idle_after, now=_now())

    first = verdict()
    if not first.sleep:
        return
    stateful = [d.name for d in model.spec.downstreams if d.stateful]
    try:
        sleep.keep_state(ctx.kube, ctx.stubs, cr_namespace=sbx.cr_namespace, cr_name=sbx.name, tenant=sbx.tenant,
                         urls=urls, downstreams=stateful)
    except (StubError, sleep.StateTooLarge, ApiException) as exc:
        logger.warning(f"not sleeping: {exc}")
        if ctx.warned.get(sbx.key) != str(exc):  # one Event per distinct problem, not one per probe
            ctx.warned[sbx.key] = str(exc)
            kopf.warn(sbx.body, reason="SleepFailed", message=f"not put to sleep: {exc}")
        return
    ctx.warned.pop(sbx.key, None)
    if not verdict().sleep:  # a request arrived while the state was being kept
        return
    now = format_time(_now())
    message = _sleeping_message(ctx, sbx, now, first.why)
    kopf.info(sbx.body, reason="Sleeping", message=message)
    metrics.SLEEPS.inc()
    sbx.write(phase="Sleeping", sleepingSince=now, restorePending=stateful or None, ready=(False, "Sleeping", message))
    sbx.flush()
    _reconcile(ctx, {**sbx.body, "status": dict(sbx.status)}, logger)  # scale the app and the stubs to zero
    ctx.admission.release(model.spec.tenant)


def _suffix(filename: str) -> str:
    """Return the extension of a fixtures file (.json, .yaml or .yml)."""
    for ext in (".json", ".yaml", ".yml"):
        if filename.endswith(ext):
            return ext
    return ".yaml"


def _recheck(ctx: Context, memo: Any, body: Any, logger: kopf.Logger) -> None:
    """Enforce the ttl, converge unhandled or drifted specs, and move readiness forward.

    Recovery never depends on kopf's own bookkeeping: a sandbox whose current generation was
    never fully handled (status.observedGeneration behind metadata.generation, or no status at
    all, as after an operator killed mid-creation) is reconciled here. kopf runs update handlers
    on the difference from the last *handled* spec, so a change reverted while a retry was
    pending is caught the same way, and a slower periodic resync repairs objects someone changed
    or deleted in the sandbox namespace.
    """
    if body["metadata"].get("deletionTimestamp"):
        return
    sbx = Sandbox(ctx, body)
    try:
        model = SandboxEnvironment.model_validate({"spec": body.get("spec") or {}})
    except ValidationError:
        if sbx.status.get("observedGeneration") != sbx.generation:
            try:
                _reconcile(ctx, body, logger)  # reports InvalidSpec (a PermanentError)
            except (kopf.TemporaryError, kopf.PermanentError):
                pass
        return
    sbx.tenant = model.spec.tenant
    ends = _expiry(sbx, model, ctx.admission.spec(model.spec.tenant, max_age=ctx.settings.resync_seconds))
    if ends.at is not None and _now() >= ends.at:
        _expire(sbx, model, ends)
        return
    if sbx.phase != "Expired":
        now = time.monotonic()
        unhandled = (sbx.status.get("observedGeneration") != sbx.generation or sbx.phase == "Queued"
                     or sleep.wake_requested(body))
        due = now - getattr(memo, "last_resync", now) >= ctx.settings.resync_seconds
        if not hasattr(memo, "last_resync"):
            memo.last_resync = now
        woken = False
        if unhandled or due or (woken := sync.due(ctx, memo, body, model)):
            memo.last_resync = now
            finished = False
            try:
                _reconcile(ctx, body, logger)
                finished = True
            except kopf.PermanentError as exc:
                finished = True  # reported on the status; nothing to retry until something changes
                logger.info(f"periodic reconcile did not finish: {exc}")
            except kopf.TemporaryError as exc:
                logger.info(f"periodic reconcile did not finish: {exc}")
            finally:
                if woken and not finished:
                    sync.wake_again(ctx, body)  # the change the watch saw is still to be acted on
            return
    ready = get_condition(sbx.status.get("conditions"), "Ready") or {}
    if sbx.phase in ("Provisioning", "Ready", "Failed") and ready.get("reason") in WORKLOAD_REASONS:
        if ctx.kube.get("v1", "Namespace", sbx.namespace) is not None:
            _report_workloads(sbx)
            sbx.flush()
    if sbx.phase == "Ready":
        _maybe_sleep(ctx, sbx, model, logger)


async def _teardown(ctx: Context, body: Any, runtime: Any, logger: kopf.Logger) -> None:
    """Delete the sandbox namespace and hold the CR (finalizer) until everything in it is gone.

    Waits in the handler (asynchronously, no thread held) for the namespace controller to
    finish, checking every second, instead of failing and being retried: each kopf retry
    writes its progress onto the CR, which was about twenty writes per deletion. After
    TEARDOWN_WAIT_SECONDS it falls back to retrying every ten seconds.
    """
    sbx = Sandbox(ctx, body)
    if sbx.phase != "Terminating":
        kopf.info(body, reason="TearingDown", message=f"deleting namespace {sbx.namespace}")
        sbx.write(phase="Terminating", ready=(False, "Terminating", "the sandbox is being deleted"),
                  queuePosition=None)
        await asyncio.to_thread(sbx.flush)
        # Its seat (or place) goes to the next in line now.
        await asyncio.to_thread(ctx.admission.release, sbx.tenant)
    deadline = time.monotonic() + TEARDOWN_WAIT_SECONDS
    while not await asyncio.to_thread(_teardown_namespace, sbx):
        if time.monotonic() >= deadline:
            raise kopf.TemporaryError(f"waiting for namespace {sbx.namespace} to be deleted", delay=10)
        await asyncio.sleep(1)
    metrics.TEARDOWN_SECONDS.observe(runtime.total_seconds())
    metrics.record_phase(sbx.key, None, sbx.tenant)
    logger.info(f"namespace {sbx.namespace} is gone")


def _sweep_orphans(kube: Kube, logger: kopf.Logger) -> None:
    """Delete sandbox namespaces whose SandboxEnvironment no longer exists (e.g. a finalizer removed by hand)."""
    try:
        namespaces = kube.list("v1", "Namespace", label_selector=f"{naming.MANAGED_BY}={naming.MANAGER}")
        for ns in namespaces:
            owner = (ns["metadata"].get("annotations") or {}).get(naming.ANNOTATION_OWNER, "")
            cr_ns, _, cr_name = owner.partition("/")
            if not cr_name or ns["metadata"].get("deletionTimestamp"):
                continue
            if naming.sandbox_namespace(cr_ns, cr_name) != ns["metadata"]["name"]:
                continue
            if kube.get(API_VERSION, KIND, cr_name, cr_ns) is None:
                logger.info(f"deleting orphaned sandbox namespace {ns['metadata']['name']} (owner {owner} is gone)")
                kube.delete("v1", "Namespace", ns["metadata"]["name"])
    except ApiException as exc:  # never block start-up on housekeeping
        logger.warning(f"orphan sweep skipped: {exc.status} {exc.reason}")


# ----- registration ----------------------------------------------------------------------------


def build_registry(settings: OperatorSettings | None = None, stubs: StubClient | None = None) -> kopf.OperatorRegistry:
    """Return a kopf registry with the SandboxEnvironment handlers, timed by `settings` (read now if None).

    `stubs` is how the operator reaches the sandboxes' stubs (default: HTTP at their in-cluster URLs).
    """
    operator_settings = settings = settings or load_settings()
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """Authenticate kopf in-cluster, else through the client library from KUBECONFIG as set now.

        The client library fixes its default kubeconfig path when imported; point it at the
        current KUBECONFIG first so exec plugins and the like keep working and no stale file is used.
        """
        import kubernetes

        path = (load_settings().kubeconfig or "").split(":")[0]
        if path:
            kubernetes.config.kube_config.KUBE_CONFIG_DEFAULT_LOCATION = path
        return kopf.login_with_service_account(**kwargs) or kopf.login_via_client(**kwargs)

    @kopf.index(GROUP, VERSION, PLURAL, id="spec_configmaps", registry=registry)
    def spec_configmaps(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[tuple[str, str], str]:
        """Index the ConfigMaps each sandbox reads its downstreams' specs from (the watch follows them)."""
        return configmap_references(namespace or "", name, spec)

    @kopf.on.startup(registry=registry)
    def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        """Configure kopf and create the API client the handlers share."""
        settings.persistence.finalizer = FINALIZER
        settings.posting.level = logging.INFO
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.execution.max_workers = operator_settings.workers
        if getattr(memo, "sandlot", None) is None:
            kube = Kube(make_api_client())
            memo.sandlot = Context(kube=kube, settings=operator_settings,
                                   addresses=address_policy(operator_settings, learn_cluster_networks(kube)),
                                   platform=platform_sources(operator_settings),
                                   stubs=stubs or HttpStubClient(timeout=operator_settings.stub_timeout_seconds))
        _sweep_orphans(memo.sandlot.kube, log)
        memo.sandlot.follower = sync.ConfigMapFollower(memo.sandlot.kube).start()

    @kopf.on.cleanup(registry=registry)
    def cleanup(memo: kopf.Memo, **_: Any) -> None:
        """Stop watching spec ConfigMaps."""
        if getattr(memo, "sandlot", None) is not None and memo.sandlot.follower is not None:
            memo.sandlot.follower.stop()

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry)
    def reconcile(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
        """Make the sandbox namespace hold exactly what the spec asks for."""
        ctx = _context(memo)
        with ctx.exclusive(f"{body['metadata']['namespace']}/{body['metadata']['name']}"):
            _reconcile(ctx, body, logger)

    @kopf.timer(GROUP, VERSION, PLURAL, interval=settings.recheck_seconds, initial_delay=settings.recheck_seconds,
                registry=registry)
    def recheck(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any) -> None:
        """Periodically enforce the ttl and converge what the change handlers left (see _recheck)."""
        ctx = _context(memo)
        if ctx.follower is not None:
            # kopf hands its live index (by the indexer's id) to resource handlers only
            ctx.follower.use(kwargs["spec_configmaps"])
        with ctx.exclusive(f"{body['metadata']['namespace']}/{body['metadata']['name']}", wait=False) as free:
            if free:  # a busy sandbox is being reconciled right now; look again next time
                _recheck(ctx, memo, body, logger)

    @kopf.on.event(GROUP, VERSION, TENANT_PLURAL, registry=registry)
    def tenant_changed(body: kopf.Body, event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
        """Keep the cache of tenant specs (used for expiry and idle checks) in step with the API."""
        deleted = event.get("type") == "DELETED"
        _context(memo).admission.observe(body["metadata"]["name"], None if deleted else dict(body))

    @kopf.timer(GROUP, VERSION, TENANT_PLURAL, interval=settings.recheck_seconds, registry=registry)
    def tenant_pass(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
        """Run the tenant's admission pass: free the seats of sandboxes gone or asleep, seat the next,
        publish the figures."""
        try:
            _context(memo).admission.run(body["metadata"]["name"])
        except (TenantInvalid, LedgerBusy) as exc:
            logger.warning(str(exc))

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    async def teardown(body: kopf.Body, memo: kopf.Memo, runtime: Any, logger: kopf.Logger, **_: Any) -> None:
        """Delete the sandbox namespace and hold the CR (finalizer) until everything in it is gone."""
        await _teardown(_context(memo), body, runtime, logger)

    return registry
