"""The controller side of tenant admission: read, decide, and commit the ledger with optimistic concurrency.

Called by the SandboxEnvironment handlers (a sandbox asks for its verdict; a deleted, expired or
sleeping one frees its seat) and by the SandboxTenant timer (handlers.py). The rules live in
reconcile/admission.py; this module makes the API calls around them:

1. GET the SandboxTenant (its status holds the ledger) and remember its resourceVersion;
2. LIST the SandboxEnvironments and keep the tenant's;
3. decide, and PATCH the tenant's status with `metadata.resourceVersion` set to what was read,
   so the API server applies it only if nobody wrote the tenant in between. A 409 means another
   pass (this operator's, another replica's, or one from before a restart) was first: read both
   again and decide again.

Passes for one tenant run one at a time in this process (a lock per tenant); the resourceVersion
check is what makes them exact across processes. Nothing is kept only in memory: the cache of
tenant specs here serves expiry and idle checks, never admission, which always reads afresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from sandlot import metrics
from sandlot.api.v1alpha1 import API_VERSION, SandboxTenantSpec
from sandlot.kube import Kube
from sandlot.reconcile.admission import Decision, Ledger, claim_from, decide
from sandlot.reconcile.quantity import Limit

TENANT_KIND = "SandboxTenant"
SANDBOX_KIND = "SandboxEnvironment"
#: How often a pass re-reads and decides again after a 409 before giving up (the caller retries later).
ATTEMPTS = 10

log = logging.getLogger("sandlot.operator")


class TenantInvalid(Exception):
    """The SandboxTenant's spec does not validate; the message names the fields."""


class LedgerBusy(Exception):
    """Every attempt to write the ledger met a newer version (retry the pass later)."""


@dataclass(frozen=True)
class Tenant:
    """A SandboxTenant as read from the API: its spec, its ledger, and the version they came from."""

    name: str
    spec: SandboxTenantSpec
    status: dict[str, Any]
    resource_version: str

    @property
    def ledger(self) -> Ledger:
        return Ledger.from_status(self.status)


def _tenant_of(body: dict[str, Any]) -> str:
    return (body.get("spec") or {}).get("tenant") or "default"


@dataclass
class Admission:
    """Admission passes over the API; `clock` returns the current time (tests may move it)."""

    kube: Kube
    format_errors: Callable[[ValidationError], str]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)
    _specs: dict[str, tuple[SandboxTenantSpec | None, float]] = field(default_factory=dict)

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def parse(self, name: str, obj: dict[str, Any] | None) -> Tenant | None:
        """Return the Tenant of an API object (None for none); raise TenantInvalid for a bad spec."""
        if obj is None:
            self._specs[name] = (None, time.monotonic())
            return None
        try:
            spec = SandboxTenantSpec.model_validate(obj.get("spec") or {})
        except ValidationError as exc:
            self._specs.pop(name, None)
            raise TenantInvalid(f"SandboxTenant {name!r} is invalid: {self.format_errors(exc)}") from exc
        self._specs[name] = (spec, time.monotonic())
        return Tenant(name, spec, dict(obj.get("status") or {}), obj["metadata"].get("resourceVersion", ""))

    def read(self, name: str) -> Tenant | None:
        """Return the tenant as stored now (None when no SandboxTenant has that name)."""
        return self.parse(name, self.kube.get(API_VERSION, TENANT_KIND, name))

    def spec(self, name: str, max_age: float) -> SandboxTenantSpec | None:
        """Return the tenant's spec from the cache the tenant watch keeps, read afresh when older than `max_age`."""
        cached = self._specs.get(name)
        if cached is not None and (cached[0] is not None or time.monotonic() - cached[1] < max_age):
            return cached[0]
        try:
            tenant = self.read(name)
        except TenantInvalid:
            return None
        return tenant.spec if tenant else None

    def observe(self, name: str, obj: dict[str, Any] | None) -> None:
        """Keep the cache in step with a watch event of a SandboxTenant (None: deleted)."""
        try:
            self.parse(name, obj)
        except TenantInvalid:
            pass
        if obj is None:
            metrics.forget_tenant(name)

    def run(self, name: str) -> tuple[Tenant, Decision] | None:
        """Run one admission pass for tenant `name` and commit it; return it (None: no such tenant).

        Raises TenantInvalid for a tenant whose spec does not validate, LedgerBusy when every
        attempt met a newer version.
        """
        with self._lock(name):
            for _ in range(ATTEMPTS):
                tenant = self.read(name)
                if tenant is None:
                    return None
                bodies = [o for o in self.kube.list(API_VERSION, SANDBOX_KIND) if _tenant_of(o) == name]
                now = self.clock()
                decision = decide(name, tenant.spec, tenant.ledger,
                                  [claim_from(b, tenant.spec, name, now) for b in bodies], now)
                wanted = decision.status()
                if any(tenant.status.get(k) != v for k, v in wanted.items()):
                    try:
                        stored = self.kube.patch(API_VERSION, TENANT_KIND, name, {
                            "metadata": {"resourceVersion": tenant.resource_version}, "status": wanted}, status=True)
                    except ApiException as exc:
                        if exc.status == 409:
                            metrics.ADMISSION_CONFLICTS.inc()
                            continue
                        raise
                    tenant = Tenant(name, tenant.spec, dict(stored.get("status") or wanted),
                                    stored["metadata"].get("resourceVersion", ""))
                _record(name, tenant.spec, decision)
                return tenant, decision
        raise LedgerBusy(f"the ledger of tenant {name!r} changed under every one of {ATTEMPTS} attempts; retrying")

    def release(self, name: str) -> None:
        """Run a pass so a seat freed by a delete, an expiry or a sleep goes to the next in line now."""
        try:
            self.run(name)
        except (TenantInvalid, LedgerBusy, ApiException) as exc:  # the tenant timer will do it
            log.info(f"admission pass for tenant {name!r} deferred: {exc}")


def _record(name: str, spec: SandboxTenantSpec, decision: Decision) -> None:
    """Publish a tenant's figures as Prometheus gauges."""
    budget = spec.budget
    limit = Limit.of(budget.cpu, budget.memory, budget.pods) if budget is not None else Limit()
    metrics.record_tenant(name, active=len(decision.ledger.seats), queued=len(decision.ledger.queue),
                          sleeping=decision.sleeping, max_sandboxes=spec.maxSandboxes,
                          used=(decision.used.cpu / 1000, decision.used.memory, decision.used.pods),
                          budget=(None if limit.cpu is None else limit.cpu / 1000, limit.memory, limit.pods))
