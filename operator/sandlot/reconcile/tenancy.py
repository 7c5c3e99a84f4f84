"""Check a sandbox against its SandboxTenant's grant: namespaces, ttl, images and sources.

Pure: the handler passes the tenant (or None when no SandboxTenant of that name exists: then
only the built-in defaults apply), the tenants that claim the sandbox's namespace, and the
platform's settings for sources. Nothing here touches the network or the API; the guarded fetch
(sandlot.util.netguard) enforces the same URL rules again on every redirect. How many sandboxes
may run at once, and in which order the others wait, is admission's part (reconcile/admission.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sandlot.api.v1alpha1 import S3ObjectRef, SandboxEnvironment, SandboxTenantSpec
from sandlot.reconcile.lifetime import effective_ttl, parse_ttl
from sandlot.util.netguard import FetchPolicy, Refused, check_url

SOURCE_NOT_ALLOWED = "SourceNotAllowed"


@dataclass(frozen=True)
class Refusal:
    """Why the tenant's grant does not allow the sandbox; `retry` when it may pass later."""

    reason: str
    message: str
    retry: bool = False


def normalize_image(image: str) -> str:
    """Return the fully qualified name of an image reference (`nginx:1` -> `docker.io/library/nginx:1`).

    The first path component is a registry when it has a dot or a port or is `localhost`, as the
    container runtimes decide; otherwise the image is on Docker Hub. The registry is lower-cased.
    """
    first, sep, rest = image.partition("/")
    if not sep:
        return f"docker.io/library/{image}"
    if "." in first or ":" in first or first == "localhost":
        host = first.lower()
        return f"{'docker.io' if host == 'index.docker.io' else host}/{rest}"
    return f"docker.io/{image}"


def image_allowed(image: str, prefixes: Sequence[str]) -> bool:
    """Return True when the image's full name is under one of `prefixes` (none listed: any image).

    A prefix that does not end in `/`, `:` or `@` must be followed by one of them, so
    `ghcr.io/acme` allows `ghcr.io/acme/app` but not `ghcr.io/acme-evil/app`.
    """
    if not prefixes:
        return True
    full = normalize_image(image)
    for prefix in prefixes:
        wanted = normalize_image(prefix) if "/" in prefix else prefix.lower()
        if full.startswith(wanted) and (wanted.endswith(("/", ":", "@")) or full[len(wanted):len(wanted) + 1]
                                        in ("/", ":", "@", "")):
            return True
    return False


def sandbox_images(sbx: SandboxEnvironment) -> list[tuple[str, str]]:
    """Return (field, image) for every image the sandbox's spec makes the cluster run."""
    images = [("spec.app.image", sbx.spec.app.image)]
    if sbx.spec.seed is not None and sbx.spec.seed.job is not None:
        images.append(("spec.seed.job.image", sbx.spec.seed.job.image))
    return images


def check_tenant(sbx: SandboxEnvironment, tenant: SandboxTenantSpec | None, *, cr_namespace: str,
                 claimed_by: Sequence[str] = ()) -> Refusal | None:
    """Return a Refusal when the tenant's grant does not allow `sbx`, else None.

    `claimed_by` names the SandboxTenants whose `namespaces` list `cr_namespace`: a namespace a
    tenant claims may only use that tenant, so a sandbox cannot escape its tenant's limits by
    naming another (or no) SandboxTenant.
    """
    name = sbx.spec.tenant
    if claimed_by and name not in claimed_by:
        return Refusal("TenantNamespaceNotAllowed",
                       f"spec.tenant: namespace {cr_namespace!r} belongs to tenant {', '.join(claimed_by)}, "
                       f"not {name!r}; set spec.tenant: {claimed_by[0]}")
    if tenant is None:
        return None
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
    for field, image in sandbox_images(sbx):
        if not image_allowed(image, tenant.allowedRegistries):
            return Refusal("ImageNotAllowed",
                           f"{field}: {image!r} is not from a registry tenant {name!r} allows "
                           f"({', '.join(tenant.allowedRegistries)}); push the image there")
    return None


# ----- sources ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformSources:
    """What the platform opens for every tenant (the operator's SANDLOT_SOURCES_* settings)."""

    urls: tuple[str, ...] = ()
    s3: tuple[tuple[str, str], ...] = ()
    s3_endpoints: tuple[str, ...] = ()
    require_allowlist: bool = False


@dataclass(frozen=True)
class SourceGrant:
    """Where one tenant's sandboxes may read url and s3 sources, and with which S3 credentials.

    `url_prefixes` / `s3_objects` None: not restricted (any public URL; any object the sandbox's
    own credentials read). `operator_objects` restrict what the operator's own credentials read.
    """

    tenant: str
    url_prefixes: tuple[str, ...] | None
    s3_objects: tuple[tuple[str, str], ...] | None
    operator_objects: tuple[tuple[str, str], ...]
    s3_endpoints: tuple[str, ...]
    role_arn: str | None = None
    operator_credentials: bool = False

    def url_remedy(self) -> str:
        """Return how a URL outside the grant could be allowed."""
        return (f"ask the platform team to add a prefix to SandboxTenant {self.tenant!r} spec.allowedSources.urls "
                "(or to SANDLOT_SOURCES_ALLOWED_URLS for every tenant), or ship the document in a ConfigMap")


def source_grant(tenant_name: str, tenant: SandboxTenantSpec | None, platform: PlatformSources) -> SourceGrant:
    """Return the source grant of a tenant: its allowedSources and s3Credentials plus the platform's lists."""
    allowed = tenant.allowedSources if tenant is not None else None
    creds = tenant.s3Credentials if tenant is not None else None
    tenant_s3 = tuple((p.bucket, p.prefix) for p in allowed.s3) if allowed else ()
    restricted = allowed is not None or platform.require_allowlist
    return SourceGrant(
        tenant=tenant_name,
        url_prefixes=(tuple(allowed.urls) if allowed else ()) + platform.urls if restricted else None,
        s3_objects=tenant_s3 + platform.s3 if restricted else None,
        operator_objects=tenant_s3 + platform.s3,
        s3_endpoints=(tuple(allowed.s3Endpoints) if allowed else ()) + platform.s3_endpoints,
        role_arn=creds.roleArn if creds else None,
        operator_credentials=bool(creds and creds.useOperatorCredentials),
    )


@dataclass(frozen=True)
class S3Plan:
    """How an S3 source is read: with a Secret of the CR's namespace, a mapped role, or the operator's own."""

    credentials: Literal["secret", "role", "operator"]
    secret: str | None = None
    role_arn: str | None = None


def _pairs(pairs: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{b}/{p}" for b, p in pairs) or "none"


def _under(ref: S3ObjectRef, pairs: Sequence[tuple[str, str]]) -> bool:
    return any(ref.bucket == bucket and ref.key.startswith(prefix) for bucket, prefix in pairs)


def plan_s3(ref: S3ObjectRef, field: str, grant: SourceGrant, cr_namespace: str) -> S3Plan | Refusal:
    """Return how to read an S3 source, or a SourceNotAllowed refusal naming the rule and the fix."""
    where = f"s3://{ref.bucket}/{ref.key}"
    if ref.endpointUrl is not None and ref.endpointUrl.rstrip("/") not in {e.rstrip("/") for e in grant.s3_endpoints}:
        return Refusal(SOURCE_NOT_ALLOWED,
                       f"{field}.s3.endpointUrl: {ref.endpointUrl} is not an S3 endpoint tenant {grant.tenant!r} "
                       f"may use (allowed: {', '.join(grant.s3_endpoints) or 'none'}); the operator sends S3 "
                       "requests only to AWS and to endpoints the platform lists: ask the platform team to add "
                       f"it to SandboxTenant {grant.tenant!r} spec.allowedSources.s3Endpoints (or to "
                       "SANDLOT_SOURCES_ALLOWED_S3_ENDPOINTS for every tenant)")
    if grant.s3_objects is not None and not _under(ref, grant.s3_objects):
        return Refusal(SOURCE_NOT_ALLOWED,
                       f"{field}.s3: {where} is under none of the bucket/prefix pairs tenant {grant.tenant!r} may "
                       f"read (allowed: {_pairs(grant.s3_objects)}); ask the platform team to add the pair to "
                       f"SandboxTenant {grant.tenant!r} spec.allowedSources.s3 (or to SANDLOT_SOURCES_ALLOWED_S3 "
                       "for every tenant)")
    if ref.secretRef is not None:
        return S3Plan("secret", secret=ref.secretRef.name)
    if grant.role_arn:
        return S3Plan("role", role_arn=grant.role_arn)
    if grant.operator_credentials:
        if not _under(ref, grant.operator_objects):
            return Refusal(SOURCE_NOT_ALLOWED,
                           f"{field}.s3: {where} would be read with the operator's own credentials, which read "
                           f"only the bucket/prefix pairs listed for tenant {grant.tenant!r} (allowed: "
                           f"{_pairs(grant.operator_objects)}); ask the platform team to add the pair to "
                           f"SandboxTenant {grant.tenant!r} spec.allowedSources.s3, or name your own Secret in "
                           f"{field}.s3.secretRef")
        return S3Plan("operator")
    return Refusal(SOURCE_NOT_ALLOWED,
                   f"{field}.s3: no credentials to read {where}: name a Secret of namespace {cr_namespace!r} "
                   f"holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in {field}.s3.secretRef; the operator "
                   f"uses its own credentials only for tenants the platform opts in (SandboxTenant "
                   f"{grant.tenant!r} spec.s3Credentials.roleArn or useOperatorCredentials)")


def sandbox_sources(sbx: SandboxEnvironment) -> list[tuple[str, Any]]:
    """Return (field, source) for every OpenAPI document and fixtures source of the spec."""
    sources: list[tuple[str, Any]] = [(f"spec.downstreams[{i}].openapi", d.openapi)
                                      for i, d in enumerate(sbx.spec.downstreams)]
    if sbx.spec.seed is not None and sbx.spec.seed.fixtures is not None:
        sources.append(("spec.seed.fixtures", sbx.spec.seed.fixtures))
    return sources


def check_sources(sbx: SandboxEnvironment, grant: SourceGrant, cr_namespace: str) -> Refusal | None:
    """Return the first SourceNotAllowed refusal among the spec's url and s3 sources, else None.

    Checked before anything is fetched, so a refused sandbox reads nothing at all. Addresses
    are checked later, by the guarded fetch itself, on the address it connects to.
    """
    for field, source in sandbox_sources(sbx):
        url = getattr(source, "url", None)
        if url is not None:
            try:
                check_url(url, FetchPolicy(url_prefixes=grant.url_prefixes, prefixes_remedy=grant.url_remedy()))
            except Refused as exc:
                return Refusal(SOURCE_NOT_ALLOWED, f"{field}.url: {exc.message}")
        if source.s3 is not None:
            plan = plan_s3(source.s3, field, grant, cr_namespace)
            if isinstance(plan, Refusal):
                return plan
    return None
