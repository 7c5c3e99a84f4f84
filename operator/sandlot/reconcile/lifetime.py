"""Sandbox lifetime: parse a ttl and compute when a sandbox expires.

Pure: expiry is always recomputed from what the API stores (the CR's creationTimestamp,
status.admittedAt, spec.ttl, and the tenant's defaultTtl and maxLifetime), so it survives
operator restarts, raising spec.ttl extends it, and lowering the tenant's maxLifetime applies
at once. The ttl counts from admission, so time spent waiting in the tenant's queue does not
eat it; maxLifetime counts from creation, time queued and asleep included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sandlot.api.v1alpha1 import SandboxTenantSpec, parse_duration
from sandlot.util.durations import parse_ttl

__all__ = ["DEFAULT_TTL", "Expiry", "effective_ttl", "expires_at", "expiry", "format_time", "is_expired",
           "parse_time", "parse_ttl"]

#: The ttl of a sandbox that sets none, when its tenant sets no defaultTtl either.
DEFAULT_TTL = "24h"


def parse_time(stamp: str) -> datetime:
    """Return an RFC 3339 timestamp as an aware datetime."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def format_time(moment: datetime) -> str:
    """Return `moment` as Kubernetes writes timestamps (UTC, seconds, `Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expires_at(creation_timestamp: str, ttl: str) -> datetime:
    """Return when a sandbox admitted (or created) at `creation_timestamp` with `ttl` expires."""
    return parse_time(creation_timestamp) + parse_ttl(ttl)


def is_expired(creation_timestamp: str, ttl: str, now: datetime) -> bool:
    """Return True when the sandbox's lifetime is over at `now`."""
    return now >= expires_at(creation_timestamp, ttl)


def effective_ttl(ttl: str | None, tenant: SandboxTenantSpec | None) -> str:
    """Return the ttl that applies: the sandbox's own, else its tenant's defaultTtl, else 24h."""
    if ttl:
        return ttl
    if tenant is not None and tenant.defaultTtl:
        return tenant.defaultTtl
    return DEFAULT_TTL


@dataclass(frozen=True)
class Expiry:
    """When a sandbox expires (None: not while it waits) and which limit decides it."""

    at: datetime | None
    #: "ttl" or "maxLifetime".
    limit: str
    #: The sentence for Events and conditions: `ttl 2h` or `tenant 'x' maxLifetime 14d`.
    describe: str


def expiry(*, created: str, admitted_at: str | None, ttl: str | None, tenant: SandboxTenantSpec | None,
           tenant_name: str = "") -> Expiry:
    """Return when a sandbox expires: the earlier of admission + ttl and creation + maxLifetime.

    A sandbox never admitted yet (waiting in the queue) has no ttl running; only the tenant's
    maxLifetime can end it then.
    """
    ttl = effective_ttl(ttl, tenant)
    by_ttl = expires_at(admitted_at, ttl) if admitted_at else None
    lifetime = tenant.maxLifetime if tenant is not None else None
    by_life = parse_time(created) + parse_duration(lifetime) if lifetime else None
    if by_life is not None and (by_ttl is None or by_life < by_ttl):
        return Expiry(by_life, "maxLifetime", f"tenant {tenant_name!r} maxLifetime {lifetime}")
    return Expiry(by_ttl, "ttl", f"ttl {ttl}")
