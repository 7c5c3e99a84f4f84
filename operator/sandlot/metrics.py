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
