"""The compiled generator (`Generator.build`) draws what the interpreter (`Generator._generate`) draws.

`build` runs functions compiled once per schema node; `_generate` interprets the schema on every
call and is what the compiled functions hand the unusual cases to. For every schema of the
kitchen-sink fixtures and the shared specs, in both directions and both example modes, the two
must give the same value and leave the random generator in the same state (the same draws, in
the same order), so compiling changes no body.
"""

from __future__ import annotations

import random

import pytest

from sandlot.mock.generate import Generator, _Context
from tests.generate.independent import FIXTURES, build_cases, component_schemas, load, response_schemas, shared


def differences(document, schemas, seeds, directions=("response",)):
    """Return (label, direction, seed, prefer_examples) where build and _generate disagree."""
    compiled = Generator(document, openapi_version=document["openapi"])
    interpreted = Generator(document, openapi_version=document["openapi"])
    found = []
    for label, schema, direction, seed, prefer in build_cases(schemas, seeds, directions):
        for _ in range(2):  # the second build runs the functions compiled by the first
            rng_a, rng_b = random.Random(seed), random.Random(seed)
            a = compiled.build(schema, rng_a, direction=direction, prefer_examples=prefer)
            b = interpreted._generate(schema, _Context(rng_b, direction, prefer), "", 0)
            if a != b or rng_a.getstate() != rng_b.getstate():
                found.append((label, direction, seed, prefer))
    return found


@pytest.mark.parametrize("fixture", ["kitchen30.yaml", "kitchen31.yaml"])
def test_fixture_schemas_compile_to_the_same_values(fixture):
    document = load(FIXTURES / fixture)
    schemas = list(component_schemas(document))
    assert len(schemas) > 10
    assert differences(document, schemas, range(6), ("response", "request")) == []


@pytest.mark.parametrize(
    "spec", ["oai/petstore.yaml", "oai/petstore-expanded.yaml", "oai/uspto.yaml", "twilio/twilio_api_v2010.json"],
)
def test_shared_spec_schemas_compile_to_the_same_values(spec):
    document = load(shared(*spec.split("/")))
    schemas = list(response_schemas(document)) + list(component_schemas(document))
    assert len(schemas) > 3
    assert differences(document, schemas, range(3)) == []


def test_a_small_budget_turns_compiled_values_lean_as_interpreted_ones(monkeypatch):
    """Past the node budget both paths generate only what is required, at the same node."""
    import sandlot.mock.generate as generate

    monkeypatch.setattr(generate, "NODE_BUDGET", 7)
    document = load(FIXTURES / "kitchen30.yaml")
    schemas = list(component_schemas(document))
    assert differences(document, schemas, range(4), ("response", "request")) == []


def test_scalars_count_against_the_budget_like_interpreted_ones(monkeypatch):
    """A flat object's scalars are counted at once; the next sibling sees the budget spent."""
    import sandlot.mock.generate as generate

    words = {"type": "string"}
    schema = {
        "type": "object",
        "properties": {
            "flat": {"type": "object", "properties": dict.fromkeys("abcde", words)},
            "after": {"type": "object", "properties": {"optional": words}},
        },
    }
    document = {"openapi": "3.0.3", "paths": {}}
    monkeypatch.setattr(generate, "NODE_BUDGET", 5)
    value = Generator(document, openapi_version="3.0.3").build(schema, random.Random(1))
    assert set(value["flat"]) == set("abcde")
    assert value["after"] == {}  # lean: the budget ran out in `flat`, so its optional property is left out
    assert differences(document, [("doc", schema)], range(3), ("response", "request")) == []
    monkeypatch.setattr(generate, "NODE_BUDGET", 50)
    assert set(Generator(document, openapi_version="3.0.3").build(schema, random.Random(1))["after"]) == {"optional"}


def test_a_kept_function_builds_what_build_does():
    document = load(FIXTURES / "kitchen31.yaml")
    generator = Generator(document, openapi_version=document["openapi"])
    for label, schema, direction, seed, prefer in build_cases(component_schemas(document), range(3),
                                                                ("response", "request")):
        kept = generator.function(schema, direction=direction, prefer_examples=prefer)
        assert kept(random.Random(seed)) == generator.build(schema, random.Random(seed), direction=direction,
                                                            prefer_examples=prefer), label
    with pytest.raises(ValueError):
        generator.function({}, direction="sideways")
