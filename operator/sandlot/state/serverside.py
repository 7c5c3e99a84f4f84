"""What a real server puts into an object besides what the client sent, inferred from the
spec: the schema's `default`s and the enum value its description or examples name, a link to
the object itself and a map of links to its sub-resources (both on this server's own paths),
the caller's account, and sequence numbers within a parent (`index` 0, 1, 2 ...). Pure.

Called by the inference (state/inference.py), which keeps the result on each collection
(`Collection.server`), and, to build links for an answer, by the state stage (state/stage.py).
The rules are written down in docs/stateful.md ("Whole objects").
"""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

#: Properties holding the object's own URL (`url` on Twilio's v1 APIs, `uri` on its 2010 API).
SELF_LINK_NAMES = ("url", "uri", "href", "self", "self_url", "selfUrl", "self_link", "selfLink",
                   "resource_url", "resourceUrl")
#: Properties mapping names to the URLs of an object's sub-resources.
LINK_MAP_NAMES = ("links", "subresource_uris", "subresourceUris", "urls", "resource_urls")
#: Properties holding the account the caller acts for.
ACCOUNT_NAMES = ("account_sid", "accountSid", "account_id", "accountId", "account_uuid", "accountUuid",
                 "owner_uuid", "ownerUuid", "owner_account_sid")
#: Integer properties numbering objects within their parent (or the tenant).
SEQUENCE_NAMES = ("index", "sequence", "seq", "sequence_number", "sequenceNumber", "position", "ordinal",
                  "serial")
_FORMAT_SUFFIX = re.compile(r"\.(json|xml|csv)$")
_DEFAULT_SAID = re.compile(
    r"(?i)\bdefaults?(?:\s+value)?\s*(?:to|is|:|=)\s*(?:`([^`]+)`|\"([^\"]+)\"|'([^']+)'|([A-Za-z0-9_.+-]+))")


@dataclass(frozen=True)
class LinkMap:
    """A property mapping names to URLs of an object's sub-resources (Twilio's `links`,
    `subresource_uris`): each name with the path after the object's own path."""

    name: str
    absolute: bool
    children: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ServerFields:
    """The fields of a collection's objects that the server fills in."""

    #: property -> the value a new object gets when nothing else sets it.
    values: Mapping[str, Any] = field(default_factory=dict)
    #: (property, absolute) holding the object's own URL.
    self_link: tuple[str, bool] | None = None
    link_maps: tuple[LinkMap, ...] = ()
    #: Properties holding the caller's account.
    accounts: tuple[str, ...] = ()
    #: (property, first value) numbering objects within their parent.
    sequence: tuple[str, int] | None = None
    #: (item path template, the parameter holding the object's key): where the object lives.
    item_paths: tuple[tuple[str, str], ...] = ()

    @property
    def derived(self) -> frozenset[str]:
        """Return the properties built at every answer (links), never stored."""
        names = {m.name for m in self.link_maps}
        if self.self_link:
            names.add(self.self_link[0])
        return frozenset(names)


def _types(schema: Mapping[str, Any]) -> list[Any]:
    types = schema.get("type")
    return types if isinstance(types, list) else [types]


def _enum(schema: Mapping[str, Any]) -> list[Any]:
    values = schema.get("enum")
    return [v for v in values if v is not None] if isinstance(values, list) else []


def _literal(text: str, schema: Mapping[str, Any]) -> Any:
    """Return `text` as a value of the schema's type, or None when it is not one."""
    types = _types(schema)
    if "string" in types or (not types or types == [None]) and _enum(schema):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, bool):
        return value if "boolean" in types else None
    if isinstance(value, int):
        return value if "integer" in types or "number" in types else None
    if isinstance(value, float):
        return value if "number" in types else None
    return None


def said_default(schema: Mapping[str, Any]) -> Any:
    """Return the default a property's description states ("defaults to `active`"), when it
    is a value of the property (one of its enum), else None."""
    description = schema.get("description")
    if not isinstance(description, str):
        return None
    for found in _DEFAULT_SAID.finditer(description):
        quoted = found.group(1) or found.group(2) or found.group(3)
        text = (quoted or found.group(4) or "").strip().rstrip(".")
        enum = _enum(schema)
        if enum:
            if text in enum:
                return text
            continue
        if quoted is None:  # a bare word is too loose outside an enum ("defaults to the account")
            continue
        value = _literal(text, schema)
        if value is not None:
            return value
    return None


def server_values(properties: Mapping[str, Any], examples: Iterable[Any]) -> dict[str, Any]:
    """Return the value each property starts with when nobody sets it: its `default`, the
    default its description states, or, for an enum, the member its example or the
    response's examples use."""
    samples = [e for e in examples if isinstance(e, Mapping)]
    values: dict[str, Any] = {}
    for name, schema in properties.items():
        if not isinstance(schema, Mapping):
            continue
        if "default" in schema:
            values[name] = schema["default"]
            continue
        said = said_default(schema)
        if said is not None:
            values[name] = said
            continue
        enum = _enum(schema)
        if enum:
            used = [schema.get("example"), *(schema.get("examples") or []), *(s.get(name) for s in samples)]
            chosen = next((u for u in used if u is not None and u in enum), None)
            if chosen is not None:
                values[name] = chosen
    return values


def _is_string(schema: Any) -> bool:
    return isinstance(schema, Mapping) and ("string" in _types(schema) or schema.get("type") is None
                                            and not schema.get("properties"))


def _loose(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def infer_server_fields(properties: Mapping[str, Any], writable: Iterable[str], id_field: str,
                        examples: Iterable[Any]) -> ServerFields:
    """Return the server's fields of a collection from its item properties (links get their
    children later, from the paths: `with_children`). An enum only the server sets with no
    value named for it starts at its first member."""
    sent = set(writable)
    free = {n: s for n, s in properties.items() if n not in sent and n != id_field and isinstance(s, Mapping)}
    self_link = None
    for name in SELF_LINK_NAMES:
        schema = free.get(name)
        if schema is not None and _is_string(schema):
            absolute = schema.get("format") in ("uri", "url") or "url" in name.lower() or "href" in name.lower()
            self_link = (name, absolute)
            break
    maps = tuple(LinkMap(name, "uri" not in name.lower()) for name in LINK_MAP_NAMES
                 if name in free and ("object" in _types(free[name]) or free[name].get("format") == "uri-map"))
    accounts = tuple(n for n in ACCOUNT_NAMES if n in free and (_is_string(free[n]) or "integer" in _types(free[n])))
    sequence = None
    for name in SEQUENCE_NAMES:
        schema = free.get(name)
        if schema is not None and "integer" in _types(schema):
            start = next((schema[k] for k in ("minimum", "default") if schema.get(k) in (0, 1)),
                         0 if name == "index" else 1)
            sequence = (name, int(start))
            break
    values = {n: v for n, v in server_values(properties, examples).items() if n != id_field}
    for name, schema in free.items():  # a state only the server sets starts at its first value
        if name not in values and _enum(schema):
            values[name] = _enum(schema)[0]
    return ServerFields(values, self_link, maps, accounts, sequence)


def _segments(template: str) -> list[str]:
    return [s for s in template.split("/") if s]


def _shape(segment: str) -> str:
    segment = _FORMAT_SUFFIX.sub("", segment)
    return "{}" if segment.startswith("{") and segment.endswith("}") else segment


def strip_format(path: str) -> str:
    """Return a path without its format suffix (`/Messages/SM1.json` -> `/Messages/SM1`)."""
    return _FORMAT_SUFFIX.sub("", path)


def snake(name: str) -> str:
    """Return a path segment as a link name: `PhoneNumbers` -> `phone_numbers`."""
    name = _FORMAT_SUFFIX.sub("", name)
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).replace("-", "_").lower()


def children_of(item_template: str, templates: Iterable[str]) -> list[tuple[str, str]]:
    """Return (link name, path suffix) for each path one literal segment below an item path
    (`/Services/{Sid}` -> `/Services/{ServiceSid}/PhoneNumbers`: ("phone_numbers", "/PhoneNumbers"))."""
    base = [_shape(s) for s in _segments(item_template)]
    found: dict[str, str] = {}
    for template in templates:
        segs = _segments(template)
        if len(segs) != len(base) + 1 or [_shape(s) for s in segs[:-1]] != base or _shape(segs[-1]) == "{}":
            continue
        found.setdefault(snake(segs[-1]), "/" + segs[-1])
    return sorted(found.items())


def with_children(server: ServerFields, properties: Mapping[str, Any], templates: Iterable[str]) -> ServerFields:
    """Return the server fields with each link map's children: the sub-paths of the item path
    (only the names a map documents, when it documents any)."""
    if not server.link_maps or not server.item_paths:
        return server
    children = children_of(server.item_paths[0][0], templates)
    maps = []
    for link_map in server.link_maps:
        schema = properties.get(link_map.name) or {}
        documented = schema.get("properties") if isinstance(schema, Mapping) else None
        kids = children
        if isinstance(documented, Mapping) and documented:
            by_loose = {_loose(k): k for k in documented}
            kids = [(by_loose[_loose(k)], s) for k, s in children if _loose(k) in by_loose]
        maps.append(replace(link_map, children=tuple(kids)))
    return replace(server, link_maps=tuple(maps))


_PARAM = re.compile(r"\{([^}/]+)\}")
#: Characters a path parameter's value keeps as they are (what `quote(..., safe="")` keeps).
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]*")


@functools.lru_cache(maxsize=1024)
def _template_parts(template: str) -> tuple[str, ...]:
    """Return a path template split at its parameters: literal, name, literal, ... (odd items are names)."""
    return tuple(_PARAM.split(template))


def _quoted(value: Any) -> str:
    text = str(value)
    return text if _UNQUOTED.fullmatch(text) else urllib.parse.quote(text, safe="")


def fill_template(template: str, values: Mapping[str, Any]) -> str | None:
    """Return a path template with its parameters set (percent-encoded), or None when one
    has no value."""
    parts = _template_parts(template)
    if len(parts) == 1:
        return template
    out = [parts[0]]
    for i in range(1, len(parts), 2):
        value = values.get(parts[i])
        if value is None or isinstance(value, (dict, list)):
            return None
        out.append(_quoted(value))
        out.append(parts[i + 1])
    return "".join(out)


def param_values(template: str, key: Any, id_param: str, obj: Mapping[str, Any],
                 request_params: Mapping[str, str]) -> dict[str, Any]:
    """Return values for an item path's parameters: the object's key, then the object's
    property each other parameter names (`AccountSid` -> `account_sid`, `workspaceId` ->
    `workspace`), then the request's own path parameters."""
    values: dict[str, Any] = {id_param: key}
    by_loose: dict[str, Any] | None = None
    parts = _template_parts(template)
    for param in parts[1::2]:
        if param in values:
            continue
        if by_loose is None:
            by_loose = {_loose(k): v for k, v in obj.items() if isinstance(v, (str, int))}
        loose = _loose(param)
        for candidate in (loose, loose.removesuffix("id")):
            if candidate in by_loose:
                values[param] = by_loose[candidate]
                break
        else:
            if param in request_params:
                values[param] = request_params[param]
    return values


def own_path(server: ServerFields, key: Any, obj: Mapping[str, Any], request_params: Mapping[str, str]) -> str | None:
    """Return the path of an object's item path (without the server's base path), or None."""
    for template, id_param in server.item_paths:
        own = fill_template(template, param_values(template, key, id_param, obj, request_params))
        if own is not None:
            return own
    return None


def object_links(server: ServerFields, key: Any, obj: Mapping[str, Any], request_params: Mapping[str, str],
                 base: str, origin: str) -> dict[str, Any]:
    """Return the link fields of an object: its own URL and its sub-resources' URLs, on this
    server (`origin` + `base` + path; relative URIs start at `base`)."""
    own = own_path(server, key, obj, request_params)
    if own is None:
        return {}
    out: dict[str, Any] = {}
    if server.self_link:
        name, absolute = server.self_link
        out[name] = (origin if absolute else "") + base + own
    stem = strip_format(own)
    for link_map in server.link_maps:
        prefix = (origin if link_map.absolute else "") + base + stem
        out[link_map.name] = {name: prefix + suffix for name, suffix in link_map.children}
    return out
