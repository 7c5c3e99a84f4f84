"""Stateful responses validate against the spec's response schemas: request values the
response schema refuses are rendered as generated ones, and single-object envelopes
(`{"droplet": {...}}`, `{"ssh_key": {...}}`) wrap stored objects. On the shared
DigitalOcean spec, plus the pure `conform` rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandlot.mock.engine import Engine
from sandlot.mock.messages import MockRequest, MockResponse
from sandlot.state.shape import conform

from .spec_handlers import assert_valid, handler_with_key, shared_engine


@pytest.fixture(scope="module")
def do_engine() -> Engine:
    return shared_engine("digitalocean/specification/DigitalOcean-public.v2.yaml")


@pytest.fixture
def do_call(do_engine: Engine, tmp_path: Path):
    handler, key = handler_with_key(do_engine, tmp_path / "do.db")

    def call(method: str, path: str, body: object = None, query: str = "") -> MockResponse:
        headers = {"authorization": f"Bearer {key}", "accept": "application/json",
                   "content-type": "application/json"}
        raw = json.dumps(body).encode() if body is not None else b""
        response = handler.handle(MockRequest(method, path, query, headers, raw))
        assert_valid(do_engine, method, path, response)
        return response

    yield call
    handler.close()


def test_droplet_fields_the_schema_wants_as_objects_are_rendered_valid(do_call) -> None:
    sent = {"name": "web-1", "region": "nyc3", "size": "s-1vcpu-1gb", "image": "ubuntu-20-04-x64"}
    created = do_call("POST", "/v2/droplets", sent)
    assert created.status == 202, created.body
    droplet = json.loads(created.body)["droplet"]
    assert droplet["name"] == "web-1"
    assert all(isinstance(droplet[f], dict) for f in ("region", "size", "image"))
    read = json.loads(do_call("GET", f"/v2/droplets/{droplet['id']}").body)["droplet"]
    assert read["name"] == "web-1" and isinstance(read["region"], dict)
    listed = json.loads(do_call("GET", "/v2/droplets").body)["droplets"]
    assert [d["name"] for d in listed] == ["web-1"]


def test_ssh_keys_are_wrapped_and_use_the_item_schemas_id(do_call) -> None:
    created = do_call("POST", "/v2/account/keys",
                      {"name": "laptop", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI me@x"})
    assert created.status == 201, created.body
    body = json.loads(created.body)
    assert list(body) == ["ssh_key"]
    key = body["ssh_key"]
    assert isinstance(key["id"], int) and "ssh_key_identifier" not in key
    assert key["name"] == "laptop"
    read = json.loads(do_call("GET", f"/v2/account/keys/{key['id']}").body)
    assert read["ssh_key"]["name"] == "laptop"


def test_conform_keeps_valid_values_and_replaces_refused_ones() -> None:
    def valid(name: str, value: object) -> bool:
        return isinstance(value, dict) if name == "region" else isinstance(value, str)

    sample = {"region": {"slug": "nyc1"}, "name": "generated"}
    obj = {"name": "web-1", "region": "nyc3", "note": 5, "size": 1}
    assert conform(obj, valid, sample, required={"size"}) == {
        "name": "web-1", "region": {"slug": "nyc1"}, "size": 1}


def test_digitalocean_page_metadata_comes_from_the_stored_objects(do_call) -> None:
    for name in ("a", "b"):
        do_call("POST", "/v2/droplets", {"name": name, "region": "nyc3", "size": "s-1vcpu-1gb",
                                         "image": "ubuntu-20-04-x64"})
    first = json.loads(do_call("GET", "/v2/droplets", query="per_page=1").body)
    assert first["meta"]["total"] == 2 and len(first["droplets"]) == 1
    assert first["links"]["pages"]["next"] == "/v2/droplets?per_page=1&page=2"
    assert first["links"]["pages"]["last"] == "/v2/droplets?per_page=1&page=2"
    assert not {"prev", "first"} & set(first["links"]["pages"])
    second = json.loads(do_call("GET", "/v2/droplets", query="per_page=1&page=2").body)
    assert [d["name"] for d in second["droplets"]] == ["b"]
    assert not {"next", "last"} & set(second["links"]["pages"])
    assert second["links"]["pages"]["first"] == "/v2/droplets?per_page=1&page=1"
    assert second["links"]["pages"]["prev"] == "/v2/droplets?per_page=1&page=1"
    whole = json.loads(do_call("GET", "/v2/droplets").body)
    assert whole["meta"]["total"] == 2 and whole["links"]["pages"] == {}  # a single page


def test_request_names_map_to_response_properties_ignoring_case_and_underscores() -> None:
    from sandlot.state.shape import response_names

    props = {"to": {}, "status_callback": {}, "Name": {}}
    sent = {"To": "+1", "StatusCallback": "https://cb", "Name": "n", "Extra": 1}
    assert response_names(sent, props) == {"to": "+1", "status_callback": "https://cb",
                                           "Name": "n", "Extra": 1}
    assert response_names({"to": "a", "To": "b"}, props) == {"to": "a", "To": "b"}
    exact = {"to": "+1", "Name": "n"}
    assert response_names(exact, props) == exact and response_names(exact, props) is not exact
