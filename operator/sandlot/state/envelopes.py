"""Resource envelopes that are more than a key around the object: JSON:API documents
(`{"data": {"type", "id", "attributes", "relationships", "links"}}`) and HAL (`_links`,
`_embedded`). Pure functions.

The inference (state/inference.py) reads an item schema with `jsonapi_resource` / `hal_resource`
and stores a collection's objects flat: a JSON:API resource's attributes and its relationships
(an id, or a list of ids, under the relationship's name); a HAL object's own fields. The state
stage (state/stage.py) turns request bodies into those flat fields (`flatten_resource`) and flat
objects back into what the response schema says (`to_resource`, `hal_links`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandlot.openapi.schemas import object_properties, object_required
from sandlot.util.pointers import deref

#: Relationship schema of a to-one link: a resource identifier; to-many: an array of them.
IDENTIFIER = {"type": "string"}
IDENTIFIERS = {"type": "array", "items": {"type": "string"}}
HAL_LINKS = "_links"
HAL_EMBEDDED = "_embedded"


@dataclass(frozen=True)
class Relationship:
    """A JSON:API relationship of a resource: its name, whether it holds many, the type of
    the resources it names (from the identifier schema's `type` enum, if it says)."""

    name: str
    many: bool
    type: str | None = None


@dataclass(frozen=True)
class JsonApi:
    """How a collection's objects travel as JSON:API resources."""

    type: str
    attributes: tuple[str, ...]
    relationships: tuple[Relationship, ...] = ()
    #: Resource objects carry `links` (with `self`).
    links: bool = False


@dataclass(frozen=True)
class Hal:
    """How a collection's objects travel as HAL: the link relations `_links` documents and the
    embedded relations `_embedded` documents; links are absolute when the schema says `uri`."""

    links: tuple[str, ...]
    embedded: tuple[str, ...] = ()
    absolute: bool = False


def _constant(schema: Any) -> str | None:
    """Return the one string a `type` member schema allows (its enum, const or example)."""
    if not isinstance(schema, Mapping):
        return None
    enum = schema.get("enum")
    if isinstance(enum, list) and len(enum) == 1 and isinstance(enum[0], str):
        return enum[0]
    for key in ("const", "example", "default"):
        if isinstance(schema.get(key), str):
            return str(schema[key])
    return None


def is_jsonapi_resource(document: Mapping[str, Any], schema: Any) -> bool:
    """Tell whether a schema is a JSON:API resource object: `type` and `attributes` (an object)."""
    props = object_properties(document, schema)
    return "type" in props and bool(object_properties(document, props.get("attributes")))


def jsonapi_resource(document: Mapping[str, Any], schema: Any, fallback_type: str
                     ) -> tuple[JsonApi, dict[str, Any], set[str]] | None:
    """Return (how the resource travels, its flat properties, the required ones) for a JSON:API
    resource object schema, or None when it is not one. Flat: `id`, the attributes, and each
    relationship as an id (or ids) under its name."""
    if not is_jsonapi_resource(document, schema):
        return None
    props = object_properties(document, schema)
    attributes = object_properties(document, props["attributes"])
    flat: dict[str, Any] = {"id": props.get("id") or {"type": "string"}, **attributes}
    required = {"id"} | object_required(document, props["attributes"])
    relationships = []
    for name, rel in object_properties(document, props.get("relationships")).items():
        data = deref(document, object_properties(document, rel).get("data"))
        many = isinstance(data, Mapping) and data.get("type") == "array"
        identifier = deref(document, data.get("items")) if many and isinstance(data, Mapping) else data
        kind = _constant(object_properties(document, identifier).get("type"))
        relationships.append(Relationship(name, many, kind))
        flat.setdefault(name, dict(IDENTIFIERS if many else IDENTIFIER))
        if name in object_required(document, props.get("relationships")):
            required.add(name)
    api = JsonApi(_constant(props["type"]) or fallback_type, tuple(attributes), tuple(relationships),
                  links="links" in props)
    return api, flat, required


def flatten_resource(body: Any, api: JsonApi) -> Any:
    """Return the flat fields a JSON:API document (or resource object) carries: its
    attributes, and each relationship's id (or ids) under the relationship's name. A body that
    is no document is returned as it is."""
    resource = body.get("data") if isinstance(body, Mapping) and "data" in body else body
    if not isinstance(resource, Mapping) or not ("attributes" in resource or "relationships" in resource):
        return body
    out: dict[str, Any] = dict(resource.get("attributes") or {})
    if "id" in resource:
        out["id"] = resource["id"]
    linked = resource.get("relationships") or {}
    for rel in api.relationships:
        entry = linked.get(rel.name) if isinstance(linked, Mapping) else None
        if not isinstance(entry, Mapping) or "data" not in entry:
            continue
        data = entry["data"]
        if isinstance(data, list):
            out[rel.name] = [d.get("id") for d in data if isinstance(d, Mapping)]
        else:
            out[rel.name] = data.get("id") if isinstance(data, Mapping) else None
    return out


def to_resource(obj: Mapping[str, Any], api: JsonApi, id_field: str, template: Any, self_url: str | None,
                type_of: Callable[[Relationship], str]) -> dict[str, Any]:
    """Return a flat object as a JSON:API resource object: `type`, `id`, the attributes it has,
    each relationship as resource identifiers, and `links.self` (this server's URL of it);
    the template (a generated resource) gives what else the schema requires (`meta`)."""
    template = template if isinstance(template, Mapping) else {}
    resource: dict[str, Any] = {k: v for k, v in template.items()
                                if k not in ("type", "id", "attributes", "relationships", "links")}
    resource["type"] = api.type
    resource["id"] = str(obj.get(id_field, obj.get("id", "")))
    resource["attributes"] = {name: obj[name] for name in api.attributes if name in obj}
    if api.relationships:
        relationships: dict[str, Any] = {}
        for rel in api.relationships:
            value = obj.get(rel.name)
            if rel.many:
                ids = value if isinstance(value, list) else []
                relationships[rel.name] = {"data": [{"type": type_of(rel), "id": str(i)} for i in ids]}
            elif rel.name in obj:
                relationships[rel.name] = {"data": None if value is None else {"type": type_of(rel), "id": str(value)}}
        resource["relationships"] = relationships
    if api.links and self_url is not None:
        resource["links"] = {"self": self_url}
    return resource


def is_hal(document: Mapping[str, Any], schema: Any) -> bool:
    """Tell whether an object schema is HAL: it documents `_links`."""
    return HAL_LINKS in object_properties(document, schema)


def hal_resource(document: Mapping[str, Any], schema: Any) -> tuple[Hal, dict[str, Any]] | None:
    """Return (how a HAL object travels, its own properties) for an object schema with `_links`,
    or None when it has none."""
    props = object_properties(document, schema)
    if HAL_LINKS not in props:
        return None
    links = object_properties(document, props[HAL_LINKS])
    hrefs = [object_properties(document, link).get("href") for link in links.values()]
    absolute = any(isinstance(h, Mapping) and h.get("format") in ("uri", "url") for h in hrefs)
    embedded = tuple(object_properties(document, props.get(HAL_EMBEDDED)))
    own = {k: v for k, v in props.items() if k not in (HAL_LINKS, HAL_EMBEDDED)}
    return Hal(tuple(links), embedded, absolute), own


def hal_links(hal: Hal, hrefs: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Return `_links` for the relations with a target on this server (`{"self": {"href": ...}}`)."""
    return {rel: {"href": hrefs[rel]} for rel in hal.links if rel in hrefs}
