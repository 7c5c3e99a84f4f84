"""The CRDs under crds/ are generated, structural, and refuse bad input naming the field."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from sandlot.crdgen import build_crds, render_crd, write_crds

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_crds_match_the_models():
    for name, crd in build_crds().items():
        for directory in (ROOT / "crds", ROOT / "charts" / "sandlot" / "crds"):
            path = directory / name
            assert path.exists(), f"{path} missing; run `make crds`"
            assert path.read_text() == render_crd(crd), f"{path} is stale; run `make crds` and commit"


def test_check_mode_names_stale_files_and_writes_nothing(tmp_path):
    (tmp_path / "sandboxenvironments.yaml").write_text("stale\n")
    with pytest.raises(SystemExit, match="sandboxenvironments.yaml.*run `make crds`"):
        write_crds(tmp_path, check=True)
    assert (tmp_path / "sandboxenvironments.yaml").read_text() == "stale\n"
    assert not (tmp_path / "sandboxtenants.yaml").exists()


def _walk(schema: dict, path: str):
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("name", sorted(build_crds()))
def test_schema_is_structural(name):
    crd = build_crds()[name]
    version = crd["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    for path, node in _walk(version["schema"]["openAPIV3Schema"], "root"):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        for banned in ("$ref", "anyOf", "oneOf", "allOf", "const", "title", "$defs"):
            assert banned not in node, f"{path} uses {banned}"
        if "properties" in node:
            assert "additionalProperties" not in node, f"{path} mixes properties and additionalProperties"
        if node.get("x-kubernetes-preserve-unknown-fields"):
            assert path in ("root.metadata", "root.spec.status", "root.status") or path.endswith(
                ("metadata", "status")), f"{path} preserves unknown fields but is not free-form"


def test_printer_columns():
    crd = build_crds()["sandboxenvironments.yaml"]
    names = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"] if not c.get("priority")]
    assert names == ["Phase", "Tenant", "Queue", "Expires", "Age"]
    assert crd["spec"]["names"]["shortNames"] == ["sbx"]
    tenants = build_crds()["sandboxtenants.yaml"]["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in tenants if not c.get("priority")] == [
        "Max", "Active", "Queued", "Sleeping", "CPU", "Memory", "Age"]


def _validator():
    schema = build_crds()["sandboxenvironments.yaml"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return jsonschema.Draft7Validator(schema)


GOOD = {"apiVersion": "sandlot.dev/v1alpha1", "kind": "SandboxEnvironment", "metadata": {"name": "x"},
        "spec": {"app": {"image": "ghcr.io/acme/app:1"}, "ttl": "90m"}}


@pytest.mark.parametrize("patch, field", [
    ({"ttl": "5x"}, "ttl"),
    ({"ttl": "0h"}, "ttl"),
    ({"app": {"image": "a", "port": 70000}}, "port"),
    ({"app": {"image": "a", "port": 0}}, "port"),
    ({"app": {"image": "a", "replicas": 11}}, "replicas"),
    ({"app": {"image": ""}}, "image"),
    ({"tenant": "Not_DNS"}, "tenant"),
    ({"downstreams": [{"name": "UPPER", "openapi": {"url": "http://x"}, "envVar": "X"}]}, "name"),
    ({"downstreams": [{"name": "a", "openapi": {"url": "ftp://x"}, "envVar": "X"}]}, "url"),
    ({"downstreams": [{"name": "a", "openapi": {"url": "http://x"}, "envVar": "1BAD"}]}, "envVar"),
    ({"quota": {"memory": "lots"}}, "memory"),
    ({"network": {"egress": [{"cidr": "everything"}]}}, "cidr"),
    ({"onExpiry": "Keep"}, "onExpiry"),
])
def test_schema_refuses_bad_input_naming_the_field(patch, field):
    body = {**GOOD, "spec": {**GOOD["spec"], **patch}}
    errors = list(_validator().iter_errors(body))
    assert errors, f"{patch} was accepted"
    assert any(field in "/".join(map(str, e.absolute_path)) for e in errors), [e.message for e in errors]


def test_schema_accepts_a_full_spec():
    body = yaml.safe_load((ROOT / "tests" / "unit" / "golden" / "sandbox.yaml").read_text())
    assert list(_validator().iter_errors(body)) == []


def test_cel_rules_are_declared_for_cross_field_checks():
    text = render_crd(build_crds()["sandboxenvironments.yaml"])
    assert "set exactly one of configMap, url, s3" in text
    assert "downstream names must be unique" in text
