"""Compare two GraphQL schemas (SDL) with graphql-core's own breaking and dangerous change finders.

Called by sandlot.diff.run when OLD and NEW are GraphQL schemas. graphql-core is the reference
implementation's port, so its verdicts are the ones GraphQL tooling agrees on: breaking changes
become `error`s, dangerous ones `warning`s, each under a `graphql-...` rule. The location is the
schema coordinate the change names (`Query.user(id:)`), with the line where it is declared.
"""

from __future__ import annotations

import re
from typing import Any

from sandlot.diff.changes import Change, Location, make
from sandlot.diff.inputs import DiffInputError
from sandlot.diff.rules import graphql_rule_id

_DIRECTIVE = re.compile(r"@\w+(?:\(\w+:\))?")
_MEMBER = re.compile(r"\b\w+\.\w+(?:\(\w+:\))?")
_UNION = re.compile(r"union type (\w+)")
_IMPLEMENTED_BY = re.compile(r"implemented by (\w+)")
_FIRST = re.compile(r"^(?:Standard scalar )?(\w+)")


def _schema(text: str, source: str) -> Any:
    """Build a schema to compare. Directives the SDL uses without defining them (a mock's hints such
    as Sandlot's @fake, @examples, @listLength, @magic) are no part of the API's contract: they
    are let through; every other SDL rule applies."""
    from graphql import GraphQLError, build_ast_schema, parse
    from graphql.validation.validate import validate_sdl

    try:
        document = parse(text)
        problems = [e for e in validate_sdl(document) if not e.message.startswith("Unknown directive")]
        if problems:
            raise problems[0]
        return build_ast_schema(document, assume_valid_sdl=True)
    except GraphQLError as exc:  # syntax, or an SDL rule
        where = f" line {exc.locations[0].line}" if exc.locations else ""
        raise DiffInputError(f"{source}{where}: invalid GraphQL schema: {exc.message}; fix the SDL") from None
    except TypeError as exc:  # graphql-core reports some schema errors (unknown types ...) as TypeError
        raise DiffInputError(f"{source}: invalid GraphQL schema: {exc}; fix the SDL") from None


def coordinate(description: str) -> str:
    """Return the schema coordinate a graphql-core change description is about ("Query.user(id:)")."""
    for pattern in (_DIRECTIVE, _MEMBER, _UNION, _IMPLEMENTED_BY, _FIRST):
        found = pattern.search(description)
        if found:
            return found.group(1) if pattern.groups else found.group(0)
    return ""


def _line(schema: Any, coordinate_text: str) -> int | None:
    """Return the line where a schema coordinate is declared, or None."""
    from graphql import GraphQLError
    from graphql.utilities import resolve_schema_coordinate

    try:
        resolved = resolve_schema_coordinate(schema, coordinate_text)
    except (GraphQLError, ValueError, TypeError, KeyError):
        return None
    if resolved is None:
        return None
    element = next((getattr(resolved, k) for k in ("argument", "value", "field", "directive", "type")
                    if getattr(resolved, k, None) is not None), None)
    node = getattr(element, "ast_node", None)
    loc = getattr(node, "loc", None)
    return loc.start_token.line if loc is not None else None


def diff_graphql(old_text: str, new_text: str, old_file: str, new_file: str) -> list[Change]:
    """Return the breaking (error) and dangerous (warning) changes between two SDL schemas."""
    from graphql import find_breaking_changes, find_dangerous_changes

    old, new = _schema(old_text, old_file), _schema(new_text, new_file)
    found: list[Any] = [*find_breaking_changes(old, new), *find_dangerous_changes(old, new)]
    changes = []
    for item in found:
        where = coordinate(item.description)
        change = make(graphql_rule_id(item.type.name), {"message": item.description}, path=where,
                      old=where, new=where)
        changes.append(Change(change.id, change.level, change.message, "", where, "",
                              Location(where, old_file, _line(old, where)),
                              Location(where, new_file, _line(new, where))))
    return changes
