"""A small in-memory Kubernetes API server for tests: the operator's integration tests run real kopf against it.

Start one with `KubeEmulator(crd_paths).start()` (or the `kube_emulator` pytest
fixture in `tests.kubeemu.fixtures`); see docs/emulator.md for what it
reproduces and what it does not.
"""

from .catalog import Catalog, CrdError, ResourceType
from .errors import ApiError
from .kopf_thread import running_kopf
from .server import KubeEmulator, kubeconfig_document

__all__ = ["ApiError", "Catalog", "CrdError", "KubeEmulator", "ResourceType", "kubeconfig_document", "running_kopf"]
