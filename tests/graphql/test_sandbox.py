"""GraphQL downstreams in a SandboxEnvironment: the CRD model, the stub the operator deploys for
one (reconcile/desired.py), and `sandlot up` serving one from a ConfigMap with its fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml
from graphql import get_introspection_query, graphql_sync
from pydantic import ValidationError

from sandlot.api.v1alpha1 import Downstream, SandboxEnvironment
from sandlot.graphql.schema import load_schema
from sandlot.reconcile.desired import Document, Inputs, StubSettings, desired_objects
from tests.graphql.servers import FIXTURES, SHOP
from tests.sandbox.servers import free_port, start, stop

SCHEMA_CM = {"configMap": {"name": "shop-schema", "key": "schema.graphql"}}


def test_a_downstream_gives_graphql_or_openapi_never_both() -> None:
    shop = Downstream.model_validate({"name": "shop", "graphql": SCHEMA_CM, "envVar": "SHOP_URL"})
    assert shop.source is shop.graphql and shop.source_field == "graphql" and shop.openapi is None
    with pytest.raises(ValidationError, match="set exactly one of openapi, graphql"):
        Downstream.model_validate({"name": "shop", "graphql": SCHEMA_CM, "openapi": SCHEMA_CM, "envVar": "X"})
    with pytest.raises(ValidationError, match="set exactly one of openapi, graphql"):
        Downstream.model_validate({"name": "shop", "envVar": "X"})
    with pytest.raises(ValidationError, match="set exactly one of configMap, url, s3"):
        Downstream.model_validate({"name": "shop", "graphql": {}, "envVar": "X"})


def test_the_operator_ships_the_schema_and_points_the_app_at_the_endpoint() -> None:
    env = SandboxEnvironment.model_validate({
        "apiVersion": "sandlot.dev/v1alpha1", "kind": "SandboxEnvironment", "metadata": {"name": "s", "namespace": "t"},
        "spec": {"app": {"image": "ghcr.io/acme/app:1"}, "tenant": "team",
                 "downstreams": [{"name": "shop", "graphql": SCHEMA_CM, "envVar": "SHOP_URL", "stateful": False}]}})
    inputs = Inputs("t", "s", StubSettings("ghcr.io/sandlot-dev/sandlot:test"),
                    specs={"shop": Document("openapi.yaml", SHOP.read_text())})
    objects = desired_objects(env, inputs)
    [schema] = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "openapi-shop"]
    assert list(schema["data"]) == ["schema.graphql"]
    [stub] = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "stub-shop"]
    container = stub["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["mock", "/spec/schema.graphql"] and "--stateful" not in container["args"]
    [app] = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "app"]
    env_vars = {e["name"]: e.get("value") for e in app["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env_vars["SHOP_URL"].endswith(".svc.cluster.local:4010/graphql")


def test_a_schema_from_s3_or_a_url_is_shipped_under_the_name_the_stub_knows_it_by(tmp_path: Path) -> None:
    introspection = json.dumps({"data": graphql_sync(load_schema(str(SHOP)).schema, get_introspection_query()).data})
    sources = {"sdl": ({"s3": {"bucket": "acme-schemas", "key": "shop/schema.sdl"}}, "schema.sdl", SHOP.read_text()),
               "json": ({"url": "https://specs.acme.example/shop"}, "shop.json", introspection)}
    for name, (source, filename, text) in sources.items():
        env = SandboxEnvironment.model_validate({
            "apiVersion": "sandlot.dev/v1alpha1", "kind": "SandboxEnvironment",
            "metadata": {"name": "s", "namespace": "t"},
            "spec": {"app": {"image": "ghcr.io/acme/app:1"}, "tenant": "team",
                     "downstreams": [{"name": name, "graphql": source, "envVar": "SHOP_URL"}]}})
        inputs = Inputs("t", "s", StubSettings("ghcr.io/sandlot-dev/sandlot:test"),
                        specs={name: Document(filename, text)})
        objects = desired_objects(env, inputs)
        [config] = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == f"openapi-{name}"]
        shipped = "schema.graphql" if name == "sdl" else "shop.json"
        assert config["data"] == {shipped: text}
        [stub] = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == f"stub-{name}"]
        args = stub["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[:2] == ["mock", f"/spec/{shipped}"] and "--stateful" in args  # stateful by default
        # and the stub's engine loads what was shipped, by that name
        local = tmp_path / shipped
        local.write_text(text)
        assert "Customer" in load_schema(str(local)).schema.type_map


def test_sandlot_up_serves_a_graphql_downstream_with_its_fixtures(tmp_path: Path) -> None:
    indented = "\n".join("    " + line for line in SHOP.read_text().splitlines())
    seed = "\n".join("    " + line for line in (FIXTURES / "shop-fixtures.yaml").read_text().splitlines())
    manifest = tmp_path / "sandbox.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "sandlot.dev/v1alpha1", "kind": "SandboxEnvironment", "metadata": {"name": "shop"},
        "spec": {"app": {"image": "ghcr.io/acme/app:1"}, "tenant": "team",
                 "seed": {"fixtures": {"configMap": {"name": "shop-seed", "key": "fixtures.yaml"}}},
                 "downstreams": [{"name": "shop", "graphql": SCHEMA_CM, "envVar": "SHOP_GRAPHQL_URL"}]}})
        + f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-schema\ndata:\n  schema.graphql: |\n{indented}\n"
        + f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-seed\ndata:\n  fixtures.yaml: |\n{seed}\n")
    port = free_port()
    state = tmp_path / "state"
    proc = start(["up", str(manifest), "--port", str(port), "--state-dir", str(state)],
                 f"http://127.0.0.1:{port}/__sandlot/health")
    try:
        app_env = dict(line.split("=", 1) for line in (state / "app.env").read_text().splitlines())
        url = app_env["SHOP_GRAPHQL_URL"]
        assert url == f"http://127.0.0.1:{port}/graphql"
        key = app_env["SANDLOT_TEST_API_KEY"]
        response = httpx.post(url, json={"query": '{ customer(id: "cus_ada") { name } }'},
                              headers={"authorization": f"Bearer {key}"})
        assert response.json() == {"data": {"customer": {"name": "Ada Lovelace"}}}
    finally:
        code, out, err = stop(proc)
    assert code == 0, err
    assert "stateful: Customer, Order (3 seeded objects)" in out


def test_a_graphql_source_is_held_to_the_tenants_grant_like_an_openapi_one() -> None:
    from sandlot.api.v1alpha1 import SandboxTenantSpec
    from sandlot.reconcile.tenancy import PlatformSources, check_sources, source_grant

    env = SandboxEnvironment.model_validate({"spec": {
        "app": {"image": "ghcr.io/acme/app:1"}, "tenant": "shop",
        "downstreams": [{"name": "shop", "graphql": {"url": "https://evil.test/schema.graphql"}, "envVar": "SHOP"}]}})
    grant = source_grant("shop", SandboxTenantSpec.model_validate(
        {"allowedSources": {"urls": ["https://specs.acme.example/"]}}), PlatformSources())
    refusal = check_sources(env, grant, "team")
    assert refusal is not None and refusal.message.startswith(
        "spec.downstreams[0].graphql.url: https://evil.test/schema.graphql: the URL is under none of the allowed")
