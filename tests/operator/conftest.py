"""Fixtures for the operator tests: the emulator, a cluster handle, and a running operator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.operator.harness import Cluster, OperatorRunner

PETSTORE = """openapi: 3.0.3
info: {title: Pets, version: '1'}
paths:
  /pets:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {type: array, items: {type: object, properties: {id: {type: integer}}}}
"""


@pytest.fixture
def cluster(kube_emulator) -> Iterator[Cluster]:
    c = Cluster(kube_emulator)
    c.ensure_namespace("team")
    c.configmap("team", "pets-openapi", {"openapi.yaml": PETSTORE})
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def operator(cluster) -> Iterator[OperatorRunner]:
    runner = OperatorRunner().start()
    try:
        yield runner
    finally:
        runner.stop()


def sandbox_spec(**overrides) -> dict:
    """Return a valid SandboxEnvironment spec with one downstream, overridden by `overrides`."""
    spec = {
        "app": {"image": "ghcr.io/acme/payments:1.0.0", "port": 8080,
                "env": [{"name": "SANDBOX_MODE", "value": "true"}]},
        "downstreams": [{"name": "pets", "openapi": {"configMap": {"name": "pets-openapi", "key": "openapi.yaml"}},
                         "envVar": "PETS_API_URL"}],
        "ttl": "2h",
        "tenant": "payments",
    }
    spec.update(overrides)
    return spec
