"""Pytest fixtures that start the Kubernetes API emulator for a test.

Registered from tests/conftest.py with `pytest_plugins = ["tests.kubeemu.fixtures"]`.
`kube_emulator` serves the project's crds/*.yaml by default; override the
`kube_emulator_crd_paths` fixture (in a conftest or a test module) to serve others,
and `kube_emulator_enforce_crd_schemas` to have custom resources pruned, defaulted
and validated by their CRD schema as a real apiserver does (off by default).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import KubeEmulator

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kube_emulator_crd_paths() -> list[Path]:
    """Return the CRD files the emulator serves: the project's crds/*.yaml and *.yml."""
    crds = PROJECT_ROOT / "crds"
    return sorted([*crds.glob("*.yaml"), *crds.glob("*.yml")])


@pytest.fixture
def kube_emulator_enforce_crd_schemas() -> bool:
    """Tell whether the emulator prunes, defaults and validates custom resources (override to switch on)."""
    return False


@pytest.fixture
def kube_emulator(kube_emulator_crd_paths: list[Path], kube_emulator_enforce_crd_schemas: bool, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeEmulator]:
    """Yield a running emulator with a kubeconfig written and KUBECONFIG pointing at it for this test."""
    with KubeEmulator(kube_emulator_crd_paths, enforce_crd_schemas=kube_emulator_enforce_crd_schemas) as emulator:
        kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeemu.kubeconfig")
        point_clients_at(kubeconfig, monkeypatch)
        yield emulator


def point_clients_at(kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make argument-less kubeconfig loading (kopf's login_via_client) read this file, for one test.

    The `kubernetes` package reads $KUBECONFIG once, at import, into a module constant,
    so setting the variable is not enough: the constant is patched too.
    """
    import kubernetes.config
    import kubernetes.config.kube_config

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    monkeypatch.setattr(kubernetes.config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))


@pytest.fixture
def kube_api_client(kube_emulator: KubeEmulator):
    """Yield an official `kubernetes` ApiClient talking to the emulator (not the global default one)."""
    import kubernetes

    client = kubernetes.config.new_client_from_config(config_file=str(kube_emulator.kubeconfig_path))
    try:
        yield client
    finally:
        client.close()
