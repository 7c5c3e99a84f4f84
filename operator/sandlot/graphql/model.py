"""What a GraphQL schema means for state: entities, what each root field does, how lists page.

A pure function of the schema, `infer(schema)`, called once per schema by the GraphQL engine
(graphql/engine.py). The rules (docs/graphql.md):

- An **entity** is an object type with an `id` field (`ID`, `String` or `Int`), other than the
  root types and the Relay plumbing (`...Connection`, `...Edge`, `...Payload`, `PageInfo`). Its
  objects are stored by type name and id in the tenant's store.
- **Mutations by naming**: `createX`/`addX`/`newX`/`insertX` create, `updateX`/`editX`/`setX`/
  `patchX` update, `deleteX`/`removeX`/`destroyX` delete. X is the entity the mutation returns
  (itself, or inside a payload type such as `CreateUserPayload { user: User }`), else the entity
  named X. The input is the single input-object argument (`input: CreateUserInput!`) and the
  scalar arguments; `id` (or `xId`) names the object to update or delete.
- **Queries**: `node(id:)`/`nodes(ids:)` find any entity; a field returning one entity with an
  `id` (or `xId`) argument reads it; one with other arguments named like the entity's fields
  (`user(login:)`) finds the first match; a field returning a list of an entity, or a Relay
  connection of one (`edges { cursor node }`, `nodes`, `pageInfo`, `totalCount`), lists the
  stored objects, filtered by arguments named like fields and paged by `first`/`after`/`last`/
  `before` (or `limit`/`offset`).
- **Relations**: a field returning an entity reads the id stored under `xId`/`x_id`/`x`; a
  list or connection of entity Y on entity X lists the Y objects whose `xId`/`x_id`/`x` field
  holds X's id.
- **Subscriptions**: a field returning entity X (or a payload of one) is fed by the mutations of
  X (`xCreated`/`onXAdded` by creates, `xUpdated` by updates, `xDeleted` by deletes, others by
  all three); every other subscription field is fed by the tenant's virtual clock.

The storage itself is behind `Records` (implemented over the sandbox store in state/graphql.py).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from graphql import (
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    get_nullable_type,
)

_CREATE = re.compile(r"^(create|add|new|insert|register|post)([A-Z_]\w*)$")
_UPDATE = re.compile(r"^(update|edit|modify|change|set|patch|upsert)([A-Z_]\w*)$")
_DELETE = re.compile(r"^(delete|remove|destroy|archive|drop)([A-Z_]\w*)$")
_FEED = re.compile(r"^(?:on)?([A-Za-z]\w*?)(Created|Added|Inserted|New|Updated|Changed|Edited|Deleted|Removed)$")
_FEED_ACTIONS = {"Created": "create", "Added": "create", "Inserted": "create", "New": "create",
                 "Updated": "update", "Changed": "update", "Edited": "update",
                 "Deleted": "delete", "Removed": "delete"}
_PLUMBING = re.compile(r"(Connection|Edge|Payload|Result|Response|Output)$")
_PATCH_KEYS = ("patch", "data", "set", "changes", "update", "_set")
#: Created/updated timestamp field names (lower-cased, separators removed).
CREATED_FIELDS = frozenset({"createdat", "created", "insertedat", "creationdate", "datecreated", "createdon"})
UPDATED_FIELDS = frozenset({"updatedat", "updated", "modifiedat", "lastmodified", "dateupdated", "updatedon"})
LIMIT_ARGS = ("first", "limit", "take", "pageSize", "page_size", "perPage", "per_page", "count")
OFFSET_ARGS = ("offset", "skip")
PAGING_ARGS = frozenset({*LIMIT_ARGS, *OFFSET_ARGS, "after", "before", "last", "orderBy", "order_by", "sort",
                         "cursor", "page"})
DEFAULT_PAGE, MAX_PAGE = 10, 100


class Records(Protocol):
    """The objects of one tenant, by entity type and id (the sandbox store, state/graphql.py)."""

    def get(self, type_name: str, object_id: str) -> dict[str, Any] | None: ...
    def create(self, type_name: str, data: dict[str, Any]) -> dict[str, Any]: ...
    def update(self, type_name: str, object_id: str, changes: dict[str, Any]) -> dict[str, Any] | None: ...
    def delete(self, type_name: str, object_id: str) -> dict[str, Any] | None: ...
    def page(self, type_name: str, filters: Mapping[str, Any], offset: int, limit: int
             ) -> tuple[list[dict[str, Any]], int]: ...


class RecordsRefused(Exception):
    """The store refused a write (a quota); carries the GraphQL error code and message."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Entity:
    """A stored type: its name, id field and timestamp fields."""

    name: str
    fields: frozenset[str]
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    id_is_int: bool = False


@dataclass(frozen=True)
class Action:
    """What a root field does: create/update/delete/get/find/node/nodes/list/connection."""

    kind: str
    entity: str | None = None
    #: for payload returns: the payload field that holds the entity
    payload_field: str | None = None
    id_arg: str | None = None
    filters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Connection:
    """A Relay connection type over an entity (or a plain object type)."""

    node_type: str
    edges_field: str | None
    edge_node_field: str | None
    nodes_field: str | None
    page_info_field: str | None
    total_field: str | None


@dataclass
class Model:
    """Everything inferred from one schema; see the module docstring."""

    entities: dict[str, Entity] = field(default_factory=dict)
    roots: dict[tuple[str, str], Action] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    feeds: dict[str, tuple[str | None, frozenset[str]]] = field(default_factory=dict)  # sub field -> (entity, actions)

    def action(self, parent: str, field_name: str) -> Action | None:
        """Return what a root field does, or None (generated)."""
        return self.roots.get((parent, field_name))


def _unwrap(type_: Any) -> tuple[Any, bool]:
    """Return (the named type, whether it is a list) of a field type."""
    nullable = get_nullable_type(type_)
    return get_named_type(type_), isinstance(nullable, GraphQLList)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _entity_of(schema: GraphQLSchema, type_: GraphQLNamedType, roots: set[str]) -> Entity | None:
    if not isinstance(type_, GraphQLObjectType) or type_.name in roots or type_.name.startswith("__"):
        return None
    if _PLUMBING.search(type_.name) or type_.name == "PageInfo":
        return None
    id_field = type_.fields.get("id")
    if id_field is None or not isinstance(get_named_type(id_field.type), GraphQLScalarType):
        return None
    if get_named_type(id_field.type).name not in ("ID", "String", "Int"):
        return None
    created = tuple(n for n in type_.fields if _norm(n) in CREATED_FIELDS)
    updated = tuple(n for n in type_.fields if _norm(n) in UPDATED_FIELDS)
    return Entity(type_.name, frozenset(type_.fields), created, updated,
                  get_named_type(id_field.type).name == "Int")


def connection_of(type_: Any) -> Connection | None:
    """Return the connection shape of an object type (edges/nodes/pageInfo), or None."""
    if not isinstance(type_, GraphQLObjectType):
        return None
    fields = type_.fields
    edges_field = next((n for n in ("edges",) if n in fields), None)
    nodes_field = next((n for n in ("nodes", "items") if n in fields), None)
    node_type: Any = None
    edge_node = None
    if edges_field is not None:
        edge_type, is_list = _unwrap(fields[edges_field].type)
        if is_list and isinstance(edge_type, GraphQLObjectType) and "node" in edge_type.fields:
            node_type = get_named_type(edge_type.fields["node"].type)
            edge_node = "node"
    if node_type is None and nodes_field is not None:
        candidate, is_list = _unwrap(fields[nodes_field].type)
        node_type = candidate if is_list else None
    if node_type is None or not isinstance(node_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
        return None
    page_info = "pageInfo" if "pageInfo" in fields else None
    if page_info is None and edges_field is None:
        return None
    total = next((n for n in ("totalCount", "total", "count") if n in fields), None)
    return Connection(node_type.name, edges_field if edge_node else None, edge_node, nodes_field,
                      page_info, total)


def returned_entity(schema: GraphQLSchema, field_: GraphQLField, entities: Mapping[str, Entity]
                     ) -> tuple[str | None, str | None]:
    """Return (entity, payload field) for a mutation's return type."""
    named, _ = _unwrap(field_.type)
    if named.name in entities:
        return named.name, None
    if isinstance(named, GraphQLObjectType):
        for name, sub in named.fields.items():
            inner, _ = _unwrap(sub.type)
            if inner.name in entities:
                return inner.name, name
    return None, None


def _named_entity(suffix: str, entities: Mapping[str, Entity]) -> str | None:
    wanted = _norm(suffix)
    for name in entities:
        if _norm(name) == wanted or _norm(name) + "s" == wanted:
            return name
    return None


def _id_arg(field_: GraphQLField, entity: str) -> str | None:
    for name in ("id", f"{entity[0].lower()}{entity[1:]}Id", f"{_norm(entity)}_id"):
        if name in field_.args:
            return name
    return None


def infer(schema: GraphQLSchema) -> Model:
    """Return the model of a schema (see the module docstring)."""
    roots = {t.name for t in (schema.query_type, schema.mutation_type, schema.subscription_type) if t}
    model = Model()
    for type_ in schema.type_map.values():
        found_entity = _entity_of(schema, type_, roots)
        if found_entity is not None:
            model.entities[found_entity.name] = found_entity
        connection = connection_of(type_)
        if connection is not None:
            model.connections[type_.name] = connection
    entities = model.entities
    mutation = schema.mutation_type
    for name, field_ in (mutation.fields.items() if mutation else ()):
        assert mutation is not None
        for kind, pattern in (("create", _CREATE), ("update", _UPDATE), ("delete", _DELETE)):
            found = pattern.match(name)
            if not found:
                continue
            entity, payload = returned_entity(schema, field_, entities)
            entity = entity or _named_entity(found.group(2), entities)
            if entity is not None:
                model.roots[(mutation.name, name)] = Action(kind, entity, payload, _id_arg(field_, entity))
            break
    query = schema.query_type
    for name, field_ in (query.fields.items() if query else ()):
        assert query is not None
        action = _query_action(name, field_, model)
        if action is not None:
            model.roots[(query.name, name)] = action
    subscription = schema.subscription_type
    for name, field_ in (subscription.fields.items() if subscription else ()):
        entity, _ = returned_entity(schema, field_, entities)
        actions = frozenset({"create", "update", "delete"})
        found = _FEED.match(name)
        if found:
            actions = frozenset({_FEED_ACTIONS[found.group(2)]})
            entity = entity or _named_entity(found.group(1), entities)
        model.feeds[name] = (entity, actions)
    return model


def _query_action(name: str, field_: GraphQLField, model: Model) -> Action | None:
    named, is_list = _unwrap(field_.type)
    entities = model.entities
    if name == "node" and "id" in field_.args and not is_list:
        return Action("node", id_arg="id")
    if name == "nodes" and "ids" in field_.args and is_list:
        return Action("nodes", id_arg="ids")
    if named.name in entities:
        entity = entities[named.name]
        filters = tuple(a for a in field_.args if a in entity.fields and a not in PAGING_ARGS)
        if is_list:
            return Action("list", named.name, filters=filters)
        id_arg = _id_arg(field_, named.name)
        if id_arg is not None:
            return Action("get", named.name, id_arg=id_arg)
        if filters:
            return Action("find", named.name, filters=filters)
        return None
    connection = model.connections.get(named.name)
    if connection is not None and connection.node_type in entities and not is_list:
        entity = entities[connection.node_type]
        filters = tuple(a for a in field_.args if a in entity.fields and a not in PAGING_ARGS)
        return Action("connection", connection.node_type, filters=filters)
    return None


# -- inputs ---------------------------------------------------------------------------------

def mutation_input(field_: GraphQLField, args: Mapping[str, Any]) -> dict[str, Any]:
    """Return a mutation's input as one flat mapping: the input-object argument's fields (and a
    nested `patch`/`data`/`set`), then the scalar arguments."""
    found: dict[str, Any] = {}
    for name, arg in field_.args.items():
        if name not in args:
            continue
        value = args[name]
        if isinstance(get_named_type(arg.type), GraphQLInputObjectType) and isinstance(value, Mapping):
            found.update(value)
        else:
            found[name] = value
    for key in _PATCH_KEYS:
        inner = found.get(key)
        if isinstance(inner, Mapping) and len(found) <= 3:
            rest = {k: v for k, v in found.items() if k != key}
            found = {**rest, **inner}
            break
    return found


def target_id(action: Action, args: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
    """Return the id an update or delete names: its id argument, else the input's `id`."""
    if action.id_arg and args.get(action.id_arg) is not None:
        return str(args[action.id_arg])
    for key in ("id", f"{(action.entity or ' ')[0].lower()}{(action.entity or '')[1:]}Id"):
        if data.get(key) is not None:
            return str(data[key])
    return None


def stored_fields(entity: Entity, data: Mapping[str, Any]) -> dict[str, Any]:
    """Return the input fields an entity stores: its own fields, and ids of relations (`xId`)."""
    kept = {}
    for key, value in data.items():
        if key == "clientMutationId":
            continue
        if key in entity.fields or key.endswith(("Id", "_id", "Ids", "_ids")):
            kept[key] = value
    return kept


def relation_keys(field_name: str, parent_type: str) -> tuple[str, ...]:
    """Return the stored keys that may hold the id of a related object: `authorId`, `author_id`, `author`."""
    return (f"{field_name}Id", f"{field_name}_id", field_name)


def child_keys(parent_type: str) -> tuple[str, ...]:
    """Return the keys a child may use to name its parent of `parent_type`: `userId`, `user_id`, `user`."""
    base = parent_type[0].lower() + parent_type[1:]
    return (f"{base}Id", f"{_norm(parent_type)}_id", base)


# -- Relay paging --------------------------------------------------------------------------

def encode_cursor(offset: int) -> str:
    """Return the opaque cursor of the item at `offset`."""
    return base64.b64encode(f"cursor:{offset}".encode()).decode()


def decode_cursor(cursor: Any) -> int | None:
    """Return the offset a cursor names, or None for a cursor this server did not issue."""
    if not isinstance(cursor, str):
        return None
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not text.startswith("cursor:") or not text[7:].isdigit():
        return None
    return int(text[7:])


@dataclass(frozen=True)
class Window:
    """The slice of a list a paging request asks for."""

    offset: int
    limit: int
    from_end: bool = False  # `last: N` without `before`: the final N


def window(args: Mapping[str, Any]) -> Window:
    """Return the slice `first`/`after`/`last`/`before` (or `limit`/`offset`) ask for."""
    first = next((args[a] for a in LIMIT_ARGS if isinstance(args.get(a), int)), None)
    last = args.get("last") if isinstance(args.get("last"), int) else None
    offset = next((max(0, args[a]) for a in OFFSET_ARGS if isinstance(args.get(a), int)), 0)
    after = decode_cursor(args.get("after"))
    before = decode_cursor(args.get("before"))
    if after is not None:
        offset = after + 1
    if last is not None and first is None:
        last = max(0, min(last, MAX_PAGE))
        if before is not None:
            start = max(offset, before - last)
            return Window(start, max(0, before - start))
        return Window(offset, last, from_end=True)
    limit = DEFAULT_PAGE if first is None else max(0, min(first, MAX_PAGE))
    if before is not None:
        limit = max(0, min(limit, before - offset))
    return Window(offset, limit)


def is_list_type(type_: Any) -> bool:
    """Tell whether a field type is a list (through non-null)."""
    return isinstance(type_.of_type if isinstance(type_, GraphQLNonNull) else type_, GraphQLList)


def possible_entities(schema: GraphQLSchema, model: Model, type_name: str | None) -> Sequence[str]:
    """Return the entity types an abstract (or object) type may be: for `node(id:)` lookups."""
    if type_name is None:
        return list(model.entities)
    type_ = schema.get_type(type_name)
    if isinstance(type_, GraphQLInterfaceType | GraphQLUnionType):
        return [t.name for t in schema.get_possible_types(type_) if t.name in model.entities]
    return [type_name] if type_name in model.entities else []
