"""`sandlot mock --stateful` takes ConfigMap manifests (the files a team `kubectl apply`s) for
the spec and the fixtures, as `sandlot up` does: the payments example's files as they are."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sandlot.util.sources import SourceError, configmap_payload

from .conftest import ADMIN_TOKEN, EXAMPLE
from .servers import start_stateful_mock, stop


def test_configmap_payload_takes_the_only_key_or_the_one_named_like_the_file() -> None:
    spec = EXAMPLE / "payments-openapi.yaml"
    key, text = configmap_payload(spec.read_text(), spec)
    assert key == "openapi.yaml" and text.startswith("openapi:")
    two = "kind: ConfigMap\nmetadata: {name: x}\ndata:\n  a.yaml: 'a: 1'\n  seed.yaml: 'b: 2'\n"
    assert configmap_payload(two, "team-seed.yaml") == ("seed.yaml", "b: 2")
    with pytest.raises(SourceError, match=r"other\.yaml is a ConfigMap \(data keys: a\.yaml, "
                                          r"seed\.yaml\); pass the key's content"):
        configmap_payload(two, "other.yaml")
    assert configmap_payload("openapi: 3.0.3\ninfo: {}\n", "spec.yaml") is None
    assert configmap_payload("kind: ConfigMap\n---\nkind: ConfigMap\n", "two.yaml") is None


def test_mock_stateful_serves_the_examples_configmaps(tmp_path: Path) -> None:
    proc, root = start_stateful_mock(EXAMPLE / "payments-openapi.yaml", tmp_path / "s.db",
                                     EXAMPLE / "payments-fixtures.yaml", ADMIN_TOKEN)
    try:
        key = proc.stdout.readline().split(": ")[-1].strip()
        customers = httpx.get(root + "/v1/customers",
                              headers={"authorization": f"Bearer {key}"}).json()["data"]
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert [c["id"] for c in customers] == ["cus_seed_ada", "cus_seed_grace"]
