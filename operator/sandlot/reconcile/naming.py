"""Names and labels of everything the operator creates, derived only from the CR.

Pure functions: the same CR always maps to the same namespace and labels, so a restarted
operator finds what it created before instead of creating it twice.
"""

from __future__ import annotations

import hashlib
import re

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "sandlot"
LABEL_SANDBOX = "sandlot.dev/sandbox"
LABEL_SANDBOX_NAMESPACE = "sandlot.dev/sandbox-namespace"
LABEL_TENANT = "sandlot.dev/tenant"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_DOWNSTREAM = "sandlot.dev/downstream"
ANNOTATION_HASH = "sandlot.dev/config-hash"
ANNOTATION_OWNER = "sandlot.dev/owner"

CREDENTIALS_SECRET = "sandlot-credentials"
FIXTURES_CONFIGMAP = "sandlot-fixtures"
SERVICE_ACCOUNT = "sandbox"
NETWORK_POLICY = "sandbox-isolation"
APP_NAME = "app"

_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def _digest(*parts: str, length: int = 8) -> str:
    """Return a short, stable hex digest of `parts`."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def _slug(text: str, limit: int) -> str:
    """Return `text` lower-cased, reduced to DNS-1123 characters and cut to `limit`."""
    slug = _NOT_DNS.sub("-", text.lower()).strip("-")
    return slug[:limit].strip("-") or "x"


def sandbox_namespace(cr_namespace: str, cr_name: str) -> str:
    """Return the sandbox namespace of a CR: readable, at most 63 characters, collision-safe.

    The readable part is cut to fit; the digest of the full namespace/name keeps two CRs whose
    readable parts coincide apart.
    """
    return f"sbx-{_slug(cr_namespace, 20)}-{_slug(cr_name, 28)}-{_digest(cr_namespace, cr_name)}"


def label_value(text: str) -> str:
    """Return `text` as a valid label value (at most 63 characters, digest-suffixed if cut)."""
    if len(text) <= 63:
        return text
    return f"{text[:54].rstrip('-.')}-{_digest(text)}"


def sandbox_labels(cr_namespace: str, cr_name: str, tenant: str) -> dict[str, str]:
    """Return the labels every object of one sandbox carries."""
    return {
        MANAGED_BY: MANAGER,
        LABEL_SANDBOX: label_value(cr_name),
        LABEL_SANDBOX_NAMESPACE: label_value(cr_namespace),
        LABEL_TENANT: tenant,
    }


def owner_annotation(cr_namespace: str, cr_name: str) -> str:
    """Return the value that names the owning CR exactly (labels may be cut)."""
    return f"{cr_namespace}/{cr_name}"


def stub_name(downstream: str) -> str:
    """Return the Deployment and Service name of a downstream's stub."""
    return f"stub-{downstream}"


def spec_configmap_name(downstream: str) -> str:
    """Return the name of the ConfigMap holding a downstream's OpenAPI document."""
    return f"openapi-{downstream}"
