"""The stateful GraphQL stage: GraphQL requests answered from the tenant's objects in the store.

Composed by http/compose.py for `sandlot mock schema.graphql --stateful` and stateful GraphQL
downstreams of `sandlot up` (and the operator's stubs). It is the REST state stage
(state/stage.py) with another last step: the same live-key refusal, tenants and keys, 401 for an
unknown key, request quota, retention, request log, seed and reset; then, instead of the
inferred REST collections, the GraphQL engine executes the request over `StoreRecords`: the
tenant's objects by entity type and id, at the tenant's virtual time. What the schema means
(which mutation creates what, lookups, connections) is graphql/model.py's; storing it is here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from graphql import GraphQLObjectType, GraphQLScalarType, get_named_type

from sandlot.graphql.engine import GraphQLEngine
from sandlot.graphql.http import GraphQLSurface, Publish, answer
from sandlot.graphql.model import Entity, RecordsRefused
from sandlot.mock.context import RequestContext
from sandlot.mock.engine import Engine, Match
from sandlot.mock.messages import MockResponse
from sandlot.mock.validate import ValidatedRequest
from sandlot.state.config import SandboxConfig
from sandlot.state.fixtures import FixtureError, Fixtures, check_fixtures, fixtures_source
from sandlot.state.ids import new_id
from sandlot.state.inference import Collection, IdFormat, StateModel, Timestamp
from sandlot.state.shape import stamp
from sandlot.state.stage import StateStage
from sandlot.state.store import ORIGIN_API, ListQuery, Store


def collections_of(engine: GraphQLEngine) -> dict[str, Collection]:
    """Return the store's collections for a schema: one per entity type, named like it."""
    found = {}
    for name, entity in engine.model.entities.items():
        type_ = engine.schema.get_type(name)
        assert isinstance(type_, GraphQLObjectType)
        found[name] = Collection(name, "id", IdFormat("int") if entity.id_is_int else
                                 IdFormat("prefixed", _prefix(name), 16), {}, dict.fromkeys(type_.fields, {}),
                                 _timestamps(type_, entity))
    return found


def _prefix(type_name: str) -> str:
    letters = "".join(c for c in type_name if c.isalnum()).lower()
    return (letters[:4] or "obj") + "_"


def _timestamps(type_: GraphQLObjectType, entity: Entity) -> tuple[Timestamp, ...]:
    stamps = []
    for event, names in (("created", entity.created), ("updated", (*entity.created, *entity.updated))):
        for name in names:
            scalar = get_named_type(type_.fields[name].type)
            numeric = isinstance(scalar, GraphQLScalarType) and scalar.name in ("Int", "Float")
            stamps.append(Timestamp(name, event, "unix" if numeric else "iso"))
    return tuple(stamps)


class StoreRecords:
    """One tenant's objects in the store, by entity type and id (graphql/model.py's `Records`)."""

    def __init__(self, store: Store, tenant: str, now: float, collections: Mapping[str, Collection],
                 max_objects: int | None = None) -> None:
        self.store = store
        self.tenant = tenant
        self.now = now
        self.collections = collections
        self.max_objects = max_objects

    def get(self, type_name: str, object_id: str) -> dict[str, Any] | None:
        """Return a stored object's data, or None."""
        found = self.store.get_object(self.tenant, type_name, object_id)
        return found.data if found is not None else None

    def create(self, type_name: str, data: dict[str, Any]) -> dict[str, Any]:
        """Store a new object (id and timestamps set here); RecordsRefused past the object quota."""
        if self.max_objects is not None and self.store.count_objects(self.tenant, ORIGIN_API) >= self.max_objects:
            raise RecordsRefused(f"This tenant already stores {self.max_objects} objects it created; delete some, "
                                 "reset the tenant, or raise quota.objects.", "QUOTA_EXCEEDED")
        collection = self.collections[type_name]
        object_id: Any = None
        for _ in range(5):  # random ids collide only by astronomical bad luck; ints never
            object_id = new_id(collection.id_format, lambda: self.store.max_int_id(self.tenant, type_name) + 1)
            if self.store.get_object(self.tenant, type_name, str(object_id)) is None:
                break
        obj = {**{k: v for k, v in data.items() if k != "id"}, "id": object_id}
        stamp(obj, collection.timestamps, {"created", "updated"}, self.now)
        self.store.insert_object(self.tenant, type_name, str(object_id), obj, self.now)
        return obj

    def update(self, type_name: str, object_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """Merge changes onto a stored object (its id kept); None when there is none."""
        found = self.store.get_object(self.tenant, type_name, object_id)
        if found is None:
            return None
        obj = {**found.data, **{k: v for k, v in changes.items() if k != "id"}}
        stamp(obj, self.collections[type_name].timestamps, {"updated"}, self.now)
        self.store.replace_object(self.tenant, type_name, object_id, obj, self.now)
        return obj

    def delete(self, type_name: str, object_id: str) -> dict[str, Any] | None:
        """Remove a stored object; return what it was, or None."""
        found = self.store.get_object(self.tenant, type_name, object_id)
        if found is None or not self.store.delete_object(self.tenant, type_name, object_id):
            return None
        return found.data

    def page(self, type_name: str, filters: Mapping[str, Any], offset: int, limit: int
             ) -> tuple[list[dict[str, Any]], int]:
        """Return a page of objects (creation order) matching `filters`, and how many match."""
        page = self.store.list_objects(self.tenant, type_name, ListQuery(
            filters={k: v for k, v in filters.items() if v is not None}, offset=max(0, offset), limit=max(0, limit)))
        return [o.data for o in page.items][:max(0, limit)], page.total


class GraphQLStateStage(StateStage):
    """The REST state stage's tenancy, quotas, log, seed and reset, answering GraphQL."""

    def __init__(self, engine: Engine, store: Store, config: SandboxConfig | None = None, *,
                 fixtures: Fixtures | None = None, clock: Callable[[], float] = time.time,
                 publish: Publish | None = None) -> None:
        self.publish = publish
        super().__init__(engine, store, config, fixtures=fixtures, clock=clock)

    def _bind(self, engine: Engine) -> None:
        """Take the entity types of the schema behind a GraphQL surface as the collections."""
        assert isinstance(engine, GraphQLSurface), "the GraphQL state stage serves a GraphQL surface"
        self.engine = engine
        self._templates = {}
        self._field_validators = {}
        self._validity = {}
        self.model = StateModel(collections_of(engine.graphql), {})
        self._relations = {}

    def register_seed(self, fixtures: Fixtures, source: str | None = None) -> None:
        """Check the fixtures (entity types, ids, fields the type has) and make them the seed."""
        source = source or fixtures_source(fixtures)
        check_fixtures(fixtures, {n: c.id_field for n, c in self.model.collections.items()}, {}, source)
        now = self.clock()
        seed: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for name, items in fixtures.items():
            collection = self.model.collections[name]
            for i, item in enumerate(items):
                unknown = sorted(set(item) - set(collection.properties) - {"__typename"})
                unknown = [k for k in unknown if not k.endswith(("Id", "_id", "Ids", "_ids"))]
                if unknown:
                    raise FixtureError(f"{source}: at /{name}/{i}/{unknown[0]}: {name} has no field {unknown[0]!r} "
                                       f"(fields: {', '.join(sorted(collection.properties))})")
            seed[name] = [(str(item["id"]), dict(item)) for item in items]
        self.store.set_seed(seed, now)

    def answer(self, ctx: RequestContext, match: Match, validated: ValidatedRequest, tenant_id: str) -> MockResponse:
        """Answer a GraphQL request of a known tenant over its stored objects."""
        now = ctx.now()
        limited = self.limits(tenant_id, now)
        if limited is not None:
            return limited
        records = StoreRecords(self.store, tenant_id, now, self.model.collections, self.config.max_objects)
        return answer(ctx, records=records, publish=self.publish)
