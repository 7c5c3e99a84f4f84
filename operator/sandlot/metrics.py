"""Every Prometheus metric of Sandlot, with one prefix (`sandlot_`) and unit suffixes.

The operator's handlers update these; `sandlot operator` serves them on --metrics-port.
"""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram

SANDBOXES = Gauge("sandlot_sandboxes", "Sandboxes known to this operator, by phase and tenant.",
                  ["phase", "tenant"])
PROVISION_SECONDS = Histogram(
    "sandlot_provisioning_duration_seconds", "Time from a sandbox's creation to its first Ready.",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200),
)
TEARDOWN_SECONDS = Histogram(
    "sandlot_teardown_duration_seconds", "Time from a delete request to the sandbox namespace being gone.",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
RECONCILE_ERRORS = Counter("sandlot_reconcile_errors_total", "Failed reconcile attempts, by reason.", ["reason"])
EXPIRATIONS = Counter("sandlot_expirations_total", "Sandboxes whose ttl ran out, by what happened to the CR.",
                      ["action"])
API_WRITES = Counter("sandlot_api_write_calls_total", "Kubernetes API write calls made by the reconcilers.")
SPEC_CHANGES = Counter(
    "sandlot_spec_changes_total",
    "New versions of downstreams' specs found at their sources, by what the operator did with them (served, held "
    "until accepted, invalid) and whether they break the version the stub served.", ["outcome", "breaking"])
SPEC_POLLS = Counter(
    "sandlot_spec_polls_total",
    "Polls of url and s3 spec sources, by result: not_modified (a 304: nothing sent), unchanged, changed, failed.",
    ["result"])

TENANT_SANDBOXES = Gauge("sandlot_tenant_sandboxes",
                         "Sandboxes of a tenant by admission state: active (holding a seat), queued, sleeping.",
                         ["tenant", "state"])
TENANT_MAX_SANDBOXES = Gauge("sandlot_tenant_max_sandboxes", "A tenant's maxSandboxes (active sandboxes at once).",
                             ["tenant"])
TENANT_CPU = Gauge("sandlot_tenant_cpu_cores",
                   "CPU quota of a tenant's active sandboxes (amount=used) and its budget (amount=budget).",
                   ["tenant", "amount"])
TENANT_MEMORY = Gauge("sandlot_tenant_memory_bytes",
                      "Memory quota of a tenant's active sandboxes (amount=used) and its budget (amount=budget).",
                      ["tenant", "amount"])
TENANT_PODS = Gauge("sandlot_tenant_pods",
                    "Pod quota of a tenant's active sandboxes (amount=used) and its budget (amount=budget).",
                    ["tenant", "amount"])
QUEUE_WAIT_SECONDS = Histogram(
    "sandlot_queue_wait_seconds", "Time a sandbox waited in its tenant's queue before it was admitted.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)
SLEEPS = Counter("sandlot_sleeps_total", "Sandboxes put to sleep after idleAfter with no request to their stubs.")
WAKES = Counter("sandlot_wakes_total", "Sleeping sandboxes woken (annotation or wake endpoint) and admitted again.")
ADMISSION_CONFLICTS = Counter("sandlot_admission_conflicts_total",
                              "Tenant ledger writes refused with 409 (another pass was first), then decided again.")

_phases: dict[str, tuple[str, str]] = {}
_lock = threading.Lock()


def record_phase(key: str, phase: str | None, tenant: str) -> None:
    """Remember the phase of sandbox `key` (None: forget it) and refresh the gauge."""
    with _lock:
        if phase is None:
            _phases.pop(key, None)
        else:
            _phases[key] = (phase, tenant)
        counts: dict[tuple[str, str], int] = {}
        for value in _phases.values():
            counts[value] = counts.get(value, 0) + 1
        SANDBOXES.clear()
        for (ph, ten), n in counts.items():
            SANDBOXES.labels(phase=ph, tenant=ten).set(n)


def record_tenant(name: str, *, active: int, queued: int, sleeping: int, max_sandboxes: int,
                  used: tuple[float, float, float], budget: tuple[float | None, float | None, float | None]) -> None:
    """Set the gauges of one tenant: sandboxes by state, its limit, and budget used and granted."""
    for state, value in (("active", active), ("queued", queued), ("sleeping", sleeping)):
        TENANT_SANDBOXES.labels(tenant=name, state=state).set(value)
    TENANT_MAX_SANDBOXES.labels(tenant=name).set(max_sandboxes)
    for gauge, now, limit in zip((TENANT_CPU, TENANT_MEMORY, TENANT_PODS), used, budget, strict=True):
        gauge.labels(tenant=name, amount="used").set(now)
        if limit is None:
            try:
                gauge.remove(name, "budget")
            except KeyError:
                pass
        else:
            gauge.labels(tenant=name, amount="budget").set(limit)


def forget_tenant(name: str) -> None:
    """Drop the gauges of a tenant that no longer exists."""
    gauges: list[tuple[Gauge, list[tuple[str, ...]]]] = [
        (TENANT_SANDBOXES, [(name, s) for s in ("active", "queued", "sleeping")]),
        (TENANT_MAX_SANDBOXES, [(name,)]),
    ]
    gauges += [(g, [(name, "used"), (name, "budget")]) for g in (TENANT_CPU, TENANT_MEMORY, TENANT_PODS)]
    for gauge, labels in gauges:
        for values in labels:
            try:
                gauge.remove(*values)
            except KeyError:
                pass
