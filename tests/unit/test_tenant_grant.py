"""The tenant's grant, pure: images, namespace claims, and where url and s3 sources may point.

reconcile/tenancy.py decides before anything is fetched or created; these tests pin its exact
verdicts and messages (each names the field, the rule and who can change it). The platform's
settings are turned into the same inputs by controller/sources.py, tested here too.
"""

from __future__ import annotations

import ipaddress

import pytest

from sandlot.api.v1alpha1 import SandboxEnvironment, SandboxTenantSpec
from sandlot.controller.sources import OPEN_WITH, address_policy, platform_sources
from sandlot.reconcile.tenancy import (
    PlatformSources,
    Refusal,
    S3Plan,
    check_sources,
    check_tenant,
    image_allowed,
    normalize_image,
    plan_s3,
    source_grant,
)
from sandlot.settings import OperatorSettings
from sandlot.util.netguard import NamedNetwork


def sandbox(**spec) -> SandboxEnvironment:
    base = {"app": {"image": "ghcr.io/acme/payments:1"}, "tenant": "payments"}
    return SandboxEnvironment.model_validate({"spec": {**base, **spec}})


def tenant(**spec) -> SandboxTenantSpec:
    return SandboxTenantSpec.model_validate(spec)


def s3_source(**ref) -> dict:
    return {"name": "pets", "envVar": "PETS_URL", "openapi": {"s3": {"bucket": "acme-specs", "key": "pets/v1.yaml",
                                                                      **ref}}}


def url_source(url: str) -> dict:
    return {"name": "pets", "envVar": "PETS_URL", "openapi": {"url": url}}


@pytest.mark.parametrize(("image", "full"), [
    ("nginx", "docker.io/library/nginx"),
    ("nginx:1.27", "docker.io/library/nginx:1.27"),
    ("acme/app:1", "docker.io/acme/app:1"),
    ("GHCR.io/acme/app:1", "ghcr.io/acme/app:1"),
    ("index.docker.io/acme/app", "docker.io/acme/app"),
    ("localhost/app:1", "localhost/app:1"),
    ("registry.local:5000/app@sha256:abc", "registry.local:5000/app@sha256:abc"),
])
def test_images_are_compared_on_their_full_name(image, full):
    assert normalize_image(image) == full


@pytest.mark.parametrize(("image", "prefixes", "allowed"), [
    ("ghcr.io/acme/app:1", ["ghcr.io/acme/"], True),
    ("ghcr.io/acme/app:1", ["ghcr.io/acme"], True),
    ("ghcr.io/acme-evil/app:1", ["ghcr.io/acme"], False),
    ("ghcr.io/acme-evil/app:1", ["ghcr.io/acme/"], False),
    ("ghcr.io/acme/app:1", ["ghcr.io"], True),
    ("ghcr.io.evil.test/acme/app:1", ["ghcr.io"], False),
    ("nginx:1", ["docker.io/library/"], True),
    ("nginx:1", ["ghcr.io/acme/"], False),
    ("evil/app", ["docker.io/library/"], False),
    ("anything", [], True),
])
def test_registry_prefixes(image, prefixes, allowed):
    assert image_allowed(image, prefixes) is allowed


def test_the_seed_job_image_is_checked_like_the_app_image():
    sbx = sandbox(seed={"job": {"image": "docker.io/evil/seed:1"}})
    refusal = check_tenant(sbx, tenant(allowedRegistries=["ghcr.io/acme/"]), cr_namespace="team")
    assert refusal == Refusal("ImageNotAllowed", "spec.seed.job.image: 'docker.io/evil/seed:1' is not from a "
                              "registry tenant 'payments' allows (ghcr.io/acme/); push the image there")
    assert check_tenant(sandbox(seed={"job": {"image": "ghcr.io/acme/seed:1"}}),
                        tenant(allowedRegistries=["ghcr.io/acme/"]), cr_namespace="team") is None


def test_a_claimed_namespace_cannot_escape_its_tenant_by_naming_another():
    # team-a belongs to tenant payments; naming a tenant that does not exist (no limits) or an
    # open one is refused all the same.
    for named, spec in (("nobody", None), ("open", tenant())):
        refusal = check_tenant(sandbox(tenant=named), spec, cr_namespace="team-a", claimed_by=["payments"])
        assert refusal == Refusal("TenantNamespaceNotAllowed", f"spec.tenant: namespace 'team-a' belongs to tenant "
                                  f"payments, not {named!r}; set spec.tenant: payments")
    assert check_tenant(sandbox(), tenant(), cr_namespace="team-a", claimed_by=["payments"]) is None
    assert check_tenant(sandbox(tenant="nobody"), None, cr_namespace="unclaimed") is None


def test_the_grant_defaults_to_public_urls_and_own_s3_credentials():
    grant = source_grant("payments", None, PlatformSources())
    assert (grant.url_prefixes, grant.s3_objects, grant.s3_endpoints) == (None, None, ())
    assert not grant.operator_credentials and grant.role_arn is None
    assert check_sources(sandbox(downstreams=[url_source("https://specs.example.com/pets.yaml")]), grant, "team") is None


def test_allowed_sources_restrict_and_platform_lists_add():
    platform = PlatformSources(urls=("https://shared.example.com/",), s3=(("shared", ""),))
    grant = source_grant("payments", tenant(allowedSources={"urls": ["https://specs.acme.example/payments/"],
                                                           "s3": [{"bucket": "acme-specs", "prefix": "pets/"}]}),
                         platform)
    assert grant.url_prefixes == ("https://specs.acme.example/payments/", "https://shared.example.com/")
    assert grant.s3_objects == (("acme-specs", "pets/"), ("shared", ""))
    refusal = check_sources(sandbox(downstreams=[url_source("https://evil.test/pets.yaml")]), grant, "team")
    assert refusal == Refusal("SourceNotAllowed", (
        "spec.downstreams[0].openapi.url: https://evil.test/pets.yaml: the URL is under none of the allowed "
        "prefixes (https://specs.acme.example/payments/, https://shared.example.com/); ask the platform team to "
        "add a prefix to SandboxTenant 'payments' spec.allowedSources.urls (or to SANDLOT_SOURCES_ALLOWED_URLS "
        "for every tenant), or ship the document in a ConfigMap"))
    assert check_sources(sandbox(downstreams=[url_source("https://shared.example.com/x.yaml")]), grant, "team") is None


def test_require_allowlist_leaves_only_the_platform_lists_for_a_tenant_without_allowed_sources():
    grant = source_grant("payments", None, PlatformSources(require_allowlist=True))
    assert grant.url_prefixes == () and grant.s3_objects == ()
    refusal = check_sources(sandbox(downstreams=[url_source("https://specs.example.com/a.yaml")]), grant, "team")
    assert refusal is not None and "under none of the allowed prefixes (none)" in refusal.message


def test_an_s3_endpoint_must_be_listed():
    grant = source_grant("payments", tenant(allowedSources={"s3Endpoints": ["http://minio.acme.internal:9000"],
                                                           "s3": [{"bucket": "acme-specs"}]}), PlatformSources())
    ref = SandboxEnvironment.model_validate({"spec": {"app": {"image": "x"}, "downstreams": [s3_source(
        endpointUrl="http://169.254.169.254/", secretRef={"name": "mine"})]}}).spec.downstreams[0].openapi.s3
    assert plan_s3(ref, "spec.downstreams[0].openapi", grant, "team") == Refusal("SourceNotAllowed", (
        "spec.downstreams[0].openapi.s3.endpointUrl: http://169.254.169.254/ is not an S3 endpoint tenant "
        "'payments' may use (allowed: http://minio.acme.internal:9000); the operator sends S3 requests only to AWS "
        "and to endpoints the platform lists: ask the platform team to add it to SandboxTenant 'payments' "
        "spec.allowedSources.s3Endpoints (or to SANDLOT_SOURCES_ALLOWED_S3_ENDPOINTS for every tenant)"))
    ref.endpointUrl = "http://minio.acme.internal:9000/"
    assert plan_s3(ref, "f", grant, "team") == S3Plan("secret", secret="mine")


def test_s3_credentials_are_the_tenants_own_unless_the_platform_maps_a_role_or_opts_in():
    spec = sandbox(downstreams=[s3_source()])
    ref = spec.spec.downstreams[0].openapi.s3
    field = "spec.downstreams[0].openapi"
    assert plan_s3(ref, field, source_grant("payments", None, PlatformSources()), "team") == Refusal(
        "SourceNotAllowed",
        "spec.downstreams[0].openapi.s3: no credentials to read s3://acme-specs/pets/v1.yaml: name a Secret of "
        "namespace 'team' holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in "
        "spec.downstreams[0].openapi.s3.secretRef; the operator uses its own credentials only for tenants the "
        "platform opts in (SandboxTenant 'payments' spec.s3Credentials.roleArn or useOperatorCredentials)")
    role = "arn:aws:iam::123456789012:role/sandlot-payments"
    assert plan_s3(ref, field, source_grant("payments", tenant(s3Credentials={"roleArn": role}), PlatformSources()),
                   "team") == S3Plan("role", role_arn=role)
    opted_in = tenant(s3Credentials={"useOperatorCredentials": True})
    refusal = plan_s3(ref, field, source_grant("payments", opted_in, PlatformSources()), "team")
    assert isinstance(refusal, Refusal) and "read only the bucket/prefix pairs listed" in refusal.message
    opted_in = tenant(s3Credentials={"useOperatorCredentials": True},
                      allowedSources={"s3": [{"bucket": "acme-specs", "prefix": "pets/"}]})
    assert plan_s3(ref, field, source_grant("payments", opted_in, PlatformSources()), "team") == S3Plan("operator")
    other = sandbox(downstreams=[s3_source(key="billing/v1.yaml")]).spec.downstreams[0].openapi.s3
    refusal = plan_s3(other, field, source_grant("payments", opted_in, PlatformSources()), "team")
    assert refusal == Refusal("SourceNotAllowed", (
        "spec.downstreams[0].openapi.s3: s3://acme-specs/billing/v1.yaml is under none of the bucket/prefix pairs "
        "tenant 'payments' may read (allowed: acme-specs/pets/); ask the platform team to add the pair to "
        "SandboxTenant 'payments' spec.allowedSources.s3 (or to SANDLOT_SOURCES_ALLOWED_S3 for every tenant)"))


def test_role_and_operator_credentials_are_exclusive_and_secret_refs_hold_no_namespace():
    with pytest.raises(ValueError, match="set roleArn or useOperatorCredentials, not both"):
        tenant(s3Credentials={"roleArn": "arn:aws:iam::123456789012:role/x", "useOperatorCredentials": True})
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        sandbox(downstreams=[s3_source(secretRef={"name": "theirs", "namespace": "other-team"})])
    with pytest.raises(ValueError, match="String should match pattern"):
        sandbox(downstreams=[s3_source(secretRef={"name": "other-team/theirs"})])


def test_settings_become_the_platform_lists_and_the_address_policy(monkeypatch):
    settings = OperatorSettings(sources_allowed_cidrs="10.20.0.5/32", cluster_cidrs="203.0.113.0/24,2001:db8::/64",
                                sources_allowed_urls="https://specs.acme.example/",
                                sources_allowed_s3="shared-specs/public/,whole-bucket",
                                sources_allowed_s3_endpoints="http://minio:9000", pod_ip="192.0.2.10",
                                kubernetes_service_host="10.96.0.1")
    assert platform_sources(settings) == PlatformSources(
        urls=("https://specs.acme.example/",), s3=(("shared-specs", "public/"), ("whole-bucket", "")),
        s3_endpoints=("http://minio:9000",))
    learned = [NamedNetwork(ipaddress.ip_network("10.96.0.0/16"), "the cluster's service network (ServiceCIDR kubernetes)")]
    policy = address_policy(settings, learned)
    assert policy.opened == (ipaddress.ip_network("10.20.0.5/32"),)
    assert [(str(n.network), n.name) for n in policy.blocked] == [
        ("10.96.0.0/16", "the cluster's service network (ServiceCIDR kubernetes)"),
        ("203.0.113.0/24", "a cluster network (SANDLOT_CLUSTER_CIDRS)"),
        ("2001:db8::/64", "a cluster network (SANDLOT_CLUSTER_CIDRS)"),
        ("192.0.2.10/32", "the operator's own pod"),
        ("10.96.0.1/32", "the API server's address"),
    ]
    assert policy.refusal("10.96.3.4") == "10.96.3.4 is in the cluster's service network (ServiceCIDR kubernetes) (10.96.0.0/16)"
    assert policy.refusal("10.20.0.5") is None
    assert policy.open_with == OPEN_WITH
    with pytest.raises(ValueError, match="'10.0.0.300/8' is not a CIDR"):
        OperatorSettings(sources_allowed_cidrs="10.0.0.300/8")
    with pytest.raises(ValueError, match="is not a bucket/prefix pair"):
        OperatorSettings(sources_allowed_s3="Not A Bucket")
