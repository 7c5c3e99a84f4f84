"""Generated GraphQL values on a small schema of its own, executed by the engine (no HTTP): the
field name and type choose the value, `@example` on a field or a custom scalar, a `@fake` type,
and list lengths bounded with or without a paging argument."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import GraphQLField, GraphQLObjectType, GraphQLScalarType, get_named_type, parse

from sandlot.graphql.engine import GraphQLEngine, GraphQLRequest
from sandlot.graphql.values import KeyRandom, rng_for
from tests.graphql import conformance, published

LIBRARY = '''
scalar Colour @example(value: "#3366ff")
type Book {
  id: ID!
  title: String!
  isbn: String @example(value: "978-0-306-40615-7")
  colour: Colour
  stargazerCount: Int!
  authorName: String!
  website: String @fake(type: url)
  publishedAt: String
  tags: [String!]!
}
type Query { shelf: [Book!]! books(first: Int): [Book!]! }
'''
QUERY = ("{ shelf { id title isbn colour stargazerCount authorName website publishedAt tags } "
         "many: books(first: 50) { id } two: books(first: 2) { id } }")


def _engine(tmp_path: Path) -> GraphQLEngine:
    schema = tmp_path / "library.graphql"
    schema.write_text(LIBRARY)
    return GraphQLEngine.from_source(str(schema))


def test_values_follow_directives_and_field_names_and_lists_are_bounded(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    result = engine.execute(GraphQLRequest(QUERY)).result
    assert "errors" not in result and not conformance.problems(engine.schema, parse(QUERY), result)
    shelf = result["data"]["shelf"]
    assert 1 <= len(shelf) <= 3  # a list without a paging argument: 1 to 3 items
    assert len(result["data"]["many"]) == 10 and len(result["data"]["two"]) == 2  # `first` asks, up to 10
    for book in shelf:
        assert book["isbn"] == "978-0-306-40615-7"  # @example on the field
        assert book["colour"] == "#3366ff"  # @example on the custom scalar's definition
        assert book["website"].startswith("https://")  # @fake(type: url)
        assert book["stargazerCount"] >= 0  # a count is never negative
        assert re.fullmatch(r"[A-Z][a-z'-]+( [A-Z][a-z'-]+)+", book["authorName"]), book["authorName"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d.*", book["publishedAt"]), book["publishedAt"]
        assert book["id"] and all(isinstance(tag, str) for tag in book["tags"]) and 1 <= len(book["tags"]) <= 3
    assert engine.execute(GraphQLRequest(QUERY)).result == result  # the same query, the same answer


def _scalar_fields(schema) -> list[tuple[GraphQLScalarType, str, GraphQLField, GraphQLObjectType]]:
    found = []
    for type_ in schema.type_map.values():
        if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__"):
            for name, field in type_.fields.items():
                named = get_named_type(field.type)
                if isinstance(named, GraphQLScalarType):
                    found.append((named, name, field, type_))
    return found


@pytest.mark.parametrize("source", ["shop", "github"])
def test_planned_values_are_the_generators_own(tmp_path: Path, source: str) -> None:
    """Values.scalar draws the plainest schemas without Generator.build's dispatch: every scalar
    field of the schema gets exactly the value Generator.build gives for the same key."""
    if source == "github":
        try:
            path = published.fetch(published.GITHUB_JSON)
        except published.Unavailable as exc:
            pytest.skip(f"{published.GITHUB_JSON.name} schema unavailable: {exc}")
    else:
        path = Path(__file__).parent / "fixtures" / "shop.graphql"
    engine = GraphQLEngine.from_source(str(path), seed=7)
    values, direct = engine.values, 0
    for scalar, name, field, parent in _scalar_fields(engine.schema):
        hints = values.hints(parent, name, field)
        for key in (f"{parent.name}.{name}", f"Query.x(\"a\").{name}[2]"):
            got = values.scalar(scalar, name, key, hints)
            plan = values._plans[(scalar.name, name, id(hints))]
            direct += plan[4] is not None
            if plan[1]:
                continue  # examples: a choice among them, not the generator's
            expected = values.generator.build(plan[2], rng_for(7, key), prefer_examples=False, name=plan[3])
            if scalar.name == "Float" and isinstance(expected, int):
                expected = float(expected)
            assert got == expected, (parent.name, name, key)
    assert direct > 0  # the direct draws were exercised


def test_keyrandom_draws_what_randoms_own_algorithms_draw() -> None:
    """KeyRandom inlines its draws (getrandbits, _randbelow): the numbers are those random's own
    rejection sampling gives on the same splitmix64 stream, so values never changed."""
    import random

    class Reference(KeyRandom):
        _randbelow = random.Random._randbelow_with_getrandbits

        def getrandbits(self, k: int) -> int:
            out, got = 0, 0
            while got < k:
                out, got = (out << 64) | self._next(), got + 64
            return out >> (got - k)

    for seed in range(500):
        ours, reference = KeyRandom(seed * 7919), Reference(seed * 7919)
        for n in (1, 2, 3, 7, 100, 2**31 - 1, 2**64, 2**64 + 1, 2**70):
            assert ours._randbelow(n) == reference._randbelow(n)
        assert ours.getrandbits(65) == reference.getrandbits(65) and ours.getrandbits(7) == reference.getrandbits(7)
        assert [ours.choice("abcdefg"), ours.randint(1, 1000), ours.random()] == \
            [reference.choice("abcdefg"), reference.randint(1, 1000), reference.random()]
