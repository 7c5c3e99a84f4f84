"""A GraphQL introspection result (JSON) read into a schema: the one reader of that format; the
file endings that mark a GraphQL SDL source (`SDL_SUFFIXES`), shared by the same two readers; and
`looks_like_graphql`, which tells a GraphQL schema from an OpenAPI document.

Used by the GraphQL engine (graphql/schema.py: serving a schema given as an introspection result),
by the spec diff (diff/inputs.py: comparing two versions of one, which the operator does when
a GraphQL downstream's source changes) and by `sandlot mock` (cli/mock.py, http/compose.py:
which kind of stub to build). Built by graphql-core's `build_client_schema`, imported only when a
schema is built, so that an OpenAPI stub starts without loading graphql-core.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # graphql-core is imported when a schema is built: an OpenAPI stub never loads it
    from graphql import GraphQLSchema

#: File name endings read as GraphQL SDL (compared in lower case; a directory source holds files
#: with these).
SDL_SUFFIXES = (".graphql", ".graphqls", ".gql", ".sdl")


class IntrospectionError(ValueError):
    """The text is not an introspection result graphql-core can build; `line`/`column` for bad JSON."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def looks_like_introspection(text: str) -> bool:
    """Tell whether a JSON text is an introspection result (it names `__schema` near its start)."""
    return '"__schema"' in text[:4096]


def looks_like_graphql(source: str) -> bool:
    """Tell whether a `sandlot mock` SPEC names a GraphQL schema: an SDL file (by its ending), a
    directory of them, or a JSON introspection result (`{"data": {"__schema": ...}}`)."""
    name = source.split("?", 1)[0].lower()
    if name.endswith(SDL_SUFFIXES):
        return True
    path = Path(source)
    if path.is_dir():
        return any(p.suffix.lower() in SDL_SUFFIXES for p in path.iterdir())
    if name.endswith(".json") and path.is_file():
        with path.open("rb") as handle:
            head = handle.read(4096)
        return looks_like_introspection(head.decode("utf-8", "replace"))
    return False


def introspection_data(text: str) -> dict[str, Any]:
    """Return the `{"__schema": ...}` object of a result given as `{"data": {"__schema": ...}}` or bare."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise IntrospectionError(f"invalid JSON: {getattr(exc, 'msg', exc)}", getattr(exc, "lineno", None),
                                 getattr(exc, "colno", None)) from None
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    if not isinstance(data, dict) or not isinstance(data.get("__schema"), dict):
        raise IntrospectionError('not an introspection result: expected {"data": {"__schema": ...}} or '
                                 '{"__schema": ...}')
    return data


def schema_from_introspection(text: str, *, assume_valid: bool = True) -> GraphQLSchema:
    """Build the schema an introspection result describes (raises IntrospectionError).

    `assume_valid` serves what it says (published results break a few rules); False runs them."""
    from graphql import GraphQLError, build_client_schema

    data = introspection_data(text)
    try:
        return build_client_schema(data, assume_valid=assume_valid)  # type: ignore[arg-type] # __schema checked
    except (TypeError, GraphQLError, KeyError, ValueError) as exc:
        raise IntrospectionError(f"the introspection result cannot be built: {exc}") from None
