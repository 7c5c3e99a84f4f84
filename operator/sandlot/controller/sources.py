"""Fetch what a sandbox ships into its namespace, for its tenant: OpenAPI documents and seed fixtures.

Side effects at the edge, each bounded by the tenant's grant (reconcile/tenancy.py):
- ConfigMaps, and the Secret an S3 source names for its credentials, are read from the
  SandboxEnvironment's own namespace only (the spec holds names, never namespaces);
- http(s) URLs go through the one guarded fetch (sandlot.util.netguard), with the address policy
  built here at start-up from the settings and the cluster networks the API reveals;
- S3 objects are read with the credentials the grant names: the tenant's Secret, a role the
  platform maps to the tenant, or the operator's own only for a tenant the platform opted in.
Every failure becomes a SourceError naming the CR field and the fix; a policy refusal has the
reason SourceNotAllowed and nothing was sent to the refused place.
"""

from __future__ import annotations

import ipaddress
import logging
import posixpath
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from sandlot.kube import Kube, secret_values
from sandlot.reconcile.desired import Document
from sandlot.reconcile.tenancy import SOURCE_NOT_ALLOWED, PlatformSources, Refusal, S3Plan, SourceGrant, plan_s3
from sandlot.settings import OperatorSettings
from sandlot.util import netguard, sources

log = logging.getLogger("sandlot.operator")

#: ConfigMaps hold at most 1 MiB; the stub reads the document from one.
MAX_DOCUMENT_BYTES = 1024 * 1024 - 4096
#: What a refused address's message tells the tenant (and the platform team) would allow it.
OPEN_WITH = ("the operator reads no loopback, link-local, private or cluster address for a tenant unless the "
             "platform team opens its range with SANDLOT_SOURCES_ALLOWED_CIDRS (chart value "
             "sources.allowedCIDRs); serve the document from a public address or ship it in a ConfigMap")
#: Keys of an S3 credentials Secret (the names the AWS SDKs read from the environment).
ACCESS_KEY, SECRET_KEY, SESSION_TOKEN = "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"


@dataclass(frozen=True)
class Latest:
    """What a source holds now: its document (None: unchanged since the validators sent) and its validators."""

    document: Document | None
    etag: str | None = None
    last_modified: str | None = None


class SourceError(sources.SourceError):
    """A source named in the spec cannot be read: the shared SourceError, built reason first."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, reason)


def _filename(key: str, default: str) -> str:
    """Return a file name for a document, keeping the extension that tells JSON from YAML."""
    base = posixpath.basename(key.split("?", 1)[0]) or default
    return base if base.endswith((".json", ".yaml", ".yml")) else default


def _from_configmap(kube: Kube, namespace: str, ref: Any, field: str) -> Document:
    """Return a key of a ConfigMap in the CR's namespace."""
    cm = kube.get("v1", "ConfigMap", ref.name, namespace)
    if cm is None:
        raise SourceError("ConfigMapNotFound",
                          f"{field}.configMap: ConfigMap {ref.name!r} not found in namespace {namespace!r}; "
                          f"create it (kubectl create configmap {ref.name} -n {namespace} "
                          f"--from-file={ref.key}=PATH) or fix the name")
    data = cm.get("data") or {}
    if ref.key not in data:
        keys = ", ".join(sorted(data)) or "none"
        raise SourceError("ConfigMapKeyNotFound",
                          f"{field}.configMap: ConfigMap {ref.name!r} has no key {ref.key!r} (keys: {keys}); "
                          "fix the key or add it to the ConfigMap")
    return Document(_filename(ref.key, "openapi.yaml"), data[ref.key])


def _from_url(url: str, field: str, policy: netguard.FetchPolicy, timeout: float, etag: str | None = None,
              last_modified: str | None = None) -> Latest:
    """Return the document served at an http(s) URL, read through the guarded fetch (unless unchanged since
    `etag`/`last_modified`)."""
    try:
        found = netguard.fetch_if_changed(url, policy, etag=etag, last_modified=last_modified, timeout=timeout,
                                          max_bytes=MAX_DOCUMENT_BYTES, user_agent="sandlot-operator")
    except netguard.Refused as exc:
        raise SourceError(SOURCE_NOT_ALLOWED, f"{field}.url: {exc.message}") from exc
    except netguard.TooLarge as exc:
        raise SourceError("SpecTooLarge", f"{field}.url: {url} is larger than 1 MiB, which a ConfigMap cannot "
                          "hold; serve a smaller document or split it") from exc
    except netguard.FetchError as exc:
        raise SourceError("SpecURLUnreachable", f"{field}.url: {exc.message}; or ship the document in a "
                          "ConfigMap") from exc
    document = None if found.body is None else Document(_filename(url, "openapi.yaml"),
                                                        found.body.decode("utf-8", "replace"))
    return Latest(document, found.etag, found.last_modified)


def s3_client(ref: Any, credentials: dict[str, str], timeout: float) -> Any:
    """Return a boto3 S3 client for `ref` (its region and endpoint) with `credentials` (empty: boto3's own chain)."""
    return sources.s3_client(ref.region, ref.endpointUrl, credentials=credentials, timeout=timeout)


def _s3_credentials(kube: Kube, namespace: str, plan: S3Plan, ref: Any, field: str, tenant: str,
                    timeout: float) -> dict[str, str]:
    """Return boto3 credential arguments: the tenant's Secret, an assumed role, or none (the operator's own)."""
    if plan.credentials == "secret":
        assert plan.secret is not None
        secret = kube.get("v1", "Secret", plan.secret, namespace)  # the CR's own namespace, always
        if secret is None:
            raise SourceError("CredentialsSecretNotFound",
                              f"{field}.s3.secretRef: Secret {plan.secret!r} not found in namespace {namespace!r}; "
                              f"create it (kubectl create secret generic {plan.secret} -n {namespace} "
                              f"--from-literal={ACCESS_KEY}=... --from-literal={SECRET_KEY}=...) or fix the name")
        values = secret_values(secret)
        missing = [k for k in (ACCESS_KEY, SECRET_KEY) if not values.get(k)]
        if missing:
            raise SourceError("CredentialsSecretInvalid",
                              f"{field}.s3.secretRef: Secret {plan.secret!r} has no {' or '.join(missing)} "
                              f"(keys: {', '.join(sorted(values)) or 'none'}); add the key(s)")
        creds = {"aws_access_key_id": values[ACCESS_KEY], "aws_secret_access_key": values[SECRET_KEY]}
        if values.get(SESSION_TOKEN):
            creds["aws_session_token"] = values[SESSION_TOKEN]
        return creds
    if plan.credentials == "role":
        import boto3
        from botocore.config import Config

        try:
            sts = boto3.client("sts", region_name=ref.region or "us-east-1",
                               config=Config(connect_timeout=timeout, read_timeout=timeout))
            issued = sts.assume_role(RoleArn=plan.role_arn, RoleSessionName=f"sandlot-{tenant}"[:64],
                                     DurationSeconds=900)["Credentials"]
        except Exception as exc:  # botocore raises many types; all mean the same to the user
            raise SourceError("S3RoleNotAssumable",
                              f"{field}.s3: the operator cannot assume role {plan.role_arn} mapped to tenant "
                              f"{tenant!r} ({exc}); the platform team must let the operator's identity assume "
                              "it (the role's trust policy)") from exc
        return {"aws_access_key_id": issued["AccessKeyId"], "aws_secret_access_key": issued["SecretAccessKey"],
                "aws_session_token": issued["SessionToken"]}
    return {}


def _not_modified(exc: Exception) -> bool:
    """Return True for botocore's answer to a GetObject whose IfNoneMatch matched (HTTP 304)."""
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code")) in ("304", "NotModified")


def _from_s3(kube: Kube, namespace: str, ref: Any, field: str, grant: SourceGrant, timeout: float,
             client_factory: Any, etag: str | None = None) -> Latest:
    """Return an S3 object, read with the credentials the tenant's grant names (unless its ETag is still `etag`)."""
    plan = plan_s3(ref, field, grant, namespace)
    if isinstance(plan, Refusal):
        raise SourceError(plan.reason, plan.message)
    client = client_factory(ref, _s3_credentials(kube, namespace, plan, ref, field, grant.tenant, timeout), timeout)
    try:
        obj = client.get_object(Bucket=ref.bucket, Key=ref.key, **({"IfNoneMatch": etag} if etag else {}))
        body = obj["Body"].read(MAX_DOCUMENT_BYTES + 1)
    except Exception as exc:  # boto3 raises many types; all mean the same to the user
        if etag and _not_modified(exc):
            return Latest(None, etag)
        whose = {"secret": f"Secret {plan.secret!r}", "role": f"role {plan.role_arn}",
                 "operator": "the operator's own credentials"}[plan.credentials]
        raise SourceError("S3ObjectUnreadable",
                          f"{field}.s3: cannot read s3://{ref.bucket}/{ref.key} with {whose} ({exc}); check the "
                          "bucket, the key and what those credentials may read") from exc
    if len(body) > MAX_DOCUMENT_BYTES:
        raise SourceError("SpecTooLarge", f"{field}.s3: s3://{ref.bucket}/{ref.key} is larger than 1 MiB")
    return Latest(Document(_filename(ref.key, "openapi.yaml"), body.decode("utf-8", "replace")), obj.get("ETag"))


def read_source(kube: Kube, namespace: str, source: Any, field: str, *, grant: SourceGrant,
                addresses: netguard.AddressPolicy, timeout: float = 20.0,
                s3_client_factory: Any = s3_client) -> Document:
    """Return the document a source (configMap, url or s3) names, read within the tenant's grant.

    `namespace` is the SandboxEnvironment's own: the only one ConfigMaps and Secrets are read from.
    """
    found = read_latest(kube, namespace, source, field, grant=grant, addresses=addresses, timeout=timeout,
                        s3_client_factory=s3_client_factory)
    assert found.document is not None  # nothing is "unchanged" without validators
    return found.document


def read_latest(kube: Kube, namespace: str, source: Any, field: str, *, grant: SourceGrant,
                addresses: netguard.AddressPolicy, timeout: float = 20.0, etag: str | None = None,
                last_modified: str | None = None, s3_client_factory: Any = s3_client) -> Latest:
    """Return what a source holds now, as read_source does, with its validators; a url or s3 source
    unchanged since `etag` (or, for a URL, `last_modified`) answers Latest(None, ...) and sends no body."""
    if source.configMap is not None:
        return Latest(_from_configmap(kube, namespace, source.configMap, field))
    if getattr(source, "url", None) is not None:
        policy = netguard.FetchPolicy(addresses=addresses, url_prefixes=grant.url_prefixes,
                                      prefixes_remedy=grant.url_remedy())
        return _from_url(source.url, field, policy, timeout, etag, last_modified)
    return _from_s3(kube, namespace, source.s3, field, grant, timeout, s3_client_factory, etag)


# ----- the platform's policy, built at start-up ------------------------------------------------------


def _host_network(address: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    ip = ipaddress.ip_address(address)
    return ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}")


def learn_cluster_networks(kube: Kube) -> list[netguard.NamedNetwork]:
    """Return the cluster networks the API reveals: every ServiceCIDR, and the `kubernetes` Service's addresses.

    Pod networks are not readable without rights on Nodes the operator does not have: the
    platform sets them in SANDLOT_CLUSTER_CIDRS. A cluster without the ServiceCIDR API (before
    Kubernetes 1.33) answers 404, which is fine: private service ranges are refused anyway.
    """
    found: list[netguard.NamedNetwork] = []
    try:
        for item in kube.list("networking.k8s.io/v1", "ServiceCIDR"):
            for cidr in (item.get("spec") or {}).get("cidrs") or []:
                found.append(netguard.NamedNetwork(ipaddress.ip_network(cidr, strict=False),
                                                   f"the cluster's service network (ServiceCIDR "
                                                   f"{item['metadata']['name']})"))
    except (ApiException, ValueError) as exc:
        log.info(f"service networks not learned from ServiceCIDR objects: {getattr(exc, 'status', exc)}")
    try:
        service = kube.get("v1", "Service", "kubernetes", "default") or {}
        for address in (service.get("spec") or {}).get("clusterIPs") or []:
            found.append(netguard.NamedNetwork(_host_network(address), "the API server's Service address"))
    except (ApiException, ValueError) as exc:
        log.info(f"the kubernetes Service's address not learned: {getattr(exc, 'status', exc)}")
    return found


def address_policy(settings: OperatorSettings, learned: list[netguard.NamedNetwork]) -> netguard.AddressPolicy:
    """Return the address policy of url sources: cluster networks refused, opened ranges allowed."""
    blocked = list(learned)
    blocked += [netguard.NamedNetwork(ipaddress.ip_network(c, strict=False),
                                      "a cluster network (SANDLOT_CLUSTER_CIDRS)") for c in settings.cluster_cidrs]
    for address, name in ((settings.pod_ip, "the operator's own pod"),
                          (settings.kubernetes_service_host, "the API server's address")):
        try:
            if address:
                blocked.append(netguard.NamedNetwork(_host_network(address), name))
        except ValueError:
            pass  # a host name, not an address: the name resolves to a checked address anyway
    opened = tuple(ipaddress.ip_network(c, strict=False) for c in settings.sources_allowed_cidrs)
    return netguard.AddressPolicy(blocked=tuple(blocked), opened=opened, open_with=OPEN_WITH)


def platform_sources(settings: OperatorSettings) -> PlatformSources:
    """Return what the platform's settings open for every tenant."""
    pairs = tuple((p.split("/", 1)[0], p.split("/", 1)[1] if "/" in p else "") for p in settings.sources_allowed_s3)
    return PlatformSources(urls=tuple(settings.sources_allowed_urls), s3=pairs,
                           s3_endpoints=tuple(settings.sources_allowed_s3_endpoints),
                           require_allowlist=settings.sources_require_allowlist)
