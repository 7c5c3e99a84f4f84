"""A compiled executor for the GraphQL engine's common case: a stateless query with no fault,
example or magic value on its way, answered with generated values.

Called by `GraphQLEngine._execute` (graphql/engine.py) before graphql-core's `execute`. A query
document is compiled once per query text and operation (the variables change, the text does
not): the fields each selection set collects for a runtime type (fragments and aliases merged
as graphql-core's `collect_fields` does), each field's definition, its arguments when they hold
no variable, its directives' hints and a completer for its return type (non-null, list, leaf
`coerce_output_value`, object, abstract type). Executing it then calls the engine's own value
functions (`generate`, `adopt`, `resolve_type`) directly, without graphql-core's per-field
machinery (resolve info, paths, awaitable checks, incremental bookkeeping), which was about half
of a new request's CPU.

The answer is the one graphql-core gives for the same request (tests/graphql/test_compiled.py
compares both on the fixtures' and public schemas). Whatever this executor does not handle
refuses at compile time (`NotCompiled`: introspection fields, @skip/@include/@defer/@stream,
fragment variables, mutations and subscriptions, magic values, `is_type_of`) or at run time
(`Fallback`: variables that do not coerce, a null for a non-null field, a leaf that does not
serialize, a resolver error): the engine then executes the request with graphql-core, which
reports the error as the spec says. Generation is a pure function of the request in this case,
so running it again there changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    type_from_ast,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.pyutils import Undefined

if TYPE_CHECKING:
    from sandlot.graphql.engine import GraphQLEngine

Completer = Callable[[Any, Any], Any]


class NotCompiled(Exception):
    """The document uses something this executor leaves to graphql-core."""


class Fallback(Exception):
    """This request needs graphql-core's executor (it reports the error the spec asks for)."""


class _Field:
    """One collected field of a selection set for one runtime object type."""

    __slots__ = ("args", "complete", "field_def", "hints", "name", "node", "parent", "response_key", "sub_nodes",
                 "typename")

    def __init__(self, parent: str, response_key: str, nodes: list[FieldNode]) -> None:
        self.parent = parent
        self.response_key = response_key
        self.node = nodes[0]
        self.name = nodes[0].name.value
        self.typename = self.name == "__typename"
        self.sub_nodes = tuple(n.selection_set for n in nodes if n.selection_set is not None)
        self.field_def: GraphQLField | None = None
        self.args: dict[str, Any] | None = None  # coerced once when no argument holds a variable
        self.hints: Any = None
        self.complete: Completer | None = None


class CompiledQuery:
    """A query operation compiled for the engine (see the module docstring)."""

    def __init__(self, engine: GraphQLEngine, document: DocumentNode, operation: OperationDefinitionNode) -> None:
        schema = engine.schema
        if operation.operation is not OperationType.QUERY or schema.query_type is None:
            raise NotCompiled("only queries are compiled")
        self.engine = engine
        self.schema = schema
        self.operation = operation
        self.fragments: dict[str, FragmentDefinitionNode] = {}
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                if definition.variable_definitions or definition.directives:
                    raise NotCompiled("fragment variables and directives")
                self.fragments[definition.name.value] = definition
        _refuse_unsupported(operation.selection_set)
        for fragment in self.fragments.values():
            _refuse_unsupported(fragment.selection_set)
        self._selections: dict[tuple[Any, ...], list[_Field]] = {}
        self.root = self._fields(schema.query_type, (operation.selection_set,))
        #: False once a selection compiled on first use turned out not to be compilable.
        self.usable = True

    # -- compile ------------------------------------------------------------------------------
    def _fields(self, type_: GraphQLObjectType, selection_sets: tuple[SelectionSetNode, ...]) -> list[_Field]:
        """Return the compiled fields the selection sets collect for an object type (cached)."""
        cache_key = (type_.name, *map(id, selection_sets))
        found = self._selections.get(cache_key)
        if found is not None:
            return found
        if type_ is self.schema.mutation_type or type_.is_type_of is not None:
            raise NotCompiled("mutation type or is_type_of below a query")
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()
        for selection_set in selection_sets:
            self._collect(type_, selection_set, grouped, visited)
        fields = []
        magic = self.engine.magic_fields()
        for response_key, nodes in grouped.items():
            field = _Field(type_.name, response_key, nodes)
            if not field.typename:
                if field.name.startswith("__") or (type_.name, field.name) in magic:
                    raise NotCompiled("introspection or a magic value")
                field.field_def = type_.fields[field.name]
                field.hints = self.engine.values.hints(type_, field.name, field.field_def)
                if not any(_has_variable(a.value) for a in field.node.arguments or ()):
                    field.args = get_argument_values(field.field_def, field.node, None)
                field.complete = self._completer(field.field_def.type, field)
            fields.append(field)
        self._selections[cache_key] = fields
        return fields

    def _collect(self, type_: GraphQLObjectType, selection_set: SelectionSetNode, grouped: dict[str, list[FieldNode]],
                 visited: set[str]) -> None:
        """Group a selection set's fields by response key, as graphql-core's collect_fields does."""
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._matches(selection, type_):
                    self._collect(type_, selection.selection_set, grouped, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if name in visited or fragment is None or not self._matches(fragment, type_):
                    continue
                visited.add(name)
                self._collect(type_, fragment.selection_set, grouped, visited)

    def _matches(self, fragment: InlineFragmentNode | FragmentDefinitionNode, type_: GraphQLObjectType) -> bool:
        if fragment.type_condition is None:
            return True
        condition = type_from_ast(self.schema, fragment.type_condition)
        if condition is type_:
            return True
        if isinstance(condition, GraphQLInterfaceType | GraphQLUnionType):
            return self.schema.is_sub_type(condition, type_)
        return False

    def _completer(self, type_: Any, field: _Field) -> Completer:
        """Return the function that completes a resolved value of `type_` (graphql-core's complete_value)."""
        if isinstance(type_, GraphQLNonNull):
            inner = self._completer(type_.of_type, field)

            def non_null(value: Any, variables: Any) -> Any:
                done = inner(value, variables)
                if done is None:
                    raise Fallback("null for a non-null field")
                return done
            return non_null
        if isinstance(type_, GraphQLList):
            item = self._completer(type_.of_type, field)

            def listed(value: Any, variables: Any) -> Any:
                if value is None:
                    return None
                if not isinstance(value, list | tuple):
                    raise Fallback("not a list")
                return [item(v, variables) for v in value]
            return listed
        if isinstance(type_, GraphQLScalarType | GraphQLEnumType):
            coerce = type_.coerce_output_value

            def leaf(value: Any, variables: Any) -> Any:
                if value is None:
                    return None
                try:
                    done = coerce(value)
                except (GraphQLError, TypeError, ValueError) as exc:
                    raise Fallback("leaf does not serialize") from exc
                if done is None or done is Undefined:
                    raise Fallback("leaf does not serialize")
                return done
            return leaf
        sub_nodes = field.sub_nodes
        if isinstance(type_, GraphQLObjectType):
            def obj(value: Any, variables: Any) -> Any:
                if value is None:
                    return None
                return self._execute_fields(self._fields(type_, sub_nodes), value, variables)
            return obj
        abstract: GraphQLAbstractType = type_
        resolve_type = self.engine.resolve_type
        schema = self.schema

        def picked(value: Any, variables: Any) -> Any:
            if value is None:
                return None
            runtime = schema.get_type(resolve_type(value, None, abstract) or "")  # type: ignore[arg-type]
            if not isinstance(runtime, GraphQLObjectType) or not schema.is_sub_type(abstract, runtime):
                raise Fallback("no valid runtime type")
            return self._execute_fields(self._fields(runtime, sub_nodes), value, variables)
        return picked

    # -- execute ------------------------------------------------------------------------------
    def execute(self, root: Any, variables: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return the data for a request's variables (raises Fallback)."""
        coerced: Any = None
        if self.operation.variable_definitions:
            coerced = get_variable_values(self.schema, self.operation.variable_definitions, dict(variables or {}))
            if isinstance(coerced, list):
                raise Fallback("variables do not coerce")
        try:
            return self._execute_fields(self.root, root, coerced)
        except Fallback:
            raise
        except NotCompiled as exc:  # a selection below an abstract type, compiled on first use
            self.usable = False
            raise Fallback(str(exc)) from exc
        except Exception as exc:  # a failing resolver: graphql-core reports it as a field error
            raise Fallback(f"{type(exc).__name__}: {exc}") from exc

    def _execute_fields(self, fields: list[_Field], parent: Any, variables: Any) -> dict[str, Any]:
        value_of = self.engine.field_value
        out: dict[str, Any] = {}
        for field in fields:
            if field.typename:
                out[field.response_key] = field.parent
                continue
            args = field.args
            if args is None:
                args = get_argument_values(field.field_def, field.node, variables)  # type: ignore[arg-type]
            value = value_of(parent, field.parent, field.field_def, field.name, field.hints, args)  # type: ignore[arg-type]
            out[field.response_key] = field.complete(value, variables)  # type: ignore[misc]
        return out


def _refuse_unsupported(selection_set: SelectionSetNode) -> None:
    """Raise NotCompiled for what graphql-core must execute: directives on selections (@skip,
    @include, @defer, @stream), introspection fields, fragment arguments."""
    for selection in selection_set.selections:
        if selection.directives:
            raise NotCompiled("directives on selections")
        if isinstance(selection, FieldNode) and selection.name.value in ("__schema", "__type"):
            raise NotCompiled("introspection")
        if isinstance(selection, FragmentSpreadNode) and selection.arguments:
            raise NotCompiled("fragment arguments")
        inner = getattr(selection, "selection_set", None)
        if inner is not None:
            _refuse_unsupported(inner)


def _has_variable(node: Any) -> bool:
    """Tell whether a value literal holds a variable anywhere."""
    kind = getattr(node, "kind", "")
    if kind == "variable":
        return True
    if kind == "list_value":
        return any(_has_variable(v) for v in node.values)
    if kind == "object_value":
        return any(_has_variable(f.value) for f in node.fields)
    return False
