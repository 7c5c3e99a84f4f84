"""The operator's settings as a pydantic model, read from SANDLOT_* environment variables.

The operator (its start-up and handlers) calls `load_settings()`; no other operator module
reads the environment. The data-plane commands read their few variables (SANDLOT_ADMIN_TOKEN,
SANDLOT_KEYS, SANDLOT_URL, SANDLOT_KEY) in the command line (sandlot/cli/) only, and pass them
down as arguments.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: A list setting written as comma-separated values (`10.0.0.5/32,10.0.0.6/32`).
CommaList = Annotated[list[str], NoDecode]
_HTTP_URL = re.compile(r"^https?://[^\s]+$")
_S3_PAIR = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9](/.*)?$")


class OperatorSettings(BaseSettings):
    """Knobs of the operator, each settable as SANDLOT_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="SANDLOT_", extra="ignore")

    stub_image: str = Field(
        default="ghcr.io/sandlot-dev/sandlot:0.1.0",
        description="Image run for every downstream stub (`sandlot mock`); the chart sets it.",
    )
    stub_port: int = Field(default=4010, ge=1, le=65535, description="Port of every stub container.")
    recheck_seconds: float = Field(
        default=10.0, gt=0, description="How often a sandbox's readiness and expiry are re-checked.",
    )
    resync_seconds: float = Field(
        default=300.0, gt=0, description="How often every sandbox is fully re-converged (repairs drift).",
    )
    retry_seconds: float = Field(
        default=15.0, gt=0, description="Delay before retrying a step that failed for a passing reason.",
    )
    cluster_domain: str = Field(default="cluster.local", description="DNS domain of the cluster's Services.")
    dns_namespace: str = Field(default="kube-system", description="Namespace of the cluster DNS pods.")
    dns_pod_label: str = Field(default="k8s-app=kube-dns", description="Label (key=value) of the DNS pods.")
    kubeconfig: str | None = Field(
        default=None, validation_alias="KUBECONFIG",
        description="Kubeconfig path(s) outside a cluster (the standard KUBECONFIG variable).",
    )
    fetch_timeout_seconds: float = Field(default=20.0, gt=0, description="Timeout for URL and S3 spec sources.")
    spec_poll_seconds: float = Field(
        default=60.0, gt=0,
        description="How often url and s3 spec sources are polled for a new version (with their ETag and "
                    "Last-Modified, so an unchanged document costs a 304); ConfigMap sources are watched.",
    )
    sources_allowed_cidrs: CommaList = Field(
        default_factory=list,
        description="Non-public address ranges url sources may be read from (e.g. an internal spec server's "
                    "10.20.0.5/32); every other loopback, link-local, private or cluster address is refused.",
    )
    cluster_cidrs: CommaList = Field(
        default_factory=list,
        description="The cluster's pod and service networks, refused as sources even when public; service "
                    "networks are also learned from the API (ServiceCIDR objects) at start-up.",
    )
    sources_allowed_urls: CommaList = Field(
        default_factory=list, description="URL prefixes every tenant may read, added to each tenant's allowedSources.",
    )
    sources_allowed_s3: CommaList = Field(
        default_factory=list,
        description="S3 bucket/prefix pairs (`bucket/prefix`, or `bucket` for all of it) every tenant may read.",
    )
    sources_allowed_s3_endpoints: CommaList = Field(
        default_factory=list, description="S3-compatible endpoints (exact URLs) every tenant's s3 sources may name.",
    )
    sources_require_allowlist: bool = Field(
        default=False,
        description="Read url and s3 sources only from what a tenant's allowedSources or the platform lists "
                    "(unset allowedSources then means ConfigMaps only).",
    )
    pod_ip: str | None = Field(default=None, description="The operator pod's IP (the chart sets it); never a source.")
    kubernetes_service_host: str | None = Field(
        default=None, validation_alias="KUBERNETES_SERVICE_HOST",
        description="The API server's address inside a pod (set by Kubernetes); never a source.",
    )

    workers: int = Field(
        default=32, ge=1, le=256,
        description="Sandboxes reconciled at once (threads; each mostly waits on the API server).",
    )
    activity_seconds: float = Field(
        default=60.0, gt=0,
        description="How often the stubs of an awake sandbox are asked for their last request "
                    "(tenants with idleAfter).",
    )
    stub_timeout_seconds: float = Field(
        default=10.0, gt=0,
        description="Timeout of the operator's calls to a stub (activity, state snapshot and restore).",
    )
    operator_namespace: str | None = Field(
        default=None, validation_alias="SANDLOT_POD_NAMESPACE",
        description="The operator's namespace (the chart sets it): sandbox NetworkPolicies let it reach the stubs.",
    )
    operator_pod_labels: str = Field(
        default="", description="Labels of the operator's pods, `k=v,k=v` (the chart sets them), for the same policy.",
    )
    wake_url: str | None = Field(
        default=None, description="Base URL of the operator's wake endpoint as teams reach it (the chart sets it).",
    )

    @field_validator("sources_allowed_cidrs", "cluster_cidrs", "sources_allowed_urls", "sources_allowed_s3",
                     "sources_allowed_s3_endpoints", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        """Accept a comma-separated string as well as a list."""
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("sources_allowed_cidrs", "cluster_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not a CIDR (e.g. 10.20.0.5/32): {exc}") from None
        return value

    @field_validator("sources_allowed_urls", "sources_allowed_s3_endpoints")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not _HTTP_URL.match(url):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value

    @field_validator("sources_allowed_s3")
    @classmethod
    def _pairs(cls, value: list[str]) -> list[str]:
        for pair in value:
            if not _S3_PAIR.match(pair):
                raise ValueError(f"{pair!r} is not a bucket/prefix pair (e.g. acme-specs/payments/)")
        return value

    def pod_labels(self) -> dict[str, str]:
        """Return operator_pod_labels as a dict."""
        pairs = (item.partition("=") for item in self.operator_pod_labels.split(",") if item.strip())
        return {k.strip(): v.strip() for k, _, v in pairs}


def load_settings() -> OperatorSettings:
    """Read the operator settings from the environment."""
    return OperatorSettings()
