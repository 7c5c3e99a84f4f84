"""The one place that reads the environment: operator settings as a pydantic model.

The CLI and the kopf start-up handler call `load_settings()`; nothing else reads os.environ.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    activity_seconds: float = Field(
        default=60.0, gt=0,
        description="How often the stubs of an awake sandbox are asked for their last request (tenants with idleAfter).",
    )
    stub_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of the operator's calls to a stub (activity, state snapshot and restore).",
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

    def pod_labels(self) -> dict[str, str]:
        """Return operator_pod_labels as a dict."""
        pairs = (item.partition("=") for item in self.operator_pod_labels.split(",") if item.strip())
        return {k.strip(): v.strip() for k, _, v in pairs}


def load_settings() -> OperatorSettings:
    """Read the operator settings from the environment."""
    return OperatorSettings()
