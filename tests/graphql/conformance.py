"""An independent judge of GraphQL responses: is `data` exactly what the query asks of the schema?

Written for the tests from the GraphQL spec's rules, not from the engine: it walks the
operation's selection set (fields, aliases, inline fragments and fragment spreads, with their
type conditions, `@skip`/`@include`) over the schema and checks every response key: present
exactly when selected, lists where the type is a list, null only where the type allows it (or
where an error explains it), scalars of their type (Int a 32-bit integer, Float finite, String,
Boolean, ID), enum values declared, `__typename` naming a possible object type. Used by the
engine tests and the conformance run on public schemas (test_public_schemas.py).
"""

from __future__ import annotations

import math
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_operation_ast,
    value_from_ast_untyped,
)


def problems(schema: GraphQLSchema, document: DocumentNode, response: dict[str, Any],
             variables: dict[str, Any] | None = None, operation_name: str | None = None) -> list[str]:
    """Return every way `response` breaks the query (empty: the response is valid)."""
    operation = get_operation_ast(document, operation_name)
    assert isinstance(operation, OperationDefinitionNode)
    root = schema.get_root_type(operation.operation)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    errors = response.get("errors") or []
    found: list[str] = []
    if set(response) - {"data", "errors", "extensions"}:
        found.append(f"unexpected top-level keys {sorted(set(response) - {'data', 'errors', 'extensions'})}")
    for error in errors:
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            found.append(f"malformed error {error!r}")
    data = response.get("data")
    if data is None:
        if not errors:
            found.append("no data and no errors")
        return found
    judge = _Judge(schema, fragments, variables or {}, bool(errors), found)
    judge.object(root, operation.selection_set, data, "data")
    return found


class _Judge:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode],
                 variables: dict[str, Any], has_errors: bool, found: list[str]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.has_errors = has_errors
        self.found = found

    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            args = {a.name.value: value_from_ast_untyped(a.value, self.variables) for a in directive.arguments}
            if directive.name.value == "skip" and args.get("if") is True:
                return False
            if directive.name.value == "include" and args.get("if") is False:
                return False
        return True

    def _applies(self, condition: str | None, concrete: GraphQLObjectType) -> bool:
        if condition is None or condition == concrete.name:
            return True
        other = self.schema.get_type(condition)
        if isinstance(other, GraphQLInterfaceType | GraphQLUnionType):
            return self.schema.is_sub_type(other, concrete)
        return False

    def collect(self, concrete: GraphQLObjectType, selections: SelectionSetNode,
                out: dict[str, list[FieldNode]], seen: set[str]) -> None:
        for selection in selections.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                out.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition.name.value if selection.type_condition else None
                if self._applies(condition, concrete):
                    self.collect(concrete, selection.selection_set, out, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                if self._applies(fragment.type_condition.name.value, concrete):
                    self.collect(concrete, fragment.selection_set, out, seen | {name})

    def object(self, type_: Any, selections: SelectionSetNode, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            self.found.append(f"{where}: expected an object, got {value!r}")
            return
        if isinstance(type_, GraphQLObjectType):
            self._object_of(type_, selections, value, where, self.found)
            return
        candidates = list(self.schema.get_possible_types(type_))
        typename = value.get("__typename")
        if typename is not None:
            candidates = [t for t in candidates if t.name == typename]
            if not candidates:
                self.found.append(f"{where}: __typename {typename!r} is not a possible type of {type_.name}")
                return
        trials = []
        for candidate in candidates:
            local: list[str] = []
            self._object_of(candidate, selections, value, where, local)
            if not local:
                return
            trials.append(local)
        self.found.append(f"{where}: fits no possible type of {type_.name}: " + "; ".join(t[0] for t in trials[:3]))

    def _object_of(self, type_: GraphQLObjectType, selections: SelectionSetNode, value: dict[str, Any],
                   where: str, found: list[str]) -> None:
        fields: dict[str, list[FieldNode]] = {}
        self.collect(type_, selections, fields, set())
        extra = set(value) - set(fields)
        if extra:
            found.append(f"{where}: keys not asked for: {sorted(extra)}")
        for key, nodes in fields.items():
            node = nodes[0]
            name = node.name.value
            here = f"{where}.{key}"
            if key not in value:
                found.append(f"{here}: missing")
                continue
            if name == "__typename":
                if value[key] != type_.name:
                    found.append(f"{here}: {value[key]!r}, not {type_.name!r}")
                continue
            if name.startswith("__"):
                continue  # introspection answers are graphql-core's own
            field_def = type_.fields.get(name)
            if field_def is None:
                found.append(f"{here}: {type_.name} has no field {name}")
                continue
            merged = SelectionSetNode(selections=tuple(s for n in nodes if n.selection_set
                                                       for s in n.selection_set.selections))
            sub = _Judge(self.schema, self.fragments, self.variables, self.has_errors, found)
            sub.value(field_def.type, merged, value[key], here, name)

    def value(self, type_: Any, selections: SelectionSetNode, value: Any, where: str, name: str) -> None:
        if value is None:
            if isinstance(type_, GraphQLNonNull) and not self.has_errors:
                self.found.append(f"{where}: null for a non-null field")
            return
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        if isinstance(type_, GraphQLList):
            if not isinstance(value, list):
                self.found.append(f"{where}: expected a list, got {value!r}")
                return
            for i, item in enumerate(value):
                self.value(type_.of_type, selections, item, f"{where}[{i}]", name)
            return
        if isinstance(type_, GraphQLEnumType):
            if value not in type_.values:
                self.found.append(f"{where}: {value!r} is not a value of {type_.name}")
            return
        if isinstance(type_, GraphQLScalarType):
            self.scalar(type_, value, where, name)
            return
        self.object(type_, selections, value, where)

    def scalar(self, type_: GraphQLScalarType, value: Any, where: str, name: str) -> None:
        kind = type_.name
        ok = True
        if kind == "Int":
            ok = isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
        elif kind == "Float":
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        elif kind in ("String", "ID"):
            ok = isinstance(value, str)
        elif kind == "Boolean":
            ok = isinstance(value, bool)
        if not ok:
            self.found.append(f"{where}: {value!r} is not a {kind}")
        if kind in ("Int", "Float") and name.lower().endswith("count") and isinstance(value, int | float) \
                and value < 0:
            self.found.append(f"{where}: a count of {value}")
