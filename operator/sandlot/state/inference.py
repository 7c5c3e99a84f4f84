"""Infer REST collections from an OpenAPI document: which operations create, list, read,
update and delete which objects, the id field and format, timestamps, pagination and filters.

A pure function over the (bundled, local-`$ref`) document: `infer_model(document, overrides)`.
Called once at load time by the state stage (state/stage.py) (sandlot.state.stage); the rules are
written down in docs/stateful.md. `x-sandlot-collection`, `x-sandlot-id-field` and
`x-sandlot-id-format` on a path item or operation, or a sidecar config file (`overrides`),
settle what the spec leaves ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sandlot.openapi.loader import iter_operations
from sandlot.openapi.schemas import object_properties, object_required
from sandlot.state.envelopes import (
    HAL_EMBEDDED,
    HAL_LINKS,
    Hal,
    JsonApi,
    flatten_resource,
    hal_resource,
    jsonapi_resource,
)
from sandlot.state.serverside import ServerFields, infer_server_fields, with_children
from sandlot.util.pointers import deref

CREATED_NAMES = frozenset({
    "created", "created_at", "createdat", "creation_time", "creationtime", "date_created",
    "datecreated", "inserted_at", "create_time", "createtime", "creation_date", "creationdate",
    "added_at", "addedat", "placed_at", "placedat", "submitted_at", "submittedat", "posted_at", "postedat",
    "opened_at", "openedat", "registered_at", "registeredat",
})
#: Set when an object is changed, null until then.
EDITED_NAMES = frozenset({"edited", "edited_at", "editedat", "last_edited_at", "lasteditedat"})
UPDATED_NAMES = frozenset({
    "updated", "updated_at", "updatedat", "modified", "modified_at", "modifiedat",
    "date_updated", "dateupdated", "last_modified", "lastmodified", "update_time", "updatetime",
    "date_modified", "datemodified",
})
ITEMS_FIELDS = ("data", "items", "results", "records", "entries", "objects", "values")
HAS_MORE_FIELDS = ("has_more", "hasMore", "more", "has_next", "hasNext")
NEXT_FIELDS = ("next_cursor", "nextCursor", "next_page_token", "nextPageToken", "next_token",
               "nextToken", "cursor", "next")
TOTAL_FIELDS = ("total", "total_count", "totalCount", "count", "total_results", "totalResults")
LIMIT_PARAMS = ("limit", "page_size", "pageSize", "PageSize", "per_page", "perPage", "size",
                "max_results", "maxResults", "count", "page[size]", "page[limit]")
OFFSET_PARAMS = ("offset", "skip", "start", "page[offset]")
PAGE_PARAMS = ("page", "Page", "page_number", "pageNumber", "page[number]")
AFTER_PARAMS = ("starting_after", "after", "startingAfter", "page[after]")
BEFORE_PARAMS = ("ending_before", "before", "endingBefore", "page[before]")
CURSOR_PARAMS = ("cursor", "page_token", "pageToken", "next_token", "nextToken", "PageToken", "page[cursor]")
#: JSON:API's filter family: `filter[author]` filters on `author`.
_FILTER_PARAM = re.compile(r"^filter\[([^\]]+)\]$")
#: Where a nested object created under its parent keeps the parent's id when no property does.
HIDDEN_PARENT = "__sandlot_parent"
#: Path parameters that name a property rather than an id: the object is addressed by it.
SLUG_NAMES = frozenset({"slug", "handle", "permalink"})
#: Where a slug comes from when the client sends none (the first the item schema has).
SLUG_SOURCES = ("title", "name", "display_name", "displayName", "label", "subject")
#: Properties that hold who created an object (the caller's user, in its public shape).
OWNER_NAMES = ("owner", "author", "creator", "user", "createdBy", "created_by", "reporter", "postedBy",
               "posted_by", "sender", "account")
#: Action sub-paths that toggle per-user state on their parent (`POST|PUT` on, `DELETE` off).
TOGGLE_VERBS = frozenset({"star", "favorite", "favourite", "like", "watch", "follow", "pin", "subscribe",
                          "bookmark", "upvote", "vote", "save", "mute", "archive", "lock", "heart", "clap"})
_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9]*_)[A-Za-z0-9]")
_PATTERN_PREFIX = re.compile(r"^\^?([A-Za-z][A-Za-z0-9]*_)")
_FORMAT_SUFFIX = re.compile(r"\.(json|xml|csv)$")
_JSON_MEDIA = re.compile(r"^application/([\w.+-]+\+)?json", re.IGNORECASE)


class InferenceError(ValueError):
    """An override that cannot apply (unknown path, bad id format): says what to fix."""


@dataclass(frozen=True)
class IdFormat:
    """How the server assigns ids: uuid, int, prefixed (prefix + random), pattern or string.

    For `pattern`, `prefix` holds the regular expression new ids are generated from.
    """

    kind: str
    prefix: str = ""
    length: int = 24

    @staticmethod
    def parse(text: str) -> IdFormat:
        """Parse an `x-sandlot-id-format` value: `uuid`, `int`, `string`, or `prefix:cus_`."""
        if text in ("uuid", "int", "string"):
            return IdFormat(text)
        if text.startswith("prefix:") and len(text) > len("prefix:"):
            return IdFormat("prefixed", text[len("prefix:"):])
        raise InferenceError(
            f"id format {text!r} is not one of uuid, int, string, prefix:<prefix> (e.g. prefix:cus_)")


@dataclass(frozen=True)
class Timestamp:
    """A property the server sets: when (created, updated, or edited: null until the first
    change) and how (iso, iso_ms, date, unix, unix_ms, rfc2822)."""

    name: str
    event: str
    style: str


@dataclass(frozen=True)
class Toggle:
    """Per-user state an action sub-path turns on and off (`/projects/{slug}/star`): the
    boolean the parent shows for the caller (`starred`) and the counter of every user's
    (`starsCount`); either may be absent from the schema."""

    action: str
    flag: str | None
    counter: str | None


@dataclass(frozen=True)
class Collection:
    """A kind of stored object, e.g. `customers`."""

    name: str
    id_field: str
    id_format: IdFormat
    item_schema: dict[str, Any]
    properties: dict[str, Any]
    timestamps: tuple[Timestamp, ...] = ()
    required: frozenset[str] = frozenset()
    #: The property that wraps one object in item responses (`{"droplet": {...}}`), if any.
    wrapper: str | None = None
    #: The property that wraps the object in request bodies (`{"project": {...}}`), if any.
    request_wrapper: str | None = None
    #: The id field is a natural key the client sends or the server derives (a slug from the
    #: name, a per-parent sequence number), not an id the server makes up: objects are stored
    #: under an internal id and found by it.
    natural: bool = False
    #: For a slug: the property it is derived from (`name`, `title`).
    slug_source: str | None = None
    #: The property that holds the creator (the caller's user in its public shape), if any.
    owner_field: str | None = None
    #: Per-user state toggled by action sub-paths, by action name.
    toggles: tuple[Toggle, ...] = ()
    #: Counters of nested collections: property -> (child collection, the child's parent field).
    child_counters: tuple[tuple[str, str, str], ...] = ()
    #: What the client may send when creating one (named as the response names it): what it
    #: leaves out is empty (`[]`, null or the schema's default), not made up.
    writable: frozenset[str] = frozenset()
    #: What the server fills in: defaults, links, the caller's account, sequence numbers.
    server: ServerFields = field(default_factory=ServerFields)
    #: Objects travel as JSON:API resources (stored flat: attributes, relationship ids).
    jsonapi: JsonApi | None = None
    #: Objects travel as HAL (`_links`, `_embedded` built on this server).
    hal: Hal | None = None

    def server_filled(self, name: str) -> bool:
        """Tell whether the server supplies a property the client left out: it is required
        (a response without it would be invalid) or readOnly (only the server sets it)."""
        schema = self.properties.get(name)
        return name in self.required or (isinstance(schema, dict) and bool(schema.get("readOnly")))

    @property
    def singular(self) -> str:
        """Return the collection name made singular (customers -> customer)."""
        return singularize(self.name)


@dataclass(frozen=True)
class Pagination:
    """How a list operation pages: response shape (array or envelope) and query parameters."""

    shape: str = "array"  # array | envelope
    items_field: str | None = None
    #: The object holding the items field, when it is not the envelope itself (HAL's `_embedded`).
    items_in: str | None = None
    has_more_field: str | None = None
    next_field: str | None = None
    total_field: str | None = None
    limit_param: str | None = None
    offset_param: str | None = None
    page_param: str | None = None
    after_param: str | None = None
    before_param: str | None = None
    cursor_param: str | None = None
    default_limit: int = 10
    max_limit: int = 100
    #: The number of the first page: 1, or 0 where the page parameter starts at 0 (Twilio).
    page_base: int = 1


@dataclass(frozen=True)
class Binding:
    """What one operation does to state: action on a collection, with its parameters."""

    action: str  # create | list | read | update | delete
    collection: str
    id_param: str | None = None
    parent_param: str | None = None
    parent_collection: str | None = None
    parent_field: str | None = None
    pagination: Pagination | None = None
    filters: Mapping[str, str] = field(default_factory=dict)  # query param -> property
    #: Lists: newest first (the operation says so), else creation order.
    newest_first: bool = False
    #: Actions: the toggle turned on or off (`toggle_on`/`toggle_off`), or the (property,
    #: value) a `transition` sets (`POST /orders/{id}/cancel` -> status: cancelled).
    toggle: str | None = None
    transition: tuple[str, Any] | None = None
    #: A feed (`GET /articles/feed`): the list holds only the items whose owner the caller has
    #: toggled on with this action of the users collection (`follow`).
    feed: str | None = None
    #: Values (`GET /tags`): the distinct values of this array property over the collection
    #: (`tagList`), answered in this property of the envelope (`tags`), or as the array itself.
    values_of: str | None = None
    values_in: str | None = None


@dataclass(frozen=True)
class StateModel:
    """Everything inferred: collections by name and bindings by (METHOD, path template)."""

    collections: dict[str, Collection]
    bindings: dict[tuple[str, str], Binding]
    #: Sign-up, log-in and current-user operations, when the API issues its own tokens.
    identity: Any = None
    #: The collection of accounts, when the API's paths hang under the caller's own account
    #: (Twilio's `/Accounts/{AccountSid}/...`): the caller's account always exists in it.
    accounts: str | None = None

    def binding(self, method: str, template: str) -> Binding | None:
        """Return the binding of an operation, or None when it is served statelessly."""
        return self.bindings.get((method.upper(), template))


def singularize(name: str) -> str:
    """Return a plural English noun made singular by the common rules (refunds -> refund)."""
    lower = name.lower()
    if lower.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if lower.endswith(("sses", "xes", "ches", "shes")):
        return name[:-2]
    if lower.endswith("s") and not lower.endswith(("ss", "us", "is")):
        return name[:-1]
    return name


def _is_array(schema: Any) -> bool:
    types = schema.get("type") if isinstance(schema, dict) else None
    return types == "array" or (isinstance(types, list) and "array" in types)


def _json_content(document: Mapping[str, Any], holder: Any) -> dict[str, Any] | None:
    holder = deref(document, holder)
    content = holder.get("content") if isinstance(holder, dict) else None
    if not isinstance(content, dict):
        return None
    for media, body in content.items():
        if _JSON_MEDIA.match(media) or media == "*/*":
            return body if isinstance(body, dict) else None
    return None


def success_response(document: Mapping[str, Any], op: Mapping[str, Any]) -> tuple[str, dict] | None:
    """Return (status, media object) of the lowest documented 2xx with a JSON body, if any."""
    responses = op.get("responses") or {}
    for status in sorted(str(s) for s in responses):
        if status.startswith("2") or status.upper() == "2XX":
            media = _json_content(document, responses.get(status) or responses.get(int(status)
                                  if status.isdigit() else status))
            if media is not None:
                return status, media
    return None


def _media_example(document: Mapping[str, Any], media: Mapping[str, Any]) -> Any:
    if "example" in media:
        return media["example"]
    for example in (media.get("examples") or {}).values():
        example = deref(document, example)
        if isinstance(example, dict) and "value" in example:
            return example["value"]
    return None


def _params(document: Mapping[str, Any], op: Mapping[str, Any], item: Mapping[str, Any],
            where: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for param in [*(item.get("parameters") or ()), *(op.get("parameters") or ())]:
        param = deref(document, param)
        if isinstance(param, dict) and param.get("in") == where and "name" in param:
            found[param["name"]] = param
    return found


def _first(names: tuple[str, ...], available: Any) -> str | None:
    return next((n for n in names if n in available), None)


def _id_format(document: Mapping[str, Any], id_schema: Mapping[str, Any],
               examples: list[Any]) -> IdFormat:
    """Derive the id format from the id property's schema, then from example values."""
    types = id_schema.get("type")
    if id_schema.get("format") == "uuid":
        return IdFormat("uuid")
    if types in ("integer", "number") or (isinstance(types, list) and "integer" in types):
        return IdFormat("int")
    pattern = id_schema.get("pattern")
    if isinstance(pattern, str) and (m := _PATTERN_PREFIX.match(pattern)):
        return IdFormat("prefixed", m.group(1))
    if isinstance(pattern, str):
        return IdFormat("pattern", pattern)
    samples = [id_schema.get("example"), *(id_schema.get("examples") or []), *examples]
    for sample in samples:
        if isinstance(sample, str) and (m := _PREFIX.match(sample)):
            return IdFormat("prefixed", m.group(1), max(8, len(sample) - len(m.group(1))))
    for sample in samples:
        if isinstance(sample, str) and re.fullmatch(r"[0-9a-fA-F-]{36}", sample):
            return IdFormat("uuid")
    return IdFormat("string")


def _timestamps(properties: Mapping[str, Any]) -> tuple[Timestamp, ...]:
    stamps = []
    for name, schema in properties.items():
        key = name.lower()
        event = "created" if key in CREATED_NAMES else "updated" if key in UPDATED_NAMES \
            else "edited" if key in EDITED_NAMES else None
        if event is None or not isinstance(schema, dict):
            continue
        types = schema.get("type")
        types = types if isinstance(types, list) else [types]
        if "integer" in types or "number" in types:
            style = "unix_ms" if key.endswith(("_ms", "ms")) else "unix"
        elif schema.get("format") == "date":
            style = "date"
        elif schema.get("format") == "date-time-rfc-2822":  # Twilio's 2010 API
            style = "rfc2822"
        else:
            # Whole seconds where the spec's example shows them (DigitalOcean's
            # `2020-07-21T18:37:44Z`), else milliseconds, as JavaScript's toISOString, Rails and
            # Spring send them (and clients such as RealWorld's suite check for).
            samples = [schema.get("example"), *(schema.get("examples") or [])]
            whole = any(isinstance(v, str) and re.search(r"T\d\d:\d\d:\d\d(Z|[+-]\d\d:?\d\d)$", v) for v in samples)
            style = "iso" if whole else "iso_ms"
        stamps.append(Timestamp(name, event, style))
    return tuple(stamps)


@dataclass
class _PathInfo:
    template: str
    item: dict[str, Any]
    ops: dict[str, dict[str, Any]] = field(default_factory=dict)


def _segments(template: str) -> list[str]:
    return [s for s in template.split("/") if s]


def _strip_ext(segment: str) -> str:
    """Drop a format suffix (`Calls.json` -> `Calls`, `{Sid}.json` -> `{Sid}`), as Twilio uses."""
    return _FORMAT_SUFFIX.sub("", segment)


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _extension(name: str, *holders: Mapping[str, Any] | None) -> Any:
    for holder in holders:
        if isinstance(holder, Mapping) and name in holder:
            return holder[name]
    return None


def _group_paths(document: Mapping[str, Any]) -> dict[str, _PathInfo]:
    paths: dict[str, _PathInfo] = {}
    for method, template, op, item in iter_operations(dict(document)):
        info = paths.setdefault(template, _PathInfo(template, item))
        info.ops[method] = op
    return paths


def _collection_candidates(paths: Mapping[str, _PathInfo], overrides: Mapping[str, Any]
                           ) -> Iterator[tuple[str, str | None, str, str | None, bool]]:
    """Yield (collection path, item path, name, item param, strong) for each candidate list.

    Strong candidates define a collection; weak ones only bind to a collection of that name.
    """
    path_overrides = overrides.get("paths") or {}
    for template, info in paths.items():
        segs = [_strip_ext(seg) for seg in _segments(template)]
        if not segs or _is_param(segs[-1]):
            continue
        item_template = None
        item_param = None
        for other in paths:
            osegs = [_strip_ext(seg) for seg in _segments(other)]
            if len(osegs) == len(segs) + 1 and osegs[:-1] == segs and _is_param(osegs[-1]):
                item_template, item_param = other, osegs[-1][1:-1]
                break
        first_op = next(iter(info.ops.values()))
        name = (_extension("x-sandlot-collection", path_overrides.get(template), info.item,
                           info.ops.get("get"), info.ops.get("post"), first_op)
                or segs[-1])
        explicit = _extension("x-sandlot-collection", path_overrides.get(template), info.item)
        # Without an item path, only a path that both lists and creates starts a collection;
        # a list-only path (/charges/{id}/refunds) joins a collection found elsewhere, and
        # POST-only paths (/tokens, /charges/{id}/capture) are actions served statelessly.
        strong = bool(item_template or explicit or {"GET", "POST"} <= info.ops.keys())
        yield template, item_template, str(name), item_param, strong


def infer_model(document: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
                ) -> StateModel:
    """Infer the collections and operation bindings of an OpenAPI document.

    `overrides` is the sidecar config: {"collections": {name: {"idField", "idFormat"}},
    "paths": {template: {"x-sandlot-collection": name, ...}}, "ignore": [template, ...]}.
    """
    overrides = overrides or {}
    paths = _group_paths(document)
    for template in overrides.get("paths") or {}:
        if template not in paths:
            raise InferenceError(
                f"sidecar config names path {template!r}, which the spec does not have; "
                f"use a template exactly as written under `paths:` in the spec")
    ignored = set(overrides.get("ignore") or ())
    collections: dict[str, Collection] = {}
    bindings: dict[tuple[str, str], Binding] = {}
    pending: list[tuple[str, str | None, str, str | None, bool]] = [
        c for c in _collection_candidates(paths, overrides) if c[0] not in ignored
    ]
    # Top-level collections first, so a nested path reuses the collection its name refers to;
    # a nested one waits for its parent's (`/messages/{id}/reactions` after `.../messages`).
    pending.sort(key=lambda c: (not c[4], len(_segments(c[0]))))
    while pending:
        waiting = [c for c in pending if (p := _parent_name(c[0])) and p not in collections
                   and any(o[2] == p and o[4] for o in pending if o is not c)]
        ready = [c for c in pending if c not in waiting] or waiting
        for candidate in ready:
            _bind_candidate(document, paths, overrides, ignored, candidate, collections, bindings)
        pending = [c for c in pending if c not in ready]
    _bind_lone_items(document, paths, ignored, collections, bindings)
    identity = _infer_identity(document, paths, collections, bindings)
    if identity is not None:
        _bind_views(document, paths, identity, collections, bindings)
    _bind_values(document, paths, collections, bindings)
    _count_children(collections, bindings)
    _locate(paths, collections, bindings)
    if identity is None:  # nobody to own anything
        collections.update({n: replace(c, owner_field=None) for n, c in collections.items()})
    nested = {b.collection for b in bindings.values() if b.parent_collection}
    accounts = next((n for n in collections if singularize(n).lower() == "account" and n not in nested
                     and (identity is None or identity.users != n)), None)
    return StateModel(collections, bindings, identity, accounts)


def _parent_name(list_template: str) -> str | None:
    """Return the collection name a nested list path hangs under (`/a/{id}/b` -> `a`), or None."""
    segs = [_strip_ext(seg) for seg in _segments(list_template)]
    return segs[-3] if len(segs) >= 3 and _is_param(segs[-2]) and not _is_param(segs[-3]) else None


def _bind_candidate(document: Mapping[str, Any], paths: Mapping[str, _PathInfo], overrides: Mapping[str, Any],
                    ignored: set[str], candidate: tuple[str, str | None, str, str | None, bool],
                    collections: dict[str, Collection], bindings: dict[tuple[str, str], Binding]) -> None:
    """Bind a collection path, and its item path and actions (inferring the collection first)."""
    list_template, item_template, name, item_param, strong = candidate
    if not strong and name not in collections:
        return
    list_info = paths[list_template]
    item_info = paths.get(item_template) if item_template else None
    if name not in collections:
        found = _infer_collection(document, name, list_info, item_info, item_param, overrides)
        if found is None:
            return
        collections[name] = found
    collection = collections[name]
    parent = _parent_of(list_template, collections, paths)
    parent_field = _parent_field(parent, collection) if parent else None
    if parent and parent_field is None and "POST" in list_info.ops:
        parent_field = HIDDEN_PARENT  # created under its parent, with no property naming it
    parent_kwargs: dict[str, Any] = ({"parent_param": parent[0], "parent_collection": parent[1],
                                      "parent_field": parent_field} if parent and parent_field else {})
    if "POST" in list_info.ops:
        bindings[("POST", list_template)] = Binding("create", name, **parent_kwargs)
    if "GET" in list_info.ops:
        bindings[("GET", list_template)] = _list_binding(document, list_info, collection, parent_kwargs)
    if item_info is not None and item_template not in ignored:
        _bind_item(document, paths, str(item_template), item_info, collection, item_param, parent_kwargs,
                   bindings, collections)


def _list_binding(document: Mapping[str, Any], info: _PathInfo, collection: Collection,
                  parent_kwargs: Mapping[str, Any]) -> Binding:
    """Return the binding of a path's GET listing a collection: its paging and its filters."""
    op = info.ops["GET"]
    query = _params(document, op, info.item, "query")
    pagination = _pagination(document, op, query)
    paging = {v for k, v in vars(pagination).items() if k.endswith("_param") and v}
    filters = {p: prop for p in query if p not in paging
               and (prop := _filtered_property(p, collection.properties))}
    return Binding("list", collection.name, pagination=pagination, filters=filters,
                   newest_first=_newest_first(op), **parent_kwargs)


def _bind_item(document: Mapping[str, Any], paths: Mapping[str, _PathInfo], item_template: str, item_info: _PathInfo,
               collection: Collection, item_param: str | None, parent_kwargs: Mapping[str, Any],
               bindings: dict[tuple[str, str], Binding], collections: dict[str, Collection]) -> None:
    """Bind an item path's read, update and delete, then its action sub-paths."""
    for method, action in (("GET", "read"), ("PUT", "update"), ("PATCH", "update"),
                           ("POST", "update"), ("DELETE", "delete")):
        if method in item_info.ops:
            bindings[(method, item_template)] = Binding(action, collection.name, id_param=item_param, **parent_kwargs)
    _bind_actions(document, paths, item_template, collection, item_param, parent_kwargs, bindings, collections)


def _bind_lone_items(document: Mapping[str, Any], paths: Mapping[str, _PathInfo], ignored: set[str],
                     collections: dict[str, Collection], bindings: dict[tuple[str, str], Binding]) -> None:
    """Bind item paths with no list path of their own to the collection they name: a
    collection listed and created under its parent is often read, changed and deleted at the
    top (`/channels/{channelId}` beside `/workspaces/{workspaceId}/channels`)."""
    bound = {t for _, t in bindings}
    for template, info in paths.items():
        segs = [_strip_ext(seg) for seg in _segments(template)]
        if template in bound or template in ignored or len(segs) < 2 or not _is_param(segs[-1]) \
                or _is_param(segs[-2]) or segs[-2] not in collections:
            continue
        collection = collections[segs[-2]]
        if collection.natural:
            continue  # a natural key is only unique within its parent
        _bind_item(document, paths, template, info, collection, segs[-1][1:-1], {}, bindings, collections)


def _infer_collection(document: Mapping[str, Any], name: str, list_info: _PathInfo,
                      item_info: _PathInfo | None, item_param: str | None,
                      overrides: Mapping[str, Any]) -> Collection | None:
    item_schema: Any = None
    examples: list[Any] = []
    sources = []
    if item_info is not None:
        sources.append(item_info.ops.get("GET"))
    sources.append(list_info.ops.get("POST"))
    for op in sources:
        if op and (found := success_response(document, op)):
            schema = deref(document, found[1].get("schema"))
            if isinstance(schema, dict) and not _is_array(schema):
                item_schema = schema
                examples.append(_media_example(document, found[1]))
                break
    if item_schema is None and "GET" in list_info.ops:
        found = success_response(document, list_info.ops["GET"])
        if found:
            list_schema = deref(document, found[1].get("schema"))
            item_schema = _list_item_schema(document, list_schema)
    if not isinstance(item_schema, dict):
        return None
    props = object_properties(document, item_schema)
    wrapper = _wrapper_property(document, name, props, object_required(document, item_schema))
    if wrapper is None and "data" in props and jsonapi_resource(document, props["data"], name):
        wrapper = "data"  # a JSON:API document whose `data` is optional
    if wrapper is not None:
        item_schema = props[wrapper]
        props = object_properties(document, item_schema)
        examples = [e.get(wrapper) for e in examples if isinstance(e, dict)]
    jsonapi = hal = None
    required = object_required(document, item_schema)
    if (resource := jsonapi_resource(document, item_schema, name)) is not None:
        jsonapi, props, required = resource
        item_schema = {"type": "object", "properties": props, "required": sorted(required)}
        examples = [flatten_resource(e, jsonapi) for e in examples]
    elif (found_hal := hal_resource(document, item_schema)) is not None:
        hal, props = found_hal
        required -= {HAL_LINKS, HAL_EMBEDDED}
        item_schema = {"type": "object", "properties": props, "required": sorted(required & set(props))}
    settings = (overrides.get("collections") or {}).get(name) or {}
    holders = [settings, item_info.item if item_info else None,
               *(item_info.ops.values() if item_info else ()), list_info.item,
               *list_info.ops.values(), item_schema]
    id_field = _extension("x-sandlot-id-field", *holders) or settings.get("idField")
    if id_field is None:
        candidates = ["id"]
        if item_param:
            candidates += [item_param, re.sub(r"(?<!^)(?=[A-Z])", "_", item_param).lower()]
        id_field = next((c for c in candidates if c in props), item_param or "id")
    fmt = _extension("x-sandlot-id-format", *holders) or settings.get("idFormat")
    if fmt is not None:
        id_format = IdFormat.parse(str(fmt))
    else:
        id_schema = props.get(id_field) or {}
        if not id_schema and item_info is not None and item_param:
            param = _params(document, next(iter(item_info.ops.values())), item_info.item,
                            "path").get(item_param, {})
            id_schema = deref(document, param.get("schema")) or {}
            examples.append(param.get("example"))
        example_ids = [e.get(id_field) for e in examples if isinstance(e, dict)]
        id_format = _id_format(document, id_schema if isinstance(id_schema, dict) else {},
                               example_ids)
    request_wrapper = _request_wrapper(document, name, list_info.ops.get("POST"), wrapper)
    natural = bool(item_param and id_field == item_param and "id" not in props and id_field in props
                   and not re.search(r"(?i)(^|_)(id|sid|uuid)$|Id$", id_field))
    slug_source = next((s for s in SLUG_SOURCES if s in props), None) \
        if natural and str(id_field).lower() in SLUG_NAMES else None
    sent = object_properties(document, request_body_schema(document, list_info.ops.get("POST"), any_media=True))
    if request_wrapper and request_wrapper in sent:
        sent = object_properties(document, sent[request_wrapper])
    if jsonapi is not None and "attributes" in sent:
        linked = object_properties(document, sent.get("relationships"))
        sent = {**object_properties(document, sent["attributes"]), **dict.fromkeys(linked, {})}
    writable = _response_names([n for n, sub in sent.items()
                                if not (isinstance(sub, dict) and sub.get("readOnly"))], props)
    # Who created it: a property the client cannot send (a book's `author` it sends is a name).
    owner = next((o for o in OWNER_NAMES if o in props and o not in writable), None)
    server = infer_server_fields(props, writable, str(id_field), examples)
    return Collection(name, str(id_field), id_format, item_schema, props, _timestamps(props),
                      frozenset(required), wrapper, request_wrapper,
                      natural, slug_source, owner, writable=frozenset(writable), server=server,
                      jsonapi=jsonapi, hal=hal)


def _response_names(names: Any, properties: Mapping[str, Any]) -> set[str]:
    """Return request field names as the response names them, matching case and underscores
    loosely (Twilio's form field `FriendlyName` is the response's `friendly_name`)."""
    by_loose: dict[str, list[str]] = {}
    for prop in properties:
        by_loose.setdefault(_loose(prop), []).append(prop)
    out = set()
    for name in names:
        matches = [name] if name in properties else by_loose.get(_loose(name), [])
        out.add(matches[0] if len(matches) == 1 else name)
    return out


def request_body_schema(document: Mapping[str, Any], op: Mapping[str, Any] | None,
                        any_media: bool = False) -> Any:
    """Return the JSON request body schema of an operation (resolved), or None; with
    `any_media`, the first documented one when there is no JSON (a form's)."""
    if not op or not op.get("requestBody"):
        return None
    media = _json_content(document, op["requestBody"])
    if media is None and any_media:
        content = (deref(document, op["requestBody"]) or {}).get("content") or {}
        media = next((m for m in content.values() if isinstance(m, dict) and m.get("schema")), None)
    return deref(document, media.get("schema")) if media else None


def _request_wrapper(document: Mapping[str, Any], name: str, create: Mapping[str, Any] | None,
                     response_wrapper: str | None) -> str | None:
    """Return the property wrapping the object in create requests (`{"project": {...}}`): the
    response's wrapper, or the singular of the collection, or the only property, when it holds
    an object."""
    schema = request_body_schema(document, create)
    if not isinstance(schema, dict):
        return None
    props = object_properties(document, schema)
    if response_wrapper and response_wrapper in props and object_properties(document, props[response_wrapper]):
        return response_wrapper
    return _wrapper_property(document, name, props, object_required(document, schema))


def _wrapper_property(document: Mapping[str, Any], name: str, props: Mapping[str, Any],
                      required: set[str] | frozenset[str] = frozenset()) -> str | None:
    """Return the property wrapping a single object in item responses, if the response has
    no `id` of its own: the object property named like the collection's singular
    (`{"droplet": {...}}` for `droplets`), else the only property, else the only required
    property, when that is an object with properties of its own (`{"ssh_key": {...}}` for
    `keys`)."""
    if "id" in props:
        return None

    def holds_object(prop: str) -> bool:
        schema = props.get(prop)
        return isinstance(schema, dict) and bool(object_properties(document, schema))

    single = singularize(name).lower().replace("-", "_")
    named = [p for p in props if p.lower().replace("-", "_") == single and holds_object(p)]
    if named:
        return named[0]
    for candidates in (list(props), [p for p in props if p in required]):
        if len(candidates) == 1 and holds_object(candidates[0]):
            return candidates[0]
    return None


def _list_item_schema(document: Mapping[str, Any], list_schema: Any) -> Any:
    if not isinstance(list_schema, dict):
        return None
    if _is_array(list_schema):
        return deref(document, list_schema.get("items"))
    props = object_properties(document, list_schema)
    field_name = _first(ITEMS_FIELDS, props) or next(
        (n for n, s in props.items() if _is_array(s)), None)
    if field_name:
        return deref(document, props[field_name].get("items"))
    embedded = object_properties(document, props.get(HAL_EMBEDDED))
    found = next((s for s in embedded.values() if _is_array(s)), None)
    return deref(document, found.get("items")) if found else None


def _pagination(document: Mapping[str, Any], op: Mapping[str, Any],
                query: Mapping[str, Any]) -> Pagination:
    kwargs: dict[str, Any] = {
        "limit_param": _first(LIMIT_PARAMS, query),
        "offset_param": _first(OFFSET_PARAMS, query),
        "page_param": _first(PAGE_PARAMS, query),
        "after_param": _first(AFTER_PARAMS, query),
        "before_param": _first(BEFORE_PARAMS, query),
        "cursor_param": _first(CURSOR_PARAMS, query),
    }
    if kwargs["limit_param"]:
        schema = deref(document, query[kwargs["limit_param"]].get("schema")) or {}
        if isinstance(schema.get("default"), int):
            kwargs["default_limit"] = schema["default"]
        if isinstance(schema.get("maximum"), (int, float)):
            kwargs["max_limit"] = int(schema["maximum"])
    if kwargs["page_param"]:
        schema = deref(document, query[kwargs["page_param"]].get("schema")) or {}
        if schema.get("minimum") == 0 or schema.get("default") == 0:
            kwargs["page_base"] = 0
    found = success_response(document, op)
    schema = deref(document, found[1].get("schema")) if found else None
    if isinstance(schema, dict) and not _is_array(schema):
        props = object_properties(document, schema)
        items_field = _first(ITEMS_FIELDS, props) or next(
            (n for n, s in props.items() if _is_array(s)), None)
        embedded = object_properties(document, props.get(HAL_EMBEDDED))
        if items_field is None and embedded:  # HAL: `{"_embedded": {"orders": [...]}}`
            items_field = next((n for n, s in embedded.items() if _is_array(s)), None)
            kwargs["items_in"] = HAL_EMBEDDED if items_field else None
        if items_field:
            counted = [f"{items_field}Count", f"{items_field}_count", f"{items_field}Total"]
            kwargs.update(shape="envelope", items_field=items_field,
                          has_more_field=_first(HAS_MORE_FIELDS, props),
                          next_field=_first(NEXT_FIELDS, props),
                          total_field=_first((*TOTAL_FIELDS, *counted), props))
    return Pagination(**kwargs)


def _filtered_property(param: str, properties: Mapping[str, Any]) -> str | None:
    """Return the property a list query parameter filters on: same name, or its singular
    (`?tags=a&tags=b` filters `tag` by any of the values); JSON:API's `filter[author]` on `author`."""
    if (family := _FILTER_PARAM.match(param)) is not None:
        param = family.group(1)
    if param in properties:
        return param
    single = singularize(param)
    if single in properties:
        return single
    for plural in (param + "s", param + "es"):  # ?label=bug filters the array `labels`
        if plural in properties:
            return plural
    for listed in (param + "List", param + "_list"):  # RealWorld's ?tag=dragons on `tagList`
        if (properties.get(listed) or {}).get("type") == "array":
            return listed
    # Twilio filters `?To=...` on the property `to`: match ignoring case and underscores.
    loose = [p for p in properties if p.lower().replace("_", "") == param.lower().replace("_", "")]
    return loose[0] if len(loose) == 1 else None


def _parent_of(list_template: str, collections: Mapping[str, Collection],
               paths: Mapping[str, _PathInfo]) -> tuple[str, str] | None:
    """Return (path param, parent collection) for a nested list like /customers/{id}/charges."""
    segs = [_strip_ext(seg) for seg in _segments(list_template)]
    if len(segs) < 3 or not _is_param(segs[-2]):
        return None
    parent_name = segs[-3]
    parent = next((c for c in collections.values() if c.name == parent_name), None)
    if parent is None:
        return None
    return segs[-2][1:-1], parent.name


def _parent_field(parent: tuple[str, str], collection: Collection) -> str | None:
    """Return the child's property that holds the parent's id (customer, customer_id ...)."""
    param, parent_name = parent
    single = singularize(parent_name)
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", param).lower()
    for candidate in (param, snake, single, f"{single}_id", f"{single}Id"):
        if candidate in collection.properties:
            return candidate
    return None


# -- actions, counters, order -------------------------------------------------------------------

#: "newest first", "latest ... first", "most recent articles" (RealWorld), "reverse chronological";
#: not a bare "latest" ("the latest results are shown", "the latest attempt").
_NEWEST = re.compile(r"(?i)\b(newest|latest|most recent(ly created)?)\b[^.]{0,60}\bfirst\b|"
                     r"\b(newest|most recent(ly created)?|reverse chronological)\b")
_URL = re.compile(r"\S+://\S+|\S*/\S*/\S*")


def _newest_first(op: Mapping[str, Any]) -> bool:
    """Tell whether a list operation says it lists newest first (its summary or description)."""
    text = _URL.sub(" ", f"{op.get('summary') or ''} {op.get('description') or ''}")  # `docs/en/latest/`
    return bool(_NEWEST.search(text))


def _loose(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def toggle_names(verb: str) -> tuple[list[str], str]:
    """Return (the boolean properties an action may show, the stem its counter contains):
    star -> starred, favorite -> favorited, watch -> watching/watched, pin -> pinned."""
    stem = verb[:-1] if verb.endswith("e") else verb
    doubled = verb + verb[-1] if re.search(r"[^aeiou][aeiou][bdglmnprt]$", verb) else verb
    flags = [f"{doubled}ed", f"{stem}ed", f"{doubled}ing", f"{stem}ing", f"is{verb}", f"is{doubled}ed"]
    return flags, stem


def _bind_actions(document: Mapping[str, Any], paths: Mapping[str, _PathInfo], item_template: str,
                  collection: Collection, item_param: str | None, parent_kwargs: Mapping[str, Any],
                  bindings: dict[tuple[str, str], Binding], collections: dict[str, Collection]) -> None:
    """Bind the action sub-paths of an item (`/projects/{slug}/star`, `/orders/{id}/cancel`)
    whose answer is the item: a toggle (on with POST/PUT, off with DELETE) or, for a POST-only
    word that names a value of a string enum (cancel -> cancelled), a transition."""
    prefix = item_template.rstrip("/") + "/"
    collection = collections[collection.name]
    for template, info in paths.items():
        rest = template[len(prefix):] if template.startswith(prefix) else ""
        if not rest or "/" in rest or _is_param(rest):
            continue
        verb = _strip_ext(rest)
        loose = {_loose(p): p for p in collection.properties}
        flags, stem = toggle_names(verb.lower())
        flag = next((loose[f] for f in flags if f in loose), None)
        counter = next((p for k, p in loose.items() if k.endswith("count") and k.startswith(stem)), None)
        on = [m for m in ("POST", "PUT") if m in info.ops]
        # A POST-only word that names a state (archive -> archived) is a transition, unless
        # the item shows a per-user flag for it.
        moves = _transition(verb.lower(), collection.properties) \
            if on == ["POST"] and "DELETE" not in info.ops and not flag else None
        if (verb.lower() in TOGGLE_VERBS or flag) and on and moves is None:
            if all(t.action != verb for t in collection.toggles):
                collection = replace(collection, toggles=(*collection.toggles, Toggle(verb, flag, counter)))
                collections[collection.name] = collection
            for method in on:
                bindings[(method, template)] = Binding("toggle_on", collection.name, id_param=item_param,
                                                       toggle=verb, **parent_kwargs)
            if "DELETE" in info.ops:
                bindings[("DELETE", template)] = Binding("toggle_off", collection.name, id_param=item_param,
                                                         toggle=verb, **parent_kwargs)
            continue
        if moves is not None:
            bindings[("POST", template)] = Binding("transition", collection.name, id_param=item_param,
                                                   transition=moves, **parent_kwargs)


def _transition(verb: str, properties: Mapping[str, Any]) -> tuple[str, Any] | None:
    """Return (property, value) for an action word that names an enum value: cancel ->
    (status, "cancelled"), close -> (state, "closed"), archive -> (status, "archived")."""
    stem = verb[:-1] if verb.endswith("e") else verb
    for name, schema in properties.items():
        if not isinstance(schema, dict) or not isinstance(schema.get("enum"), list):
            continue
        for value in schema["enum"]:
            if isinstance(value, str) and value.lower().startswith(stem) and value.lower() != verb + "ing":
                return name, value
    return None


def _count_children(collections: dict[str, Collection], bindings: Mapping[tuple[str, str], Binding]) -> None:
    """Find the counters of nested collections on their parent (`issuesCount`, `itemCount`,
    `reaction_count`): counted, not stored, so they are always true."""
    children: dict[str, dict[str, str]] = {}
    for binding in bindings.values():
        if binding.parent_collection and binding.parent_field:
            children.setdefault(binding.parent_collection, {})[binding.collection] = binding.parent_field
    for parent, kids in children.items():
        collection = collections[parent]
        counters = []
        for child, parent_field in kids.items():
            names = {f"{_loose(child)}count", f"{_loose(singularize(child))}count", f"count{_loose(child)}",
                     f"num{_loose(child)}"}
            for prop in collection.properties:
                if _loose(prop) in names and prop not in {t.counter for t in collection.toggles}:
                    counters.append((prop, child, parent_field))
        if counters:
            collections[parent] = replace(collection, child_counters=tuple(counters))


def _locate(paths: Mapping[str, _PathInfo], collections: dict[str, Collection],
            bindings: Mapping[tuple[str, str], Binding]) -> None:
    """Give each collection's server fields the item paths its objects live at (the
    shortest first: Twilio's canonical `/Accounts/{AccountSid}/Recordings/{Sid}.json` rather
    than the one under a call; where it is changed when it cannot be read) and its link maps'
    sub-resources."""
    for name, collection in list(collections.items()):
        items = {(t, b.id_param, b.action != "read") for (m, t), b in bindings.items()
                 if b.collection == name and b.action in ("read", "update", "delete") and b.id_param}
        # Where it is read, else changed or deleted (a cart line with no GET of its own).
        reads = [(t, p) for t, p, _ in sorted(items, key=lambda i: (i[2], len(_segments(i[0])), i[0]))]
        reads = list(dict.fromkeys(reads))
        if not reads:
            continue
        server = replace(collection.server, item_paths=tuple(reads))
        collections[name] = replace(collection, server=with_children(server, collection.properties, paths))


# -- identity issued by the API --------------------------------------------------------------------

#: Last path segments of log-in operations.
LOGIN_WORDS = frozenset({"login", "signin", "sign-in", "sign_in", "session", "sessions", "token", "tokens",
                         "auth", "authenticate", "authentication", "log-in", "log_in"})
LOGOUT_WORDS = frozenset({"logout", "signout", "sign-out", "sign_out", "log-out", "log_out"})
#: Properties that carry the token an API issues.
TOKEN_NAMES = ("token", "access_token", "accessToken", "jwt", "id_token", "idToken", "auth_token", "authToken",
               "session_token", "sessionToken", "api_token", "apiToken")
#: Properties a user logs in with.
IDENTIFIER_NAMES = ("email", "username", "login", "user_name", "userName", "handle", "phone")
PASSWORD_NAMES = ("password", "pass", "passphrase")
#: Last segments of current-user paths (`/user`, `/me`, `/users/me`, `/account`).
ME_WORDS = frozenset({"me", "self", "current", "user", "account", "profile", "whoami"})


@dataclass(frozen=True)
class Identity:
    """How the API issues its own tokens: its users collection, what they log in with, where
    the token travels (a body property, or a cookie the response sets) and what the server
    keeps unique."""

    users: str
    identifiers: tuple[str, ...]
    password: str
    token_field: str | None = None
    #: The token is inside the user object (`{"user": {"token": ...}}`), else beside it.
    token_in_user: bool = False
    cookie: str | None = None
    #: The property of the answer that holds the user, when the user is not the whole answer.
    user_field: str | None = None


def _unwrapped_props(document: Mapping[str, Any], schema: Any) -> tuple[dict[str, Any], str | None]:
    """Return (the properties of an object schema, or of the one object it wraps; the wrapper);
    a JSON:API document's are its resource's, flat (attributes and relationships)."""
    props = object_properties(document, schema)
    data = deref(document, props.get("data"))
    if isinstance(data, dict) and "attributes" in object_properties(document, data):
        flat = object_properties(document, object_properties(document, data)["attributes"])
        resource = jsonapi_resource(document, data, "")
        return (resource[1] if resource else flat), "data"
    if len(props) == 1:
        (only, inner), = props.items()
        inner_props = object_properties(document, inner)
        if inner_props:
            return inner_props, only
    return props, None


def _set_cookie(document: Mapping[str, Any], op: Mapping[str, Any]) -> str | None:
    """Return the cookie name a 2xx response documents in Set-Cookie (`session` when unnamed)."""
    for status, response in (op.get("responses") or {}).items():
        if not str(status).startswith("2"):
            continue
        response = deref(document, response) or {}
        for header, spec in (response.get("headers") or {}).items():
            if header.lower() == "set-cookie":
                spec = deref(document, spec) or {}
                sample = str(spec.get("example") or deref(document, spec.get("schema") or {}).get("example") or "")
                found = re.match(r"\s*([A-Za-z0-9_.-]+)=", sample)
                return found.group(1) if found else "session"
    return None


def _token_scheme(document: Mapping[str, Any]) -> bool:
    """Tell whether an operation (or the document) requires a scheme that carries a token in a
    header: an apiKey header, or HTTP bearer."""
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    resolved = {name: deref(document, scheme) or {} for name, scheme in schemes.items()}
    header = {name for name, scheme in resolved.items()
              if scheme.get("type") == "apiKey" and scheme.get("in") == "header"
              or str(scheme.get("scheme", "")).lower() == "bearer"}
    used = [req for item in (document.get("paths") or {}).values() if isinstance(item, dict)
            for op in item.values() if isinstance(op, dict) for req in op.get("security") or []]
    used += list(document.get("security") or [])
    return any(name in header for req in used if isinstance(req, dict) for name in req)


def _cookie_scheme(document: Mapping[str, Any]) -> str | None:
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    for scheme in schemes.values():
        scheme = deref(document, scheme) or {}
        if scheme.get("type") == "apiKey" and scheme.get("in") == "cookie":
            return str(scheme.get("name"))
    return None


def _infer_identity(document: Mapping[str, Any], paths: Mapping[str, _PathInfo],
                    collections: dict[str, Collection], bindings: dict[tuple[str, str], Binding]
                    ) -> Identity | None:
    """Find the operations that sign a user up, log one in or out, and read or update the
    current user, when the API issues its own tokens (a token property in the answer, or a
    Set-Cookie it documents); bind them and return how identity works, or None."""
    signup = login = quiet = silent = None
    for template, info in paths.items():
        op = info.ops.get("POST")
        if op is None:
            continue
        request, _ = _unwrapped_props(document, request_body_schema(document, op))
        password = _first(PASSWORD_NAMES, request)
        identifiers = tuple(n for n in IDENTIFIER_NAMES if n in request)
        found = success_response(document, op)
        schema = deref(document, found[1].get("schema")) if found else None
        answer, wrapper = _unwrapped_props(document, schema)
        top = object_properties(document, schema)
        token = _first(TOKEN_NAMES, answer) or _first(TOKEN_NAMES, top)
        cookie = _set_cookie(document, op)
        if not (password and identifiers):
            continue
        last = _strip_ext(_segments(template)[-1]).lower() if _segments(template) else ""
        entry = (template, op, password, identifiers, answer, wrapper, top, token, cookie)
        if last in LOGIN_WORDS:
            login = login or (entry if token or cookie else None)
            if not (token or cookie) and _first(IDENTIFIER_NAMES, answer):
                silent = silent or entry  # a log-in that documents no token (RealWorld's spec)
        elif token or cookie:
            signup = signup or entry
        elif _first(IDENTIFIER_NAMES, answer):
            quiet = quiet or entry  # answers the user without a token: a sign-up if a log-in exists
    undocumented = False
    if login is None and signup is None and silent is not None and _token_scheme(document):
        # The log-in answers the user and documents no token, yet operations need one in a
        # header: the API sends it undocumented; it travels in the user object's `token`.
        login, undocumented = (*silent[:7], "token", None), True
    if signup is None and login is not None:
        signup = quiet
    if signup is None and login is None:
        return None
    template, op, password, identifiers, answer, wrapper, top, token, cookie = signup or login  # type: ignore[misc]
    if login is not None and not (token or cookie):
        token, cookie = login[7], login[8]  # the token comes from the log-in
    # The user is the answer, the object it wraps, or the object property beside the token.
    user_field = None
    user_props = answer
    if token and token in top and token not in answer or not _first(IDENTIFIER_NAMES, answer):
        user_field = next((p for p, s in top.items() if _first(IDENTIFIER_NAMES, object_properties(document, s))),
                          None)
        if user_field:
            user_props = object_properties(document, top[user_field])
    me = [t for t in paths if _segments(t) and _strip_ext(_segments(t)[-1]).lower() in ME_WORDS
          and not any(_is_param(s) for s in _segments(t)) and "GET" in paths[t].ops]
    name = _users_name(template if signup else None, me, collections)
    users = collections.get(name)
    if users is None:
        users = _user_collection(document, name, user_props, template, op)
        collections[name] = users
    identity = Identity(
        users=name, identifiers=tuple(i for i in identifiers if i in users.properties) or identifiers,
        password=password, token_field=token, token_in_user=undocumented or bool(token and token in user_props),
        cookie=cookie or _cookie_scheme(document) if not token else None, user_field=user_field)
    if signup:
        bindings[("POST", signup[0])] = Binding("signup", name)
    if login:
        bindings[("POST", login[0])] = Binding("login", name)
        if "DELETE" in paths[login[0]].ops:
            bindings[("DELETE", login[0])] = Binding("logout", name)
    for template in paths:
        last = _segments(template)[-1].lower() if _segments(template) else ""
        if last in LOGOUT_WORDS and "POST" in paths[template].ops:
            bindings[("POST", template)] = Binding("logout", name)
    for template in me:
        for method, action in (("GET", "me_read"), ("PUT", "me_update"), ("PATCH", "me_update")):
            if method in paths[template].ops:
                bindings[(method, template)] = Binding(action, name)
    return identity


def _users_name(signup_template: str | None, me: list[str], collections: Mapping[str, Collection]) -> str:
    """Name the users collection: the sign-up path's (`/users`), a current-user path's parent
    (`/accounts/me`), else `users`."""
    if signup_template:
        segs = [s for s in _segments(signup_template) if not _is_param(s)]
        if segs and segs[-1].lower() not in {"signup", "sign-up", "sign_up", "register", "registration"}:
            return _strip_ext(segs[-1])
    for template in me:
        segs = _segments(template)
        if len(segs) >= 2 and segs[-2] in collections or len(segs) >= 2:
            return _strip_ext(segs[-2])
    return "users"


def _user_collection(document: Mapping[str, Any], name: str, props: dict[str, Any], template: str,
                     op: Mapping[str, Any]) -> Collection:
    """Build the users collection from the sign-up answer's user object (a JSON:API resource
    or a HAL object when the answer is one)."""
    found = success_response(document, op)
    schema = deref(document, found[1].get("schema")) if found else None
    data = object_properties(document, schema).get("data")
    resource = jsonapi_resource(document, data, name) if data else None
    hal = hal_resource(document, schema)
    if resource is not None:
        props = resource[1]
    elif hal is not None:
        props = hal[1]
    id_field = "id" if "id" in props else _first(IDENTIFIER_NAMES, props) or "id"
    id_schema = props.get(id_field) if isinstance(props.get(id_field), dict) else {}
    sent, _ = _unwrapped_props(document, request_body_schema(document, op))
    writable = {n for n, sub in sent.items() if not (isinstance(sub, dict) and sub.get("readOnly"))} & set(props)
    return Collection(name, id_field, _id_format(document, id_schema or {}, []), {"type": "object",
                      "properties": props}, props, _timestamps(props), frozenset(), "data" if resource else None, None,
                      natural=id_field != "id", writable=frozenset(writable),
                      server=infer_server_fields(props, writable, id_field, []),
                      jsonapi=resource[0] if resource else None, hal=hal[0] if hal else None)


# -- views of users, and feeds ----------------------------------------------------------------------

#: Last segments of feeds: a collection's items by the users the caller follows.
FEED_WORDS = frozenset({"feed", "timeline"})
#: Toggles on a user that make the caller see what that user makes.
FOLLOW_WORDS = frozenset({"follow", "subscribe"})


def _bind_views(document: Mapping[str, Any], paths: Mapping[str, _PathInfo], identity: Identity,
                collections: dict[str, Collection], bindings: dict[tuple[str, str], Binding]) -> None:
    """Bind the paths that show a user in another shape, their toggles, and feeds.

    A view (RealWorld's `GET /profiles/{username}`) is an item path that no collection owns,
    whose parameter names a property of the users and whose answer shows some of the user's
    properties plus per-caller booleans (`following`): it reads the user the parameter names.
    Its action sub-paths (`POST/DELETE /profiles/{username}/follow`) toggle per-user state on
    that user, shown in the boolean named after the action. When the users can be followed
    that way, a collection's owned items have a feed (`GET /articles/feed`): the items whose
    owner the caller follows.
    """
    bound = {t for _, t in bindings}
    for template, info in paths.items():
        segs = [_strip_ext(seg) for seg in _segments(template)]
        if template in bound or "GET" not in info.ops or len(segs) < 2 or not _is_param(segs[-1]) \
                or _is_param(segs[-2]) or segs[-2] in collections:
            continue
        users = collections[identity.users]
        key = segs[-1][1:-1]
        found = success_response(document, info.ops["GET"])
        shown, _ = _unwrapped_props(document, deref(document, found[1].get("schema")) if found else None)
        extra = [n for n in shown if n not in users.properties]
        if key not in users.properties or key not in shown or not extra or len(extra) == len(shown) \
                or any((deref(document, shown[n]) or {}).get("type") != "boolean" for n in extra):
            continue  # not the users' properties plus per-caller flags: not a view of a user
        bindings[("GET", template)] = Binding("view_read", users.name, id_param=key)
        loose = {_loose(n): n for n in extra}
        prefix = template.rstrip("/") + "/"
        for sub, sub_info in paths.items():
            rest = sub[len(prefix):] if sub.startswith(prefix) else ""
            on = [m for m in ("POST", "PUT") if m in sub_info.ops]
            if not rest or "/" in rest or _is_param(rest) or not on:
                continue
            verb = _strip_ext(rest)
            flags, _ = toggle_names(verb.lower())
            flag = next((loose[f] for f in flags if f in loose), None)
            if not (flag or verb.lower() in TOGGLE_VERBS):
                continue
            users = collections[identity.users]
            if all(t.action != verb for t in users.toggles):
                collections[users.name] = replace(users, toggles=(*users.toggles, Toggle(verb, flag, None)))
            for verb_method in on:
                bindings[(verb_method, sub)] = Binding("view_toggle_on", users.name, id_param=key, toggle=verb)
            if "DELETE" in sub_info.ops:
                bindings[("DELETE", sub)] = Binding("view_toggle_off", users.name, id_param=key, toggle=verb)
    follows = [b.toggle for b in bindings.values() if b.action == "view_toggle_on"
               and str(b.toggle).lower() in FOLLOW_WORDS]
    if not follows:
        return
    for (method, list_template), binding in list(bindings.items()):
        collection = collections[binding.collection]
        if method != "GET" or binding.action != "list" or binding.parent_collection or not collection.owner_field:
            continue
        for word in sorted(FEED_WORDS):
            feed = paths.get(list_template.rstrip("/") + "/" + word)
            if feed is not None and "GET" in feed.ops and ("GET", feed.template) not in bindings:
                bindings[("GET", feed.template)] = replace(_list_binding(document, feed, collection, {}),
                                                           feed=follows[0])


def _string_array(document: Mapping[str, Any], schema: Any) -> bool:
    schema = deref(document, schema)
    return isinstance(schema, dict) and schema.get("type") == "array" \
        and (deref(document, schema.get("items")) or {}).get("type") == "string"


def _bind_values(document: Mapping[str, Any], paths: Mapping[str, _PathInfo], collections: Mapping[str, Collection],
                 bindings: dict[tuple[str, str], Binding]) -> None:
    """Bind read-only paths that list the values a collection's items use (RealWorld's
    `GET /tags` answering `{"tags": [...]}`, the tags of the articles' `tagList`): a GET-only
    path named like an array-of-strings property of one listed collection (`tags`, `tag_list`,
    `tagList`), whose answer is an array of strings or an object holding one."""
    bound = {t for _, t in bindings}
    lists = {t: b for (m, t), b in bindings.items() if m == "GET" and b.action == "list" and not b.parent_collection}
    for template, info in paths.items():
        segs = [_strip_ext(seg) for seg in _segments(template)]
        if template in bound or set(info.ops) != {"GET"} or not segs or any(_is_param(seg) for seg in segs) \
                or any(template.startswith(t.rstrip("/") + "/") for t in lists):
            continue  # a catalogue under a collection (`/audio/genres`) or a parent's own values
        found = success_response(document, info.ops["GET"])
        schema = deref(document, found[1].get("schema")) if found else None
        props = object_properties(document, schema)
        holder = next((n for n, sub in props.items() if _string_array(document, sub)), None) \
            if len(props) == 1 else None
        if holder is None and not _string_array(document, schema):
            continue
        wanted = {_loose(segs[-1]), _loose(singularize(segs[-1]))}
        # The collection's list filters on the property too (`GET /articles?tag=`): the API
        # lists the values its items use, not a catalogue of its own.
        matches = [(b.collection, prop) for b in lists.values() for prop in dict.fromkeys(b.filters.values())
                   if _string_array(document, collections[b.collection].properties.get(prop))
                   and re.sub(r"list$", "", _loose(prop)) in wanted]
        if len(matches) == 1:
            name, prop = matches[0]
            bindings[("GET", template)] = Binding("values", name, values_of=prop, values_in=holder)
