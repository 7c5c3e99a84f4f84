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
import hashlib
import json
import logging
import random
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandlot.mock.context import Next, RequestContext
from sandlot.mock.engine import Engine, Match, strip_controls, with_warnings
from sandlot.mock.messages import MockRequest, MockResponse, Violation
from sandlot.mock.validate import Refusal, ValidatedRequest, parse_cookies, parse_query, security_check
from sandlot.openapi.schemas import object_properties
from sandlot.state import identity as tokens
from sandlot.state.auth import LiveKeyDetector, authenticate, issue_for_tenant
from sandlot.state.config import SandboxConfig
from sandlot.state.envelopes import (
    HAL_EMBEDDED,
    HAL_LINKS,
    Relationship,
    flatten_resource,
    hal_links,
    to_resource,
)
from sandlot.state.fixtures import FixtureError, Fixtures, check_fixtures, fixtures_source
from sandlot.state.ids import may_collide, new_id, random_token
from sandlot.state.inference import (
    HIDDEN_PARENT,
    IDENTIFIER_NAMES,
    Binding,
    Collection,
    Identity,
    Pagination,
    StateModel,
    infer_model,
    singularize,
)
from sandlot.state.keys import IssuedKey, live_key_problem
from sandlot.state.paging import fill_page_fields, page_facts, revert_refused
from sandlot.state.serverside import children_of, object_links, own_path, strip_format
from sandlot.state.shape import (
    apply_update,
    build_object,
    conform,
    envelope,
    envelope_items,
    fill_from_template,
    project,
    response_names,
)
from sandlot.state.store import ORIGIN_API, ListQuery, Page, Store, StoredObject
from sandlot.util import fastjson
from sandlot.util.pointers import deref

log = logging.getLogger("sandlot.sandbox")

#: Field values whose validity against their property schema is remembered (then forgotten).
VALIDITY_CACHE = 50_000
#: Actions whose answer depends only on the request and what is stored: kept until a write.
KEPT_ACTIONS = frozenset({"read", "list", "view_read", "values", "me_read"})
#: How many such answers are kept, and how large (each and in all, with their requests).
KEPT_ANSWERS = 4096
KEPT_ANSWER_BYTES = 64 * 1024
KEPT_ANSWERS_BYTES = 16 * 1024 * 1024
#: A feed shows the items of at most this many followed users (the first followed).
FEED_FOLLOWED = 1_000
#: `GET /tags` reads the values of at most this many objects (the oldest).
VALUES_SCANNED = 10_000



@dataclass(frozen=True)
class Caller:
    """Who sends a request, as the API's own identity sees it: the user its token names."""

    user: StoredObject | None = None
    token: str | None = None
    #: The request offered a credential for the API's identity that names nobody.
    refused: bool = False

    @property
    def key(self) -> str:
        """Return what per-user state is kept under: the user's id, or the tenant's `*`."""
        return self.user.object_id if self.user is not None else "*"


#: One collection action (`_create`, `_read`, `_update`, `_delete`, `_list`, `_toggle_on` ...).
Action = Callable[[MockRequest, Match, ValidatedRequest, str, Binding, Collection, float, Caller], MockResponse]


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
        self._by_singular = {singularize(c.name).lower(): c for c in self.model.collections.values()}
        self._sub_path_cache: dict[str, list[tuple[str, str]]] = {}
        self._nullable: dict[str, tuple[str, ...]] = {}
        self._samples: dict[str, dict[str, Any]] = {}
        self._relations = self._relation_fields()
        self._answers: OrderedDict[tuple[Any, ...], tuple[Any, MockResponse, int]] = OrderedDict()
        self._answers_bytes = 0
        self._answers_lock = threading.Lock()
        document = engine.spec.document
        schemes = (document.get("components") or {}).get("securitySchemes") or {}
        #: Where the API's own token may come when an operation's auth is optional (RealWorld's
        #: `GET /profiles/{username}` declares no security, yet shows `following` to a caller).
        self._token_checks = [c for name, scheme in schemes.items()
                              if (c := security_check(name, deref(document, scheme) or {}))]

    # -- set-up ----------------------------------------------------------------------------
    def _relation_fields(self) -> dict[str, dict[str, str]]:
        """Map collection -> {field: other collection} for string fields that hold another's
        id (`customer`, `customer_id`, `cartId`) or, when the client sends it, another's
        natural key (a cart line's `isbn` names a book)."""
        natural = {c.id_field: c.name for c in self.model.collections.values()
                   if c.natural and not c.slug_source and (c.properties.get(c.id_field) or {}).get("type") != "integer"}
        relations: dict[str, dict[str, str]] = {}
        for name, collection in self.model.collections.items():
            for prop, schema in collection.properties.items():
                if prop == collection.id_field or not isinstance(schema, dict):
                    continue
                types = schema.get("type")
                if not (types == "string" or (isinstance(types, list) and "string" in types)):
                    continue
                target = self._relations_target(prop)
                other = target.name if target is not None else \
                    natural.get(prop) if prop in collection.writable else None
                if other is not None and other != name:
                    relations.setdefault(name, {})[prop] = other
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

    def _sample(self, collection: Collection) -> dict[str, Any]:
        """Return the spec's idea of one object of a collection, which a listed object's fields
        the response schema refuses are taken from (made once per collection; read only)."""
        found = self._samples.get(collection.name)
        if found is None:
            found = self._samples[collection.name] = self._item_template(collection, "sample")
        return found

    @staticmethod
    def _unwrap(collection: Collection, body: Any) -> Any:
        """Return the object inside a wrapped item response (`{"droplet": {...}}`), flat as
        stored (a JSON:API resource's attributes and relationship ids; a HAL object's fields)."""
        if collection.wrapper and isinstance(body, dict):
            body = body.get(collection.wrapper)
        if collection.jsonapi is not None:
            return flatten_resource(body, collection.jsonapi)
        if collection.hal is not None and isinstance(body, dict):
            return {k: v for k, v in body.items() if k not in (HAL_LINKS, HAL_EMBEDDED)}
        return body

    def _render_item(self, req: MockRequest, match: Match, collection: Collection,
                     obj: dict[str, Any], tenant_id: str = "", caller: Caller | None = None) -> MockResponse:
        """Render one object, wrapped as the collection's item responses are, each field as
        the response schema allows (see `shape.conform`)."""
        template = self._generated(req, match)
        obj = self._conformed(collection, obj, self._unwrap(collection, template))
        inner = template.get(collection.wrapper) if collection.wrapper and isinstance(template, dict) else template
        sent = self._as_sent(req, match, collection, obj, inner, tenant_id, caller or Caller())
        if not collection.wrapper:
            return self._render(req, match, sent)
        # The envelope's other fields (DigitalOcean's required `links`) come from the template.
        around = dict(template) if isinstance(template, dict) and collection.wrapper in template else {}
        if collection.jsonapi is not None:
            around.pop("included", None)
            if isinstance(around.get("links"), dict) and isinstance(sent, dict):
                around["links"] = {"self": (sent.get("links") or {}).get("self")
                                   or self._origin(req) + req.path}
        return self._render(req, match, {**around, collection.wrapper: sent})

    def _as_sent(self, req: MockRequest, match: Match, collection: Collection, obj: dict[str, Any], template: Any,
                 tenant_id: str, caller: Caller, depth: int = 0) -> Any:
        """Return a flat object as the wire carries it: a JSON:API resource object, a HAL object
        with its `_links` (and `_embedded` children), or itself."""
        if collection.jsonapi is None and collection.hal is None:
            return obj
        key = obj.get(collection.id_field)
        own = own_path(collection.server, key, obj, match.path_params) or self._me_path(collection, key, match)
        base, origin = self._base_path(req), self._origin(req)
        if collection.jsonapi is not None:
            return to_resource(obj, collection.jsonapi, collection.id_field, template,
                               origin + base + own if own else None, self._type_of(collection))
        assert collection.hal is not None
        return self._as_hal(req, match, collection, obj, template, own, tenant_id, caller, depth)

    def _me_path(self, collection: Collection, key: Any, match: Match) -> str | None:
        """Return the current-user path as a user's own URL when users have no item path, for
        the user the request is about (`/me` for the caller)."""
        identity = self.model.identity
        if identity is None or identity.users != collection.name:
            return None
        return next((t for (m, t), b in self.model.bindings.items() if b.action == "me_read"), None)

    def _type_of(self, collection: Collection) -> Callable[[Relationship], str]:
        """Return how to name the type of a relationship's resources: as its identifier schema
        says, else the type of the collection it is named after (the owner's: the users')."""
        def type_of(rel: Relationship) -> str:
            if rel.type:
                return rel.type
            identity = self.model.identity
            if rel.name == collection.owner_field and identity is not None:
                target: Collection | None = self.model.collections.get(identity.users)
            else:
                target = self._relations_target(rel.name)
            if target is None:
                return rel.name if rel.many else rel.name + "s"
            return target.jsonapi.type if target.jsonapi else target.name
        return type_of

    def _relations_target(self, name: str) -> Collection | None:
        """Return the collection a property or link relation names by its singular
        (`channel`, `channel_id`, `channelId` -> channels), or None."""
        lower = name.lower()
        found = self._by_singular.get(lower)
        if found is None:
            found = self._by_singular.get(lower.removesuffix("_id").removesuffix("id"))
        return found

    def _conformed(self, collection: Collection, obj: dict[str, Any], sample: Any) -> dict[str, Any]:
        """Return `obj` with the fields its property schemas refuse taken from `sample`."""
        def valid(name: str, value: Any) -> bool:
            schema = collection.properties.get(name)
            if not isinstance(schema, dict):
                return True
            accept = self.engine.index.acceptor(schema, "response")
            if accept is not None and accept(value):
                return True
            # Lists render the same values again and again; jsonschema costs ~10 us a field.
            scalar = value is None or isinstance(value, (str, int, float, bool))
            key = (collection.name, name, type(value).__name__, value if scalar else fastjson.canonical(value))
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

    def snapshot(self) -> bytes:
        """Return the whole store (every tenant, key and object) as gzip'd SQLite."""
        return self.store.snapshot()

    def restore(self, data: bytes) -> int:
        """Replace the whole store with a snapshot; return how many tenants it holds.

        What was derived from the replaced state (purge times) is dropped.
        Raises ValueError naming the problem when `data` is not a snapshot.
        """
        self.store.restore(data)
        self._last_purge.clear()
        return len(self.store.list_tenants())

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
        return with_warnings(self.answer(ctx, match, validated, tenant_id), validated)

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def answer(self, ctx: RequestContext, match: Match, validated: ValidatedRequest, tenant_id: str) -> MockResponse:
        """Answer a routed, valid request of a known tenant (the GraphQL state stage,
        state/graphql.py, answers its own way)."""
        return self._serve(ctx.request, match, validated, tenant_id, ctx.now())

    def limits(self, tenant_id: str, now: float) -> MockResponse | None:
        """Apply the daily request quota (the 429 past it) and the retention (expired objects go)."""
        if self.config.requests_per_day is not None:
            day = time.strftime("%Y-%m-%d", time.gmtime(now))
            count = self.store.count_request(tenant_id, day)
            if count > self.config.requests_per_day:
                return quota_problem("requests_per_day", self.config.requests_per_day,
                                     f"This tenant made more than {self.config.requests_per_day} "
                                     f"requests today (UTC); the count starts again at midnight.")
        if self.config.retention_seconds is not None:
            self._purge(tenant_id, now)
        return None

    def _serve(self, req: MockRequest, match: Match, validated: ValidatedRequest,
               tenant_id: str, now: float) -> MockResponse:
        limited = self.limits(tenant_id, now)
        if limited is not None:
            return limited
        binding = self.model.binding(match.operation.method, match.operation.path)
        if binding is None or binding.action not in KEPT_ACTIONS or req.body:
            return self._act(req, match, validated, tenant_id, binding, now)
        # A read answers the same while nothing stored changed: kept per exact request (tenant,
        # method, path, query and headers: the caller's token, Accept and Host are in them)
        # and checked against the store's generation, which any write moves (another
        # worker's too).
        key = (tenant_id, req.method, req.path, req.query, tuple(req.headers.items()))
        generation = self.store.generation()
        with self._answers_lock:  # a proxying server answers on several threads
            kept = self._answers.get(key)
            if kept is not None and kept[0] == generation:
                self._answers.move_to_end(key)
                return MockResponse(kept[1].status, list(kept[1].headers), kept[1].body)
        response = self._act(req, match, validated, tenant_id, binding, now)
        size = len(response.body) + len(req.path) + len(req.query) + sum(len(k) + len(v) for k, v in key[4])
        if size <= KEPT_ANSWER_BYTES:
            with self._answers_lock:
                old = self._answers.pop(key, None)
                if old is not None:
                    self._answers_bytes -= old[2]
                self._answers[key] = (generation, MockResponse(response.status, list(response.headers),
                                                               response.body), size)
                self._answers_bytes += size
                while len(self._answers) > KEPT_ANSWERS or self._answers_bytes > KEPT_ANSWERS_BYTES:
                    self._answers_bytes -= self._answers.popitem(last=False)[1][2]
        return response

    def _act(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
             binding: Binding | None, now: float) -> MockResponse:
        """Answer with the binding's action (or statelessly, for an operation without one)."""
        caller = self._caller(req, validated, tenant_id)
        if caller.refused and validated.credentials:
            return self._refuse(req, match, (401,), "the token is unknown, expired or of another tenant; "
                                "sign up or log in again", "security", "")
        if binding is None:
            return self.engine.respond(req, match)
        collection = self.model.collections[binding.collection]
        action: Action = getattr(self, "_" + binding.action)
        return action(req, match, validated, tenant_id, binding, collection, now, caller)

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

    def _documented(self, match: Match, *statuses: int) -> int | None:
        """Return the first of `statuses` the operation documents, or None."""
        plan = self.engine.plan(match.operation).response
        return next((code for code in statuses if plan.documented(code) is not None), None)

    def _check_relations(self, req: MockRequest, match: Match, collection: Collection,
                         obj: Mapping[str, Any], tenant_id: str) -> MockResponse | None:
        for field_name, other in self._relations.get(collection.name, {}).items():
            value = obj.get(field_name)
            if isinstance(value, str) and self._find(tenant_id, self.model.collections[other], value) is None:
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

    # -- who is calling ---------------------------------------------------------------------
    def _caller(self, req: MockRequest, validated: ValidatedRequest, tenant_id: str) -> Caller:
        """Return the user the request's token names (the API's own identity), if any: from the
        credentials the operation requires, else (auth optional) wherever the API's schemes
        put one."""
        identity: Identity | None = self.model.identity
        if identity is None:
            return Caller()
        offered = list(validated.credentials.values())
        if not offered and self._token_checks:
            query = parse_query(req.query) if req.query else {}
            cookies = parse_cookies(req.headers.get("cookie")) if "cookie" in req.headers else {}
            offered = [v for c in self._token_checks if (v := c.credential(req, query, cookies)) is not None]
        if not offered:
            return Caller()
        known = self.store.get_state(tenant_id, tokens.TOKENS_KEY) or {}
        for value in offered:
            if authenticate(self.store, value) is not None:
                return Caller()  # a sandbox key: the tenant acts, as no user in particular
            token = tokens.presented_token(value)
            user_id = known.get(tokens.token_hash(token))
            user = self.store.get_object(tenant_id, identity.users, user_id) if user_id else None
            if user is not None:
                return Caller(user, token)
        return Caller(refused=True)

    def _refuse(self, req: MockRequest, match: Match, statuses: tuple[int, ...], detail: str,
                location: str, pointer: str) -> MockResponse:
        """Refuse with the first of `statuses` the operation documents (else the first)."""
        status = next((s for s in statuses if self.engine.plan(match.operation).response.exactly(s)), statuses[0])
        return self.engine.refuse(req, match, Refusal(status, detail, [Violation(location, pointer, detail)]))

    # -- finding objects ---------------------------------------------------------------------
    def _find(self, tenant_id: str, collection: Collection, key: Any,
              parent: tuple[str, Any] | None = None) -> StoredObject | None:
        """Return the object a path names: by id, or by its natural key (within its parent)."""
        if not collection.natural:
            found = self.store.get_object(tenant_id, collection.name, str(key))
            if found is not None and parent is not None and str(found.data.get(parent[0])) != str(parent[1]):
                return None
            return found
        filters: dict[str | tuple[str, ...], Any] = {collection.id_field: key}
        if parent is not None:
            filters[parent[0]] = parent[1]
        page = self.store.list_objects(tenant_id, collection.name, ListQuery(filters=filters, limit=1))
        return page.items[0] if page.items else None

    def _parent(self, match: Match, validated: ValidatedRequest, binding: Binding,
                tenant_id: str) -> tuple[str, Any] | None | MockResponse:
        """Return (the child's parent field, the value it holds for this path's parent), None
        when the path is not nested, or the spec's 404 for a missing parent."""
        if not binding.parent_param or not binding.parent_field:
            return None
        raw = validated.path.get(binding.parent_param, match.path_params.get(binding.parent_param, ""))
        parent_collection = self.model.collections[binding.parent_collection or ""]
        found = self._find(tenant_id, parent_collection, raw) or \
            self._own_account(tenant_id, validated, parent_collection, raw)
        if found is None:
            return self._not_found_in(match, singularize(parent_collection.name), raw, binding.parent_param)
        value = found.object_id if binding.parent_field == HIDDEN_PARENT else raw
        return binding.parent_field, value

    def _documented_exactly(self, match: Match, status: int) -> bool:
        """Tell whether the operation documents `status` itself (403: only the owner may)."""
        return self.engine.plan(match.operation).response.exactly(status)

    def _not_found_in(self, match: Match, what: str, key: Any, param: str) -> MockResponse:
        return self._pending_refusal(match, 404, f"no {what} {key!r} in this sandbox tenant", "path", "/" + param)

    def _pending_refusal(self, match: Match, status: int, detail: str, location: str, pointer: str) -> MockResponse:
        """Return a marker response the action turns into the documented refusal."""
        return MockResponse(status, [("x-sandlot-pending", json.dumps([detail, location, pointer]))])

    def _refused(self, req: MockRequest, match: Match, marker: MockResponse) -> MockResponse:
        detail, location, pointer = json.loads(marker.header("x-sandlot-pending") or '["", "", ""]')
        return self.engine.refuse(req, match, Refusal(marker.status, detail, [Violation(location, pointer, detail)]))

    def _addressed_in(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                      binding: Binding, collection: Collection) -> StoredObject | MockResponse:
        """Return the object an item path names, or the spec's 404 (for it or its parent)."""
        parent = self._parent(match, validated, binding, tenant_id)
        if isinstance(parent, MockResponse):
            return self._refused(req, match, parent)
        key = validated.path.get(binding.id_param or "", match.path_params.get(binding.id_param or "", ""))
        found = self._find(tenant_id, collection, key, parent) or \
            self._own_account(tenant_id, validated, collection, key)
        if found is None:
            return self._not_found(req, match, collection.singular, key, "/" + (binding.id_param or ""))
        return found

    def _own_account(self, tenant_id: str, validated: ValidatedRequest, collection: Collection,
                      key: Any) -> StoredObject | None:
        """Return the caller's own account when a path names it (Twilio's
        `/Accounts/{AccountSid}/Messages.json` with the account sid of the credential): it
        exists without being created, so it is stored the first time it is named."""
        if collection.name != self.model.accounts:
            return None
        id_schema = collection.properties.get(collection.id_field) or {}
        if str(key) != str(self._account(tenant_id, validated, Caller(), id_schema)):
            return None
        now = self.clock()
        obj = project(build_object(self._item_template(collection, key), {}, collection, key, now), collection)
        return self.store.insert_object(tenant_id, collection.name, str(key), obj, now)

    # -- what is answered ---------------------------------------------------------------------
    def _dressed(self, req: MockRequest, match: Match, tenant_id: str, collection: Collection,
                 data: Mapping[str, Any], caller: Caller, object_id: str) -> dict[str, Any]:
        """Return a stored object as its caller sees it: per-user toggles (`starred`) and
        counters (`starsCount`, `issuesCount`) made true, its links built on this server
        (`url`, `links`), null for unset nullable fields, and what the sandbox keeps for
        itself left out."""
        obj = {k: v for k, v in data.items() if not k.startswith("__sandlot")
               and (k != collection.id_field or k in collection.properties)}
        kept = data.get(tokens.HIDDEN)
        hidden: dict[str, Any] = kept if isinstance(kept, dict) else {}
        for toggle in collection.toggles:
            who = (hidden.get("toggles") or {}).get(toggle.action) or []
            if toggle.flag and toggle.flag in collection.properties:  # a view's flag shows in the view only
                obj[toggle.flag] = caller.key in who
            if toggle.counter:
                obj[toggle.counter] = len(who)
        for prop, child, parent_field in collection.child_counters:
            value = object_id if parent_field == HIDDEN_PARENT else data.get(collection.id_field)
            obj[prop] = self.store.list_objects(tenant_id, child, ListQuery(
                filters={parent_field: value}, limit=1)).total
        owner = collection.owner_field
        if owner and isinstance(obj.get(owner), dict) and self.model.identity is not None:
            user = self._user_named(tenant_id, obj[owner], hidden.get("owner"))
            if user is not None:  # the owner as the caller sees it now (its name, bio, whether followed)
                obj[owner] = self._owner_value(collection, user, caller)
        if collection.server.item_paths:
            obj.update(object_links(collection.server, data.get(collection.id_field, object_id), data,
                                    match.path_params, self._base_path(req), self._origin(req)))
        for name in self._nullable_names(collection):  # whole objects: unset nullable fields are null
            if name not in obj:
                obj[name] = None
        return {k: v for k, v in project(obj, collection).items() if not k.startswith("__sandlot")}

    def _nullable_names(self, collection: Collection) -> tuple[str, ...]:
        """Return the collection's nullable properties (found once per collection)."""
        found = self._nullable.get(collection.name)
        if found is None:
            found = self._nullable[collection.name] = tuple(
                name for name, schema in collection.properties.items() if isinstance(schema, dict) and (
                    schema.get("nullable") or (isinstance(schema.get("type"), list) and "null" in schema["type"])))
        return found

    def _base_path(self, req: MockRequest) -> str:
        """Return the server base path the request came in under (`/v1`), or ""."""
        path, found = req.path, ""
        for base in self.engine.base_paths:
            if len(base) > len(found) and (path == base or path.startswith(base.rstrip("/") + "/")):
                found = base
        return found.rstrip("/")

    @staticmethod
    def _origin(req: MockRequest) -> str:
        """Return this server's origin as the client reached it (`http://127.0.0.1:4010`)."""
        scheme = req.headers.get("x-forwarded-proto", "http").split(",")[0].strip() or "http"
        return f"{scheme}://{req.headers.get('host', 'localhost')}"

    def _render_stored(self, req: MockRequest, match: Match, tenant_id: str, collection: Collection,
                       stored: StoredObject, caller: Caller) -> MockResponse:
        obj = self._dressed(req, match, tenant_id, collection, stored.data, caller, stored.object_id)
        return self._render_item(req, match, collection, obj, tenant_id, caller)

    def _as_hal(self, req: MockRequest, match: Match, collection: Collection, obj: dict[str, Any], template: Any,
                own: str | None, tenant_id: str, caller: Caller, depth: int) -> dict[str, Any]:
        """Return a flat object as HAL: its fields, `_links` on this server (itself, its
        sub-paths such as a cart's `items`, the objects its fields name such as an order's
        `cart`) and `_embedded` children (a cart's lines), each a HAL object too."""
        hal = collection.hal
        assert hal is not None
        prefix = (self._origin(req) if hal.absolute else "") + self._base_path(req)
        hrefs: dict[str, str] = {}
        if own is not None:
            hrefs["self"] = prefix + own
            stem = strip_format(own)
            hrefs.update({rel: prefix + stem + suffix for rel, suffix in self._sub_paths(collection, hal.links)})
        for rel in hal.links:
            target = self._relations_target(rel)
            if rel in hrefs or target is None or target.name == collection.name:
                continue
            key = next((obj[f] for f in (rel, f"{rel}Id", f"{rel}_id", target.id_field)
                        if obj.get(f) is not None), None)
            path = own_path(target.server, key, {}, match.path_params) if key is not None else None
            if path is not None:
                hrefs[rel] = prefix + path
        known = template.get(HAL_LINKS) if isinstance(template, dict) else None
        links = {**(known if isinstance(known, dict) else {}), **hal_links(hal, hrefs)}
        out = {**obj, HAL_LINKS: links}
        if hal.embedded and depth == 0:
            out[HAL_EMBEDDED] = self._embedded(req, match, collection, obj, template, tenant_id, caller)
        return out

    def _sub_paths(self, collection: Collection, rels: tuple[str, ...]) -> list[tuple[str, str]]:
        """Return (link relation, path suffix) for the relations naming a sub-path of the item path."""
        if not collection.server.item_paths:
            return []
        if collection.name not in self._sub_path_cache:
            loose = {r.lower().replace("_", ""): r for r in rels}
            found = children_of(collection.server.item_paths[0][0], (o.path for o in self.engine.operations))
            self._sub_path_cache[collection.name] = [(loose[n.replace("_", "")], suffix) for n, suffix in found
                                                     if n.replace("_", "") in loose]
        return self._sub_path_cache[collection.name]

    def _embedded(self, req: MockRequest, match: Match, collection: Collection, obj: Mapping[str, Any],
                  template: Any, tenant_id: str, caller: Caller) -> dict[str, Any]:
        """Return HAL's `_embedded` of an object: for each embedded relation naming a nested
        collection, the object's children (the first 100), as HAL."""
        out: dict[str, Any] = {}
        for rel in collection.hal.embedded if collection.hal else ():
            child = next((b for b in self.model.bindings.values() if b.parent_collection == collection.name
                          and b.parent_field and b.collection.lower() == rel.lower()), None)
            if child is None or collection.natural:
                continue
            kids = self.model.collections[child.collection]
            page = self.store.list_objects(tenant_id, kids.name, ListQuery(
                filters={child.parent_field or "": obj.get(collection.id_field)}, limit=100))
            sample = self._sample(kids) if page.items else {}
            generated = (template.get(HAL_EMBEDDED) or {}).get(rel) if isinstance(template, dict) else None
            kid_template = generated[0] if isinstance(generated, list) and generated else None
            out[rel] = [self._as_sent(req, match, kids, self._conformed(kids, self._dressed(
                req, match, tenant_id, kids, o.data, caller, o.object_id), sample), kid_template, tenant_id,
                caller, depth=1) for o in page.items]
        return out

    def _public_shape(self, schema: Any, user: StoredObject, caller: Caller | None = None) -> Any:
        """Return a user as a property holding one shows it: its profile fields, or its name."""
        schema = deref(self.engine.spec.document, schema)
        data = {k: v for k, v in user.data.items() if not k.startswith("__sandlot")}
        if isinstance(schema, dict) and (schema.get("properties") or schema.get("allOf")):
            props = object_properties(self.engine.spec.document, schema)
            shape = {name: data.get(name) for name in props if name in data or (props[name] or {}).get("nullable")}
            users = self.model.collections[self.model.identity.users] if self.model.identity else None
            kept = user.data.get(tokens.HIDDEN)
            toggled = (kept.get("toggles") or {}) if isinstance(kept, dict) else {}
            for name, sub in props.items():
                sub = deref(self.engine.spec.document, sub) or {}
                if name not in shape and sub.get("type") == "boolean":
                    # A flag about the user as the caller sees it (RealWorld's `following`): on
                    # when the caller toggled it on this user, else its default, else off.
                    toggle = next((t for t in users.toggles if t.flag == name), None) if users else None
                    shape[name] = (caller is not None and caller.key in (toggled.get(toggle.action) or [])
                                   if toggle is not None else bool(sub.get("default", False)))
            return shape
        return next((data[n] for n in (*IDENTIFIER_NAMES, "id") if n in data), user.object_id)

    def _owner_value(self, collection: Collection, user: StoredObject, caller: Caller | None = None) -> Any:
        """Return what an object's owner property holds for a user: a JSON:API relationship
        the user's id, another property the user in its public shape (as the caller sees it)."""
        owner = collection.owner_field or ""
        if collection.jsonapi is not None and any(r.name == owner for r in collection.jsonapi.relationships):
            return user.object_id
        return self._public_shape(collection.properties.get(owner), user, caller)

    def _user_named(self, tenant_id: str, shown: Mapping[str, Any], user_id: Any = None) -> StoredObject | None:
        """Return the user who owns an object, if they still exist: by the id kept when they
        created it (a rename changes nothing), else (seeded objects) by the first identifier
        the stored public shape shows."""
        identity: Identity = self.model.identity
        users = self.model.collections[identity.users]
        if isinstance(user_id, str):
            return self.store.get_object(tenant_id, users.name, user_id)
        name = next((n for n in (*identity.identifiers, *IDENTIFIER_NAMES, "id")
                     if n in users.properties and shown.get(n) is not None), None)
        return self._find_user(tenant_id, name, shown[name]) if name else None

    def _owned_by_other(self, collection: Collection, data: Mapping[str, Any], caller: Caller) -> bool:
        """Tell whether an object belongs to a user other than the caller."""
        if not collection.owner_field or caller.user is None or collection.owner_field not in data:
            return False
        owner = data[collection.owner_field]
        mine = self._owner_value(collection, caller.user)
        if isinstance(owner, dict) and isinstance(mine, dict):
            keys = [k for k in (*IDENTIFIER_NAMES, "id") if k in owner and k in mine]
            return bool(keys) and bool(owner[keys[0]] != mine[keys[0]])
        return bool(owner != mine)

    # -- actions ---------------------------------------------------------------------------
    def _incoming(self, body: Any, collection: Collection) -> Any:
        """Return the fields a request body carries: unwrapped from `{"project": {...}}`, a
        JSON:API document's attributes and relationship ids, a HAL body without its links."""
        if collection.jsonapi is not None:
            fields = flatten_resource(body, collection.jsonapi)
            return {k: v for k, v in fields.items() if k != "id"} if isinstance(fields, dict) else fields
        wrapper = collection.request_wrapper
        if wrapper and isinstance(body, dict) and isinstance(body.get(wrapper), dict):
            body = body[wrapper]
        if collection.hal is not None and isinstance(body, dict):
            return {k: v for k, v in body.items() if k not in (HAL_LINKS, HAL_EMBEDDED)}
        return body

    def _natural_key(self, tenant_id: str, collection: Collection, body: Mapping[str, Any],
                     parent: tuple[str, Any] | None, own_id: str | None = None) -> Any:
        """Return the natural key of a new (or renamed) object: as sent, a slug made from its
        name (unique in the tenant), or the next number of its parent's sequence."""
        if body.get(collection.id_field) is not None:
            return body[collection.id_field]
        schema = collection.properties.get(collection.id_field) or {}
        if schema.get("type") == "integer":
            return self._next_number(tenant_id, collection, collection.id_field, parent, 1)
        source = body.get(collection.slug_source or "") if collection.slug_source else None
        base = slugify(str(source)) if source else new_id(collection.id_format, lambda: 0)
        candidate, n = base, 1
        while True:
            found = self._find(tenant_id, collection, candidate, parent)
            if found is None or found.object_id == own_id:
                return candidate
            n += 1
            candidate = f"{base}-{n}"

    def _next_number(self, tenant_id: str, collection: Collection, name: str, parent: tuple[str, Any] | None,
                     start: int) -> int:
        """Return the next number of a sequence within a parent (or the tenant): one more
        than the newest object's, else `start`."""
        page = self.store.list_objects(tenant_id, collection.name, ListQuery(
            filters=dict([parent]) if parent else {}, limit=1, descending=True))
        last = page.items[0].data.get(name) if page.items else None
        return last + 1 if isinstance(last, int) and not isinstance(last, bool) else start

    def _account(self, tenant_id: str, validated: ValidatedRequest, caller: Caller, schema: Any) -> Any:
        """Return the account the caller acts for, as a property holding it shows it: the
        user the API's token names, else the part of the credential that is such an id
        (Twilio's `AC...` user name), else one made from the schema for this tenant, the same
        on every object."""
        if caller.user is not None:
            return caller.user.object_id
        validator = self._validator(schema)
        for value in validated.credentials.values():
            for part in (value, *value.split(":", 1)):
                if part and authenticate(self.store, part) is None and validator.is_valid(part):
                    return part
        seed = int.from_bytes(hashlib.sha256(f"{tenant_id}\0account".encode()).digest()[:8], "big")
        return self.engine.generator.build(schema, random.Random(seed))

    def _validator(self, schema: Any) -> Any:
        key = ("schema", str(id(schema)))
        if key not in self._field_validators:
            self._field_validators[key] = self.engine.index.validator(schema, "response")
        return self._field_validators[key]

    def _create(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        parent = self._parent(match, validated, binding, tenant_id)
        if isinstance(parent, MockResponse):
            return self._refused(req, match, parent)
        if self.config.max_objects is not None and \
                self.store.count_objects(tenant_id, ORIGIN_API) >= self.config.max_objects:
            return quota_problem("objects", self.config.max_objects,
                                 f"This tenant already stores {self.config.max_objects} objects it "
                                 "created; delete some, reset the tenant, or raise quota.objects.")
        body = self._incoming(validated.body, collection)
        extra: dict[str, Any] = dict([parent]) if parent else {}
        if collection.owner_field and caller.user is not None:
            extra[collection.owner_field] = self._owner_value(collection, caller.user, caller)
        sent = response_names(body, collection.properties) if isinstance(body, dict) else {}
        for name in collection.server.accounts:
            if name not in extra and name not in sent:
                extra[name] = self._account(tenant_id, validated, caller, collection.properties[name])
        if collection.server.sequence is not None:
            name, start = collection.server.sequence
            extra[name] = self._next_number(tenant_id, collection, name, parent, start)
        # A natural key's object is stored under an internal id.
        object_id: Any = random_token(24) if collection.natural else None
        for _ in range(0 if collection.natural else 5):  # only short random ids or patterns may collide
            object_id = new_id(collection.id_format,
                               lambda: self.store.next_int_id(tenant_id, collection.name))
            if not may_collide(collection.id_format) or \
                    self.store.get_object(tenant_id, collection.name, str(object_id)) is None:
                break
        key = self._natural_key(tenant_id, collection, body if isinstance(body, dict) else {}, parent) \
            if collection.natural else object_id
        if collection.natural and isinstance(body, dict) and body.get(collection.id_field) is not None \
                and self._find(tenant_id, collection, key, parent) is not None:
            return self._refuse(req, match, (409, 422, 400), f"{collection.id_field} has already been taken",
                                "body", "/" + collection.id_field)
        obj = project(build_object(self._unwrap(collection, self._generated(req, match)),
                                   body, collection, key, now, extra), collection)
        if collection.owner_field and caller.user is not None:  # who, whatever they are called later
            obj[tokens.HIDDEN] = {**(obj.get(tokens.HIDDEN) or {}), "owner": caller.user.object_id}
        refused = self._check_relations(req, match, collection, obj, tenant_id)
        if refused:
            return refused
        stored = self.store.insert_object(tenant_id, collection.name, str(object_id), obj, now)
        return self._render_stored(req, match, tenant_id, collection, stored, caller)

    def _read(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
              binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        stored = self._addressed_in(req, match, validated, tenant_id, binding, collection)
        if isinstance(stored, MockResponse):
            return stored
        return self._render_stored(req, match, tenant_id, collection, stored, caller)

    def _changeable(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                    binding: Binding, collection: Collection, caller: Caller) -> StoredObject | MockResponse:
        """Return the object an item path names, or the spec's 404, or its 403 when the
        operation documents one and the object belongs to another user."""
        stored = self._addressed_in(req, match, validated, tenant_id, binding, collection)
        if not isinstance(stored, MockResponse) and self._owned_by_other(collection, stored.data, caller) \
                and self._documented_exactly(match, 403):
            return self._refuse(req, match, (403,), f"this {collection.singular} belongs to another user",
                                "path", "/" + (binding.id_param or ""))
        return stored

    def _update(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        stored = self._changeable(req, match, validated, tenant_id, binding, collection, caller)
        if isinstance(stored, MockResponse):
            return stored
        replace = match.operation.method == "PUT"
        body = self._incoming(validated.body, collection)
        obj = project(apply_update(stored.data, body, collection, now, replace), collection)
        for name, value in stored.data.items():  # what the sandbox keeps for itself stays
            if name.startswith("__sandlot"):
                obj[name] = value
        if collection.slug_source and isinstance(body, dict) and collection.id_field not in body \
                and body.get(collection.slug_source) not in (None, stored.data.get(collection.slug_source)):
            parent = (binding.parent_field, stored.data.get(binding.parent_field)) if binding.parent_field else None
            obj[collection.id_field] = self._natural_key(tenant_id, collection, body, parent, stored.object_id)
        refused = self._check_relations(req, match, collection, obj, tenant_id)
        if refused:
            return refused
        self.store.replace_object(tenant_id, collection.name, stored.object_id, obj, now)
        return self._render_stored(req, match, tenant_id, collection,
                                   StoredObject(collection.name, stored.object_id, obj, stored.origin,
                                                stored.created_at, now), caller)

    def _delete(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        stored = self._changeable(req, match, validated, tenant_id, binding, collection, caller)
        if isinstance(stored, MockResponse):
            return stored
        if not self.store.delete_object(tenant_id, collection.name, stored.object_id):
            return self._not_found(req, match, collection.singular, stored.object_id, "/" + (binding.id_param or ""))
        self._cascade(tenant_id, collection, stored)
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

    def _cascade(self, tenant_id: str, collection: Collection, stored: StoredObject) -> None:
        """Delete what belongs to a deleted object: its nested collections' objects, and theirs."""
        children = {(b.collection, b.parent_field) for b in self.model.bindings.values()
                    if b.parent_collection == collection.name and b.parent_field}
        for child, parent_field in children:
            value = stored.object_id if parent_field == HIDDEN_PARENT else stored.data.get(collection.id_field)
            while True:
                page = self.store.list_objects(tenant_id, child, ListQuery(filters={parent_field: value}, limit=100))
                for item in page.items:
                    self.store.delete_object(tenant_id, child, item.object_id)
                    self._cascade(tenant_id, self.model.collections[child], item)
                if not page.has_more:
                    break

    def _toggled(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                 binding: Binding, collection: Collection, now: float, caller: Caller, on: bool) -> MockResponse:
        stored = self._addressed_in(req, match, validated, tenant_id, binding, collection)
        if isinstance(stored, MockResponse):
            return stored
        data = _with_toggle(stored.data, binding.toggle or "", caller.key, on)
        self.store.replace_object(tenant_id, collection.name, stored.object_id, data, stored.updated_at)
        return self._render_item(req, match, collection,
                                 self._dressed(req, match, tenant_id, collection, data, caller, stored.object_id),
                                 tenant_id, caller)

    def _toggle_on(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                   binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        return self._toggled(req, match, validated, tenant_id, binding, collection, now, caller, on=True)

    def _toggle_off(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                    binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        return self._toggled(req, match, validated, tenant_id, binding, collection, now, caller, on=False)

    def _values(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        """Answer the distinct values a collection's items hold in an array property (`GET
        /tags`: every tag of the tenant's articles, in order of first use)."""
        field = binding.values_of or ""
        page = self.store.list_objects(tenant_id, collection.name, ListQuery(limit=VALUES_SCANNED))
        values = list(dict.fromkeys(v for o in page.items if isinstance(o.data.get(field), list)
                                    for v in o.data[field] if isinstance(v, str)))
        template = self._generated(req, match)
        holder = binding.values_in
        return self._render(req, match, {**(template if isinstance(template, dict) else {}), holder: values}
                            if holder else values)

    # -- views of users (RealWorld's profiles) --------------------------------------------------
    def _viewed(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                binding: Binding) -> StoredObject | MockResponse:
        """Return the user a view's path names by one of its properties, or the spec's 404."""
        param = binding.id_param or ""
        value = validated.path.get(param, match.path_params.get(param, ""))
        user = self._find_user(tenant_id, param, value)
        return user if user is not None else self._not_found(req, match, "user", value, "/" + param)

    def _view_answer(self, req: MockRequest, match: Match, user: StoredObject, caller: Caller) -> MockResponse:
        """Render a user in a view's shape (its profile fields and the caller's flags), in the
        view's envelope (`{"profile": {...}}`) when it has one."""
        document = self.engine.spec.document
        schema = deref(document, self.engine.response_schema(match.operation))
        props = object_properties(document, schema)
        wrapper = next(iter(props)) if len(props) == 1 and object_properties(document, next(iter(props.values()))) \
            else None
        shown = self._public_shape(props[wrapper] if wrapper else schema, user, caller)
        template = self._generated(req, match)
        return self._render(req, match, {**(template if isinstance(template, dict) else {}), wrapper: shown}
                            if wrapper else shown)

    def _view_read(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                   binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        user = self._viewed(req, match, validated, tenant_id, binding)
        return user if isinstance(user, MockResponse) else self._view_answer(req, match, user, caller)

    def _view_toggled(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                      binding: Binding, collection: Collection, caller: Caller, on: bool) -> MockResponse:
        user = self._viewed(req, match, validated, tenant_id, binding)
        if isinstance(user, MockResponse):
            return user
        data = _with_toggle(user.data, binding.toggle or "", caller.key, on)
        self.store.replace_object(tenant_id, collection.name, user.object_id, data, user.updated_at)
        return self._view_answer(req, match, StoredObject(collection.name, user.object_id, data, user.origin,
                                                          user.created_at, user.updated_at), caller)

    def _view_toggle_on(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                        binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        return self._view_toggled(req, match, validated, tenant_id, binding, collection, caller, on=True)

    def _view_toggle_off(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                         binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        return self._view_toggled(req, match, validated, tenant_id, binding, collection, caller, on=False)

    def _transition(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                    binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        stored = self._addressed_in(req, match, validated, tenant_id, binding, collection)
        if isinstance(stored, MockResponse):
            return stored
        name, value = binding.transition or ("", None)
        data = dict(stored.data)
        if data.get(name) != value:
            data = apply_update(data, {name: value}, collection, now)
            self.store.replace_object(tenant_id, collection.name, stored.object_id, data, now)
        return self._render_item(req, match, collection,
                                 self._dressed(req, match, tenant_id, collection, data, caller, stored.object_id),
                                 tenant_id, caller)

    # -- identity ----------------------------------------------------------------------------
    def _identity_answer(self, req: MockRequest, match: Match, tenant_id: str, user: StoredObject,
                         token: str | None, caller: Caller) -> MockResponse:
        """Render a user as sign-up, log-in and current-user operations answer: the user (in
        its envelope, or beside the token), with the token where the API puts it."""
        identity: Identity = self.model.identity
        users = self.model.collections[identity.users]
        template = self._generated(req, match)
        dressed = self._dressed(req, match, tenant_id, users, user.data, caller, user.object_id)
        if isinstance(template, dict) and identity.token_field in template and not identity.user_field \
                and not any(name in template for name in IDENTIFIER_NAMES):
            body: Any = {**template, identity.token_field: token}  # a token answer (OAuth's), not the user
            return self._render(req, match, body)
        if users.jsonapi is not None or users.hal is not None:
            response = self._render_item(req, match, users, dressed, tenant_id, caller)
            if identity.cookie and token:
                response.headers.append(("set-cookie", f"{identity.cookie}={token}; Path=/; HttpOnly; SameSite=Lax"))
            return response
        obj = self._conformed(users, dressed, self._unwrap_user(template))
        if identity.token_field and identity.token_in_user and token:
            obj[identity.token_field] = token
        if identity.user_field:
            body = {**(template if isinstance(template, dict) else {}), identity.user_field: obj}
            if identity.token_field and not identity.token_in_user and token:
                body[identity.token_field] = token
        elif isinstance(template, dict) and len(template) == 1 and isinstance(next(iter(template.values())), dict):
            body = {next(iter(template)): obj}
        else:
            body = obj
        response = self._render(req, match, body)
        if identity.cookie and token:
            response.headers.append(("set-cookie", f"{identity.cookie}={token}; Path=/; HttpOnly; SameSite=Lax"))
        return response

    def _unwrap_user(self, template: Any) -> Any:
        identity: Identity = self.model.identity
        if isinstance(template, dict) and identity.user_field and isinstance(template.get(identity.user_field), dict):
            return template[identity.user_field]
        if isinstance(template, dict) and len(template) == 1 and isinstance(next(iter(template.values())), dict):
            return next(iter(template.values()))
        return template

    def _credentials_body(self, body: Any) -> dict[str, Any]:
        """Return the fields of a sign-up, log-in or profile body (unwrapped from
        `{"user": {...}}`, a JSON:API document's attributes); a body whose only field is a
        property of the user (`{"shippingAddress": {...}}`) is not a wrapper."""
        users = self.model.collections[self.model.identity.users]
        if isinstance(body, dict) and isinstance(body.get("data"), dict) and "attributes" in body["data"]:
            body = body["data"]["attributes"]  # JSON:API
        elif isinstance(body, dict) and len(body) == 1 and isinstance(next(iter(body.values())), dict) \
                and next(iter(body)) not in users.properties:
            body = next(iter(body.values()))
        return dict(body) if isinstance(body, dict) else {}

    def _issue_token(self, tenant_id: str, user: StoredObject, now: float) -> str:
        token = tokens.mint_token(tenant_id, user.object_id, now)
        known = dict(self.store.get_state(tenant_id, tokens.TOKENS_KEY) or {})
        known[tokens.token_hash(token)] = user.object_id
        self.store.set_state(tenant_id, tokens.TOKENS_KEY, known)
        return token

    def _signup(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        identity: Identity = self.model.identity
        body = self._credentials_body(validated.body)
        for name in identity.identifiers:
            if body.get(name) is not None and self._find_user(tenant_id, name, body[name]) is not None:
                return self._refuse(req, match, (409, 422, 400), f"{name} has already been taken",
                                    "body", "/" + name)
        password = body.pop(identity.password, None)
        object_id = str(new_id(collection.id_format, lambda: self.store.next_int_id(tenant_id, collection.name)))
        if collection.natural:
            object_id = random_token(24)
        key = body.get(collection.id_field) if collection.natural else object_id
        obj = build_object(self._unwrap_user(self._generated(req, match)), body, collection, key, now)
        obj.pop(identity.token_field or "", None)
        obj[tokens.HIDDEN] = {"password": tokens.password_hash(str(password or ""))}
        user = self.store.insert_object(tenant_id, collection.name, object_id, obj, now)
        return self._identity_answer(req, match, tenant_id, user, self._issue_token(tenant_id, user, now),
                                     Caller(user))

    def _toggler(self, tenant_id: str, value: Any, caller: Caller) -> tuple[str, bool]:
        """Read a list filter on a per-user flag: (whose toggle, whether it must be on). A boolean
        is the caller's own (`?starred=true`); anything else names a user by one of the identity's
        identifiers (RealWorld's `?favorited=jake`, "articles favorited by jake"). A user nobody
        has matches nothing."""
        text = str(value).lower()  # a bool's is "true" or "false" too
        if text in ("true", "false"):
            return caller.key, text == "true"
        identity = self.model.identity
        if identity is not None:
            users = self.model.collections[identity.users]
            for name in dict.fromkeys((*identity.identifiers, *IDENTIFIER_NAMES, users.id_field)):
                if name in users.properties:
                    user = self._find_user(tenant_id, name, value)
                    if user is not None:
                        return user.object_id, True
        return "", True  # no toggle is ever kept under an empty key

    def _find_user(self, tenant_id: str, name: str, value: Any) -> StoredObject | None:
        page = self.store.list_objects(tenant_id, self.model.identity.users,
                                       ListQuery(filters={name: value}, limit=1))
        return page.items[0] if page.items else None

    def _login(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
               binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        identity: Identity = self.model.identity
        body = self._credentials_body(validated.body)
        name = next((n for n in (*identity.identifiers, *IDENTIFIER_NAMES) if body.get(n) is not None), None)
        user = self._find_user(tenant_id, name, body[name]) if name else None
        hidden = (user.data.get(tokens.HIDDEN) or {}) if user is not None else {}
        if user is None or not tokens.password_matches(hidden.get("password"), body.get(identity.password)):
            said = name or identity.identifiers[0]
            return self._refuse(req, match, (401, 422, 400, 403), f"{said} or password is invalid",
                                "body", "/" + identity.password)
        return self._identity_answer(req, match, tenant_id, user, self._issue_token(tenant_id, user, now),
                                     Caller(user))

    def _logout(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        if caller.token:
            known = dict(self.store.get_state(tenant_id, tokens.TOKENS_KEY) or {})
            known.pop(tokens.token_hash(caller.token), None)
            self.store.set_state(tenant_id, tokens.TOKENS_KEY, known)
        return self.engine.respond(req, match)

    def _me_read(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                 binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        if caller.user is None:
            return self._refuse(req, match, (401,), "log in first: no user's token was sent", "security", "")
        return self._identity_answer(req, match, tenant_id, caller.user, caller.token, caller)

    def _me_update(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
                   binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        if caller.user is None:
            return self._refuse(req, match, (401,), "log in first: no user's token was sent", "security", "")
        identity: Identity = self.model.identity
        body = self._credentials_body(validated.body)
        password = body.pop(identity.password, None)
        obj = apply_update(caller.user.data, body, collection, now, replace=False)
        if password is not None:
            obj[tokens.HIDDEN] = {**(obj.get(tokens.HIDDEN) or {}), "password": tokens.password_hash(str(password))}
        self.store.replace_object(tenant_id, collection.name, caller.user.object_id, obj, now)
        user = StoredObject(collection.name, caller.user.object_id, obj, caller.user.origin,
                            caller.user.created_at, now)
        return self._identity_answer(req, match, tenant_id, user, caller.token, Caller(user, caller.token))

    def _list(self, req: MockRequest, match: Match, validated: ValidatedRequest, tenant_id: str,
              binding: Binding, collection: Collection, now: float, caller: Caller) -> MockResponse:
        parent = self._parent(match, validated, binding, tenant_id)
        if isinstance(parent, MockResponse):
            return self._refused(req, match, parent)
        pagination = binding.pagination
        assert pagination is not None
        query = validated.query
        filters: dict[str | tuple[str, ...], Any] = {}
        contains: dict[str | tuple[str, ...], Any] = {}
        lacks: dict[str | tuple[str, ...], Any] = {}
        for param, prop in binding.filters.items():
            value = query.get(param)
            if value is None:
                continue
            toggle = next((t for t in collection.toggles if t.flag == prop), None)
            if toggle is not None:  # a per-user flag (`favorited`): filter on who toggled it
                key, on = self._toggler(tenant_id, value, caller)
                (contains if on else lacks)[(tokens.HIDDEN, "toggles", toggle.action)] = key
                continue
            schema = collection.properties.get(prop) or {}
            if schema.get("type") == "array" and not isinstance(value, list):
                contains[prop] = value  # ?label=bug on labels: [bug, ...]
            elif isinstance(schema, dict) and (schema.get("properties") or schema.get("$ref") or schema.get("allOf")):
                inner = next((n for n in (*IDENTIFIER_NAMES, "id", "name") if n in self._shape_props(schema)), None)
                filters[(prop, inner) if inner else prop] = value  # ?owner=alice on owner.username
            else:
                filters[prop] = value
        if parent is not None:
            filters[parent[0]] = parent[1]
        if binding.feed:  # only the items the users the caller follows created
            followed = self.store.list_objects(tenant_id, self.model.identity.users, ListQuery(
                contains={(tokens.HIDDEN, "toggles", binding.feed): caller.key}, limit=FEED_FOLLOWED))
            filters[(tokens.HIDDEN, "owner")] = [u.object_id for u in followed.items]
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
                param = (pagination.after_param if cursor_id is after else pagination.before_param) or ""
                return self.engine.refuse(req, match, Refusal(
                    status, f"No such {collection.singular}: {cursor_id!r}",
                    [Violation("query", f"/{param}", f"no {collection.singular} {cursor_id!r}")]))
        if limit == 0:
            page = Page(items=[], has_more=False, total=0)
        else:
            page = self.store.list_objects(tenant_id, collection.name, ListQuery(
                filters=filters, offset=offset, limit=limit,
                after_id=str(after) if after is not None else None,
                before_id=str(before) if before is not None else None,
                contains=contains, lacks=lacks, descending=binding.newest_first))
        sample = self._sample(collection) if page.items else {}
        items = [self._conformed(collection, self._dressed(req, match, tenant_id, collection, o.data, caller,
                                                           o.object_id), sample) for o in page.items]
        next_token = None
        if page.has_more and items:
            next_token = (_encode_cursor(offset + limit) if pagination.cursor_param
                          else str(items[-1].get(collection.id_field)))
        template = self._generated(req, match)
        schema = deref(self.engine.spec.document, self.engine.response_schema(match.operation))
        required = schema.get("required", []) if isinstance(schema, dict) else []
        generated = envelope_items(template, pagination)
        item_template = generated[0] if generated else None
        sent = [self._as_sent(req, match, collection, item, item_template, tenant_id, caller) for item in items]
        body = envelope(template, sent, pagination, has_more=page.has_more, total=page.total,
                        next_token=next_token, required=required)
        return self._render(req, match, self._with_page_fields(
            req, template, body, schema, pagination, offset=offset, limit=limit,
            count=len(items), total=page.total, has_more=page.has_more, next_token=next_token))

    def _shape_props(self, schema: Any) -> dict[str, Any]:
        return object_properties(self.engine.spec.document, schema)

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
        skip = {f for f in (pagination.items_in or pagination.items_field, pagination.has_more_field,
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


def _with_toggle(data: Mapping[str, Any], action: str, key: str, on: bool) -> dict[str, Any]:
    """Return an object's data with `key` (a user's id, or the tenant's `*`) in or out of the
    per-user toggle `action` (idempotent either way)."""
    out = dict(data)
    hidden = dict(out.get(tokens.HIDDEN) or {})
    toggles = dict(hidden.get("toggles") or {})
    who = [k for k in toggles.get(action, []) if k != key]
    toggles[action] = [*who, key] if on else who
    hidden["toggles"] = toggles
    out[tokens.HIDDEN] = hidden
    return out


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return max(0, int(text.removeprefix("o:")))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return 0



def slugify(text: str) -> str:
    """Return a URL slug of a title: `Sandlot Core!` -> `sandlot-core`, accents dropped."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "item"
