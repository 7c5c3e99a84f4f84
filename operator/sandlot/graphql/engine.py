"""The GraphQL engine: a schema that answers GraphQL requests (query text, variables, operation
name) with data valid for the query, built on graphql-core's `parse`, `validate` and `execute`
with custom field and type resolvers. No HTTP here: graphql/http.py carries requests in and
responses out, the stages (graphql/stage.py, state/graphql.py) choose where objects come from.

Where a field's value comes from, first wins:
1. a fault the request's scenario asked for (`field_error`), or a magic value among its
   arguments (`@magic` in the schema, `graphql.magic` in the config): a field error with the
   rest of the data intact;
2. data already at hand: the examples file's answer for the operation, or a stored object
   (stateful: `Records`, with the meaning graphql/model.py infers: mutations by naming,
   `node(id:)`, lookups, lists and Relay connections, relations);
3. a generated value (graphql/values.py), seeded by the object's key, so the same request always
   gets the same answer; arguments named like the returned type's fields fill those fields
   (`user(login: "ada")` has login "ada"; a mutation echoes its input).

Stored and example values are used only where they are valid for the field's type, so every
response is valid for its query whatever was stored. Stateless answers are cached per request.

A stateless query with no fault, example or magic value on its way (the common case: the same
query text with new variables) is executed by a plan compiled once per query text
(graphql/compiled.py), which calls `field_value`, `generate`, `adopt` and `resolve_type` directly
and answers what graphql-core's `execute` with `resolve` would; everything else, and whatever
the plan cannot answer, is executed by graphql-core.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLUnionType,
    OperationDefinitionNode,
    Source,
    execute,
    experimental_execute_incrementally,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    parse,
    validate,
    value_from_ast_untyped,
)
from graphql.pyutils import Undefined

from sandlot.graphql import model as gmodel
from sandlot.graphql.compiled import CompiledQuery, Fallback, NotCompiled
from sandlot.graphql.model import Action, Model, Records, RecordsRefused, Window
from sandlot.graphql.schema import LoadedSchema, SchemaError, load_schema
from sandlot.graphql.values import Hints, Values
from sandlot.util.sources import SourceError, read_file_or_configmap

log = logging.getLogger("sandlot.graphql")

_DOCUMENT_CACHE = 512
_RESULT_CACHE = 4096
_RESULT_CACHE_BYTES = 16 * 1024 * 1024
NOT_FOUND = "NOT_FOUND"
#: The GraphQL-specific scenarios this engine carries out (the simulation checks and records them).
FIELD_ERROR = "field_error"
REQUEST_ERROR = "request_error"
SCENARIOS = {
    FIELD_ERROR: ("one field fails (errors[].path, extensions.code) and the rest of the data is sent: "
                  "path=user.email (default: the first leaf field), code=..., message=...",
                  ("path", "code", "message")),
    REQUEST_ERROR: ("the whole request fails: no data, one error; code=... (default INTERNAL_SERVER_ERROR), "
                    "message=..., status=500 (any 4xx/5xx, for application/graphql-response+json)",
                    ("code", "message", "status")),
}


class ExamplesError(ValueError):
    """An examples file that cannot be used: names the file and the entry."""


@dataclass(frozen=True)
class GraphQLRequest:
    """One GraphQL request: the document, its variables, the operation to run, extensions."""

    query: str
    variables: Mapping[str, Any] | None = None
    operation_name: str | None = None
    extensions: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Fault:
    """A GraphQL failure a scenario asked for (see SCENARIOS)."""

    kind: str  # field_error | request_error
    path: tuple[str, ...] = ()
    code: str = "INTERNAL_SERVER_ERROR"
    message: str = ""
    status: int = 500

    @staticmethod
    def from_scenario(name: str, params: Mapping[str, Any]) -> Fault | None:
        """Return the fault a chosen scenario asks for, or None when it is not GraphQL's own."""
        if name == FIELD_ERROR:
            path = tuple(p for p in str(params.get("path", "")).split(".") if p)
            return Fault(FIELD_ERROR, path, str(params.get("code") or "INTERNAL_SERVER_ERROR"),
                         str(params.get("message") or "This field failed (the field_error scenario)."))
        if name == REQUEST_ERROR:
            status = int(params.get("status", 500))
            if not 400 <= status <= 599:
                raise ValueError(f"request_error: status={status} must be a 4xx or 5xx status")
            return Fault(REQUEST_ERROR, (), str(params.get("code") or "INTERNAL_SERVER_ERROR"),
                         str(params.get("message") or "The request failed (the request_error scenario)."), status)
        return None


@dataclass
class Run:
    """One execution: where stored objects live, the fault to inject, what happened."""

    records: Records | None = None
    fault: Fault | None = None
    #: (action, entity, object) for every create/update/delete: subscriptions are fed from them.
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    fault_done: bool = False
    example: Any = None


@dataclass
class Outcome:
    """An execution's result and how far the request got (for the HTTP status)."""

    result: dict[str, Any]
    #: parse | validate | request (variables, operation name) | execute (data present)
    stage: str
    operation: str | None = None  # query | mutation | subscription
    status: int | None = None  # a request_error's chosen status
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    _body: bytes | None = field(default=None, repr=False, compare=False)

    def body(self) -> bytes:
        """Return the result as compact JSON (encoded once: a cached outcome is sent many times)."""
        if self._body is None:
            self._body = json.dumps(self.result, ensure_ascii=False, separators=(",", ":"), default=str).encode()
        return self._body


class Obj:
    """An object value on its way through the resolvers: how it was reached (its key), its type
    when known, and the data at hand (stored, example or arguments), if any."""

    __slots__ = ("data", "key", "stored", "typename")

    def __init__(self, key: str, typename: str | None = None, data: Mapping[str, Any] | None = None,
                 stored: bool = False) -> None:
        self.key = key
        self.typename = typename
        self.data = data
        self.stored = stored


@dataclass(frozen=True)
class MagicRule:
    """A magic value: an argument (dotted path) equal to `value` makes the field fail."""

    path: tuple[str, ...]
    value: Any
    message: str
    code: str


def _args_text(args: Mapping[str, Any]) -> str:
    if not args:
        return ""
    return "(" + json.dumps(args, sort_keys=True, separators=(",", ":"), default=str) + ")"


def _equal(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return actual is wanted
    if isinstance(actual, str) or isinstance(wanted, str):
        return str(actual) == str(wanted)
    return bool(actual == wanted)


def _dig(args: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = args
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return Undefined
    return value


def load_examples(path: str | Path) -> dict[str, Any]:
    """Read an examples file (or a ConfigMap manifest holding one): operation name (or query
    text) -> data (or {data: ...})."""
    try:
        text, _ = read_file_or_configmap(str(path))
        loaded = yaml.safe_load(text) or {}
    except SourceError as exc:
        raise ExamplesError(f"examples: {exc}") from None
    except yaml.YAMLError as exc:
        raise ExamplesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ExamplesError(f"{path}: map operation names (or queries) to their data, e.g. `GetUser: {{user: ...}}`")
    examples = {}
    for key, value in loaded.items():
        if isinstance(value, dict) and set(value) <= {"data"} and "data" in value:
            value = value["data"]
        if not isinstance(value, dict):
            raise ExamplesError(f"{path}: {key}: the data must be a mapping of root fields")
        examples[_normal_query(str(key))] = value
    return examples


def _normal_query(text: str) -> str:
    return " ".join(text.split())


class GraphQLEngine:
    """A schema compiled for answering GraphQL requests; see the module docstring."""

    def __init__(self, loaded: LoadedSchema, *, seed: int = 0, examples: Mapping[str, Any] | None = None,
                 magic: Sequence[Mapping[str, Any]] | None = None) -> None:
        self.loaded = loaded
        self.schema = loaded.schema
        self.seed = seed
        self.values = Values(seed)
        self.model: Model = gmodel.infer(self.schema)
        self.examples = dict(examples or {})
        self._documents: OrderedDict[str, tuple[DocumentNode | None, list[GraphQLError]]] = OrderedDict()
        #: Compiled queries by (query text, operation name); None: graphql-core executes it.
        self._compiled: OrderedDict[tuple[str, str | None], CompiledQuery | None] = OrderedDict()
        self._results: OrderedDict[tuple[Any, ...], Outcome] = OrderedDict()
        self._result_bytes = 0
        self._possible: dict[str, list[str]] = {}
        self._magic = self._magic_rules(magic or ())
        self._incremental = any(d.name in ("defer", "stream") for d in self.schema.directives)

    @classmethod
    def from_source(cls, sources: str | Sequence[str], *, seed: int = 0, examples: Mapping[str, Any] | None = None,
                    magic: Sequence[Mapping[str, Any]] | None = None) -> GraphQLEngine:
        """Load a schema (SDL files, URL, ConfigMap, introspection JSON) and compile it; log the
        duplicates that were merged."""
        loaded = load_schema(sources)
        for warning in loaded.warnings:
            log.warning("%s", warning)
        return cls(loaded, seed=seed, examples=examples, magic=magic)

    @property
    def files(self) -> list[str]:
        """Return the local files the schema was read from (what a reloader watches)."""
        return self.loaded.files

    # -- documents -------------------------------------------------------------------------------
    def document(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        """Return the parsed document and its validation errors (cached per query text)."""
        hit = self._documents.get(query)
        if hit is not None:
            self._documents.move_to_end(query)
            return hit
        try:
            document: DocumentNode | None = parse(Source(query, "request"))
            errors = validate(self.schema, document) if document is not None else []
        except GraphQLError as exc:
            document, errors = None, [exc]
        self._documents[query] = (document, list(errors))
        if len(self._documents) > _DOCUMENT_CACHE:
            self._documents.popitem(last=False)
        return document, list(errors)

    def operation_type(self, request: GraphQLRequest) -> str | None:
        """Return `query`, `mutation` or `subscription` for a request that parses, else None."""
        document, _ = self.document(request.query)
        if document is None:
            return None
        operation = get_operation_ast(document, request.operation_name)
        return operation.operation.value if operation is not None else None

    # -- execution --------------------------------------------------------------------------------
    def execute(self, request: GraphQLRequest, run: Run | None = None) -> Outcome:
        """Answer a request (cached when nothing is stored); see the module docstring."""
        run = run or Run()
        cacheable = run.records is None
        key: tuple[Any, ...] = ()
        if cacheable:
            key = (request.query, json.dumps(request.variables, sort_keys=True, default=str),
                   request.operation_name, run.fault)
            hit = self._results.get(key)
            if hit is not None:
                self._results.move_to_end(key)
                return hit
        outcome = self._execute(request, run)
        if cacheable:
            size = len(outcome.body())
            if size < 256 * 1024:
                self._results[key] = outcome
                self._result_bytes += size
                while len(self._results) > _RESULT_CACHE or self._result_bytes > _RESULT_CACHE_BYTES:
                    _, old = self._results.popitem(last=False)
                    self._result_bytes -= len(old.body())
        return outcome

    def _execute(self, request: GraphQLRequest, run: Run) -> Outcome:
        document, errors = self.document(request.query)
        if document is None:
            return Outcome({"errors": [e.formatted for e in errors]}, "parse")
        operation = get_operation_ast(document, request.operation_name)
        kind = operation.operation.value if operation is not None else None
        if errors:
            return Outcome({"errors": [e.formatted for e in errors]}, "validate", kind)
        fault = run.fault
        if fault is not None and fault.kind == REQUEST_ERROR:
            error = GraphQLError(fault.message, extensions={"code": fault.code})
            return Outcome({"errors": [error.formatted]}, "request", kind, fault.status)
        if isinstance(operation, OperationDefinitionNode):
            run.example = self._example_for(request, operation)
        root = Obj(self._root_key(kind), None, run.example)
        if kind == "query" and run.records is None and fault is None and run.example is None:
            compiled = self._compile(request, document, operation)
            if compiled is not None:
                try:
                    return Outcome({"data": compiled.execute(root, request.variables)}, "execute", kind)
                except Fallback:  # graphql-core executes it and reports the error
                    if not compiled.usable:
                        self._compiled[(request.query, request.operation_name)] = None
        try:
            result = self._run(document, request, root, run)
        except GraphQLError as exc:
            return Outcome({"errors": [exc.formatted]}, "request", kind)
        formatted = dict(result.formatted)
        stage = "execute"
        if result.data is None and result.errors and not any(e.path for e in result.errors):
            stage = "request"  # raised before execution began: no `data` entry, as the spec says
            formatted.pop("data", None)
        return Outcome(formatted, stage, kind, events=list(run.events))

    def _compile(self, request: GraphQLRequest, document: DocumentNode, operation: Any) -> CompiledQuery | None:
        """Return the compiled query for a request's text and operation (cached), or None when
        graphql-core executes it (graphql/compiled.py)."""
        key = (request.query, request.operation_name)
        if key in self._compiled:
            self._compiled.move_to_end(key)
            return self._compiled[key]
        compiled: CompiledQuery | None
        try:
            compiled = CompiledQuery(self, document, operation) if self._compilable(document, request) else None
        except NotCompiled:
            compiled = None
        self._compiled[key] = compiled
        if len(self._compiled) > _DOCUMENT_CACHE:
            self._compiled.popitem(last=False)
        return compiled

    def _compilable(self, document: DocumentNode, request: GraphQLRequest) -> bool:
        if not isinstance(request.variables, Mapping | None) or self.examples:
            return False
        return isinstance(get_operation_ast(document, request.operation_name), OperationDefinitionNode)

    def magic_fields(self) -> set[tuple[str, str]]:
        """Return the (type, field) pairs that have magic values."""
        return set(self._magic)

    def field_value(self, parent: Any, parent_name: str, field_def: GraphQLField, name: str, hints: Hints,
                    args: Mapping[str, Any]) -> Any:
        """Return a field's value in a stateless query with no fault, example or magic value (what
        `resolve` does then; graphql/compiled.py calls it)."""
        obj = parent if isinstance(parent, Obj) else Obj(parent_name)
        key = f"{obj.key}.{name}{_args_text(args)}"
        data = obj.data
        if data is not None and name in data:
            return self.adopt(data[name], field_def.type, key, name, hints, args, _STATELESS)
        return self.generate(field_def.type, key, name, hints, args)

    def execute_event(self, request: GraphQLRequest, event: Obj) -> dict[str, Any]:
        """Execute a subscription's selection for one event (`event` holds the root field's data)."""
        document, errors = self.document(request.query)
        if document is None or errors:
            return {"errors": [e.formatted for e in errors]}
        try:
            return dict(self._run(document, request, event, Run()).formatted)
        except GraphQLError as exc:
            return {"errors": [exc.formatted]}

    def _run(self, document: DocumentNode, request: GraphQLRequest, root: Obj, run: Run) -> ExecutionResult:
        """Execute a document with this engine's resolvers (synchronously: every resolver is).

        A schema that declares @defer or @stream (Shopify's does) is executed by graphql-core's
        incremental executor, which refuses nothing; a request that uses them is refused, since
        incremental delivery is not served."""
        variables = dict(request.variables) if request.variables else None
        if self._incremental:
            result: Any = experimental_execute_incrementally(
                self.schema, document, root_value=root, context_value=run, variable_values=variables,
                operation_name=request.operation_name, field_resolver=self.resolve, type_resolver=self.resolve_type)
            if not isinstance(result, ExecutionResult):
                raise GraphQLError("@defer and @stream are not served by this sandbox; ask without them",
                                   extensions={"code": "BAD_REQUEST"})
            return result
        result = execute(self.schema, document, root_value=root, context_value=run, variable_values=variables,
                         operation_name=request.operation_name, field_resolver=self.resolve,
                         type_resolver=self.resolve_type)
        assert isinstance(result, ExecutionResult)
        return result

    def _example_for(self, request: GraphQLRequest, operation: OperationDefinitionNode) -> Any:
        if not self.examples:
            return None
        name = request.operation_name or (operation.name.value if operation.name else None)
        if name and name in self.examples:
            return self.examples[name]
        return self.examples.get(_normal_query(request.query))

    @staticmethod
    def _root_key(kind: str | None) -> str:
        return {"mutation": "Mutation", "subscription": "Subscription"}.get(kind or "", "Query")

    # -- resolvers --------------------------------------------------------------------------------
    def resolve(self, parent: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        """Resolve one field (graphql-core's field resolver for every field of the schema)."""
        run: Run = info.context
        parent_type = info.parent_type
        name = info.field_name
        field_def = parent_type.fields[name]
        fault = run.fault
        if fault is not None and not run.fault_done and fault.kind == FIELD_ERROR and \
                self._fault_here(fault, info, field_def):
            run.fault_done = True
            raise GraphQLError(fault.message, extensions={"code": fault.code})
        if self._magic:
            rules = self._magic.get((parent_type.name, name))
            if rules:
                for rule in rules:
                    if _equal(_dig(args, rule.path), rule.value):
                        raise GraphQLError(rule.message, extensions={"code": rule.code})
        obj = parent if isinstance(parent, Obj) else Obj(parent_type.name)
        key = f"{obj.key}.{name}{_args_text(args)}"
        hints = self.values.hints(parent_type, name, field_def)
        data = obj.data
        if data is not None:
            response_key = info.path.key
            # An example is written as the response, under its aliases; stored data by field name.
            if run.example is not None and not obj.stored and isinstance(response_key, str) and response_key in data:
                return self.adopt(data[response_key], field_def.type, key, name, hints, args, run)
            if name in data:
                return self.adopt(data[name], field_def.type, key, name, hints, args, run)
        if run.records is not None:
            action = self.model.action(parent_type.name, name)
            if action is not None:
                return self.adopt(self._stateful_root(action, field_def, args, key, run), field_def.type, key,
                                  name, hints, args, run)
            if obj.stored and data is not None:
                found = self._related(obj, field_def, name, args, key, run)
                if found is not Undefined:
                    return self.adopt(found, field_def.type, key, name, hints, args, run)
        elif parent_type is self.schema.mutation_type:
            action = self.model.action(parent_type.name, name)
            if action is not None:
                return self.adopt(self._echo(action, field_def, args, key, hints, run), field_def.type, key,
                                  name, hints, args, run)
        return self.generate(field_def.type, key, name, hints, args)

    def _fault_here(self, fault: Fault, info: GraphQLResolveInfo, field_def: GraphQLField) -> bool:
        keys = [k for k in info.path.as_list() if isinstance(k, str)]
        if fault.path:
            return tuple(keys) == fault.path
        named = get_named_type(field_def.type)
        return len(keys) >= 2 and isinstance(named, GraphQLScalarType | GraphQLEnumType)

    def resolve_type(self, value: Any, info: GraphQLResolveInfo, abstract_type: Any) -> str | None:
        """Pick the object type of an abstract value: its own, else one drawn for its key."""
        options = self._possible.get(abstract_type.name)
        if options is None:
            options = self._possible[abstract_type.name] = sorted(
                t.name for t in self.schema.get_possible_types(abstract_type))
        if isinstance(value, Obj):
            if value.typename in options:
                return value.typename
            if value.data is not None and value.data.get("__typename") in options:
                return str(value.data["__typename"])
            return self.values.choose(options, value.key + "#type") if options else None
        return options[0] if options else None

    # -- values ------------------------------------------------------------------------------------
    def generate(self, type_: Any, key: str, name: str, hints: Hints, args: Mapping[str, Any]) -> Any:
        """Generate a value of a field type for `key` (lists bounded, objects filled lazily)."""
        if isinstance(type_, GraphQLNonNull):
            type_ = type_.of_type
        if isinstance(type_, GraphQLList):
            count = self.values.list_length(hints, args, key)
            return [self.generate(type_.of_type, f"{key}[{i}]", name, hints, {}) for i in range(count)]
        if isinstance(type_, GraphQLScalarType):
            return self.values.scalar(type_, name, key, hints)
        if isinstance(type_, GraphQLEnumType):
            if hints.examples:
                picked = self.values.choose(list(hints.examples), key)
                if picked in type_.values:
                    return picked
            return self.values.enum(type_, key)
        if isinstance(type_, GraphQLObjectType):
            shape = self.model.connections.get(type_.name)
            if shape is not None:
                return Obj(key, type_.name, self._generated_connection(shape, key, hints, args))
            return Obj(key, type_.name, self._prefill(type_, args))
        return Obj(key, None, None)

    def _generated_connection(self, shape: gmodel.Connection, key: str, hints: Hints,
                              args: Mapping[str, Any]) -> dict[str, Any]:
        """Return a generated Relay connection: as many nodes as `first`/`last` ask (bounded),
        the same nodes under `edges` and `nodes`, cursors and pageInfo that agree with them."""
        count = self.values.list_length(hints, args, key)
        start = gmodel.window(args).offset
        node_type = self.schema.get_type(shape.node_type)
        nodes = [Obj(f"{key}.node[{i}]", node_type.name if isinstance(node_type, GraphQLObjectType) else None)
                 for i in range(count)]
        cursors = [gmodel.encode_cursor(start + i) for i in range(count)]
        data: dict[str, Any] = {}
        if shape.edges_field:
            data[shape.edges_field] = [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)]
        if shape.nodes_field:
            data[shape.nodes_field] = nodes
        more = self.values.choose([True, False], key + "#more")
        if shape.page_info_field:
            data[shape.page_info_field] = {"hasNextPage": more, "hasPreviousPage": start > 0,
                                           "startCursor": cursors[0] if cursors else None,
                                           "endCursor": cursors[-1] if cursors else None}
        if shape.total_field:
            data[shape.total_field] = start + count + (self.values.list_length(Hints(), {}, key + "#total") * 7
                                                       if more else 0)
        return data

    @staticmethod
    def _prefill(type_: GraphQLObjectType, args: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return the arguments named like the type's fields (`user(login: "ada")`), or None."""
        if not args:
            return None
        found = {k: v for k, v in args.items() if k in type_.fields and not isinstance(v, Mapping | list)}
        return found or None

    def adopt(self, value: Any, type_: Any, key: str, name: str, hints: Hints, args: Mapping[str, Any],
              run: Run) -> Any:
        """Return a stored or example value for a field when it is valid for the type, else a
        generated one (so a response is always valid, whatever was stored)."""
        if value is None:
            if isinstance(type_, GraphQLNonNull):
                return self.generate(type_, key, name, hints, args)
            return None
        nullable = get_nullable_type(type_)
        if isinstance(nullable, GraphQLList):
            if not isinstance(value, list):
                return self.generate(type_, key, name, hints, args)
            return [self.adopt(v, nullable.of_type, f"{key}[{i}]", name, hints, {}, run) for i, v in enumerate(value)]
        if isinstance(nullable, GraphQLScalarType | GraphQLEnumType):
            return value if _valid_leaf(nullable, value) else self.generate(type_, key, name, hints, args)
        if isinstance(value, Obj):
            return value
        if isinstance(value, Mapping):
            typename = value.get("__typename")
            if not isinstance(typename, str):
                typename = nullable.name if isinstance(nullable, GraphQLObjectType) else None
            if typename in self.model.entities and value.get("id") is not None:
                return Obj(f"{typename}:{value['id']}", typename, value, stored=run.records is not None)
            return Obj(key, typename, value)
        entity = nullable.name if nullable.name in self.model.entities else None
        if entity is not None and isinstance(value, str | int) and run.records is not None:
            found = run.records.get(entity, str(value))
            if found is not None:
                return Obj(f"{entity}:{value}", entity, found, stored=True)
            return None if not isinstance(type_, GraphQLNonNull) else self.generate(type_, key, name, hints, args)
        return self.generate(type_, key, name, hints, args)

    # -- stateless mutations: echo the input ----------------------------------------------------
    def _echo(self, action: Action, field_def: GraphQLField, args: Mapping[str, Any], key: str, hints: Hints,
              run: Run) -> Any:
        entity = self.model.entities.get(action.entity or "")
        if entity is None:
            return self.generate(field_def.type, key, "", hints, args)
        given = gmodel.mutation_input(field_def, args)
        obj = {k: v for k, v in gmodel.stored_fields(entity, given).items() if k in entity.fields}
        object_id = gmodel.target_id(action, args, given)
        if object_id is not None:
            obj["id"] = object_id
        obj["__typename"] = entity.name
        run.events.append((action.kind, entity.name, obj))
        return self._mutation_result(field_def, action, obj, given, key)

    # -- stateful -------------------------------------------------------------------------------
    def _stateful_root(self, action: Action, field_def: GraphQLField, args: Mapping[str, Any], key: str,
                       run: Run) -> Any:
        records = run.records
        assert records is not None
        entity = action.entity or ""
        try:
            if action.kind == "create":
                given = gmodel.mutation_input(field_def, args)
                stored = records.create(entity, gmodel.stored_fields(self.model.entities[entity], given))
                run.events.append(("create", entity, stored))
                return self._mutation_result(field_def, action, stored, given, key)
            if action.kind in ("update", "delete"):
                given = gmodel.mutation_input(field_def, args)
                object_id = gmodel.target_id(action, args, given)
                if object_id is None:
                    raise GraphQLError(f"Say which {entity} to {action.kind}: give its id",
                                       extensions={"code": "BAD_USER_INPUT"})
                if action.kind == "update":
                    changes = {k: v for k, v in gmodel.stored_fields(self.model.entities[entity], given).items()
                               if k != "id"}
                    found = records.update(entity, object_id, changes)
                else:
                    found = records.delete(entity, object_id)
                if found is None:
                    raise _not_found(entity, object_id)
                run.events.append((action.kind, entity, found))
                return self._mutation_result(field_def, action, found, given, key)
        except RecordsRefused as exc:
            raise GraphQLError(str(exc), extensions={"code": exc.code}) from None
        return self._stateful_query(action, field_def, args, key, records)

    def _stateful_query(self, action: Action, field_def: GraphQLField, args: Mapping[str, Any], key: str,
                        records: Records) -> Any:
        required = isinstance(field_def.type, GraphQLNonNull)
        entity = action.entity or ""
        if action.kind == "get":
            object_id = str(args.get(action.id_arg or "id"))
            found: dict[str, Any] | None
            found = records.get(entity, object_id)
            if found is None and required:
                raise _not_found(entity, object_id)
            return None if found is None else {**found, "__typename": entity}
        if action.kind == "find":
            filters = {k: args[k] for k in action.filters if k in args}
            items, _ = records.page(entity, filters, 0, 1)
            if not items:
                if required:
                    raise _not_found(entity, json.dumps(filters))
                return None
            return {**items[0], "__typename": entity}
        if action.kind in ("node", "nodes"):
            named = get_named_type(field_def.type)
            candidates = gmodel.possible_entities(self.schema, self.model, named.name)
            ids = args.get("ids") if action.kind == "nodes" else [args.get("id")]
            found_all = []
            for wanted in ids or []:
                hit = next(((t, o) for t in candidates if (o := records.get(t, str(wanted))) is not None), None)
                if hit is None and required and action.kind == "node":
                    raise _not_found("node", str(wanted))
                found_all.append(None if hit is None else {**hit[1], "__typename": hit[0]})
            return found_all if action.kind == "nodes" else found_all[0]
        filters = {k: args[k] for k in action.filters if k in args}
        if action.kind == "list":
            items, _, _ = _page(records, entity, filters, gmodel.window(args))
            return [{**o, "__typename": entity} for o in items]
        if action.kind == "connection":
            return self._connection(field_def, records, entity, filters, args)
        return self.generate(field_def.type, key, "", Hints(), args)

    def _connection(self, field_def: GraphQLField, records: Records, entity: str, filters: Mapping[str, Any],
                    args: Mapping[str, Any]) -> dict[str, Any]:
        shape = self.model.connections[get_named_type(field_def.type).name]
        items, offset, total = _page(records, entity, filters, gmodel.window(args))
        nodes = [{**o, "__typename": entity} for o in items]
        body: dict[str, Any] = {}
        if shape.edges_field:
            body[shape.edges_field] = [{"cursor": gmodel.encode_cursor(offset + i), "node": n}
                                       for i, n in enumerate(nodes)]
        if shape.nodes_field:
            body[shape.nodes_field] = nodes
        if shape.page_info_field:
            body[shape.page_info_field] = {
                "hasNextPage": offset + len(nodes) < total, "hasPreviousPage": offset > 0,
                "startCursor": gmodel.encode_cursor(offset) if nodes else None,
                "endCursor": gmodel.encode_cursor(offset + len(nodes) - 1) if nodes else None}
        if shape.total_field:
            body[shape.total_field] = total
        return body

    def _related(self, obj: Obj, field_def: GraphQLField, name: str, args: Mapping[str, Any], key: str,
                 run: Run) -> Any:
        """Follow a stored object's relation (`author` from `authorId`; `posts` whose `userId` is it)."""
        records = run.records
        assert records is not None and obj.data is not None
        named = get_named_type(field_def.type)
        listed = gmodel.is_list_type(field_def.type)
        if named.name in self.model.entities and not listed:
            for stored_key in gmodel.relation_keys(name, obj.typename or ""):
                value = obj.data.get(stored_key)
                if isinstance(value, str | int) and not isinstance(value, bool):
                    found = records.get(named.name, str(value))
                    return None if found is None else {**found, "__typename": named.name}
            return Undefined
        child = named.name
        shape = self.model.connections.get(named.name)
        if shape is not None and not listed:
            child = shape.node_type
        entity = self.model.entities.get(child)
        if entity is None or obj.typename is None:
            return Undefined
        link = next((k for k in gmodel.child_keys(obj.typename) if k in entity.fields), None)
        if link is None:
            link = gmodel.child_keys(obj.typename)[0]
            items, _ = records.page(child, {link: obj.data.get("id")}, 0, 1)
            if not items:
                return Undefined
        filters = {link: obj.data.get("id")}
        if shape is not None and not listed:
            return self._connection(field_def, records, child, filters, args)
        if listed and named.name == child:
            items, _, _ = _page(records, child, filters, gmodel.window(args))
            return [{**o, "__typename": child} for o in items]
        return Undefined

    def _mutation_result(self, field_def: GraphQLField, action: Action, obj: Mapping[str, Any],
                         given: Mapping[str, Any], key: str) -> Any:
        """Return what a mutation answers: the object, a payload holding it, true or its id."""
        entity = action.entity or ""
        value = {**obj, "__typename": entity}
        named = get_named_type(field_def.type)
        if named.name == entity or isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            return value
        if isinstance(named, GraphQLObjectType):
            payload: dict[str, Any] = {}
            if action.payload_field:
                payload[action.payload_field] = value
            for name in named.fields:
                if name == "clientMutationId" and "clientMutationId" in given:
                    payload[name] = given["clientMutationId"]
                elif name in ("success", "ok", "deleted"):
                    payload[name] = True
                elif name in ("deletedId", f"deleted{entity}Id", "id") and obj.get("id") is not None:
                    payload[name] = obj["id"]
            return payload
        if isinstance(named, GraphQLScalarType) and named.name == "Boolean":
            return True
        if isinstance(named, GraphQLScalarType) and named.name in ("ID", "String"):
            return obj.get("id")
        return None

    # -- magic values --------------------------------------------------------------------------
    def _magic_rules(self, configured: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[MagicRule]]:
        """Collect magic values: `@magic` on arguments and input fields, and the config's rules."""
        rules: dict[tuple[str, str], list[MagicRule]] = {}
        for type_ in self.schema.type_map.values():
            if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
                continue
            for field_name, field_def in type_.fields.items():
                for arg_name, arg in field_def.args.items():
                    for path, directive in _magic_directives(arg.ast_node, arg.type, (arg_name,), set()):
                        rules.setdefault((type_.name, field_name), []).append(_magic_rule(path, directive))
        for i, rule in enumerate(configured):
            where = f"config graphql.magic[{i}]"
            target = str(rule.get("field") or "")
            parent, _, field_name = target.partition(".")
            owner = self.schema.get_type(parent)
            if not isinstance(owner, GraphQLObjectType) or field_name not in owner.fields:
                raise SchemaError(f"{where}.field: {target!r} names no field; write Type.field, e.g. "
                                  "Mutation.createCharge")
            when = rule.get("when")
            if not isinstance(when, Mapping) or not when or not rule.get("error"):
                raise SchemaError(f"{where}: give when (argument path -> value) and error (the message), e.g. "
                                  "{when: {input.card.number: '4000000000000002'}, error: Your card was declined.}")
            for path, value in when.items():
                rules.setdefault((parent, field_name), []).append(MagicRule(
                    tuple(str(path).split(".")), value, str(rule["error"]), str(rule.get("code") or "MAGIC_VALUE")))
        return rules

    def magic_table(self) -> list[dict[str, Any]]:
        """Return every magic value (for docs and the admin API)."""
        return [{"field": f"{t}.{f}", "argument": ".".join(r.path), "value": r.value, "error": r.message,
                 "code": r.code} for (t, f), rules in self._magic.items() for r in rules]


_STATELESS = Run()


def _magic_directives(node: Any, type_: Any, path: tuple[str, ...], seen: set[str]
                      ) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    found = []
    for directive in getattr(node, "directives", None) or ():
        if directive.name.value == "magic":
            found.append((path, {a.name.value: value_from_ast_untyped(a.value) for a in directive.arguments}))
    named = get_named_type(type_)
    if isinstance(named, GraphQLInputObjectType) and named.name not in seen and len(path) < 6:
        for name, input_field in named.fields.items():
            found += _magic_directives(input_field.ast_node, input_field.type, (*path, name), seen | {named.name})
    return found


def _magic_rule(path: tuple[str, ...], args: Mapping[str, Any]) -> MagicRule:
    return MagicRule(path, args.get("value"), str(args.get("error") or "magic value"),
                     str(args.get("code") or "MAGIC_VALUE"))


def _valid_leaf(type_: GraphQLScalarType | GraphQLEnumType, value: Any) -> bool:
    if isinstance(type_, GraphQLEnumType):
        return isinstance(value, str) and value in type_.values
    try:
        return type_.serialize(value) is not Undefined
    except (GraphQLError, TypeError, ValueError):
        return False


def _not_found(entity: str, object_id: str) -> GraphQLError:
    return GraphQLError(f"No {entity} {object_id!r} in this sandbox tenant", extensions={"code": NOT_FOUND})


def _page(records: Records, entity: str, filters: Mapping[str, Any], win: Window
          ) -> tuple[list[dict[str, Any]], int, int]:
    """Return (items, their offset, total) for a paging window (the final N for `last`)."""
    offset = win.offset
    if win.from_end:
        _, total = records.page(entity, filters, 0, 0)
        offset = max(win.offset, total - win.limit)
    items, total = records.page(entity, filters, offset, win.limit)
    return items, offset, total
