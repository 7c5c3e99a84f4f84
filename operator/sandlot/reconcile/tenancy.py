"""Check a sandbox against its SandboxTenant's grant.

Pure: the handler passes the tenant (or None when no SandboxTenant of that name exists: then
only the built-in defaults apply). How many sandboxes may run at once, and in which order the
others wait, is admission's part (reconcile/admission.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sandlot.api.v1alpha1 import SandboxEnvironment, SandboxTenantSpec
from sandlot.reconcile.lifetime import effective_ttl, parse_ttl


@dataclass(frozen=True)
class Refusal:
    """Why the tenant's grant does not allow the sandbox; `retry` when it may pass later."""

    reason: str
    message: str
    retry: bool = False


def check_tenant(sbx: SandboxEnvironment, tenant: SandboxTenantSpec | None, *, cr_namespace: str) -> Refusal | None:
    """Return a Refusal when the tenant's grant does not allow `sbx`, else None."""
    if tenant is None:
        return None
    name = sbx.spec.tenant
    if tenant.namespaces and cr_namespace not in tenant.namespaces:
        return Refusal("TenantNamespaceNotAllowed",
                       f"spec.tenant: namespace {cr_namespace!r} does not belong to tenant {name!r} "
                       f"(allowed: {', '.join(tenant.namespaces)}); use the right tenant or ask the platform "
                       "team to add the namespace")
    ttl = effective_ttl(sbx.spec.ttl, tenant)
    if parse_ttl(ttl) > parse_ttl(tenant.maxTtl):
        return Refusal("TTLTooLong",
                       f"spec.ttl: {ttl} is longer than tenant {name!r} allows ({tenant.maxTtl}); "
                       "lower spec.ttl")
    if tenant.allowedRegistries and not any(sbx.spec.app.image.startswith(p) for p in tenant.allowedRegistries):
        return Refusal("ImageNotAllowed",
                       f"spec.app.image: {sbx.spec.app.image!r} is not from a registry tenant {name!r} allows "
                       f"({', '.join(tenant.allowedRegistries)}); push the image there")
    return None
