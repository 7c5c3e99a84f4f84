"""`sandlot diff` on the real specs under ../shared/specs: each against itself is no change, and
the two petstores (classic and expanded) differ in the ways a reader of both can check."""

from __future__ import annotations

import pytest

from sandlot.diff.inputs import load_input
from sandlot.diff.run import compare

from ..mock.conftest import shared_spec


@pytest.mark.parametrize("relative", [
    "oai/petstore.yaml", "oai/petstore-expanded.yaml", "oai/uspto.yaml", "oai/callback-example.yaml",
    "oai/link-example.yaml", "oai/api-with-examples.yaml", "twilio/twilio_api_v2010.json",
    "twilio/twilio_messaging_v1.json", "digitalocean/specification/DigitalOcean-public.v2.yaml",
])
def test_a_spec_against_itself_is_no_change(relative):
    spec = str(shared_spec(relative))
    assert compare(load_input(spec), load_input(spec)) == []


def test_classic_petstore_to_expanded_petstore():
    old, new = shared_spec("oai/petstore.yaml"), shared_spec("oai/petstore-expanded.yaml")
    found = {(c.id, c.level, c.operation) for c in compare(load_input(str(old)), load_input(str(new)))}
    assert {
        ("response-success-status-removed", "error", "POST /pets"),           # 201 became 200
        ("request-parameter-type-changed", "error", "GET /pets/{id}"),        # the id: a string, now int64
        ("optional-response-header-removed", "warning", "GET /pets"),         # x-next
        ("request-property-removed", "warning", "POST /pets"),               # the body is NewPet, without id
        ("endpoint-added", "info", "DELETE /pets/{id}"),
        ("new-optional-request-parameter", "info", "GET /pets"),              # tags
    } <= found
