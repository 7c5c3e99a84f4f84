"""The state stage: the mock engine plus per-tenant persisted state.

Composed into the HTTP app's stages (http/compose.py) for `sandlot mock --stateful` and the
stateful downstreams of `sandlot up`, after the admin and simulation stages. For each request
context (mock/context.py) it: refuses live-looking keys; takes the route and the validated
request (each made once, by whichever stage asked first); takes the tenant the app's tenancy
identified (unknown key -> the spec's 401); applies the quotas and retention; then creates,
reads, updates, deletes or lists objects of the inferred collections at the tenant's virtual
time and renders the result through `engine.respond`, so negotiation, documented headers and
the response schema's shape stay the engine's job. Operations that are not part of a
collection are answered by the engine statelessly. The admin router (http/admin.py) resets
tenants and manages keys through `store` and `reset`; the request journal is its own stage
(state/journal_stage.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from sandlot.mock.context import Next, RequestContext
from sandlot.mock.engine import Engine, Match, strip_controls
from sandlot.mock.messages import MockRequest, MockResponse, Violation
from sandlot.mock.validate import Refusal, ValidatedRequest
from sandlot.state.auth import LiveKeyDetector, issue_for_tenant
from sandlot.state.config import SandboxConfig
from sandlot.state.fixtures import FixtureError, Fixtures, check_fixtures, fixtures_source
from sandlot.state.ids import new_id
from sandlot.state.inference import (
    Binding,
    Collection,
    Pagination,
    StateModel,
    infer_model,
    singularize,
)
from sandlot.state.keys import IssuedKey, live_key_problem
from sandlot.state.paging import fill_page_fields, page_facts, revert_refused
from sandlot.state.shape import (
    apply_update,
    build_object,
    conform,
    envelope,
    fill_from_template,
    project,
)
from sandlot.state.store import ORIGIN_API, ListQuery, Page, Store, StoredObject
from sandlot.util.pointers import deref

log = logging.getLogger("sandlot.sandbox")

#: Field values whose validity against their property schema is remembered (then forgotten).
VALIDITY_CACHE = 50_000



#: One collection action (`_create`, `_read`, `_update`, `_delete`, `_list`).
Action = Callable[[MockRequest, Match, ValidatedRequest, str, Binding, Collection, float], MockResponse]


def quota_problem(limit: str, maximum: int, detail: str) -> MockResponse:
    """Build the 429 sent when a tenant hits a quota; the body names the limit."""
    body = {"type": "https://sandlot.dev/problems/quota-exceeded", "title": "Sandbox quota exceeded",
            "status": 429, "limit": limit, "max": maximum, "detail": detail}
    headers = [("content-type", "application/problem+json")]
    if limit == "requests_per_day":
        headers.append(("retry-after", str(int(86400 - time.time() % 86400))))
    return MockResponse(429, headers, json.dumps(body).encode())


class StateStage:
    """Answer requests from per-tenant state; see the module docstring for the steps."""

    def __init__(self, engine: Engine, store: Store, config: SandboxConfig | None = None, *,
                 fixtures: Fixtures | None = None, clock: Callable[[], float] = time.time) -> None:
        """`engine` is the one serving now; when a request arrives with another (a spec reload),
        the collections are inferred again. `clock` times what happens outside a request."""
        self.store = store
        self.config = config or SandboxConfig()
        self.clock = clock
        self.live = LiveKeyDetector(self.config.live_key_patterns)
        self._last_purge: dict[str, float] = {}
        self._bind(engine)
        if fixtures is not None:
            self.register_seed(fixtures)

    def _bind(self, engine: Engine) -> None:
        """Infer the collections of `engine`'s spec and serve through it."""
        self.engine = engine
        self._templates: dict[tuple[str, str], Any] = {}
        self._field_validators: dict[tuple[str, str], Any] = {}
        self._validity: dict[tuple[Any, ...], bool] = {}
        self.model: StateModel = infer_model(engine.spec.document, self.config.overrides)
        self._relations = self._relation_fields()

    # -- set-up ----------------------------------------------------------------------------
    def _relation_fields(self) -> dict[str, dict[str, str]]:
        """Map collection -> {field: other collection} for fields that hold another's id."""
        by_singular = {singularize(name).lower(): name for name in self.model.collections}
        relations: dict[str, dict[str, str]] = {}
        for name, collection in self.model.collections.items():
            for prop, schema in collection.properties.items():
                if prop == collection.id_field or not isinstance(schema, dict):
                    continue
                base = prop.lower().removesuffix("_id").removesuffix("id") if prop.lower() \
                    not in by_singular else prop.lower()
                types = schema.get("type")
                if base in by_singular and by_singular[base] != name and \
                        (types == "string" or (isinstance(types, list) and "string" in types)):
                    relations.setdefault(name, {})[prop] = by_singular[base]
        return relations

    def register_seed(self, fixtures: Fixtures, source: str | None = None) -> None:
        """Check the fixtures (names, ids, relations, each object against its collection's
        schema), complete each object from the spec, and make it the seed. Errors name
        `source` (default: the file parse_fixtures read) and the object's pointer."""
        source = source or fixtures_source(fixtures)
        check_fixtures(fixtures, {n: c.id_field for n, c in self.model.collections.items()},
                       self._relations, source)
        now = self.clock()
        seed: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for name, items in fixtures.items():
            collection = self.model.collections[name]
            validator = self.engine.index.validator(collection.item_schema, "response")
            seed[name] = []
            for i, item in enumerate(items):
                obj = project({**fill_from_template(self._item_template(
                    collection, item[collection.id_field]), collection), **item}, collection)
                problem = next(iter(sorted(validator.iter_errors(obj),
                                           key=lambda e: list(e.absolute_path))), None)
                if problem is not None:
                    where = "".join(f"/{p}" for p in problem.absolute_path)
                    raise FixtureError(
                        f"{source}: at /{name}/{i}{where}: {problem.message}; the object must "
                        f"match the {collection.singular} schema of the spec")
                seed[name].append((str(item[collection.id_field]), obj))
        self.store.set_seed(seed, now)

    def _item_template(self, collection: Collection, object_id: Any) -> dict[str, Any]:
        """Generate the spec's idea of one object (for fields fixtures leave out)."""
        for (method, template), binding in self.model.bindings.items():
            if binding.collection == collection.name and binding.action == "read":
                operation = self.engine.operation(method, template)
                if operation is None:
                    continue
                params = {binding.id_param: str(object_id)} if binding.id_param else {}
                path = template
                for key, value in params.items():
                    path = path.replace("{" + key + "}", value)
                req = MockRequest("GET", (self.engine.base_paths or [""])[0].rstrip("/") + path,
                                  headers={"accept": "application/json"})
                generated = self._unwrap(collection, self._generated(req, Match(operation, params)))
                if isinstance(generated, dict):
                    return generated
        return {}

    @staticmethod
    def _unwrap(collection: Collection, body: Any) -> Any:
        """Return the object inside a wrapped item response (`{"droplet": {...}}`)."""
        if collection.wrapper and isinstance(body, dict):
            return body.get(collection.wrapper)
        return body

    def _render_item(self, req: MockRequest, match: Match, collection: Collection,
                     obj: dict[str, Any]) -> MockResponse:
        """Render one object, wrapped as the collection's item responses are, each field as
        the response schema allows (see `shape.conform`)."""
        template = self._generated(req, match)
        obj = self._conformed(collection, obj, self._unwrap(collection, template))
        if not collection.wrapper:
            return self._render(req, match, obj)
        # The envelope's other fields (DigitalOcean's required `links`) come from the template.
        around = template if isinstance(template, dict) and collection.wrapper in template else {}
        return self._render(req, match, {**around, collection.wrapper: obj})

    def _conformed(self, collection: Collection, obj: dict[str, Any], sample: Any) -> dict[str, Any]:
        """Return `obj` with the fields its property schemas refuse taken from `sample`."""
        def valid(name: str, value: Any) -> bool:
            schema = collection.properties.get(name)
            if not isinstance(schema, dict):
                return True
            # Lists render the same values again and again; jsonschema costs ~10 us a field.
            scalar = value is None or isinstance(value, (str, int, float, bool))
            key = (collection.name, name, type(value).__name__,
                   value if scalar else json.dumps(value, sort_keys=True, default=str))
            known = self._validity.get(key)
            if known is None:
                if len(self._validity) >= VALIDITY_CACHE:
                    self._validity.clear()
                validator = self._field_validators.get((collection.name, name))
                if validator is None:
                    validator = self.engine.index.validator(schema, "response")
                    self._field_validators[(collection.name, name)] = validator
                known = self._validity[key] = bool(validator.is_valid(value))
            return known

        return conform(obj, valid, sample, collection.required)

    def issue_key(self, tenant_id: str | None = None, name: str = "",
                  secret: IssuedKey | None = None) -> tuple[str, IssuedKey]:
        """Issue (or register) a key; a new tenant is created and seeded."""
        return issue_for_tenant(self.store, self.clock(), tenant_id=tenant_id, name=name,
                                secret=secret)

    def reset(self, tenant_id: str) -> int:
        """Return a tenant to its seed (objects, tenant state); return how many objects it has."""
        count = self.store.reset_tenant(tenant_id, self.clock())
        self._last_purge.pop(tenant_id, None)
        return count

    # -- the request path ------------------------------------------------------------------
    def __call__(self, ctx: RequestContext, call_next: Next) -> MockResponse:
        """Answer one request (see the module docstring); nothing is left for `call_next`."""
        if ctx.engine is not self.engine:  # the spec was reloaded
            self._bind(ctx.engine)
        req = ctx.request
        if self.live.found_in(req):
            return MockResponse(401, [("content-type", "application/problem+json")],
                                json.dumps(live_key_problem(self.live.patterns)).encode())
        match = ctx.route()
        if isinstance(match, MockResponse):
            return match
        validated = ctx.validated()
        if isinstance(validated, MockResponse):
            return validated
        tenant_id = ctx.tenant
        if tenant_id is None:
            return self.engine.refuse(req, match, Refusal(
                401, "unknown or revoked sandbox key; create one with `sandlot keys create`",
                [Violation("security", "", "the credential is not a key of this sandbox")]))
        return self._serve(req, match, validated, tenant_id, ctx.now())

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def _serve(self, req: MockRequest, match: Match, validated: ValidatedRequest,
               tenant_id: str, now: float) -> MockResponse:
        if self.config.requests_per_day is not None:
            day = time.strftime("%Y-%m-%d", time.gmtime(now))
            count = self.store.count_request(tenant_id, day)
            if count > self.config.requests_per_day:
                return quota_problem("requests_per_day", self.config.requests_per_day,
                                     f"This tenant made more than {self.config.requests_per_day} "
                                     f"requests today (UTC); the count starts again at midnight.")
        if self.config.retention_seconds is not None:
            self._purge(tenant_id, now)
        binding = self.model.binding(match.operation.method, match.operation.path)
        if binding is None:
            return self.engine.respond(req, match)
        collection = self.model.collections[binding.collection]
        action: Action = getattr(self, "_" + binding.action)
        return action(req, match, validated, tenant_id, binding, collection, now)

    def _purge(self, tenant_id: str, now: float) -> None:
        retention = self.config.retention_seconds or 0
        # Purging is a write; once a second (or a tenth of the retention) is plenty.
        if now - self._last_purge.get(tenant_id, float("-inf")) >= min(1.0, retention / 10):
            self._last_purge[tenant_id] = now
            self.store.purge_older_than(tenant_id, now - retention)

    def _generated(self, req: MockRequest, match: Match) -> Any:
        """Return the engine's generated body for the operation's success response, parsed.

        Cached per operation: only the fields the server must supply (and a list's envelope)
        are taken from it, and generating plus checking examples is the costliest step.
        """
        key = (match.operation.method, match.operation.path)
        if key not in self._templates:
            response = self.engine.respond(req, match)
            try:
                self._templates[key] = json.loads(response.body) if response.body else None
            except ValueError:
                self._templates[key] = None
        template = self._templates[key]
        return dict(template) if isinstance(template, dict) else template

    def _not_found(self, req: MockRequest, match: Match, what: str, object_id: Any,
                   pointer: str) -> MockResponse:
        return self.engine.refuse(req, match, Refusal(
            404, f"no {what} {object_id!r} in this sandbox tenant",
            [Violation("path", pointer, f"no such {what}")]))

    def _check_parent(self, req: MockRequest, match: Match, binding: Binding,
                      tenant_id: str) -> MockResponse | None:
        if not binding.parent_param:
            return None
        parent_id = match.path_params.get(binding.parent_param, "")
        if self.store.get_object(tenant_id, binding.parent_collection or "", parent_id) is None:
            return self._not_found(req, match, singularize(binding.parent_collection or ""),
                                   parent_id, "/" + binding.parent_param)
        return None

    def _documented(self, match: Match, *statuses: int) -> int | None:
        """Return the first of `statuses` the operation documents, or None."""
        plan = self.engine.plan(match.operation).response
        return next((code for code in statuses if plan.documented(code) is not None), None)

    def _check_relations(self, req: MockRequest, match: Match, collection: Collection,
                         obj: Mapping[str, Any], tenant_id: str) -> MockResponse | None:
        for field_name, other in self._relations.get(collection.name, {}).items():
            value = obj.get(field_name)
            if isinstance(value, str) and self.store.get_object(tenant_id, other, value) is None:
                # A well-formed id naming nothing: 404 where documented (schemathesis and most
                # clients read it as "not found"), else the documented 400/422, else 404.
                status = self._documented(match, 404, 400, 422) or 404
                return self.engine.refuse(req, match, Refusal(
                    status, f"No such {singularize(other)}: {value!r}",
                    [Violation("body", "/" + field_name, f"no {singularize(other)} {value!r} "
                                                         "in this sandbox tenant")]))
        return None

    def _render(self, req: MockRequest, match: Match, body: Any) -> MockResponse:
        return self.engine.respond(req, match, body=body)

    # -- actions ---------------------------------------------------------------------------
    def _create(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                binding: Binding, collection: Collection, now: float) -> MockResponse:
        refused = self._check_parent(req, match, binding, tenant_id)
        if refused:
            return refused
        if self.config.max_objects is not None and \
                self.store.count_objects(tenant_id, ORIGIN_API) >= self.config.max_objects:
            return quota_problem("objects", self.config.max_objects,
                                 f"This tenant already stores {self.config.max_objects} objects it "
                                 "created; delete some, reset the tenant, or raise quota.objects.")
        extra = {}
        if binding.parent_field:
            extra[binding.parent_field] = match.path_params[binding.parent_param or ""]
        object_id = None
        for _ in range(5):  # random ids collide only by astronomical bad luck; ints never
            object_id = new_id(collection.id_format,
                               lambda: self.store.max_int_id(tenant_id, collection.name) + 1)
            if self.store.get_object(tenant_id, collection.name, str(object_id)) is None:
                break
        obj = project(build_object(self._unwrap(collection, self._generated(req, match)),
                                   validated.body, collection,
                                   object_id, now, extra), collection)
        refused = self._check_relations(req, match, collection, obj, tenant_id)
        if refused:
            return refused
        self.store.insert_object(tenant_id, collection.name, str(object_id), obj, now)
        return self._render_item(req, match, collection, obj)

    def _read(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
              binding: Binding, collection: Collection, now: float) -> MockResponse:
        stored = self._addressed(match, tenant_id, binding, collection)
        if stored is None:
            return self._missing(req, match, binding, collection)
        return self._render_item(req, match, collection, project(stored.data, collection))

    def _addressed(self, match: Match, tenant_id: str, binding: Binding,
                   collection: Collection) -> StoredObject | None:
        """Return the stored object the item path names, or None when it is missing or under another parent."""
        object_id = match.path_params.get(binding.id_param or "", "")
        stored = self.store.get_object(tenant_id, collection.name, object_id)
        if stored is None or self._outside_parent(stored.data, match, binding):
            return None
        return stored

    def _missing(self, req: MockRequest, match: Match, binding: Binding, collection: Collection) -> MockResponse:
        """Return the spec's 404 for the object the item path names."""
        object_id = match.path_params.get(binding.id_param or "", "")
        return self._not_found(req, match, collection.singular, object_id, "/" + (binding.id_param or ""))

    def _outside_parent(self, data: Mapping[str, Any], match: Match, binding: Binding) -> bool:
        if not binding.parent_field:
            return False
        return str(data.get(binding.parent_field)) != match.path_params.get(binding.parent_param or "")

    def _update(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                binding: Binding, collection: Collection, now: float) -> MockResponse:
        stored = self._addressed(match, tenant_id, binding, collection)
        if stored is None:
            return self._missing(req, match, binding, collection)
        replace = match.operation.method == "PUT"
        obj = project(apply_update(stored.data, validated.body, collection, now, replace),
                      collection)
        refused = self._check_relations(req, match, collection, obj, tenant_id)
        if refused:
            return refused
        self.store.replace_object(tenant_id, collection.name, stored.object_id, obj, now)
        return self._render_item(req, match, collection, obj)

    def _delete(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                binding: Binding, collection: Collection, now: float) -> MockResponse:
        stored = self._addressed(match, tenant_id, binding, collection)
        if stored is None or not self.store.delete_object(tenant_id, collection.name, stored.object_id):
            return self._missing(req, match, binding, collection)
        template = self._generated(req, match)
        if not isinstance(template, dict):
            return self.engine.respond(req, match)
        body = dict(template)
        for name in template:
            if name in stored.data and name != "deleted":
                body[name] = stored.data[name]
        if "deleted" in body:
            body["deleted"] = True
        return self._render(req, match, body)

    def _list(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
              binding: Binding, collection: Collection, now: float) -> MockResponse:
        refused = self._check_parent(req, match, binding, tenant_id)
        if refused:
            return refused
        pagination = binding.pagination
        assert pagination is not None
        query = validated.query
        filters = {prop: query[param] for param, prop in binding.filters.items()
                   if query.get(param) is not None}
        if binding.parent_field:
            filters[binding.parent_field] = match.path_params[binding.parent_param or ""]
        limit = pagination.default_limit
        if pagination.limit_param and isinstance(query.get(pagination.limit_param), int):
            limit = query[pagination.limit_param]
        limit = max(1, min(limit, pagination.max_limit))
        offset = 0
        if pagination.offset_param and isinstance(query.get(pagination.offset_param), int):
            offset = max(0, query[pagination.offset_param])
        if pagination.page_param and isinstance(query.get(pagination.page_param), int):
            offset = max(0, query[pagination.page_param] - pagination.page_base) * limit
        if pagination.cursor_param and query.get(pagination.cursor_param):
            offset = _decode_cursor(str(query[pagination.cursor_param]))
        after = query.get(pagination.after_param) if pagination.after_param else None
        before = query.get(pagination.before_param) if pagination.before_param else None
        for cursor_id in (after, before):
            if cursor_id is not None and \
                    self.store.get_object(tenant_id, collection.name, str(cursor_id)) is None:
                # An unknown cursor is refused where the spec documents how; otherwise the
                # page after (or before) nothing is empty.
                status = self._documented(match, 400, 404)
                if status is None:
                    limit = 0
                    continue
                param = pagination.after_param if cursor_id is after else pagination.before_param
                return self.engine.refuse(req, match, Refusal(
                    status, f"No such {collection.singular}: {cursor_id!r}",
                    [Violation("query", f"/{param}", f"no {collection.singular} {cursor_id!r}")]))
        if limit == 0:
            page = Page(items=[], has_more=False, total=0)
        else:
            page = self.store.list_objects(tenant_id, collection.name, ListQuery(
                filters=filters, offset=offset, limit=limit,
                after_id=str(after) if after is not None else None,
                before_id=str(before) if before is not None else None))
        sample = self._item_template(collection, "sample") if page.items else {}
        items = [self._conformed(collection, project(o.data, collection), sample)
                 for o in page.items]
        next_token = None
        if page.has_more and items:
            next_token = (_encode_cursor(offset + limit) if pagination.cursor_param
                          else str(items[-1].get(collection.id_field)))
        template = self._generated(req, match)
        schema = deref(self.engine.spec.document, self.engine.response_schema(match.operation))
        required = schema.get("required", []) if isinstance(schema, dict) else []
        body = envelope(template, items, pagination, has_more=page.has_more, total=page.total,
                        next_token=next_token, required=required)
        return self._render(req, match, self._with_page_fields(
            req, template, body, schema, pagination, offset=offset, limit=limit,
            count=len(items), total=page.total, has_more=page.has_more, next_token=next_token))

    def _with_page_fields(self, req: MockRequest, template: Any, body: Any, schema: Any,
                          pagination: Pagination, *, offset: int, limit: int, count: int,
                          total: int, has_more: bool, next_token: str | None) -> Any:
        """Return the envelope with its page metadata taken from the page served (totals,
        page size, links on this server), keeping what the response schema refuses as
        generated (state/paging.py)."""
        if not isinstance(body, dict):
            return body
        next_query: dict[str, Any] | None = None
        param = pagination.cursor_param or pagination.after_param
        if next_token is not None and param:
            next_query = {param: next_token}
        facts = page_facts(req.path, strip_controls(req.query), offset=offset, limit=limit,
                           count=count, total=total, has_more=has_more,
                           page_param=pagination.page_param, page_base=pagination.page_base,
                           limit_param=pagination.limit_param,
                           offset_param=pagination.offset_param, next_query=next_query)
        skip = {f for f in (pagination.items_field, pagination.has_more_field,
                            pagination.next_field, pagination.total_field) if f}
        filled, changed = fill_page_fields(body, facts, skip)
        if not changed or schema is None:
            return filled
        key = (req.method, "list:" + str(id(schema)))
        if key not in self._field_validators:  # built once per list operation, not per request
            self._field_validators[key] = self.engine.index.validator(schema, "response")
        validator = self._field_validators[key]
        host = req.headers.get("host", "localhost")
        return revert_refused(
            filled, template, changed,
            lambda b: [tuple(e.absolute_path) for e in validator.iter_errors(b)],
            lambda uri: f"http://{host}{uri}")


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return max(0, int(text.removeprefix("o:")))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return 0

