"""The operator's settings as a pydantic model, read from SANDLOT_* environment variables.

The operator (its start-up and handlers) calls `load_settings()`; no other operator module
reads the environment. The data-plane commands read their few variables (SANDLOT_ADMIN_TOKEN,
SANDLOT_KEYS, SANDLOT_URL, SANDLOT_KEY) in the command line (sandlot/cli/) only, and pass them
down as arguments.
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
    workers: int = Field(
        default=32, ge=1, le=256,
        description="Sandboxes reconciled at once (threads; each mostly waits on the API server).",
    )


def load_settings() -> OperatorSettings:
    """Read the operator settings from the environment."""
    return OperatorSettings()
