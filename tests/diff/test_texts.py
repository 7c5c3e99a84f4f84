"""`compare_texts`: the diff engine on two documents' texts alone, as the operator calls it.

The operator compares what a stub serves with what its source holds now; both are texts a
tenant named, so nothing may be read to compare them: a `$ref` to another file or URL is
refused (and the server it names sees no request), never followed.
"""

from __future__ import annotations

import json

import pytest

from sandlot.diff.inputs import DiffInputError, text_input
from sandlot.diff.run import compare_texts
from tests.diff.helpers import PETS_TEXT
from tests.netservers import LoopbackServer, body

OLD = PETS_TEXT
NEW = """openapi: 3.0.3
info: {title: Pets, version: '2'}
paths:
  /pets:
    get:
      parameters: [{name: limit, in: query, schema: {type: integer}}]
      responses:
        '200': {description: ok}
"""


def test_two_texts_are_compared_with_the_one_engine():
    changes = compare_texts("openapi.yaml", OLD, "openapi.yaml", NEW)
    assert [(c.id, c.level, c.operation) for c in changes] == [
        ("api-path-removed-without-deprecation", "error", "GET /pets/{id}"),
        ("new-optional-request-parameter", "info", "GET /pets"),
    ]
    assert changes[0].old is not None and changes[0].old.file is None  # a text has no file to point into


def test_the_same_text_is_no_change():
    assert compare_texts("a.yaml", OLD, "b.yaml", OLD) == []


def test_a_ref_out_of_the_text_is_refused_and_nothing_is_read():
    with LoopbackServer("127.0.0.1", {"/pet.yaml": body("type: object\n")}) as server:
        new = NEW.replace("'200': {description: ok}", "'200': {$ref: '" + server.url("/pet.yaml") + "'}")
        with pytest.raises(DiffInputError) as refused:
            compare_texts("openapi.yaml", OLD, "openapi.yaml", new)
        assert server.hits == []
    assert refused.value.self_contained is False
    assert str(refused.value) == (
        f"openapi.yaml: at /paths/~1pets/get/responses/200/$ref: $ref to {server.url('/pet.yaml')}: this document "
        "may refer to nothing outside itself (another file or a URL); bundle it into one document first "
        "(e.g. `npx @redocly/cli bundle`)")


def test_a_relative_file_ref_is_refused_without_reading_the_file(tmp_path, monkeypatch):
    (tmp_path / "pet.yaml").write_text("type: object\n")
    monkeypatch.chdir(tmp_path)
    new = NEW.replace("'200': {description: ok}", "'200': {$ref: 'pet.yaml'}")
    with pytest.raises(DiffInputError) as refused:
        text_input("openapi.yaml", new)
    assert refused.value.self_contained is False
    assert "$ref to pet.yaml: this document may refer to nothing outside itself" in str(refused.value)


def test_a_document_that_does_not_load_is_named_with_its_problem():
    with pytest.raises(DiffInputError) as broken:
        text_input("openapi.yaml", "openapi: 2.0\npaths: {}\n")
    assert broken.value.self_contained is True
    assert str(broken.value) == "openapi.yaml: at /openapi: `openapi` must be a 3.0.x or 3.1.x version string, found 2.0"


def test_graphql_sdl_is_told_by_its_name():
    changes = compare_texts("schema.graphql", "type Query { a: Int, b: Int }", "schema.graphql", "type Query { a: Int }")
    assert [(c.id, c.level) for c in changes] == [("graphql-field-removed", "error")]


def test_a_mocks_directives_are_no_change_and_no_error():
    """The schemas Sandlot serves carry mock hints (@fake, @examples, @listLength) with no definition
    in the SDL: the diff compares the API, not the hints, and other SDL rules still hold."""
    old = 'type Query { a: Int @fake(type: number), b: String @examples(values: ["x"]) }'
    new = 'type Query { a: Int @fake(type: number) }'
    changes = compare_texts("schema.graphql", old, "schema.graphql", new)
    assert [(c.id, c.path) for c in changes] == [("graphql-field-removed", "Query.b")]
    with pytest.raises(DiffInputError, match="line 1: invalid GraphQL schema: Unknown type 'Nope'"):
        compare_texts("schema.graphql", old, "schema.graphql", "type Query { a: Nope @fake(type: x) }")


def test_an_introspection_result_is_compared_as_the_schema_it_describes():
    from graphql import build_schema, introspection_from_schema

    def introspected(sdl: str) -> str:
        return json.dumps({"data": introspection_from_schema(build_schema(sdl))})

    changes = compare_texts("schema.json", introspected("type Query { a: Int, b: Int }"),
                            "schema.json", introspected("type Query { a: Int }"))
    assert [(c.id, c.level, c.path) for c in changes] == [("graphql-field-removed", "error", "Query.b")]
    assert text_input("schema.json", introspected("type Query { a: Int }")).kind == "graphql"
    with pytest.raises(DiffInputError, match="schema.json: the introspection result cannot be built"):
        text_input("schema.json", '{"__schema": {"types": "nope"}}')
