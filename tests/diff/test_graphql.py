"""`sandlot diff` of two GraphQL schemas: one SDL pair per graphql-core change type, and the plumbing."""

from __future__ import annotations

import pytest

from sandlot.diff.graphql import coordinate, diff_graphql
from sandlot.diff.inputs import DiffInputError
from sandlot.diff.rules import ALL_RULES
from sandlot.diff.run import run_diff

Q = "type Query { a: Int }\n"
GRAPHQL_CASES = [
    ("graphql-type-removed", "error", Q + "type Foo { x: Int }", Q),
    ("graphql-type-changed-kind", "error", "type Query { a: Foo }\ntype Foo { x: Int }",
     "type Query { a: Foo }\ninterface Foo { x: Int }"),
    ("graphql-type-removed-from-union", "error", Q + "type A { x: Int }\ntype B { x: Int }\nunion U = A | B",
     Q + "type A { x: Int }\ntype B { x: Int }\nunion U = A"),
    ("graphql-value-removed-from-enum", "error", Q + "enum E { X Y }", Q + "enum E { X }"),
    ("graphql-required-input-field-added", "error", Q + "input I { a: Int }", Q + "input I { a: Int, b: Int! }"),
    ("graphql-implemented-interface-removed", "error", Q + "interface N { id: ID }\ntype A implements N { id: ID }",
     Q + "interface N { id: ID }\ntype A { id: ID }"),
    ("graphql-field-removed", "error", "type Query { a: Int\n b: Int }", Q),
    # (Int stays referenced: a scalar no field uses any more would be removed too)
    ("graphql-field-changed-kind", "error", "type Query { a: Int\n b: String }", "type Query { a: String\n b: String\n c: Int }"),
    ("graphql-required-arg-added", "error", Q, "type Query { a(x: Int!): Int }"),
    ("graphql-arg-removed", "error", "type Query { a(x: Int): Int }", Q),
    ("graphql-arg-changed-kind", "error", "type Query { a(x: Int): String }", "type Query { a(x: String): String\n b: Int }"),
    ("graphql-directive-removed", "error", Q + "directive @d on FIELD", Q),
    ("graphql-directive-arg-removed", "error", Q + "directive @d(x: Int) on FIELD", Q + "directive @d on FIELD"),
    ("graphql-required-directive-arg-added", "error", Q + "directive @d on FIELD", Q + "directive @d(x: Int!) on FIELD"),
    ("graphql-directive-repeatable-removed", "error", Q + "directive @d repeatable on FIELD", Q + "directive @d on FIELD"),
    ("graphql-directive-location-removed", "error", Q + "directive @d on FIELD | QUERY", Q + "directive @d on FIELD"),
    ("graphql-value-added-to-enum", "warning", Q + "enum E { X }", Q + "enum E { X Y }"),
    ("graphql-type-added-to-union", "warning", Q + "type A { x: Int }\ntype B { x: Int }\nunion U = A",
     Q + "type A { x: Int }\ntype B { x: Int }\nunion U = A | B"),
    ("graphql-optional-input-field-added", "warning", Q + "input I { a: Int }", Q + "input I { a: Int, b: Int }"),
    ("graphql-optional-arg-added", "warning", Q, "type Query { a(x: Int): Int }"),
    ("graphql-implemented-interface-added", "warning", Q + "interface N { id: ID }\ntype A { id: ID }",
     Q + "interface N { id: ID }\ntype A implements N { id: ID }"),
    ("graphql-arg-default-value-change", "warning", "type Query { a(x: Int = 1): Int }", "type Query { a(x: Int = 2): Int }"),
    ("graphql-input-field-default-value-change", "warning", Q + "input I { a: Int = 1 }", Q + "input I { a: Int = 2 }"),
]


@pytest.mark.parametrize("rule, level, old, new", GRAPHQL_CASES, ids=[c[0] for c in GRAPHQL_CASES])
def test_each_graphql_change_type_maps_to_its_rule_and_level(rule, level, old, new):
    assert [(c.id, c.level) for c in diff_graphql(old, new, "old.graphql", "new.graphql")] == [(rule, level)]
    assert diff_graphql(old, old, "old.graphql", "old.graphql") == []


def test_the_rule_table_lists_exactly_graphql_cores_change_types():
    from graphql.utilities.find_schema_changes import BreakingChangeType, DangerousChangeType

    expected = {f"graphql-{m.name.lower().replace('_', '-')}": "error" for m in BreakingChangeType}
    expected |= {f"graphql-{m.name.lower().replace('_', '-')}": "warning" for m in DangerousChangeType}
    assert {r.id: r.level for r in ALL_RULES if r.id.startswith("graphql-")} == expected


def test_a_change_is_placed_at_its_schema_coordinate_and_line():
    old = "type Query {\n  user(id: ID): User\n}\ntype User {\n  name: String\n  email: String\n}\n"
    new = "type Query {\n  user(id: ID): User\n}\ntype User {\n  name: String\n}\n"
    [change] = diff_graphql(old, new, "old.graphql", "new.graphql")
    assert (change.id, change.path, change.message) == (
        "graphql-field-removed", "User.email", "Field User.email was removed.")
    assert (change.old.file, change.old.line, change.old.pointer) == ("old.graphql", 6, "User.email")
    assert (change.new.file, change.new.line) == ("new.graphql", None)  # gone from NEW


@pytest.mark.parametrize("description, expected", [
    ("Argument Query.user(id:) was removed.", "Query.user(id:)"),
    ("Argument @d(x:) was removed.", "@d(x:)"),
    ("B was removed from union type U.", "U"),
    ("N added to interfaces implemented by A.", "A"),
    ("Foo was removed.", "Foo"),
    ("Standard scalar Float was removed because it is not referenced anymore.", "Float"),
])
def test_coordinates_are_read_from_graphql_core_descriptions(description, expected):
    assert coordinate(description) == expected


@pytest.mark.parametrize("suffix", [".graphql", ".graphqls", ".gql", ".sdl", ".GQL"])
def test_sdl_files_diff_through_the_command(tmp_path, monkeypatch, suffix):
    # Every ending `sandlot mock` serves as SDL is diffed as SDL too (one list: util/introspection.py).
    monkeypatch.chdir(tmp_path)
    (tmp_path / f"old{suffix}").write_text(Q + "enum E { X Y }\n")
    (tmp_path / f"new{suffix}").write_text(Q + "enum E { X }\n")
    output, code = run_diff(f"old{suffix}", f"new{suffix}", fail_on="error")
    assert code == 1
    assert "graphql-value-removed-from-enum" in output and f"old: old{suffix}:2" in output


def test_invalid_sdl_names_the_file_and_line(tmp_path):
    (tmp_path / "bad.graphql").write_text("type Query {\n  a: Nope\n}\n")
    with pytest.raises(DiffInputError, match=r"bad.graphql.*invalid GraphQL schema: Unknown type 'Nope'"):
        run_diff(str(tmp_path / "bad.graphql"), str(tmp_path / "bad.graphql"))


def test_openapi_against_graphql_is_refused(tmp_path):
    (tmp_path / "a.graphql").write_text(Q)
    (tmp_path / "a.yaml").write_text("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n")
    with pytest.raises(DiffInputError, match="give two OpenAPI documents or two GraphQL schemas"):
        run_diff(str(tmp_path / "a.yaml"), str(tmp_path / "a.graphql"))
